"""Small, readable training loops for the notebooks: NumPy, PyTorch and Keras.

Each loop trains a classifier on a :class:`xent.data.Split`, logs one row per epoch
through a :class:`xent.tracking.Run` (``epoch``, ``train_loss``, ``train_accuracy``,
``val_loss``, ``val_accuracy``, and for NumPy ``grad_norm``), and returns a
:class:`Fit`: the trained model (or NumPy parameters) and the list of logged rows.
``train_loss`` is the mean of the loss over the epoch's minibatches, taken before each
step, as Keras reports it; the validation metrics are computed after the epoch.

PyTorch and TensorFlow are imported inside the functions that use them, so importing
this module costs only NumPy. Targets follow ``xent``'s conventions: int64 class indices
for a model with ``C > 1`` outputs; a model with one output is a binary classifier,
trained on float 0/1 targets with a logit per row; multi-label sets have float
``(n, L)`` targets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from xent import numpy as xn
from xent.data import Split

if TYPE_CHECKING:
    from xent.tracking import Run

__all__ = [
    "Fit",
    "init_numpy",
    "logits_numpy",
    "predict_proba_numpy",
    "fit_numpy",
    "mlp_torch",
    "predict_proba_torch",
    "fit_torch",
    "keras_loss",
    "mlp_keras",
    "predict_proba_keras",
    "fit_keras",
]


class Fit(NamedTuple):
    """What a training loop returns: the trained ``model`` and its per-epoch
    ``history``."""

    model: Any
    history: list[dict[str, float]]


# --------------------------------------------------------------------------------------
# Shared checks and logging
# --------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return float(value)


def _check_split(split: object) -> Split:
    if not isinstance(split, Split):
        raise ValueError(
            f"split must be an xent.data.Split; got {type(split).__name__}"
        )
    return split


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return int(seed)


def _record(
    history: list, run: Run | None, row: dict[str, Any], *, to_wandb: bool = True
):
    """Append ``row`` (plain floats) to ``history`` and log it to ``run`` if there is
    one."""
    row = {k: (v if k == "epoch" else float(v)) for k, v in row.items()}
    history.append(row)
    if run is not None:
        run.log(row, to_wandb=to_wandb)


# --------------------------------------------------------------------------------------
# NumPy: softmax regression or a one-hidden-layer MLP, gradients by hand
# --------------------------------------------------------------------------------------


def init_numpy(
    num_features: int,
    num_classes: int,
    *,
    hidden_size: int | None = None,
    scale: float = 1.0,
    seed: int = 0,
) -> dict[str, NDArray]:
    """Seeded parameters: ``W (d, C)``, ``b (C,)``; or ``W1 (d, H)``, ``b1``,
    ``W2 (H, C)``, ``b2``.

    Weights are Gaussian with variance ``scale**2 / fan_in``; biases start at zero. A
    large ``scale`` gives a saturated start, where softmax outputs are nearly 0 or 1.
    Raises ``ValueError`` for sizes below 1, a non-positive ``scale`` or a negative
    ``seed``.

    >>> sorted(init_numpy(2, 3))
    ['W', 'b']
    >>> init_numpy(2, 3, hidden_size=8)["W1"].shape
    (2, 8)
    """
    d = _positive_int("num_features", num_features)
    c = _positive_int("num_classes", num_classes)
    scale = _positive_float("scale", scale)
    rng = np.random.default_rng(_seed(seed))
    if hidden_size is None:
        return {"W": scale * rng.standard_normal((d, c)) / np.sqrt(d), "b": np.zeros(c)}
    h = _positive_int("hidden_size", hidden_size)
    return {
        "W1": scale * rng.standard_normal((d, h)) / np.sqrt(d),
        "b1": np.zeros(h),
        "W2": scale * rng.standard_normal((h, c)) / np.sqrt(h),
        "b2": np.zeros(c),
    }


def _forward(params: dict[str, NDArray], X: NDArray) -> tuple[NDArray, NDArray | None]:
    """Logits ``(n, C)`` and, for the MLP, the hidden activations ``(n, H)`` backprop
    needs."""
    if "W" in params:
        return X @ params["W"] + params["b"], None
    hidden = np.tanh(X @ params["W1"] + params["b1"])  # (n, H)
    return hidden @ params["W2"] + params["b2"], hidden


def logits_numpy(params: dict[str, NDArray], X: NDArray) -> NDArray:
    """The model's logits ``(n, C)`` for inputs ``X: (n, d)``.

    >>> logits_numpy({"W": np.eye(2), "b": np.zeros(2)}, np.array([[1.0, 2.0]]))
    array([[1., 2.]])
    """
    return _forward(params, np.asarray(X, dtype=np.float64))[0]


def predict_proba_numpy(params: dict[str, NDArray], X: NDArray) -> NDArray:
    """Class probabilities ``(n, C)``: the softmax of :func:`logits_numpy`."""
    return xn.softmax(logits_numpy(params, X))


def _backward(params, X, hidden, grad_logits) -> dict[str, NDArray]:
    """Parameter gradients from ``grad_logits = dL/dlogits (n, C)``, by the chain
    rule."""
    if hidden is None:
        return {"W": X.T @ grad_logits, "b": grad_logits.sum(axis=0)}
    grad_hidden = (
        grad_logits @ params["W2"].T * (1 - hidden**2)
    )  # (n, H); tanh' = 1 - tanh^2
    return {
        "W1": X.T @ grad_hidden,
        "b1": grad_hidden.sum(axis=0),
        "W2": hidden.T @ grad_logits,
        "b2": grad_logits.sum(axis=0),
    }


def _mse(logits: NDArray, y: NDArray) -> tuple[float, NDArray]:
    """Mean over rows of ``sum_c (q_c - onehot_c)^2`` with ``q = softmax(logits)``, and
    its gradient: through the softmax Jacobian ``diag(q) - q q^T`` it is
    ``2 q (e - q.e) / n`` with ``e = q - onehot``. It vanishes when ``q`` saturates,
    right or wrong."""
    q = xn.softmax(logits)  # (n, C)
    e = q - np.eye(logits.shape[1])[y]  # (n, C)
    grad = 2 * q * (e - np.sum(q * e, axis=1, keepdims=True)) / len(y)
    return float(np.mean(np.sum(e**2, axis=1))), grad


def _numpy_loss(
    name: str, logits: NDArray, y: NDArray, options: dict
) -> tuple[float, NDArray]:
    if name == "mse":
        return _mse(logits, y)
    loss = float(xn.cross_entropy(logits, y, **options))
    return loss, xn.cross_entropy_grad(logits, y, **options)


def fit_numpy(
    split: Split,
    *,
    num_epochs: int = 100,
    lr: float = 0.5,
    hidden_size: int | None = None,
    loss: str = "cross_entropy",
    weight: NDArray | None = None,
    label_smoothing: float = 0.0,
    params: dict[str, NDArray] | None = None,
    seed: int = 0,
    run: Run | None = None,
) -> Fit:
    """Full-batch gradient descent with the analytic gradient ``xn.cross_entropy_grad``.

    Softmax regression (``hidden_size=None``) or an MLP with one tanh hidden layer,
    started from ``params`` or from :func:`init_numpy` with ``seed``. ``loss`` is
    ``"cross_entropy"`` (with ``weight`` and ``label_smoothing`` as in
    :func:`xent.numpy.cross_entropy`) or ``"mse"``, the squared error between the
    softmax and the one-hot target, for comparison. Each epoch logs ``epoch``,
    ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy`` and ``grad_norm``
    (the Euclidean norm of all parameter gradients). Returns ``Fit(params, history)``;
    ``params`` given are not modified. Raises ``ValueError`` for bad arguments (naming
    the argument) and for a multi-label split.

    >>> from xent.data import blobs
    >>> fit = fit_numpy(blobs(n=60), num_epochs=20)
    >>> len(fit.history), fit.history[-1]["val_loss"] < fit.history[0]["val_loss"]
    (20, True)
    """
    split = _check_split(split)
    if split.multilabel:
        raise ValueError(
            "split must hold class indices; fit_numpy does not train multi-label"
        )
    num_epochs = _positive_int("num_epochs", num_epochs)
    lr = _positive_float("lr", lr)
    if loss not in ("cross_entropy", "mse"):
        raise ValueError(f"loss must be 'cross_entropy' or 'mse'; got {loss!r}")
    options = {"weight": weight, "label_smoothing": label_smoothing}
    if loss == "mse" and (weight is not None or label_smoothing):
        raise ValueError(
            "weight and label_smoothing apply to loss='cross_entropy' only"
        )
    if params is None:
        params = init_numpy(
            split.num_features, split.num_classes, hidden_size=hidden_size, seed=seed
        )
    params = {
        k: np.array(v, dtype=np.float64) for k, v in params.items()
    }  # a private copy
    X_train, y_train = split.X_train.astype(np.float64), split.y_train  # (n, d), (n,)
    X_val, y_val = split.X_val.astype(np.float64), split.y_val

    history: list[dict[str, float]] = []
    for epoch in range(num_epochs):
        logits, hidden = _forward(params, X_train)  # (n, C), (n, H) or None
        train_loss, grad_logits = _numpy_loss(
            loss, logits, y_train, options
        )  # dL/dlogits
        grads = _backward(params, X_train, hidden, grad_logits)
        for name in params:  # one step of plain gradient descent
            params[name] -= lr * grads[name]

        val_logits = logits_numpy(params, X_val)
        val_loss, _ = _numpy_loss(loss, val_logits, y_val, options)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": np.mean(logits.argmax(axis=1) == y_train),
            "val_loss": val_loss,
            "val_accuracy": np.mean(val_logits.argmax(axis=1) == y_val),
            "grad_norm": np.sqrt(sum(np.sum(g**2) for g in grads.values())),
        }
        _record(history, run, row)
    return Fit(params, history)


# --------------------------------------------------------------------------------------
# PyTorch: minibatch training with any loss function, on the default device
# --------------------------------------------------------------------------------------


def mlp_torch(
    num_features: int,
    num_outputs: int,
    *,
    hidden_sizes: tuple[int, ...] = (32, 32),
    seed: int = 0,
):
    """A ReLU MLP ``torch.nn.Sequential``, initialised from ``seed`` (same seed, same
    weights).

    ``num_outputs=1`` makes a binary head (one logit per row). Raises ``ValueError`` for
    sizes below 1 or a negative ``seed``.

    >>> mlp_torch(2, 3, hidden_sizes=(8,))
    Sequential(
      (0): Linear(in_features=2, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    import torch

    sizes = [_positive_int("num_features", num_features)]
    sizes += [_positive_int("hidden_sizes", h) for h in hidden_sizes]
    sizes += [_positive_int("num_outputs", num_outputs)]
    torch.manual_seed(_seed(seed))
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])  # no ReLU after the logits


def _torch_targets(split: Split, num_outputs: int, device):
    """Training and validation targets as the loss expects them, and whether they are
    0/1."""
    import torch

    binary = split.multilabel or num_outputs == 1
    dtype = torch.float32 if binary else torch.int64

    def convert(y: NDArray):
        return torch.as_tensor(y, dtype=dtype, device=device)

    return convert(split.y_train), convert(split.y_val), binary


def _torch_accuracy(logits, target, binary: bool) -> float:
    if binary:  # logit > 0 means p > 1/2
        return float(((logits > 0).float() == target).float().mean())
    return float((logits.argmax(dim=-1) == target).float().mean())


def predict_proba_torch(model, X: NDArray) -> NDArray:
    """Probabilities as a NumPy array: ``(n, C)`` softmax, or ``(n,)`` sigmoid for one
    output."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X, dtype=np.float32), device=device))
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits[..., 0]).cpu().numpy()
    return torch.softmax(logits, dim=-1).cpu().numpy()


def fit_torch(
    model,
    split: Split,
    *,
    loss_fn: Callable,
    num_epochs: int = 50,
    lr: float = 1e-2,
    batch_size: int = 32,
    device=None,
    run: Run | None = None,
    seed: int = 0,
) -> Fit:
    """Train ``model`` with Adam on minibatches of ``split``, logging every epoch to
    ``run``.

    ``loss_fn(logits, target)`` returns the mean loss of a batch, e.g.
    ``xent.torch.cross_entropy`` or ``torch.nn.CrossEntropyLoss()``. For a model with
    one output the logits are squeezed to ``(b,)`` and the targets are float 0/1, ready
    for ``binary_cross_entropy_with_logits``. The model and data move to ``device``
    (default ``xent.torch.default_device()``); ``seed`` fixes the order of the
    minibatches (seed the weights when building the model, e.g. with :func:`mlp_torch`).
    ``run.log`` sends each epoch to W&B (``wandb.log``) and to the run's JSONL. Returns
    ``Fit(model, history)``. Raises ``ValueError`` for bad arguments, naming the
    argument.
    """
    import torch

    from xent import torch as xt

    split = _check_split(split)
    if not callable(loss_fn):
        raise ValueError(
            f"loss_fn must be callable (logits, target) -> loss; got {loss_fn!r}"
        )
    num_epochs = _positive_int("num_epochs", num_epochs)
    lr = _positive_float("lr", lr)
    batch_size = _positive_int("batch_size", batch_size)
    generator = torch.Generator().manual_seed(
        _seed(seed)
    )  # minibatch order, on the CPU
    device = xt.default_device() if device is None else torch.device(device)

    model = model.to(device)
    X_train = torch.as_tensor(split.X_train, device=device)  # (n, d)
    X_val = torch.as_tensor(split.X_val, device=device)
    with torch.no_grad():
        num_outputs = model(X_val[:1]).shape[-1]
    y_train, y_val, binary = _torch_targets(
        split, num_outputs, device
    )  # (n,) or (n, L)

    def logits_of(X):
        logits = model(X)  # (b, C), or (b, 1) for a binary head
        return logits[..., 0] if num_outputs == 1 and not split.multilabel else logits

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(X_train)
    history: list[dict[str, float]] = []
    for epoch in range(num_epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = torch.zeros(
            (), device=device
        )  # summed on the device: one sync per epoch
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]  # (b,)
            loss = loss_fn(logits_of(X_train[batch]), y_train[batch])  # scalar
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)

        model.eval()
        with torch.no_grad():
            train_logits, val_logits = logits_of(X_train), logits_of(X_val)
            row = {
                "epoch": epoch,
                "train_loss": float(total) / n,
                "train_accuracy": _torch_accuracy(train_logits, y_train, binary),
                "val_loss": float(loss_fn(val_logits, y_val)),
                "val_accuracy": _torch_accuracy(val_logits, y_val, binary),
            }
        _record(history, run, row)
    return Fit(model, history)


# --------------------------------------------------------------------------------------
# Keras: compile/fit with an xent loss, logged by WandbMetricsLogger and to the JSONL
# --------------------------------------------------------------------------------------

_KERAS_LOSSES = (
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
)


def keras_loss(name: str = "cross_entropy", **options) -> Callable:
    """A Keras loss ``(y_true, y_pred) -> per-example loss`` from
    ``xent.tensorflow.<name>``.

    ``name`` is one of ``cross_entropy``, ``binary_cross_entropy_with_logits``,
    ``binary_cross_entropy`` and ``sigmoid_focal_loss``; ``options`` are that function's
    keywords (``weight``, ``label_smoothing``, ``pos_weight``, ``alpha``, ``gamma``...),
    except ``reduction``: Keras averages the per-example losses over the batch itself
    (so a class ``weight`` gives the plain mean of weighted losses, not PyTorch's
    weighted mean). ``y_pred`` holds logits (probabilities for
    ``binary_cross_entropy``). Keras hands ``y_true`` over as floats; for
    ``cross_entropy`` with one label per row it becomes int64 class indices again.
    Raises ``ValueError`` for an unknown ``name`` or a ``reduction``.

    >>> keras_loss("cross_entropy", label_smoothing=0.1).__name__
    'xent_cross_entropy'
    """
    if name not in _KERAS_LOSSES:
        raise ValueError(
            f"name must be one of {', '.join(_KERAS_LOSSES)}; got {name!r}"
        )
    if "reduction" in options:
        raise ValueError(
            "reduction is set by Keras (it averages over the batch); leave it out"
        )

    def loss(y_true, y_pred):
        import tensorflow as tf

        from xent import tensorflow as xtf

        fn = getattr(xtf, name)
        y_true, y_pred = tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred)
        rank_true, rank_pred = len(y_true.shape), len(y_pred.shape)
        indices = name == "cross_entropy" and (
            rank_true < rank_pred or (y_true.shape[-1] == 1 and y_pred.shape[-1] != 1)
        )
        if indices:  # class indices (b,) or (b, 1), as floats -> int64 (b,)
            y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int64)
        else:  # 0/1 labels or class probabilities, in the dtype of the logits
            y_true = tf.cast(y_true, y_pred.dtype)
        return fn(y_pred, y_true, reduction="none", **options)  # (b,) or (b, L)

    loss.__name__ = f"xent_{name}"
    return loss


def mlp_keras(
    num_features: int,
    num_outputs: int,
    *,
    hidden_sizes: tuple[int, ...] = (32, 32),
    seed: int = 0,
):
    """A ReLU MLP ``keras.Sequential`` with linear outputs (logits), initialised from
    ``seed``.

    Raises ``ValueError`` for sizes below 1 or a negative ``seed``.
    """
    import keras

    num_features = _positive_int("num_features", num_features)
    num_outputs = _positive_int("num_outputs", num_outputs)
    keras.utils.set_random_seed(_seed(seed))  # Python, NumPy and TensorFlow generators
    layers = [keras.Input(shape=(num_features,))]
    layers += [
        keras.layers.Dense(_positive_int("hidden_sizes", h), activation="relu")
        for h in hidden_sizes
    ]
    return keras.Sequential([*layers, keras.layers.Dense(num_outputs)])


def predict_proba_keras(model, X: NDArray) -> NDArray:
    """Probabilities as a NumPy array: ``(n, C)`` softmax, or ``(n,)`` sigmoid for one
    output."""
    logits = np.asarray(
        model(np.asarray(X, dtype=np.float32), training=False), dtype=np.float64
    )
    if logits.shape[-1] == 1:
        return 1 / (1 + np.exp(-logits[..., 0]))
    return xn.softmax(logits)


def _keras_history_callback(run: Run | None, history: list):
    """A Keras callback that writes each epoch under this module's metric names."""
    import keras

    names = {"loss": "train_loss", "accuracy": "train_accuracy"}

    class History(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            row = {
                "epoch": epoch,
                **{names.get(k, k): v for k, v in (logs or {}).items()},
            }
            # WandbMetricsLogger already sends Keras's logs to W&B: write only the JSONL
            # here.
            _record(history, run, row, to_wandb=False)

    return History()


def fit_keras(
    model,
    split: Split,
    *,
    loss: Callable | Any,
    num_epochs: int = 50,
    lr: float = 1e-2,
    batch_size: int = 32,
    run: Run | None = None,
    seed: int = 0,
) -> Fit:
    """Keras ``compile`` and ``fit`` with Adam and ``loss``, logging every epoch.

    ``loss`` is a Keras loss: :func:`keras_loss` or one of Keras's own (e.g.
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``). The accuracy
    metric follows the model: top class for ``C > 1`` outputs, ``logit > 0`` for one
    output or multi-label targets. With a ``run``,
    ``wandb.integration.keras.WandbMetricsLogger`` sends Keras's logs to W&B and a small
    callback writes ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy`` to the run's JSONL. ``seed`` seeds the shuffling
    (``keras.utils.set_random_seed``). TensorFlow places the work on a GPU when there is
    one. Returns ``Fit(model, history)``. Raises ``ValueError`` for bad arguments.
    """
    import keras

    split = _check_split(split)
    num_epochs = _positive_int("num_epochs", num_epochs)
    lr = _positive_float("lr", lr)
    batch_size = _positive_int("batch_size", batch_size)
    keras.utils.set_random_seed(_seed(seed))

    binary = split.multilabel or model.output_shape[-1] == 1
    if binary:
        accuracy = keras.metrics.BinaryAccuracy(
            name="accuracy", threshold=0.0
        )  # logits
    else:
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    y_train, y_val = split.y_train, split.y_val  # (n,) int64 or (n, L) float32
    if binary and not split.multilabel:
        y_train, y_val = (
            y.astype(np.float32)[:, None] for y in (y_train, y_val)
        )  # (n, 1)

    # jit_compile=False: the xent loss checks its inputs with graph assertions, which
    # XLA drops.
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=loss,
        metrics=[accuracy],
        jit_compile=False,
    )
    history: list[dict[str, float]] = []
    callbacks = [_keras_history_callback(run, history)]
    if run is not None and run.wandb is not None:
        from wandb.integration.keras import WandbMetricsLogger

        callbacks.append(WandbMetricsLogger())
    model.fit(
        split.X_train,
        y_train,
        epochs=num_epochs,
        batch_size=batch_size,
        validation_data=(split.X_val, y_val),
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    return Fit(model, history)

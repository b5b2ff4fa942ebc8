"""NumPy training: softmax regression or a one-hidden-layer MLP, gradients by hand.

Full-batch gradient descent whose gradient with respect to the logits is the closed
form :func:`xent.numpy.cross_entropy_grad` (``softmax - target``), carried back through
the layers by the chain rule. The squared error between the softmax and the one-hot
target is there for comparison: its gradient vanishes when the softmax saturates, right
or wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent import numpy as xn
from xent.data import Split
from xent.train import Fit, _check_split, _record

if TYPE_CHECKING:
    from xent.tracking import Run

__all__ = ["init_numpy", "logits_numpy", "predict_proba_numpy", "fit_numpy"]

Array: TypeAlias = NDArray[np.float64]
Params: TypeAlias = dict[str, Array]


def init_numpy(
    num_features: int,
    num_classes: int,
    *,
    hidden_size: int | None = None,
    scale: float = 1.0,
    seed: int = 0,
) -> Params:
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
    d = _checks.positive_int("num_features", num_features)
    c = _checks.positive_int("num_classes", num_classes)
    scale = _checks.positive_number("scale", scale)
    rng = np.random.default_rng(_checks.seed(seed))
    if hidden_size is None:
        return {"W": scale * rng.standard_normal((d, c)) / np.sqrt(d), "b": np.zeros(c)}
    h = _checks.positive_int("hidden_size", hidden_size)
    return {
        "W1": scale * rng.standard_normal((d, h)) / np.sqrt(d),
        "b1": np.zeros(h),
        "W2": scale * rng.standard_normal((h, c)) / np.sqrt(h),
        "b2": np.zeros(c),
    }


def _forward(params: Params, X: Array) -> tuple[Array, Array | None]:
    """Logits ``(n, C)`` and, for the MLP, the hidden activations ``(n, H)`` backprop
    needs."""
    if "W" in params:
        return X @ params["W"] + params["b"], None
    hidden = np.tanh(X @ params["W1"] + params["b1"])  # (n, H)
    return hidden @ params["W2"] + params["b2"], hidden


def logits_numpy(params: Params, X: ArrayLike) -> Array:
    """The model's logits ``(n, C)`` for inputs ``X: (n, d)``.

    >>> logits_numpy({"W": np.eye(2), "b": np.zeros(2)}, np.array([[1.0, 2.0]]))
    array([[1., 2.]])
    """
    return _forward(params, np.asarray(X, dtype=np.float64))[0]


def predict_proba_numpy(params: Params, X: ArrayLike) -> Array:
    """Class probabilities ``(n, C)``: the softmax of :func:`logits_numpy`.

    >>> predict_proba_numpy({"W": np.zeros((2, 4)), "b": np.zeros(4)}, np.ones((1, 2)))
    array([[0.25, 0.25, 0.25, 0.25]])
    """
    return xn.softmax(logits_numpy(params, X))


def _backward(
    params: Params, X: Array, hidden: Array | None, grad_logits: Array
) -> Params:
    """Parameter gradients from ``grad_logits = dL/dlogits (n, C)``, by the chain
    rule."""
    if hidden is None:
        return {"W": X.T @ grad_logits, "b": grad_logits.sum(axis=0)}
    # (n, H); tanh' = 1 - tanh^2
    grad_hidden = grad_logits @ params["W2"].T * (1 - hidden**2)
    return {
        "W1": X.T @ grad_hidden,
        "b1": grad_hidden.sum(axis=0),
        "W2": hidden.T @ grad_logits,
        "b2": grad_logits.sum(axis=0),
    }


def _mse(logits: Array, y: NDArray[np.int64]) -> tuple[float, Array]:
    """Mean over rows of ``sum_c (q_c - onehot_c)^2`` with ``q = softmax(logits)``, and
    its gradient: through the softmax Jacobian ``diag(q) - q q^T`` it is
    ``2 q (e - q.e) / n`` with ``e = q - onehot``. It vanishes when ``q`` saturates,
    right or wrong."""
    q = xn.softmax(logits)  # (n, C)
    e = q - np.eye(logits.shape[1])[y]  # (n, C)
    grad = 2 * q * (e - np.sum(q * e, axis=1, keepdims=True)) / len(y)
    return float(np.mean(np.sum(e**2, axis=1))), grad


def _numpy_loss(
    name: str, logits: Array, y: NDArray[np.int64], options: Mapping[str, Any]
) -> tuple[float, Array]:
    """The mean loss ``name`` of a batch and its gradient with respect to ``logits``."""
    if name == "mse":
        return _mse(logits, y)
    # one array, not (loss, z_loss): return_z_loss is off
    loss = cast(Array, xn.cross_entropy(logits, y, **options))
    return float(loss), xn.cross_entropy_grad(logits, y, **options)


def fit_numpy(
    split: Split,
    *,
    num_epochs: int = 100,
    lr: float = 0.5,
    hidden_size: int | None = None,
    loss: str = "cross_entropy",
    weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    params: Mapping[str, ArrayLike] | None = None,
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
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    lr = _checks.positive_number("lr", lr)
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
    # a private copy, updated in place below
    weights = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    X_train, y_train = split.X_train.astype(np.float64), split.y_train  # (n, d), (n,)
    X_val, y_val = split.X_val.astype(np.float64), split.y_val

    history: list[dict[str, float]] = []
    for epoch in range(num_epochs):
        logits, hidden = _forward(weights, X_train)  # (n, C), (n, H) or None
        train_loss, grad_logits = _numpy_loss(loss, logits, y_train, options)
        grads = _backward(weights, X_train, hidden, grad_logits)
        for name in weights:  # one step of plain gradient descent
            weights[name] -= lr * grads[name]

        val_logits = logits_numpy(weights, X_val)
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
    return Fit(weights, history)

"""Keras training: ``compile`` and ``fit`` with an ``xent`` loss, logged every epoch.

The loss comes from :func:`xent.keras.keras_loss` (or is one of Keras's own). With a
run, ``wandb.integration.keras.WandbMetricsLogger`` sends Keras's logs to W&B, and a
small callback writes each epoch, under the names the other loops use, to the run's
JSONL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import keras
import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent import numpy as xn
from xent.data import Split
from xent.keras import keras_loss
from xent.train import Fit, _check_split, _record, _sizes

if TYPE_CHECKING:
    from xent.tracking import Run

__all__ = ["keras_loss", "mlp_keras", "predict_proba_keras", "fit_keras"]

Model: TypeAlias = Any  # keras.Model: Keras ships no usable types

# Keras's metric names -> this package's
_NAMES = {"loss": "train_loss", "accuracy": "train_accuracy"}


def mlp_keras(
    num_features: int,
    num_outputs: int,
    *,
    hidden_sizes: Sequence[int] = (32, 32),
    seed: int = 0,
) -> Model:
    """A ReLU MLP ``keras.Sequential`` with linear outputs (logits), initialised from
    ``seed``.

    Raises ``ValueError`` for sizes below 1 or a negative ``seed``.

    >>> model = mlp_keras(2, 3, hidden_sizes=(8,))
    >>> [layer.units for layer in model.layers], model.output_shape
    ([8, 3], (None, 3))
    """
    num_features = _checks.positive_int("num_features", num_features)
    num_outputs = _checks.positive_int("num_outputs", num_outputs)
    hidden = _sizes("hidden_sizes", hidden_sizes)
    # Python's, NumPy's and TensorFlow's generators
    keras.utils.set_random_seed(_checks.seed(seed))
    layers = [keras.Input(shape=(num_features,))]
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    return keras.Sequential([*layers, keras.layers.Dense(num_outputs)])


def predict_proba_keras(model: Model, X: ArrayLike) -> NDArray[np.float64]:
    """Probabilities as a NumPy array: ``(n, C)`` softmax, or ``(n,)`` sigmoid for one
    output."""
    logits = np.asarray(
        model(np.asarray(X, dtype=np.float32), training=False), dtype=np.float64
    )
    if logits.shape[-1] == 1:
        return 1 / (1 + np.exp(-logits[..., 0]))
    return xn.softmax(logits)


class _History(keras.callbacks.Callback):
    """Writes each epoch's logs under this package's metric names."""

    def __init__(self, run: Run | None, history: list[dict[str, float]]) -> None:
        super().__init__()
        self.run, self.history = run, history

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {"epoch": epoch, **{_NAMES.get(k, k): v for k, v in (logs or {}).items()}}
        # WandbMetricsLogger already sends Keras's logs to W&B: only the JSONL here
        _record(self.history, self.run, row, to_wandb=False)


def fit_keras(
    model: Model,
    split: Split,
    *,
    loss: Any,
    num_epochs: int = 50,
    lr: float = 1e-2,
    batch_size: int = 32,
    run: Run | None = None,
    seed: int = 0,
) -> Fit:
    """Keras ``compile`` and ``fit`` with Adam and ``loss``, logging every epoch.

    ``loss`` is a Keras loss: :func:`xent.keras.keras_loss` or one of Keras's own (e.g.
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``). The accuracy
    metric follows the model: top class for ``C > 1`` outputs, ``logit > 0`` for one
    output or multi-label targets. With a ``run``,
    ``wandb.integration.keras.WandbMetricsLogger`` sends Keras's logs to W&B and a small
    callback writes ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy`` to the run's JSONL. ``seed`` seeds the shuffling
    (``keras.utils.set_random_seed``). TensorFlow places the work on a GPU when there is
    one. Returns ``Fit(model, history)``. Raises ``ValueError`` for bad arguments.
    """
    split = _check_split(split)
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    lr = _checks.positive_number("lr", lr)
    batch_size = _checks.positive_int("batch_size", batch_size)
    keras.utils.set_random_seed(_checks.seed(seed))

    binary = split.multilabel or model.output_shape[-1] == 1
    if binary:  # the threshold is on logits
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    else:
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    y_train, y_val = split.y_train, split.y_val  # (n,) int64 or (n, L) float32
    if binary and not split.multilabel:  # (n, 1) float 0/1
        y_train, y_val = (y.astype(np.float32)[:, None] for y in (y_train, y_val))

    # jit_compile=False: the xent loss checks its inputs with graph assertions, which
    # XLA drops.
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=loss,
        metrics=[accuracy],
        jit_compile=False,
    )
    history: list[dict[str, float]] = []
    callbacks = [_History(run, history)]
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

"""Small, readable training loops for the notebooks: NumPy, PyTorch and Keras.

One module per framework, each importing only its own: :mod:`xent.train.numpy`
(softmax regression and a one-hidden-layer MLP with gradients by hand),
:mod:`xent.train.torch` (a minibatch loop with Adam and any loss function) and
:mod:`xent.train.keras` (``compile`` and ``fit`` with an ``xent`` loss from
:mod:`xent.keras`). This package holds what they share, :class:`Fit` and the logging of
one epoch, and names their functions lazily: ``from xent import train`` costs only
NumPy, ``train.fit_torch`` imports PyTorch on first use, ``train.fit_keras``
TensorFlow.

Each loop trains a classifier on a :class:`xent.data.Split`, logs one row per epoch
through a :class:`xent.tracking.Run` (``epoch``, ``train_loss``, ``train_accuracy``,
``val_loss``, ``val_accuracy``, and for NumPy ``grad_norm``), and returns a
:class:`Fit`: the trained model (or NumPy parameters) and the list of logged rows.
``train_loss`` is the mean of the loss over the epoch's minibatches, taken before each
step, as Keras reports it; the validation metrics are computed after the epoch.
Targets follow ``xent``'s conventions: int64 class indices for a model with ``C > 1``
outputs; a model with one output is a binary classifier, trained on float 0/1 targets
with a logit per row; multi-label sets have float ``(n, L)`` targets.

>>> from xent import train
>>> train.fit_torch.__module__, train.keras_loss.__module__
('xent.train.torch', 'xent.keras')
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from xent import _checks
from xent.data import Split

if TYPE_CHECKING:
    from xent.keras import keras_loss
    from xent.tracking import Run
    from xent.train.keras import fit_keras, mlp_keras, predict_proba_keras
    from xent.train.numpy import (
        fit_numpy,
        init_numpy,
        logits_numpy,
        predict_proba_numpy,
    )
    from xent.train.torch import fit_torch, mlp_torch, predict_proba_torch

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

# public name -> the module that defines it, imported on first use
_HOMES = {
    "init_numpy": "xent.train.numpy",
    "logits_numpy": "xent.train.numpy",
    "predict_proba_numpy": "xent.train.numpy",
    "fit_numpy": "xent.train.numpy",
    "mlp_torch": "xent.train.torch",
    "predict_proba_torch": "xent.train.torch",
    "fit_torch": "xent.train.torch",
    "keras_loss": "xent.keras",
    "mlp_keras": "xent.train.keras",
    "predict_proba_keras": "xent.train.keras",
    "fit_keras": "xent.train.keras",
}
_SUBMODULES = ("numpy", "torch", "keras")


class Fit(NamedTuple):
    """What a training loop returns: the trained ``model`` and its per-epoch
    ``history``."""

    model: Any
    history: list[dict[str, float]]


def _check_split(split: object) -> Split:
    if not isinstance(split, Split):
        raise ValueError(
            f"split must be an xent.data.Split; got {type(split).__name__}"
        )
    return split


def _sizes(name: str, sizes: object) -> list[int]:
    """The layer widths of an MLP: a sequence of positive integers (possibly empty).

    >>> _sizes("hidden_sizes", (8, 4))
    [8, 4]
    >>> _sizes("hidden_sizes", (8, 0))
    Traceback (most recent call last):
    ...
    ValueError: hidden_sizes[1] must be a positive integer; got 0
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Iterable):
        raise ValueError(
            f"{name} must be a sequence of positive integers; got {sizes!r}"
        )
    return [_checks.positive_int(f"{name}[{i}]", h) for i, h in enumerate(sizes)]


def _record(
    history: list[dict[str, float]],
    run: Run | None,
    row: Mapping[str, Any],
    *,
    to_wandb: bool = True,
) -> None:
    """Append ``row`` to ``history`` as plain floats (``epoch`` stays an int) and log it
    to ``run`` if there is one.

    >>> history: list[dict[str, float]] = []
    >>> _record(history, None, {"epoch": 3, "train_loss": 1})
    >>> history
    [{'epoch': 3, 'train_loss': 1.0}]
    """
    plain = {k: (v if k == "epoch" else float(v)) for k, v in row.items()}
    history.append(plain)
    if run is not None:
        run.log(plain, to_wandb=to_wandb)


def __getattr__(name: str) -> Any:
    # ``train.fit_torch`` imports xent.train.torch (and PyTorch) on first use only.
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES, *_SUBMODULES})

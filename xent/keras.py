"""Keras losses from the ``xent.tensorflow`` backend, for ``model.compile(loss=...)``.

Keras calls a loss as ``loss(y_true, y_pred)`` with the targets first, hands class
indices over as floats, and averages the per-example losses itself. :func:`keras_loss`
bridges the two conventions; the numbers are those of ``xent.tensorflow``, which are
PyTorch's. Importing this module imports TensorFlow, never PyTorch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeAlias

import tensorflow as tf

from xent import tensorflow as xtf

__all__ = ["keras_loss"]

Tensor: TypeAlias = Any  # tf.Tensor: TensorFlow ships no usable types
KerasLoss: TypeAlias = Callable[[Tensor, Tensor], Tensor]

LOSSES = (
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
)
# set by the adapter: Keras reduces over the batch, and it wants one loss tensor back
_FIXED = ("reduction", "return_z_loss")


def keras_loss(name: str = "cross_entropy", **options: Any) -> KerasLoss:
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
    Raises ``ValueError`` for an unknown ``name``, an option the function does not
    take, or ``reduction``.

    >>> loss = keras_loss("cross_entropy", label_smoothing=0.1)
    >>> loss.__name__
    'xent_cross_entropy'
    >>> loss([1.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]).numpy()  # log 2 per row
    array([0.6931472, 0.6931472], dtype=float32)
    >>> keras_loss("cross_entropy", pos_weight=2.0)
    Traceback (most recent call last):
    ...
    ValueError: options must be keywords of xent.tensorflow.cross_entropy (weight, \
ignore_index, label_smoothing, z_loss_scale, softcap); got pos_weight
    """
    if name not in LOSSES:
        raise ValueError(f"name must be one of {', '.join(LOSSES)}; got {name!r}")
    if "reduction" in options:
        raise ValueError(
            "reduction is set by Keras (it averages over the batch); leave it out"
        )
    fn = getattr(xtf, name)
    keywords = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _FIXED
    ]
    unknown = [key for key in options if key not in keywords]
    if unknown:
        raise ValueError(
            f"options must be keywords of xent.tensorflow.{name} "
            f"({', '.join(keywords)}); got {', '.join(unknown)}"
        )

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
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

"""TensorFlow's checks of values, which work eagerly and while ``tf.function`` traces.

Checks of shapes, dtypes and options need no values and live in ``xent._checks``. A
check of values (a class index out of range, a probability above one) can read the
values in eager mode, and raises ``ValueError`` naming one of them there; while a graph
is traced the values are unknown, and the check becomes a graph assertion with the same
message, which fails as ``tf.errors.InvalidArgumentError`` when the graph runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import tensorflow as tf

__all__ = ["fail_if"]

Tensor: TypeAlias = Any  # tf.Tensor, which has no usable annotations


def fail_if(
    bad: Tensor, values: Tensor, error: Callable[..., ValueError], *args: object
) -> Tensor:
    """Raise ``error(*args, a bad value)`` if any of ``bad`` holds; return ``values``.

    While ``tf.function`` traces, values are unknown: the check becomes a graph
    assertion with the message of ``error(*args)``, and the returned ``values`` depend
    on it, so that no later op (a gather with a bad index, say) can fail first with a
    message of its own.
    """
    if tf.executing_eagerly():
        if bool(tf.reduce_any(bad)):
            raise error(*args, tf.boolean_mask(values, bad)[0].numpy().item())
        return values
    message = str(error(*args))  # no example: the values are not known yet
    check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [message])
    with tf.control_dependencies([check]):
        return tf.identity(values)

"""Cross-entropy and its relatives in TensorFlow, with the API of ``xent.numpy``.

The same functions, in the same order, with the same signatures as the NumPy reference;
only what TensorFlow changes differs: tensors instead of arrays, ``GradientTape``
instead of the analytic gradient, and checks that also work while ``tf.function`` traces
a graph. Shape and option errors raise ``ValueError`` at once (while tracing, too);
checks on values (a class index out of range, a probability above one) raise
``ValueError`` in eager mode and become graph assertions
(``tf.errors.InvalidArgumentError``, same message) inside ``tf.function``. The
memory-lean cross-entropy and the clamped BCE have custom gradients, in
``xent._tensorflow_fused``; the docstrings of the shared functions live in
``xent._docs``.

Classes are on the last axis: ``logits`` has shape ``(..., C)``, as in Keras. The
numbers are those of ``torch.nn.functional``, options included.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import tensorflow as tf

from xent import _checks, _docs
from xent._checks.tensorflow import fail_if

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
]

Tensor: TypeAlias = Any  # tf.Tensor, which has no usable annotations
shared = _docs.shared("tensorflow")

# --------------------------------------------------------------------------------------
# Helpers: argument conversion and reductions
# --------------------------------------------------------------------------------------


def _kind(x: Tensor) -> str:
    if x.dtype.is_bool:
        return "b"
    if x.dtype.is_floating:
        return "f"
    if x.dtype.is_complex:
        return "c"
    return "u" if x.dtype.is_unsigned else "i" if x.dtype.is_integer else "?"


def _shape(x: Tensor) -> tuple[int | None, ...]:
    return tuple(x.shape.as_list())


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, tf.Tensor | tf.Variable) else tf.convert_to_tensor(x)


def _floating(name: str, x: Any) -> Tensor:
    x = _tensor(x)
    _checks.floating(name, _kind(x), x.dtype.name)
    return x


def _compute(x: Tensor) -> Tensor:
    # float16 and bfloat16 have too few bits for exp and log sums: compute in float32.
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def _weight(weight: Any, num_classes: int | None, like: Tensor) -> Tensor:
    """Per-class weights of shape (C,), ones when none are given."""
    if weight is None:
        return tf.ones(tf.shape(like)[-1:], dtype=like.dtype)
    weight = _tensor(weight)
    _checks.class_weight(_shape(weight), _kind(weight), num_classes)
    return tf.cast(weight, like.dtype)


def _class_target(
    logits: Tensor,
    target: Any,
    ignore_index: int,
    allow_probs: bool = True,
    check: bool = True,
) -> tuple[Tensor, bool]:
    """Check a multi-class target; return it (int64 indices or probabilities), its kind.

    Probabilities are cast to the dtype of ``logits``. With ``check=False`` the values
    are not checked here (for a caller that checks them with the loss).
    """
    target = _tensor(target)
    is_probs = _checks.class_target(
        "logits",
        _shape(logits),
        _shape(target),
        _kind(target),
        target.dtype.name,
        ignore_index,
        allow_probs,
    )
    if is_probs:
        if check:
            name = "target (class probabilities)"
            outside = (target < 0) | (target > 1)
            target = fail_if(outside, target, _checks.unit_interval_error, name)
        return tf.cast(target, logits.dtype), True
    target = tf.cast(target, tf.int64)
    if not check:
        return target, False
    num_classes = tf.shape(logits, out_type=tf.int64)[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    error = _checks.index_error
    return fail_if(bad, target, error, logits.shape[-1], ignore_index), False


def _binary_target(name: str, target: Any, like: Tensor, like_name: str) -> Tensor:
    """A binary target: same shape as ``like``, values in [0, 1], cast to its dtype."""
    target = _tensor(target)
    _checks.same_shape("target", _shape(target), like_name, _shape(like))
    if _kind(target) not in "fiub":
        dtype = target.dtype.name
        raise ValueError(f"target must hold numbers in [0, 1]; got dtype {dtype}")
    target = tf.cast(target, like.dtype)
    outside = (target < 0) | (target > 1)
    return fail_if(outside, target, _checks.unit_interval_error, name)


def _broadcast_weight(name: str, weight: Any, like: Tensor) -> Tensor | None:
    if weight is None:
        return None
    weight = _tensor(weight)
    _checks.broadcastable(name, _shape(weight), "logits", _shape(like))
    return tf.cast(weight, like.dtype)


def _reduce(loss: Tensor, reduction: str, denominator: Tensor | None = None) -> Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the size)."""
    if reduction == "none":
        return loss
    total = tf.reduce_sum(loss)
    if reduction == "sum":
        return total
    count = tf.cast(tf.size(loss), loss.dtype) if denominator is None else denominator
    return tf.math.divide(total, count)  # empty: 0 / 0 = nan, as torch


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def _row_max(x: Tensor, axis: int) -> Tensor:
    """The maximum along ``axis``, kept as a dimension and constant for the tape; 0
    where it is not finite (an all -inf row, or an empty axis).
    """
    m = tf.stop_gradient(tf.reduce_max(x, axis=axis, keepdims=True))
    return tf.where(tf.math.is_finite(m), m, tf.zeros_like(m))


@shared
def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> Tensor:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.shape.rank)
    if x.shape.rank == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return tf.reshape(logsumexp(tf.reshape(x, [1]), axis, keepdims), [])
    xc = _compute(x)
    m = _row_max(xc, axis)
    out = m + tf.math.log(tf.reduce_sum(tf.exp(xc - m), axis=axis, keepdims=True))
    out = tf.cast(out, x.dtype)
    return out if keepdims else tf.squeeze(out, axis=axis)


@shared
def log_softmax(x: Any, axis: int = -1) -> Tensor:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.shape.rank)
    if x.shape.rank == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return tf.reshape(log_softmax(tf.reshape(x, [1]), axis), [])
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    sum_exp = tf.reduce_sum(tf.exp(shifted), axis=axis, keepdims=True)
    return tf.cast(shifted - tf.math.log(sum_exp), x.dtype)


@shared
def softmax(x: Any, axis: int = -1) -> Tensor:
    return tf.exp(log_softmax(x, axis=axis))


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


@shared
def cross_entropy(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", _shape(logits))
    ignore_index = _checks.ignore_index(ignore_index)
    target, is_probs = _class_target(logits, target, ignore_index, check=False)
    reduction = _checks.reduction(reduction)
    eps = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    num_classes = logits.shape[-1]
    w = None if weight is None else _weight(weight, num_classes, logits)
    args = (logits, target, is_probs, w, ignore_index, eps, z_loss_scale, softcap)
    from xent import _tensorflow_fused  # it builds on this module's helpers

    # Memory-lean custom gradients and, eagerly, one traced graph, which also checks
    # the target's values; the reduction is part of that graph.
    loss, z_loss = _tensorflow_fused.cross_entropy(*args, reduction)
    return (loss, tf.stop_gradient(z_loss)) if return_z_loss else loss


def _nll(
    log_probs: Tensor, target: Tensor, w: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor]:
    """Per element, ``-w[y] * log_probs[y]`` and the weight ``w[y]`` (0 if ignored)."""
    keep = target != ignore_index  # (...)
    safe = tf.where(keep, target, tf.zeros_like(target))  # a valid index; masked below
    rank = len(target.shape)
    picked = tf.gather(log_probs, safe[..., None], batch_dims=rank)[..., 0]  # (...)
    kept_weight = tf.where(keep, tf.gather(w, safe), tf.zeros_like(picked))
    # tf.where, not a product with 0: the tape then gives ignored rows a zero gradient.
    return tf.where(keep, -kept_weight * picked, tf.zeros_like(picked)), kept_weight


@shared
def nll_loss(
    log_probs: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", _shape(log_probs))
    ignore_index = _checks.ignore_index(ignore_index)
    target, _ = _class_target(log_probs, target, ignore_index, allow_probs=False)
    reduction = _checks.reduction(reduction)
    w = _weight(weight, log_probs.shape[-1], log_probs)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, tf.reduce_sum(kept_weight))


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stably, with the exact gradient sigmoid(x) everywhere, at 0
    too.
    """
    return tf.math.softplus(x)


@shared
def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    weight = _broadcast_weight("weight", weight, logits)
    pos_weight = _broadcast_weight("pos_weight", pos_weight, logits)
    reduction = _checks.reduction(reduction)

    z, target = _compute(logits), _compute(target)
    if pos_weight is None:
        loss = (1 - target) * z + _softplus(-z)
    else:
        pos_weight = _compute(pos_weight)
        loss = (1 - target) * z + (1 + (pos_weight - 1) * target) * _softplus(-z)
    if weight is not None:
        loss = loss * _compute(weight)
    return _reduce(tf.cast(loss, logits.dtype), reduction)


@shared
def binary_cross_entropy(
    probs: Any,
    target: Any,
    *,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    probs = _floating("probs", probs)
    outside = (probs < 0) | (probs > 1)
    probs = fail_if(outside, probs, _checks.unit_interval_error, "probs")
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)
    from xent import _tensorflow_fused  # PyTorch's gradient, a custom one

    loss = _tensorflow_fused.clamped_bce(_compute(probs), _compute(target))
    if weight is not None:
        loss = loss * _compute(weight)
    return _reduce(tf.cast(loss, probs.dtype), reduction)


@shared
def sigmoid_focal_loss(
    logits: Any,
    target: Any,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)

    q = tf.exp(-_softplus(-_compute(logits)))  # sigmoid(z) = exp(-softplus(-z)), stably
    ce = _compute(binary_cross_entropy_with_logits(logits, target, reduction="none"))
    target = _compute(target)
    q_y = q * target + (1 - q) * (1 - target)  # the probability given to the label
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - q_y) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(tf.cast(loss, logits.dtype), reduction)

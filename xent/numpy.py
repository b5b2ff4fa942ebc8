"""Cross-entropy and its relatives in NumPy: the reference backend.

Read this module top to bottom like a chapter: small helpers first, then the stable
building blocks (log-sum-exp, log-softmax, softmax), then the losses, then the
analytic gradient that the theory chapters derive (``entropy`` and ``kl_divergence``
are re-exported from ``xent.information``, the module of information measures). Each
function is the plain formula its chapter derives; the one optimised path, the blocked
pass that ``cross_entropy`` uses for large inputs, lives in ``xent._numpy_blocked``
and is tested against it. ``xent.torch`` and ``xent.tensorflow``
define the same functions, in the same order, with the same signatures; they are tested
against this module and against their frameworks' losses. The docstrings of the shared
functions live in ``xent._docs``.

Classes are on the last axis: ``logits`` has shape ``(..., C)``. The numbers follow
``torch.nn.functional`` exactly, options included.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from xent import _checks, _docs
from xent._constants import BCE_LOG_MIN
from xent.information import entropy, kl_divergence

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
    "entropy",
    "kl_divergence",
    "cross_entropy_grad",
]

Array: TypeAlias = NDArray[Any]
shared = _docs.shared("numpy")

# --------------------------------------------------------------------------------------
# Helpers: argument conversion and reductions
# --------------------------------------------------------------------------------------


def _floating(name: str, x: ArrayLike) -> Array:
    x = np.asarray(x)
    _checks.floating(name, x.dtype.kind, x.dtype)
    return x


def _compute(x: Array) -> Array:
    # float16 has too few bits for exp and log sums: compute in float32, return float16.
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _weight(weight: ArrayLike | None, num_classes: int, dtype: DTypeLike) -> Array:
    """Per-class weights of shape (C,), ones when none are given."""
    if weight is None:
        return np.ones(num_classes, dtype=dtype)
    weight = np.asarray(weight)
    _checks.class_weight(weight.shape, weight.dtype.kind, num_classes)
    return weight.astype(dtype)


def _class_target(
    logits: Array,
    target: ArrayLike,
    ignore_index: int,
    allow_probs: bool = True,
    cast: bool = True,
) -> tuple[Array, bool]:
    """Check a multi-class target; return it (int64 indices or probabilities), its kind.

    Probabilities are cast to the dtype of ``logits``, unless ``cast`` is False (for a
    caller that converts them itself, perhaps a block at a time, to avoid a full copy).
    """
    target = np.asarray(target)
    is_probs = _checks.class_target(
        "logits",
        logits.shape,
        target.shape,
        target.dtype.kind,
        target.dtype,
        ignore_index,
        allow_probs,
    )
    if is_probs:
        if target.size and (target.min() < 0 or target.max() > 1):  # no temporaries
            bad = target[(target < 0) | (target > 1)][0]
            raise _checks.unit_interval_error("target (class probabilities)", bad)
        return (target.astype(logits.dtype, copy=False) if cast else target), True
    target = target.astype(np.int64)
    num_classes = logits.shape[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if np.any(bad):
        raise _checks.index_error(num_classes, ignore_index, int(target[bad][0]))
    return target, False


def _binary_target(name: str, target: ArrayLike, like: Array, like_name: str) -> Array:
    """A binary target: same shape as ``like``, values in [0, 1], cast to its dtype."""
    target = np.asarray(target)
    _checks.same_shape("target", target.shape, like_name, like.shape)
    if target.dtype.kind not in "fiub":
        dtype = target.dtype
        raise ValueError(f"target must hold numbers in [0, 1]; got dtype {dtype}")
    outside = (target < 0) | (target > 1)
    if np.any(outside):
        raise _checks.unit_interval_error(name, target[outside][0])
    return target.astype(like.dtype)


def _broadcast_weight(name: str, weight: ArrayLike | None, like: Array) -> Array | None:
    if weight is None:
        return None
    weight = np.asarray(weight)
    _checks.broadcastable(name, weight.shape, "logits", like.shape)
    return weight.astype(like.dtype)


def _reduce(
    loss: Array, reduction: str, denominator: Array | float | None = None
) -> Array:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the size)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    count = loss.size if denominator is None else denominator
    with np.errstate(divide="ignore", invalid="ignore"):  # empty: 0 / 0 = nan, as torch
        return (total / count).astype(loss.dtype)


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def _row_max(x: Array, axis: int) -> Array:
    """The maximum along ``axis``, kept as a dimension; 0 where it is not finite."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0.0)  # rows of all -inf (or with inf): no shift


@shared
def logsumexp(x: ArrayLike, axis: int = -1, keepdims: bool = False) -> Array:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.ndim)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return logsumexp(x.reshape(1), axis, keepdims).reshape(())
    xc = _compute(x)
    m = _row_max(xc, axis)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf row
        out = m + np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True))
    out = out.astype(x.dtype)
    return out if keepdims else np.squeeze(out, axis=axis)


@shared
def log_softmax(x: ArrayLike, axis: int = -1) -> Array:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.ndim)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return log_softmax(x.reshape(1), axis).reshape(())
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    with np.errstate(divide="ignore"):
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out.astype(x.dtype)


@shared
def softmax(x: ArrayLike, axis: int = -1) -> Array:
    return np.exp(log_softmax(x, axis=axis))


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------

# Logits of more bytes than this (64 KiB) go through the blocked pass of
# ``xent._numpy_blocked``: beyond it the plain formula's temporaries, a few arrays the
# size of the logits, outgrow a core's cache and grow with the batch (see ``bench``).
_PLAIN_MAX_BYTES = 2**16


@shared
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Array | tuple[Array, Array]:
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", logits.shape)
    ignore_index = _checks.ignore_index(ignore_index)
    target, is_probs = _class_target(logits, target, ignore_index, cast=False)
    reduction = _checks.reduction(reduction)
    eps = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    num_classes = logits.shape[-1]
    # float16 logits are computed in float32, and so are their weights
    w = _weight(weight, num_classes, np.promote_types(logits.dtype, np.float32))
    args = (logits, target, is_probs, w, ignore_index, eps, z_loss_scale, softcap)
    if logits.nbytes > _PLAIN_MAX_BYTES:
        from xent import _numpy_blocked  # it builds on this module's helpers

        # The same numbers, a cache-sized block of rows at a time.
        loss, z_loss, denominator = _numpy_blocked.cross_entropy(*args)
    else:
        loss, z_loss, denominator = _cross_entropy_plain(*args)
    if not return_z_loss:
        return _reduce(loss, reduction, denominator)
    if z_loss is None:  # no z-loss: zeros, reduced as the loss
        z_loss = np.zeros_like(loss)
    z_loss = _reduce(z_loss, reduction, denominator)
    return _reduce(loss, reduction, denominator), z_loss


def _cross_entropy_plain(
    logits: Array,
    target: Array,
    is_probs: bool,
    w: Array,
    ignore_index: int,
    eps: float,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
) -> tuple[Array, Array | None, Array | int]:
    """Each element's loss (its z-loss included), its z-loss (None without one) and the
    ``"mean"`` denominator: the plain formula.
    """
    num_classes = logits.shape[-1]
    z = _compute(logits)
    if softcap is not None:  # z' = softcap tanh(z / softcap)
        z = softcap * np.tanh(z / softcap)
    log_probs = log_softmax(z)  # (..., C): log q_c = z_c - log sum_j exp(z_j)
    z_loss = None
    if z_loss_scale:  # z_loss_scale (log Z)^2 for each row
        z_loss = z_loss_scale * np.square(logsumexp(z))  # (...)
    if is_probs:
        # Smoothing mixes the target with the uniform distribution over the C classes.
        p = (1 - eps) * target.astype(w.dtype) + eps / num_classes  # (..., C)
        loss = -(w * p * log_probs).sum(axis=-1)  # (...)
        if z_loss is not None:
            loss = loss + z_loss
            z_loss = z_loss.astype(logits.dtype)
        return loss.astype(logits.dtype), z_loss, loss.size

    loss, kept_weight = _nll(log_probs, target, w, ignore_index)  # (...): -w_y log q_y
    if eps > 0:
        # The uniform part of the smoothed target: every class, weighted; ignored: 0.
        uniform = np.where(target != ignore_index, -(w * log_probs).sum(axis=-1), 0)
        loss = (1 - eps) * loss + eps / num_classes * uniform
    if z_loss is not None:  # ignored rows add nothing
        z_loss = np.where(target != ignore_index, z_loss, 0)
        loss = loss + z_loss
        z_loss = z_loss.astype(logits.dtype)
    return loss.astype(logits.dtype), z_loss, kept_weight.sum()


def _nll(
    log_probs: Array, target: Array, w: Array, ignore_index: int
) -> tuple[Array, Array]:
    """Per element, ``-w[y] * log_probs[y]`` and the weight ``w[y]`` (0 if ignored)."""
    keep = target != ignore_index  # (...)
    safe = np.where(keep, target, 0)  # any valid index where ignored; masked out below
    picked = np.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]  # (...)
    kept_weight = np.where(keep, w[safe], 0).astype(log_probs.dtype)
    return np.where(keep, -kept_weight * picked, 0), kept_weight


@shared
def nll_loss(
    log_probs: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Array:
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", log_probs.shape)
    ignore_index = _checks.ignore_index(ignore_index)
    target, _ = _class_target(log_probs, target, ignore_index, allow_probs=False)
    reduction = _checks.reduction(reduction)
    w = _weight(weight, log_probs.shape[-1], log_probs.dtype)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, kept_weight.sum())


def _softplus(x: Array) -> Array:
    """log(1 + exp(x)), stably: max(x, 0) + log1p(exp(-|x|))."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


@shared
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> Array:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    weight = _broadcast_weight("weight", weight, logits)
    pos_weight = _broadcast_weight("pos_weight", pos_weight, logits)
    reduction = _checks.reduction(reduction)

    z = _compute(logits)
    if pos_weight is None:
        loss = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
    else:
        loss = (1 - target) * z + (1 + (pos_weight - 1) * target) * _softplus(-z)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(logits.dtype), reduction)


def _clamped_bce(q: Array, y: Array) -> Array:
    """Each element's -[y log q + (1 - y) log(1 - q)], each log clamped at -100."""
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
        log_q = np.maximum(np.log(q), BCE_LOG_MIN)
        log_1mq = np.maximum(np.log1p(-q), BCE_LOG_MIN)
    return -(y * log_q + (1 - y) * log_1mq)


@shared
def binary_cross_entropy(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> Array:
    probs = _floating("probs", probs)
    outside = (probs < 0) | (probs > 1)
    if np.any(outside):
        raise _checks.unit_interval_error("probs", probs[outside][0])
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)

    loss = _clamped_bce(_compute(probs), _compute(target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(probs.dtype), reduction)


@shared
def sigmoid_focal_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Array:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)

    q = np.exp(-_softplus(-_compute(logits)))  # sigmoid(z) = exp(-softplus(-z)), stably
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")
    q_y = q * target + (1 - q) * (1 - target)  # the probability given to the label
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - q_y) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(loss.astype(logits.dtype), reduction)


# --------------------------------------------------------------------------------------
# NumPy only: the analytic gradient (entropy and kl_divergence, imported above from
# xent.information)
# --------------------------------------------------------------------------------------


@shared
def cross_entropy_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Array:
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", logits.shape)
    target, is_probs = _class_target(logits, target, _checks.ignore_index(ignore_index))
    reduction = _checks.reduction(reduction)
    eps = _checks.label_smoothing(label_smoothing)
    num_classes = logits.shape[-1]
    w = _weight(weight, num_classes, logits.dtype)

    # One row's loss is -sum_c a_c log q_c, with a the weighted, smoothed target.
    if is_probs:
        keep = np.ones(logits.shape[:-1] + (1,), dtype=bool)
        a = w * ((1 - eps) * target + eps / num_classes)
        denominator = float(np.prod(logits.shape[:-1]))
    else:
        keep = (target != ignore_index)[..., None]  # (..., 1)
        onehot = np.arange(num_classes) == np.where(keep[..., 0], target, -1)[..., None]
        a = (1 - eps) * w * onehot + eps / num_classes * w * keep
        denominator = (w * onehot).sum()  # summed weight of the kept targets
    grad = a.sum(axis=-1, keepdims=True) * softmax(logits) - a  # (..., C)
    if reduction == "mean":
        # Ignored rows stay exactly zero, even when nothing is kept and the mean is 0/0.
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = np.where(keep, grad / denominator, 0.0)
    return grad.astype(logits.dtype)

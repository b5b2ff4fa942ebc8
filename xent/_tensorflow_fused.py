"""The cross-entropy of ``xent.tensorflow``, memory-lean and traced once.

``xent.numpy`` states the plain formula: log-softmax of the whole batch, pick the
target, weigh, smooth, reduce. Differentiated by ``GradientTape``, that formula keeps
the ``(..., C)`` log-softmax for the backward pass. ``xent.tensorflow.cross_entropy``
hands its checked arguments to :func:`cross_entropy` here instead, which computes the
same numbers from a few numbers per row (chapter "Cross-entropy at scale"): two small
custom gradients work on the shifted logits :math:`s = z - m` and recompute the softmax
in the backward pass, so the tape keeps no ``(..., C)`` array. Eagerly, each row's loss
(and the check of the target's values) is one call of a graph traced once per rank,
dtype and options, instead of some forty eager operations, each of which costs more
than the arithmetic at small sizes; the reduction is part of that graph.

Here also lives :func:`clamped_bce`, the binary cross-entropy on probabilities with
PyTorch's clamps and gradient. ``tests/test_fast_tensorflow.py`` holds both to the
NumPy reference and their gradients to PyTorch's autograd, over every option.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from xent import _checks
from xent._checks.tensorflow import fail_if
from xent._constants import BCE_EPS, BCE_LOG_MIN
from xent.tensorflow import Tensor, _compute, _reduce, _row_max

__all__ = ["clamped_bce", "cross_entropy"]

Options = tuple[bool, int, float, float, float | None, str]


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    is_probs: bool,
    w: Tensor | None,
    ignore_index: int,
    eps: float,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> tuple[Tensor, Tensor]:
    """The loss (its z-loss included) and the z-loss alone (zeros without one), both
    under ``reduction``: the numbers of ``xent.numpy``'s plain formula, reduced.

    The arguments are those ``xent.tensorflow.cross_entropy`` has checked, but for the
    target's values: ``logits: (..., C)``; ``target: (...)`` int64 class indices or
    ``(..., C)`` probabilities in the dtype of the logits; ``w: (C,)`` or None. A bad
    target value raises ``ValueError`` naming it in eager mode; inside the caller's
    ``tf.function`` it fails a graph assertion with the same message. The reduction is
    part of the traced graph: eagerly, every operation outside it costs more than the
    arithmetic at small sizes.
    """
    options: Options = (is_probs, ignore_index, eps, z_loss_scale, softcap, reduction)
    if not tf.executing_eagerly():  # inside the caller's graph: a graph assertion
        loss, z_loss, bad = _reduced_loss(logits, target, w, *options)
        message = (
            _checks.unit_interval_error("target (class probabilities)")
            if is_probs
            else _checks.index_error(logits.shape[-1], ignore_index)
        )
        check = tf.debugging.Assert(tf.logical_not(bad), [str(message)])
        with tf.control_dependencies([check]):
            loss, z_loss = tf.identity(loss), tf.identity(z_loss)
    else:
        # Eager: the check's verdict comes back with the loss from one call of the
        # traced graph, and a bad target is found again eagerly, to name a value.
        loss, z_loss, bad = _graph(logits, target, w, options)
        if bool(bad):
            _name_a_bad_value(logits, target, is_probs, ignore_index)
    return loss, z_loss


def _reduced_loss(
    logits: Tensor,
    target: Tensor,
    w: Tensor | None,
    is_probs: bool,
    ignore_index: int,
    eps: float,
    zs: float,
    cap: float | None,
    reduction: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_loss` and its z-loss under ``reduction``, and the verdict on the
    target."""
    loss, z_rows, denominator, bad = _loss(
        logits, target, w, is_probs, ignore_index, eps, zs, cap
    )
    if not zs:  # no z-loss: zeros, reduced as the loss
        z_rows = tf.zeros_like(loss)
    return (
        _reduce(loss, reduction, denominator),
        _reduce(z_rows, reduction, denominator),
        bad,
    )


def _name_a_bad_value(
    logits: Tensor, target: Tensor, is_probs: bool, ignore_index: int
) -> None:
    """Raise the ``ValueError`` of a bad target value, naming one (eager mode)."""
    if is_probs:
        outside = (target < 0) | (target > 1)
        name = "target (class probabilities)"
        fail_if(outside, target, _checks.unit_interval_error, name)
    num_classes = logits.shape[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    fail_if(bad, target, _checks.index_error, num_classes, ignore_index)


def _loss(
    logits: Tensor,
    target: Tensor,
    w: Tensor | None,
    is_probs: bool,
    ignore_index: int,
    eps: float,
    zs: float = 0.0,
    cap: float | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each element's loss, its z-loss term (``zs * (log Z)**2`` per counted row, zeros
    for ``zs = 0``), the ``"mean"`` denominator and whether the target holds a bad
    value.

    A bad class index is replaced by a valid one, so that no gather fails before the
    caller sees the verdict; the loss is then meaningless and the caller raises.
    """
    if w is None:
        w = tf.ones(tf.shape(logits)[-1:], dtype=logits.dtype)
    w = _compute(w)  # (C,)
    z = _compute(tf.reshape(logits, tf.stack([-1, tf.shape(logits)[-1]])))  # (N, C)
    if cap is not None:  # soft-capping, z' = cap tanh(z / cap)
        z = cap * tf.tanh(z / cap)
    num_classes = tf.cast(tf.shape(z)[-1], z.dtype)
    m = _row_max(z, -1)  # (N, 1), a constant to the tape
    rows_shape = tf.shape(logits)[:-1]  # (...)

    if is_probs:
        bad = tf.reduce_any((target < 0) | (target > 1))
        # Smoothing mixes the target with the uniform distribution over the C classes;
        # with a = w * p', the loss sum_c a_c (lambda - s_c) is two sums of
        # non-negative terms.
        p = _compute(tf.reshape(target, tf.shape(z)))  # (N, C)
        a = w * ((1 - eps) * p + eps / num_classes)  # (N, C)
        log_sum = _log_sum_exp_shifted(z, m)  # (N,): lambda = log sum_j exp(s_j)
        loss = log_sum * tf.reduce_sum(a, axis=-1) - _shifted_dot(z, m, a)  # (N,)
        z_rows = zs * tf.square(m[:, 0] + log_sum)  # (N,): log Z = m + lambda
        loss = tf.cast(tf.reshape(loss + z_rows, rows_shape), logits.dtype)
        z_rows = tf.cast(tf.reshape(z_rows, rows_shape), logits.dtype)
        return loss, z_rows, tf.cast(tf.size(loss), loss.dtype), bad

    t = tf.reshape(target, [-1])  # (N,)
    keep = t != ignore_index
    valid = (t >= 0) & (t < tf.shape(z, out_type=tf.int64)[-1])
    bad = tf.reduce_any(keep & ~valid)
    safe = tf.where(keep & valid, t, tf.zeros_like(t))  # a valid index; masked below
    log_sum, picked = _log_sum_exp_and_pick(z, m, safe)  # (N,), (N,): lambda, s_y
    kept_weight = tf.where(keep, tf.gather(w, safe), tf.zeros_like(picked))  # w_y, 0
    # tf.where, not a product with 0: the tape then gives ignored rows a zero gradient.
    loss = tf.where(keep, kept_weight * (log_sum - picked), tf.zeros_like(picked))
    if eps > 0:
        # The uniform part of the smoothed target: every class, weighted, ignored rows
        # zeroed; sum_c w_c (-log q_c).
        smooth = log_sum * tf.reduce_sum(w) - _shifted_dot(z, m, w)
        smooth = tf.where(keep, smooth, tf.zeros_like(loss))
        loss = (1 - eps) * loss + eps / num_classes * smooth
    z_rows = tf.where(keep, zs * tf.square(m[:, 0] + log_sum), tf.zeros_like(loss))
    loss = tf.cast(tf.reshape(loss + z_rows, rows_shape), logits.dtype)
    z_rows = tf.cast(tf.reshape(z_rows, rows_shape), logits.dtype)
    return loss, z_rows, tf.reduce_sum(tf.cast(kept_weight, logits.dtype)), bad


_GRAPHS: dict[tuple[object, ...], Any] = {}


def _graph(
    logits: Tensor, target: Tensor, w: Tensor | None, options: Options
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_reduced_loss` as a graph traced once per rank, dtype and options (every
    dimension left unknown), so that a new batch size never traces it again.
    """
    key: tuple[object, ...] = (
        logits.shape.rank,
        logits.dtype,
        target.shape.rank,
        target.dtype,
        w is None,
    )
    key += options
    if key not in _GRAPHS:
        specs = [
            tf.TensorSpec([None] * logits.shape.rank, logits.dtype),
            tf.TensorSpec([None] * target.shape.rank, target.dtype),
        ]
        if w is None:
            _GRAPHS[key] = tf.function(
                lambda z, t: _reduced_loss(z, t, None, *options),
                input_signature=specs,
            )
        else:
            specs.append(tf.TensorSpec([None], w.dtype))
            _GRAPHS[key] = tf.function(
                lambda z, t, v: _reduced_loss(z, t, v, *options),
                input_signature=specs,
            )
    args = (logits, target) if w is None else (logits, target, w)
    result: tuple[Tensor, Tensor, Tensor] = _GRAPHS[key](*args)
    return result


def _log_sum_of_exp(z: Tensor, m: Tensor) -> Tensor:
    """``lambda = log sum_j exp(z_j - m)`` of each row of ``z: (N, C)``, shift ``m: (N,
    1)``.
    """
    return tf.math.log(tf.reduce_sum(tf.exp(z - m), axis=-1))


@tf.custom_gradient
def _log_sum_exp_shifted(z: Tensor, m: Tensor) -> Any:
    """``log sum_j exp(z_j - m)`` of each row of ``z: (N, C)``, for a constant shift
    ``(N, 1)``.

    Its gradient is the softmax, recomputed from ``z`` in the backward pass by one fused
    ``tf.nn.softmax``, so the tape keeps no ``(N, C)`` array for it. The backward pass
    is made of differentiable operations: a tape that records it gets second derivatives
    right.
    """
    log_sum = _log_sum_of_exp(z, m)

    def grad(upstream: Tensor) -> tuple[Tensor, None]:
        return upstream[:, None] * tf.nn.softmax(z, axis=-1), None

    return log_sum, grad


@tf.custom_gradient
def _log_sum_exp_and_pick(z: Tensor, m: Tensor, index: Tensor) -> Any:
    """:func:`_log_sum_exp_shifted` of each row of ``z: (N, C)`` and its shifted entry
    ``index``.

    One custom gradient for both, so the backward pass adds the target's term into the
    softmax it builds anyway, instead of the tape adding a second ``(N, C)`` gradient to
    it.
    """
    log_sum = _log_sum_of_exp(z, m)  # (N,)
    rows = tf.range(tf.shape(index, out_type=index.dtype)[0])
    at = tf.stack([rows, index], axis=1)  # (N, 2): (row, index) pairs
    picked = tf.gather_nd(z, at) - m[:, 0]  # (N,)

    def grad(
        upstream_log_sum: Tensor, upstream_picked: Tensor
    ) -> tuple[Tensor, None, None]:
        grad_z = upstream_log_sum[:, None] * tf.nn.softmax(z, axis=-1)
        return tf.tensor_scatter_nd_add(grad_z, at, upstream_picked), None, None

    return (log_sum, picked), grad


@tf.custom_gradient
def _shifted_dot(z: Tensor, m: Tensor, a: Tensor) -> Any:
    """``sum_c a_c (z_c - m)`` of each row of ``z: (N, C)``; ``a: (C,)`` or ``(N, C)``.

    Gradients for ``z`` and ``a``; the shifted logits are recomputed in the backward
    pass rather than kept by the tape.
    """
    out = tf.reduce_sum(a * (z - m), axis=-1)

    def grad(upstream: Tensor) -> tuple[Tensor, None, Tensor]:
        grad_a = upstream[:, None] * (z - m)  # (N, C)
        if a.shape.rank == 1:
            grad_a = tf.reduce_sum(grad_a, axis=0)  # (C,)
        return upstream[:, None] * a, None, grad_a

    return out, grad


@tf.custom_gradient
def clamped_bce(q: Tensor, y: Tensor) -> Any:
    """Element-wise binary cross-entropy on probabilities with PyTorch's clamps and
    gradients.

    The log is clamped at -100, whose derivative would be 0 * inf = nan at q = 0 or 1 on
    a plain tape; PyTorch instead uses (q - y) / max(q (1 - q), 1e-12), and so do we
    (1e-12 rounded to float32, as PyTorch stores it).
    """
    log_q = tf.maximum(tf.math.log(q), BCE_LOG_MIN)
    log_1mq = tf.maximum(tf.math.log1p(-q), BCE_LOG_MIN)

    def grad(upstream: Tensor) -> tuple[Tensor, Tensor]:
        grad_q = upstream * (q - y) / tf.maximum(q * (1 - q), BCE_EPS)
        grad_y = upstream * (tf.math.log1p(-q) - tf.math.log(q))  # -logit(q), as torch
        return grad_q, grad_y

    return -(y * log_q + (1 - y) * log_1mq), grad

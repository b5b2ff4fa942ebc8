"""The cross-entropy of ``xent.numpy`` in one pass over cache-sized blocks of rows.

``xent.numpy.cross_entropy`` is the plain formula of the chapter "From maximum
likelihood to cross-entropy": log-softmax of the whole batch, pick the target, weigh,
smooth, reduce. Its temporaries are arrays the size of the logits. For large inputs it
hands its checked arguments to :func:`cross_entropy` here, which gives the same numbers
from a few numbers per row, computed a block of rows at a time (chapter "Cross-entropy
at scale"): each block is small enough to stay in a core's cache, and no temporary grows
with the batch. ``tests/test_numpy_blocked.py`` holds it to the plain formula over
every option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xent.numpy import Array, _compute, _row_max

# A block of rows of about this many bytes, and its scratch copy, stay in the cache of
# one core (L2 is 0.5 to 2 MiB today); smaller blocks cost more Python calls per row,
# larger ones spill to the shared L3 or to main memory.
_BLOCK_BYTES = 2**19


def _block_rows(num_classes: int) -> int:
    """How many rows of ``num_classes`` float32 logits fill one block (at least one)."""
    return max(1, _BLOCK_BYTES // (4 * num_classes))


def _row_blocks(num_rows: int, num_classes: int) -> list[slice]:
    """Consecutive blocks of rows that cover ``range(num_rows)``."""
    step = _block_rows(num_classes)
    return [
        slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)
    ]


def _row_statistics(
    rows: Array, coefficients: Callable[[slice], Array] | None = None
) -> tuple[Array, Array, Array | None, Array | None]:
    r"""One pass over ``rows: (N, C)``, a block of rows at a time: four numbers per row.

    They are, each ``(N,)``: the shift :math:`m = \max_j z_j`; the log-sum
    :math:`\lambda = \log \sum_j e^{s_j}` of the shifted logits :math:`s = z - m`; and,
    when ``coefficients`` is given (else None), :math:`\sum_c a_c s_c` and
    :math:`\sum_c a_c`, where ``coefficients(block)`` returns the :math:`a` of a block
    of rows, ``(C,)`` or ``(B, C)``. One scratch block holds :math:`s` and then, in
    place, :math:`e^{s}`: temporaries are bounded by the block.
    """
    num_rows, num_classes = rows.shape
    # float16 is widened a block at a time
    dtype = np.promote_types(rows.dtype, np.float32)
    m, sum_exp = np.empty(num_rows, dtype), np.empty(num_rows, dtype)
    a_rows = 0 if coefficients is None else num_rows  # sum_c a_c s_c and sum_c a_c
    a_dot_s, a_sum = np.empty(a_rows, dtype), np.empty(a_rows, dtype)
    scratch = np.empty((min(num_rows, _block_rows(num_classes)), num_classes), dtype)
    for block in _row_blocks(num_rows, num_classes):
        z = _compute(rows[block])  # (B, C)
        shift = _row_max(z, -1)  # (B, 1)
        m[block] = shift[:, 0]
        shifted = np.subtract(z, shift, out=scratch[: len(z)])  # (B, C), each <= 0
        if coefficients is not None:
            # before the exponentials overwrite the shifted logits
            a = coefficients(block)
            a_dot_s[block] = (
                shifted @ a if a.ndim == 1 else np.einsum("bc,bc->b", a, shifted)
            )
            a_sum[block] = a.sum(axis=-1)
        np.sum(np.exp(shifted, out=shifted), axis=-1, out=sum_exp[block])
    with np.errstate(divide="ignore"):  # log(0) = -inf for a row of all -inf
        log_sum = np.log(sum_exp)
    if coefficients is None:
        return m, log_sum, None, None
    return m, log_sum, a_dot_s, a_sum


def cross_entropy(
    logits: Array,
    target: Array,
    is_probs: bool,
    w: Array,
    ignore_index: int,
    label_smoothing: float,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
) -> tuple[Array, Array | None, Array | int]:
    r"""Each element's loss (its z-loss included), its z-loss (None without one) and the
    ``"mean"`` denominator, by :func:`_row_statistics`.

    The arguments are those ``xent.numpy.cross_entropy`` has checked, as it hands them
    to ``_cross_entropy_plain``: ``logits: (..., C)``; ``target: (...)`` int64 class
    indices or ``(..., C)`` probabilities (of any floating dtype, converted a block at a
    time); ``w: (C,)``. With :math:`\lambda` and the shifted logits :math:`s` of each
    row, :math:`-\log q_c = \lambda - s_c`, so a row whose weighted, smoothed target is
    :math:`a` loses :math:`\lambda \sum_c a_c - \sum_c a_c s_c`: two sums of
    non-negative terms, no cancellation. The z-loss needs :math:`\log Z = m + \lambda`,
    which the pass has already computed.
    """
    num_classes = logits.shape[-1]
    out_dtype, shape = logits.dtype, logits.shape[:-1]
    if softcap is not None:  # z' = softcap tanh(z / softcap), in the compute dtype
        logits = softcap * np.tanh(_compute(logits) / softcap)
    # (N, C); a view when the logits are contiguous
    rows = logits.reshape(-1, num_classes)
    eps = label_smoothing
    if is_probs:
        y = target.reshape(rows.shape)  # (N, C), converted a block at a time
        # Per row, the weighted smoothed target a_c = w_c ((1 - eps) y_c + eps / C) ...
        m, log_sum, a_dot_s, a_sum = _row_statistics(
            rows, lambda b: w * ((1 - eps) * y[b].astype(w.dtype) + eps / num_classes)
        )
        # ... gives the loss sum_c a_c (lambda - s_c).
        loss = (log_sum * a_sum - a_dot_s).reshape(shape)
        loss, z_loss = _with_z_loss(loss, m + log_sum, None, z_loss_scale, out_dtype)
        return loss, z_loss, len(rows)

    t = target.reshape(-1)  # (N,)
    keep = t != ignore_index  # (N,)
    safe = np.where(keep, t, 0)  # any valid index where ignored; masked out below
    kept_weight = np.where(keep, w[safe], 0)  # (N,): w_y, or 0 where ignored
    m, log_sum, w_dot_s, _ = _row_statistics(rows, (lambda b: w) if eps > 0 else None)
    picked = _compute(rows[np.arange(len(rows)), safe]) - m  # (N,): s_y = z_y - m
    loss = np.where(keep, kept_weight * (log_sum - picked), 0)  # -w_y log q_y
    if eps > 0:  # the uniform part of the smoothed target: sum_c w_c (-log q_c)
        smooth = np.where(keep, log_sum * w.sum() - w_dot_s, 0)
        loss = (1 - eps) * loss + eps / num_classes * smooth
    loss = loss.reshape(shape)  # (...)
    loss, z_loss = _with_z_loss(loss, m + log_sum, keep, z_loss_scale, out_dtype)
    return loss, z_loss, kept_weight.sum()


def _with_z_loss(
    loss: Array, log_z: Array, keep: Array | None, scale: float, dtype: np.dtype[Any]
) -> tuple[Array, Array | None]:
    """The loss plus ``scale * (log Z)**2`` on each kept row, and that term alone (None
    when ``scale`` is 0), both in ``dtype``.
    """
    if not scale:
        return loss.astype(dtype), None
    z_loss = scale * np.square(log_z.reshape(loss.shape))
    if keep is not None:  # ignored rows add nothing
        z_loss = np.where(keep.reshape(loss.shape), z_loss, 0)
    return (loss + z_loss).astype(dtype), z_loss.astype(dtype)

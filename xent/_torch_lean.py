r"""The memory-lean cross-entropy of ``xent.torch``: two numbers per row, not
``(N, C)``, for the backward pass.

``xent.torch.cross_entropy`` checks its arguments and, in eager code, hands them to
:func:`cross_entropy` here. Its autograd Function, :class:`CrossEntropy`, does not keep
the log-softmax of the whole batch: the forward pass walks over the rows in chunks and
keeps, per row, only the shift :math:`m` and :math:`\log \sum_j e^{z_j - m}`; the
backward pass rebuilds the softmax chunk by chunk from those two numbers and writes the
gradient straight into its memory. Derived in the chapter "Cross-entropy at scale";
``tests/test_fast.py`` holds it to ``F.cross_entropy`` over every option, chunked and
not. Its chunks and row kernels (shift, log-sum, softmax rebuilt from them) are those of
``xent._torch_rows``, which the chunked linear layer and the vocabulary-parallel form
share.

Every loss here is, per row, :math:`\sum_c a_c(\log \sum_j e^{z_j} - z_c)` for some
non-negative coefficients :math:`a` (the weighted, smoothed target), so its gradient
with respect to the logits is :math:`(\sum_c a_c)\,\mathrm{softmax}(z) - a`.

Here also lives :func:`clamped_bce`, the binary cross-entropy on probabilities of
``xent.torch.binary_cross_entropy``, with PyTorch's clamps and gradient (TensorFlow's
is ``xent._tensorflow_fused.clamped_bce``, NumPy's ``xent.numpy._clamped_bce``).
"""

from __future__ import annotations

from typing import Any

import torch

from xent._constants import BCE_EPS, BCE_LOG_MIN
from xent._torch_rows import (
    _compute_dtype,
    _index_parts,
    _row_chunks,
    _scratch,
    _shift_and_log_sum,
    _softmax_from,
    _z_term,
)

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------
# The entry point of xent.torch.cross_entropy
# --------------------------------------------------------------------------------------


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    is_probs: bool,
    w: Tensor | None,
    ignore_index: int,
    eps: float,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | int]:
    """Each element's loss (its z-loss included), its z-loss (None without one) and the
    ``"mean"`` denominator of checked arguments, as ``xent.torch._cross_entropy_plain``
    gives them, keeping two numbers per row for the backward pass.
    """
    num_classes = logits.shape[-1]
    if is_probs:
        keep = safe = None
        rows_target = target.reshape(-1, num_classes)
    else:
        keep, safe = _index_parts(target, ignore_index)  # (...), (...)
        rows_target = safe.reshape(-1)
    rows = (
        logits.reshape(-1, num_classes),
        rows_target,
        None if keep is None else keep.reshape(-1),
        w,
        eps,
        z_loss_scale,
        softcap,
    )
    if torch.is_grad_enabled() and logits.requires_grad:
        loss, log_z = CrossEntropy.apply(*rows)
    else:  # no backward pass: the same forward, without autograd's bookkeeping
        loss, m, log_sum = cross_entropy_rows(*rows)
        log_z = (m + log_sum).squeeze(-1)
    loss = loss.reshape(logits.shape[:-1])  # (...)
    z_loss = None
    if z_loss_scale:
        z_loss = (z_loss_scale * log_z.square()).to(loss.dtype).reshape(loss.shape)
    if keep is None or safe is None:
        return loss, z_loss, loss.numel()
    if z_loss is not None:
        z_loss = torch.where(keep, z_loss, 0)
    # The summed weight of the kept targets (none kept: 0 / 0 = nan).
    denominator = keep.sum() if w is None else torch.where(keep, w[safe], 0).sum()
    return loss, z_loss, denominator


class CrossEntropy(torch.autograd.Function):
    """Per-row cross-entropy of ``logits: (N, C)`` that saves two numbers per row, not
    ``(N, C)``.

    ``target`` is ``(N,)`` class indices, each valid (an ignored row holds any valid
    index and is False in ``keep: (N,)``), or ``(N, C)`` probabilities with ``keep``
    None; ``w`` holds the class weights ``(C,)`` or is None. Returns ``(N,)`` in the
    dtype of the logits; the reduction is left to the caller. Gradients flow to the
    logits only (the caller uses autograd when ``w`` or a probability target needs one).
    The gradient can itself be differentiated (``create_graph=True``, for Hessian-vector
    products or gradient penalties): that backward pass is the plain formula, with the
    full softmax, because the second derivative needs its dependence on the logits.
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: Tensor,
        target: Tensor,
        keep: Tensor | None,
        w: Tensor | None,
        label_smoothing: float,
        z_loss_scale: float,
        softcap: float | None,
    ) -> tuple[Tensor, Tensor]:
        loss, m, log_sum = cross_entropy_rows(
            logits, target, keep, w, label_smoothing, z_loss_scale, softcap
        )
        ctx.save_for_backward(logits, target, keep, w, m, log_sum)
        ctx.options = (label_smoothing, z_loss_scale, softcap)
        log_z = (m + log_sum).squeeze(-1)  # (N,), for the caller's z-loss report
        ctx.mark_non_differentiable(log_z)
        return loss, log_z

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, _grad_log_z: Tensor) -> tuple[Any, ...]:
        logits, target, keep, w, m, log_sum = ctx.saved_tensors
        eps, zs, cap = ctx.options
        none = (None,) * 6
        if torch.is_grad_enabled():
            # create_graph=True: a gradient that autograd can follow.
            grad = _differentiable_grad(
                logits, target, keep, w, grad_loss, eps, zs, cap
            )
            return grad, *none
        num_rows, num_classes = logits.shape
        dtype = m.dtype
        g = grad_loss.to(dtype)  # (N,): d(reduced loss) / d(loss of each row)
        if keep is not None:
            g = torch.where(keep, g, 0)  # ignored rows: exactly zero, never nan
        chunks = _row_chunks(num_rows, num_classes, logits.device)
        if len(chunks) == 1:
            grad = _rows_grad(logits.to(dtype), target, w, g, m, log_sum, eps, zs, cap)
            return grad.to(logits.dtype), *none
        grad = torch.empty_like(logits)
        for rows in chunks:
            # Write in place when the dtypes agree.
            out = grad[rows] if dtype == logits.dtype else None
            p = _rows_grad(
                logits[rows].to(dtype),
                target[rows],
                w,
                g[rows],
                m[rows],
                log_sum[rows],
                eps,
                zs,
                cap,
                out,
            )
            if out is None:
                grad[rows] = p
        return grad, *none


def cross_entropy_rows(
    logits: Tensor,
    target: Tensor,
    keep: Tensor | None,
    w: Tensor | None,
    label_smoothing: float,
    z_loss_scale: float,
    softcap: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The forward pass of :class:`CrossEntropy` (its arguments), and the saved ``m``
    and ``log_sum`` of each row, ``(N, 1)``; called directly when no gradient is
    needed.
    """
    num_rows, num_classes = logits.shape
    dtype = _compute_dtype(logits)
    w = None if w is None else w.to(dtype)
    chunks = _row_chunks(num_rows, num_classes, logits.device)
    if len(chunks) == 1:  # the usual case: one block, no copies
        loss, m, log_sum = _rows_loss(
            logits.to(dtype), target, keep, w, label_smoothing, z_loss_scale, softcap
        )
        return loss.to(logits.dtype), m, log_sum
    loss = torch.empty(num_rows, dtype=dtype, device=logits.device)
    m = torch.empty(num_rows, 1, dtype=dtype, device=logits.device)
    log_sum = torch.empty_like(m)
    scratch = _scratch(chunks, num_classes, dtype, logits.device)
    for rows in chunks:
        loss[rows], m[rows], log_sum[rows] = _rows_loss(
            logits[rows].to(dtype),
            target[rows],
            None if keep is None else keep[rows],
            w,
            label_smoothing,
            z_loss_scale,
            softcap,
            scratch,
        )
    return loss.to(logits.dtype), m, log_sum


def _softcapped(z: Tensor, cap: float | None) -> Tensor:
    """``cap * tanh(z / cap)`` (a new block), or ``z`` itself when there is no cap."""
    return z if cap is None else torch.tanh(z / cap).mul_(cap)


def _rows_loss(
    z: Tensor,
    target: Tensor,
    keep: Tensor | None,
    w: Tensor | None,
    eps: float,
    zs: float = 0.0,
    cap: float | None = None,
    scratch: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Loss, shift ``m`` and ``log_sum`` of a block of rows ``z: (B, C)`` (see above),
    with the z-loss ``zs * (log Z)**2`` and the logits capped at ``cap`` if asked.
    """
    num_classes = z.shape[-1]
    shifted, m, log_sum = _shift_and_log_sum(_softcapped(z, cap), scratch)
    lam = log_sum.squeeze(-1)  # (B,): log sum_j exp(s_j)
    if keep is None:  # probabilities: a = w * ((1 - eps) y + eps / C), (B, C)
        a = (1 - eps) * target.to(z.dtype) + eps / num_classes
        if w is not None:
            a = w * a
        # sum_c a_c (lam - s_c): two sums of non-negative terms, which never cancel.
        loss = lam * a.sum(-1) - (a * shifted).sum(-1)
        if zs:
            loss = loss + _z_term(m, log_sum, zs)
        return loss, m, log_sum
    nll = lam - shifted.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # -log q_y >= 0
    if w is not None:
        nll = w[target] * nll
    if eps > 0:
        if w is None:  # sum_c -log q_c
            smooth = num_classes * lam - shifted.sum(-1)
        else:  # sum_c w_c (-log q_c)
            smooth = lam * w.sum() - shifted @ w
        nll = (1 - eps) * nll + eps / num_classes * smooth
    if zs:
        nll = nll + _z_term(m, log_sum, zs)
    return torch.where(keep, nll, 0), m, log_sum


def _rows_grad(
    z: Tensor,
    target: Tensor,
    w: Tensor | None,
    g: Tensor,
    m: Tensor,
    log_sum: Tensor,
    eps: float,
    zs: float = 0.0,
    cap: float | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """``g * ((sum_c a_c + 2 zs log Z) softmax(z') - a) * dz'/dz`` for a block of rows,
    in place in ``out``; ``z' = cap tanh(z / cap)`` (``z`` without a cap), whose
    derivative is ``1 - tanh(z / cap)**2``. The z-loss adds ``2 zs log Z`` times the
    softmax: the saved ``m + log_sum`` is ``log Z``, so it needs nothing more.
    """
    num_classes = z.shape[-1]
    t = None
    if cap is not None:
        t = torch.tanh(z / cap)  # (B, C)
        z = t * cap
    p = _softmax_from(z, m, log_sum, out=out)  # (B, C)
    extra = g * (2 * zs) * (m + log_sum).squeeze(-1) if zs else 0.0  # (B,)
    if target.ndim == 2:  # probabilities
        a = (1 - eps) * target.to(z.dtype) + eps / num_classes  # (B, C)
        if w is not None:
            a = w * a
        p.mul_((g * a.sum(-1) + extra)[:, None]).sub_(g[:, None] * a)
    elif w is None:  # sum_c a_c = 1
        p.mul_((g + extra)[:, None])
        p.scatter_add_(-1, target[:, None], -(1 - eps) * g[:, None])
        if eps > 0:
            p.sub_((eps / num_classes) * g[:, None])
    else:
        g_target = g * (1 - eps) * w[target]  # (B,): the one-hot part of a, times g
        p.mul_((g_target + g * (eps / num_classes) * w.sum() + extra)[:, None])
        p.scatter_add_(-1, target[:, None], -g_target[:, None])
        if eps > 0:
            p.addr_(g, w, alpha=-eps / num_classes)  # minus g * eps / C * w
    if t is not None:
        p.mul_(t.square_().neg_().add_(1))  # dz'/dz = 1 - tanh(z / cap)**2
    return p


def _differentiable_grad(
    logits: Tensor,
    target: Tensor,
    keep: Tensor | None,
    w: Tensor | None,
    grad_loss: Tensor,
    eps: float,
    zs: float = 0.0,
    cap: float | None = None,
) -> Tensor:
    """The gradient ``g * ((sum_c a_c) q - a)`` of :class:`CrossEntropy` in
    differentiable ops.

    The softmax is recomputed from the logits rather than from the saved ``m`` and
    ``log_sum``: these are constants to autograd, and the second derivative ``diag(q) -
    q q^T`` needs the softmax's dependence on the logits through them. Used only when
    the backward pass is itself differentiated; it holds a few ``(N, C)`` arrays.
    """
    dtype = _compute_dtype(logits)
    num_classes = logits.shape[-1]
    z = logits.to(dtype)
    t = None
    if cap is not None:
        t = torch.tanh(z / cap)
        z = cap * t
    q = torch.softmax(z, dim=-1)  # (N, C)
    ones = torch.ones(num_classes, dtype=dtype, device=logits.device)
    w = ones if w is None else w
    if keep is None:
        a = w * ((1 - eps) * target.to(dtype) + eps / num_classes)  # (N, C)
    else:
        one_hot = torch.nn.functional.one_hot(target, num_classes).to(dtype)  # (N, C)
        a = (1 - eps) * one_hot * w[target, None] + eps / num_classes * w
        a = a * keep[:, None]
    coefficient = a.sum(-1, keepdim=True)
    if zs:
        log_z = torch.logsumexp(z, dim=-1, keepdim=True)
        counted: Tensor | int = 1 if keep is None else keep[:, None]
        coefficient = coefficient + 2 * zs * log_z * counted
    grad = grad_loss.to(dtype)[:, None] * (coefficient * q - a)
    if t is not None:
        grad = grad * (1 - t * t)
    return grad.to(logits.dtype)


# --------------------------------------------------------------------------------------
# The clamped binary cross-entropy of xent.torch.binary_cross_entropy
# --------------------------------------------------------------------------------------


class ClampedBCE(torch.autograd.Function):
    """Each element's -[y log q + (1 - y) log(1 - q)], each log clamped at -100, with
    PyTorch's gradient.

    The clamp's derivative would be 0 * inf = nan at q = 0 or 1 under plain autograd;
    PyTorch instead uses (q - y) / max(q (1 - q), 1e-12), and so do we (1e-12 rounded
    to float32, as PyTorch stores it).
    """

    @staticmethod
    def forward(ctx: Any, q: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(q, y)
        log_q = torch.clamp(torch.log(q), min=BCE_LOG_MIN)
        log_1mq = torch.clamp(torch.log1p(-q), min=BCE_LOG_MIN)
        return -(y * log_q + (1 - y) * log_1mq)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        q, y = ctx.saved_tensors
        grad_q = grad * (q - y) / torch.clamp(q * (1 - q), min=BCE_EPS)
        grad_y = grad * (torch.log1p(-q) - torch.log(q))  # -logit(q), as PyTorch
        return grad_q, grad_y


def clamped_bce(q: Tensor, y: Tensor) -> Tensor:
    """Element-wise binary cross-entropy on probabilities ``q`` against ``y`` (same
    shape), through :class:`ClampedBCE`.
    """
    loss: Tensor = ClampedBCE.apply(q, y)
    return loss

r"""The chunked linear layer and cross-entropy of ``xent.torch``: the ``(N, V)`` logits
of a language model's last layer never exist at once.

:func:`linear_cross_entropy` (public as ``xent.torch.linear_cross_entropy``) checks its
arguments and calls :class:`LinearCrossEntropy`, which computes ``hidden @ weight.T +
bias`` one chunk of rows at a time, with the row kernels and chunk policy of
``xent._torch_lean``. Derived in the chapter "Cross-entropy at scale";
``tests/test_linear_cross_entropy.py`` holds it to ``F.cross_entropy(F.linear(...))``,
values and gradients, over every option.
"""

from __future__ import annotations

from typing import Any

import torch

from xent import _checks
from xent._checks import torch as _torch_checks
from xent._torch_rows import (
    _LINEAR_CHUNK_BYTES,
    TensorLike,
    _compute_dtype,
    _index_parts,
    _refuse_second_derivatives,
    _rows_per_chunk,
    _scratch,
    _shift_and_log_sum,
    _slices,
    _softmax_from,
    _z_term,
)

Tensor = torch.Tensor


def linear_cross_entropy(
    hidden: TensorLike,
    weight: TensorLike,
    target: TensorLike,
    *,
    bias: TensorLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Cross-entropy of a linear layer's logits, without ever holding all of them.

    Equals ``cross_entropy(hidden @ weight.T + bias, target, ...)`` and has the same
    gradients with respect to ``hidden``, ``weight`` and ``bias``, but the ``(N, V)``
    logits exist only ``chunk_size`` rows at a time: each chunk's log-sum-exp, loss and
    gradients are computed and the chunk is dropped. With a vocabulary of 32000 to
    256000 classes the logits and the log-softmax dominate the memory of a language
    model's last layer; here the largest temporaries are a few ``(chunk_size, V)``
    blocks. ``chunk_size`` defaults to the rows that make about 16 MiB of float32
    logits. See the chapter "Cross-entropy at scale". The gradients are computed once
    and cannot be differentiated again (``create_graph=True`` raises a
    ``RuntimeError``): for second derivatives use the eager composition. Under
    ``torch.compile`` it is that composition, ``cross_entropy(F.linear(...))``, which
    the compiler fuses: the compiler cannot keep the chunk loop lean (measured: it held
    about four copies of the logits where the compiled composition holds one and a
    quarter), so compiled code holds the logits, as compiled ``F.cross_entropy`` does.
    ``z_loss_scale``, ``softcap`` and ``return_z_loss`` are those of
    :func:`xent.torch.cross_entropy`; the cap is applied chunk by chunk (one more block
    of the chunk's size for its slope), and the z-loss needs nothing more than the
    saved ``log Z`` of each row.

    Shapes: ``hidden: (..., d)``, ``weight: (V, d)``, ``bias: (V,)``, ``target: (...)``
    class indices. Returns ``(...)`` for ``reduction="none"``, else a scalar. Raises
    ``ValueError`` for mismatched shapes, class indices outside ``[0, V)`` that are not
    ``ignore_index``, a ``chunk_size`` that is not a positive integer,
    ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``.

    >>> from xent import torch as xt
    >>> hidden, weight = torch.randn(6, 4), torch.randn(10, 4)
    >>> target = torch.tensor([0, 1, 2, 3, 4, 5])
    >>> want = xt.cross_entropy(hidden @ weight.T, target)
    >>> got = xt.linear_cross_entropy(hidden, weight, target, chunk_size=4)
    >>> bool(torch.allclose(got, want))
    True
    """
    from xent import torch as xt  # its conversions; it imports this module

    hidden = xt._floating("hidden", hidden)
    weight = xt._floating("weight", xt._tensor(weight, hidden))
    if bias is not None:
        bias = xt._floating("bias", xt._tensor(bias, hidden))
    _torch_checks.linear_layer(
        hidden.shape, weight.shape, None if bias is None else bias.shape
    )
    num_classes = weight.shape[0]
    ignore_index = _checks.ignore_index(ignore_index)
    target = xt._index_target("hidden", target, hidden.shape[:-1], hidden)
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    if chunk_size is None:  # the rows of 16 MiB of float32 logits
        chunk_size = _rows_per_chunk(num_classes, _LINEAR_CHUNK_BYTES)
    chunk_size = _torch_checks.chunk_size(chunk_size)
    _torch_checks.indices(target, num_classes, ignore_index)

    if torch.compiler.is_compiling():  # the composition, fused by the compiler
        return xt.cross_entropy(
            torch.nn.functional.linear(hidden, weight, bias),
            target,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            z_loss_scale=z_loss_scale,
            softcap=softcap,
            return_z_loss=return_z_loss,
        )
    params = (hidden, weight) if bias is None else (hidden, weight, bias)
    want_grad = torch.is_grad_enabled() and any(x.requires_grad for x in params)
    loss, log_z = LinearCrossEntropy.apply(
        hidden.reshape(-1, hidden.shape[-1]),
        weight,
        bias,
        target.reshape(-1),
        ignore_index,
        label_smoothing,
        reduction,
        chunk_size,
        want_grad,
        z_loss_scale,
        softcap,
    )
    if reduction == "none":
        loss = loss.reshape(target.shape)
    if not return_z_loss:
        return loss
    keep = target != ignore_index
    z_loss = torch.where(keep, z_loss_scale * log_z.reshape(target.shape).square(), 0)
    return loss, xt._reduce(z_loss.to(loss.dtype), reduction, keep.sum())


class LinearCrossEntropy(torch.autograd.Function):
    """Cross-entropy of ``hidden @ weight.T + bias`` against class indices, chunk by
    chunk.

    ``hidden: (N, d)``, ``weight: (V, d)``, ``bias: (V,)`` or None, ``target: (N,)``.
    Only a ``(chunk_size, V)`` block of logits exists at any time. For ``reduction``
    ``"mean"`` and ``"sum"`` the gradients are computed during the forward pass (as
    Liger Kernel does) and scaled by the incoming gradient afterwards: three matrix
    products in all, as the eager composition. For ``"none"`` the incoming gradient
    differs per row, so the backward pass recomputes each block of logits from the saved
    per-row ``m`` and ``log_sum`` (as Cut Cross-Entropy does): one matrix product more,
    no more memory.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        target: Tensor,
        ignore_index: int,
        label_smoothing: float,
        reduction: str,
        chunk_size: int,
        want_grad: bool,
        z_loss_scale: float = 0.0,
        softcap: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        num_rows, num_classes = hidden.shape[0], weight.shape[0]
        dtype = _compute_dtype(hidden)
        keep, safe = _index_parts(target, ignore_index)
        loss = torch.empty(num_rows, dtype=dtype, device=hidden.device)
        # mean: divide by the kept rows (none kept: 0 / 0 = nan)
        count = keep.sum().to(dtype)
        scale = 1 / count if reduction == "mean" else torch.ones_like(count)
        early = want_grad and reduction != "none"  # gradients now, scaled in backward
        grads = _zero_grads(hidden, weight, bias, dtype) if early else None
        m = torch.empty(num_rows, 1, dtype=dtype, device=hidden.device)
        log_sum = torch.empty_like(m)
        chunks = _slices(num_rows, chunk_size)
        z_buffer = _scratch(chunks, num_classes, dtype, hidden.device, 1)[0]
        scratch = _scratch(chunks, num_classes, dtype, hidden.device)
        # Soft-capping: one more block of the chunk's size, for dz'/dz.
        slope_buffer = (
            None
            if softcap is None or not early
            else _scratch(chunks, num_classes, dtype, hidden.device, 1)[0]
        )
        for rows in chunks:
            z = _chunk_logits(hidden[rows], weight, bias, z_buffer)  # (B, V)
            slope = _cap_in_place(z, softcap, slope_buffer)
            shifted, m[rows], log_sum[rows] = _shift_and_log_sum(z, scratch)
            loss[rows] = _linear_rows_loss(
                shifted,
                m[rows],
                log_sum[rows],
                keep[rows],
                safe[rows],
                label_smoothing,
                z_loss_scale,
            )
            if grads is not None:
                g = torch.where(keep[rows], scale, 0.0).to(dtype)  # (B,)
                grad_z = _linear_rows_grad(
                    z,
                    m[rows],
                    log_sum[rows],
                    g,
                    safe[rows],
                    label_smoothing,
                    z_loss_scale,
                    slope,
                )
                _accumulate(grad_z, hidden[rows], weight, rows, *grads)
        ctx.early = early
        ctx.options = (label_smoothing, chunk_size, z_loss_scale, softcap)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        if grads is not None:
            ctx.save_for_backward(*grads)
        elif want_grad:
            ctx.save_for_backward(hidden, weight, bias, keep, safe, m, log_sum)
        log_z = (m + log_sum).squeeze(-1)  # (N,), for the caller's z-loss report
        ctx.mark_non_differentiable(log_z)
        if reduction == "none":
            return loss.to(hidden.dtype), log_z
        total = loss.sum()
        total = total / count if reduction == "mean" else total
        return total.to(hidden.dtype), log_z

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, _grad_log_z: Tensor) -> tuple[Any, ...]:
        _refuse_second_derivatives("linear_cross_entropy")
        label_smoothing, chunk_size, z_loss_scale, softcap = ctx.options
        grads: tuple[Tensor | None, ...]
        if ctx.early:
            # Scaled by the incoming gradient (usually exactly 1; asking would read it
            # on the host, a synchronisation on a GPU).
            grads = tuple(
                None if x is None else x * grad_loss.to(x.dtype)
                for x in ctx.saved_tensors
            )
        else:
            hidden, weight, bias, keep, safe, m, log_sum = ctx.saved_tensors
            g_all = torch.where(keep, grad_loss.to(m.dtype), 0.0)
            buffers = _zero_grads(hidden, weight, bias, m.dtype)
            num_classes = weight.shape[0]
            chunks = _slices(hidden.shape[0], chunk_size)
            z_buffer = _scratch(chunks, num_classes, m.dtype, hidden.device, 1)[0]
            slope_buffer = (
                None
                if softcap is None
                else _scratch(chunks, num_classes, m.dtype, hidden.device, 1)[0]
            )
            for rows in chunks:
                z = _chunk_logits(hidden[rows], weight, bias, z_buffer)
                slope = _cap_in_place(z, softcap, slope_buffer)
                grad_z = _linear_rows_grad(
                    z,
                    m[rows],
                    log_sum[rows],
                    g_all[rows],
                    safe[rows],
                    label_smoothing,
                    z_loss_scale,
                    slope,
                )
                _accumulate(grad_z, hidden[rows], weight, rows, *buffers)
            grads = buffers
        grads = tuple(
            None if x is None else x.to(d)
            for x, d in zip(grads, ctx.dtypes, strict=True)
        )
        return (*grads, *(None,) * 8)


def _chunk_logits(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, out: Tensor
) -> Tensor:
    """One chunk of logits ``hidden @ weight.T + bias``, ``(B, V)``, written into
    ``out``.
    """
    if out.dtype != weight.dtype:
        # Half precision: the product in it, the softmax in float32.
        return out[: len(hidden)].copy_(
            torch.nn.functional.linear(hidden, weight, bias)
        )
    if bias is None:
        return torch.mm(hidden, weight.T, out=out[: len(hidden)])
    return torch.addmm(bias, hidden, weight.T, out=out[: len(hidden)])


def _zero_grads(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Buffers for the gradients of hidden, weight and bias (summed over chunks in
    ``dtype``).
    """
    grad_weight = torch.zeros(weight.shape, dtype=dtype, device=weight.device)
    grad_bias = (
        None
        if bias is None
        else torch.zeros(bias.shape, dtype=dtype, device=bias.device)
    )
    return torch.empty_like(hidden), grad_weight, grad_bias


def _cap_in_place(
    z: Tensor, cap: float | None, slope_buffer: Tensor | None
) -> Tensor | None:
    """Soft-cap a chunk of logits in place, ``z <- cap tanh(z / cap)``, and return the
    slope ``1 - tanh(z / cap)**2`` (in ``slope_buffer`` when there is one), or None
    without a cap.
    """
    if cap is None:
        return None
    t = z.div_(cap).tanh_()
    slope = None
    if slope_buffer is not None:
        slope = torch.mul(t, t, out=slope_buffer[: len(z)]).neg_().add_(1)
    t.mul_(cap)
    return slope


def _linear_rows_loss(
    shifted: Tensor,
    m: Tensor,
    log_sum: Tensor,
    keep: Tensor,
    safe: Tensor,
    label_smoothing: float,
    zs: float = 0.0,
) -> Tensor:
    """Loss of each row of a chunk from its shifted logits, with the z-loss
    ``zs * (log Z)**2``; no class weights (as the public API).
    """
    num_classes = shifted.shape[-1]
    nll = log_sum[:, 0] - shifted.gather(-1, safe[:, None])[:, 0]  # -log q_y
    if label_smoothing > 0:
        smooth = num_classes * log_sum[:, 0] - shifted.sum(-1)  # sum_c -log q_c
        nll = (1 - label_smoothing) * nll + label_smoothing / num_classes * smooth
    if zs:
        nll = nll + _z_term(m, log_sum, zs)
    return torch.where(keep, nll, 0.0)


def _linear_rows_grad(
    z: Tensor,
    m: Tensor,
    log_sum: Tensor,
    g: Tensor,
    safe: Tensor,
    label_smoothing: float,
    zs: float = 0.0,
    slope: Tensor | None = None,
) -> Tensor:
    """``g * ((1 + 2 zs log Z) softmax(z) - (1 - eps) onehot(y) - eps / V) * slope``
    for a chunk, in place in ``z`` (``slope``: the soft-cap's derivative, or None).
    """
    num_classes = z.shape[-1]
    coefficient = g if not zs else g * (1 + 2 * zs * (m + log_sum)[:, 0])
    p = _softmax_from(z, m, log_sum, out=z).mul_(coefficient[:, None])
    p.scatter_add_(-1, safe[:, None], -(1 - label_smoothing) * g[:, None])
    if label_smoothing > 0:
        p.sub_((label_smoothing / num_classes) * g[:, None])
    if slope is not None:
        p.mul_(slope)
    return p


def _accumulate(
    grad_z: Tensor,
    hidden: Tensor,
    weight: Tensor,
    rows: slice,
    grad_hidden: Tensor,
    grad_weight: Tensor,
    grad_bias: Tensor | None,
) -> None:
    """Chain rule through the linear layer for one chunk: the two matrix products and
    the sum.
    """
    grad_z = grad_z.to(weight.dtype)
    grad_hidden[rows] = grad_z @ weight  # (B, V) @ (V, d)
    # (V, d)
    grad_weight.addmm_(grad_z.T.to(grad_weight.dtype), hidden.to(grad_weight.dtype))
    if grad_bias is not None:
        grad_bias += grad_z.sum(0).to(grad_bias.dtype)

"""Cross-entropy at scale in PyTorch: the memory-lean autograd Functions behind
``xent.torch``.

``xent.torch.cross_entropy``, ``linear_cross_entropy`` and
``vocab_parallel_cross_entropy`` check their arguments and then call the Functions of
this module with clean tensors. None of them keeps the log-softmax of the whole batch:
the forward pass walks over the rows in chunks and keeps, per row, only the shift
:math:`m` and :math:`\\log \\sum_j e^{z_j - m}`; the backward pass rebuilds the softmax
chunk by chunk from those two numbers (or, for the linear form, the gradients are
accumulated during the forward pass). Derived in the chapter "Cross-entropy at scale".
Nothing here assumes a CPU: chunks are larger on accelerators, where each kernel launch
costs more than a pass over a few megabytes.

Every loss here is, per row, :math:`\\sum_c a_c(\\log \\sum_j e^{z_j} - z_c)` for some
non-negative coefficients :math:`a` (the weighted, smoothed target), so its gradient
with respect to the logits is :math:`(\\sum_c a_c)\\,\\mathrm{softmax}(z) - a`.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

# A chunk of about this many bytes of logits stays in a core's cache on a CPU; on a GPU,
# few large chunks keep the kernel launches cheap while still bounding the temporaries.
_CHUNK_BYTES = {"cpu": 2**22}
_CHUNK_BYTES_ACCELERATOR = 2**28


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float16 and bfloat16 have too few bits for sums of exponentials: use float32."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _row_chunks(num_rows: int, row_elements: int, device: torch.device) -> list[slice]:
    """Consecutive chunks of rows, each about ``_CHUNK_BYTES`` of float32 (at least one
    row).
    """
    if torch.compiler.is_compiling():
        # One block: the compiler fuses the passes over it, and a loop would be
        # unrolled.
        return [slice(0, num_rows)]
    budget = _CHUNK_BYTES.get(device.type, _CHUNK_BYTES_ACCELERATOR)
    step = max(1, budget // (4 * max(1, row_elements)))
    return [
        slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)
    ]


def _shift_and_log_sum(
    z: Tensor, scratch: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The shifted logits ``z - m``, the shift ``m`` and ``log sum_j exp(z_j - m)``.

    ``z: (B, C)`` gives ``(B, C)``, ``(B, 1)``, ``(B, 1)``. As ``xent.torch.logsumexp``,
    a row whose maximum is not finite is not shifted. ``scratch: (2, >= B, C)``, if
    given, holds the two temporaries, so that a loop over chunks allocates nothing.
    """
    m = z.amax(dim=-1, keepdim=True)
    m = torch.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)  # not finite: no shift
    buffers = (
        (None, None)
        if scratch is None
        else (scratch[0, : len(z)], scratch[1, : len(z)])
    )
    shifted = torch.sub(z, m, out=buffers[0])  # every entry <= 0
    exps = torch.exp(shifted, out=buffers[1])
    return shifted, m, torch.log(exps.sum(dim=-1, keepdim=True))


def _scratch(
    chunks: list[slice], num_classes: int, dtype, device, count: int = 2
) -> Tensor:
    """Room for ``count`` temporaries of the largest chunk, reused by every chunk."""
    rows = chunks[0].stop - chunks[0].start if chunks else 0  # the first is largest
    return torch.empty(count, rows, num_classes, dtype=dtype, device=device)


def _softmax_from(
    z: Tensor, m: Tensor, log_sum: Tensor, out: Tensor | None = None
) -> Tensor:
    """``softmax(z)`` rebuilt from the saved per-row ``m`` and ``log_sum``, in place in
    ``out``.

    ``exp((z - m) - log_sum)``: subtracting in two steps keeps full precision where
    ``m`` is large, exactly as the log-softmax does.
    """
    out = torch.sub(z, m, out=out) if out is not None else z - m
    return out.sub_(log_sum).exp_()


def _refuse_second_derivatives(name: str) -> None:
    """Raise when a backward pass is being recorded (``create_graph=True``).

    The fused Functions compute their gradients without a graph; handing them to a
    recording backward pass would make them constants, and every second derivative
    through them a silent zero. Autograd runs a backward pass in grad mode exactly when
    it records it.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{name} cannot be differentiated twice (create_graph=True): its gradients "
            "are computed without a graph. For second derivatives, use the eager form "
            "on the full logits (xent.torch.cross_entropy supports them)."
        )


def _index_parts(target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``keep``: the rows whose target is not ``ignore_index``; ``safe``: a valid index
    there.
    """
    keep = target != ignore_index
    return keep, torch.where(keep, target, torch.zeros_like(target))


# --------------------------------------------------------------------------------------
# Cross-entropy of given logits
# --------------------------------------------------------------------------------------


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
    def forward(ctx, logits, target, keep, w, label_smoothing, z_loss_scale, softcap):
        loss, m, log_sum = cross_entropy_rows(
            logits, target, keep, w, label_smoothing, z_loss_scale, softcap
        )
        ctx.save_for_backward(logits, target, keep, w, m, log_sum)
        ctx.options = (label_smoothing, z_loss_scale, softcap)
        log_z = (m + log_sum).squeeze(-1)  # (N,), for the caller's z-loss report
        ctx.mark_non_differentiable(log_z)
        return loss, log_z

    @staticmethod
    def backward(ctx, grad_loss, _grad_log_z):
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


def cross_entropy_rows(logits, target, keep, w, label_smoothing, z_loss_scale, softcap):
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


def _z_term(m: Tensor, log_sum: Tensor, z_loss_scale: float) -> Tensor:
    """The z-loss ``scale * (log Z)**2`` of each row, ``(B,)``, from the saved parts."""
    return z_loss_scale * (m + log_sum).squeeze(-1).square()


def _rows_loss(z, target, keep, w, eps, zs=0.0, cap=None, scratch=None):
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


def _rows_grad(z, target, w, g, m, log_sum, eps, zs=0.0, cap=None, out=None):
    """``g * ((sum_c a_c + 2 zs log Z) softmax(z') - a) * dz'/dz`` for a block of rows,
    in place in ``out``; ``z' = cap tanh(z / cap)`` (``z`` without a cap), whose
    derivative is ``1 - tanh(z / cap)**2``. The z-loss adds ``2 zs log Z`` times the
    softmax: the saved ``m + log_sum`` is ``log Z``, so it needs nothing more.
    """
    num_classes = z.shape[-1]
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
    if cap is not None:
        p.mul_(t.square_().neg_().add_(1))  # dz'/dz = 1 - tanh(z / cap)**2
    return p


def _differentiable_grad(
    logits, target, keep, w, grad_loss, eps, zs=0.0, cap=None
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
        counted = 1 if keep is None else keep[:, None]
        coefficient = coefficient + 2 * zs * log_z * counted
    grad = grad_loss.to(dtype)[:, None] * (coefficient * q - a)
    if cap is not None:
        grad = grad * (1 - t * t)
    return grad.to(logits.dtype)


# --------------------------------------------------------------------------------------
# Linear layer and cross-entropy, fused: the (N, V) logits are never materialised
# --------------------------------------------------------------------------------------


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
        ctx,
        hidden,
        weight,
        bias,
        target,
        ignore_index,
        label_smoothing,
        reduction,
        chunk_size,
        want_grad,
        z_loss_scale=0.0,
        softcap=None,
    ):
        num_rows = hidden.shape[0]
        dtype = _compute_dtype(hidden)
        keep, safe = _index_parts(target, ignore_index)
        loss = torch.empty(num_rows, dtype=dtype, device=hidden.device)
        count = keep.sum().to(
            dtype
        )  # mean: divide by the kept rows (none kept: 0/0 = nan)
        scale = 1 / count if reduction == "mean" else torch.ones_like(count)
        early = want_grad and reduction != "none"  # gradients now, scaled in backward
        if early:
            grad_hidden, grad_weight, grad_bias = _zero_grads(
                hidden, weight, bias, dtype
            )
        m = torch.empty(num_rows, 1, dtype=dtype, device=hidden.device)
        log_sum = torch.empty_like(m)
        chunks = [
            slice(i, min(i + chunk_size, num_rows))
            for i in range(0, num_rows, chunk_size)
        ]
        z_buffer = _scratch(chunks, weight.shape[0], dtype, hidden.device, 1)[0]
        scratch = _scratch(chunks, weight.shape[0], dtype, hidden.device)
        # Soft-capping: one more block of the chunk's size, for dz'/dz.
        slope_buffer = (
            None
            if softcap is None or not early
            else _scratch(chunks, weight.shape[0], dtype, hidden.device, 1)[0]
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
            del shifted
            if early:
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
                _accumulate(
                    grad_z,
                    hidden[rows],
                    weight,
                    rows,
                    grad_hidden,
                    grad_weight,
                    grad_bias,
                )
        ctx.early = early
        ctx.options = (label_smoothing, chunk_size, z_loss_scale, softcap)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        if early:
            ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
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
    def backward(ctx, grad_loss, _grad_log_z):
        _refuse_second_derivatives("linear_cross_entropy")
        label_smoothing, chunk_size, z_loss_scale, softcap = ctx.options
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
            grads = _zero_grads(hidden, weight, bias, m.dtype)
            num_rows = hidden.shape[0]
            chunks = [
                slice(i, min(i + chunk_size, num_rows))
                for i in range(0, num_rows, chunk_size)
            ]
            z_buffer = _scratch(chunks, weight.shape[0], m.dtype, hidden.device, 1)[0]
            slope_buffer = (
                None
                if softcap is None
                else _scratch(chunks, weight.shape[0], m.dtype, hidden.device, 1)[0]
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
                _accumulate(grad_z, hidden[rows], weight, rows, *grads)
        grads = tuple(
            None if x is None else x.to(d)
            for x, d in zip(grads, ctx.dtypes, strict=True)
        )
        return (*grads, *(None,) * 8)


def _chunk_logits(hidden, weight, bias, out):
    """One chunk of logits ``hidden @ weight.T + bias``, ``(B, V)``, written into
    ``out``.
    """
    if (
        out.dtype != weight.dtype
    ):  # half precision: the product in it, the softmax in float32
        return out[: len(hidden)].copy_(
            torch.nn.functional.linear(hidden, weight, bias)
        )
    if bias is None:
        return torch.mm(hidden, weight.T, out=out[: len(hidden)])
    return torch.addmm(bias, hidden, weight.T, out=out[: len(hidden)])


def _zero_grads(hidden, weight, bias, dtype):
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


def _cap_in_place(z: Tensor, cap: float | None, slope_buffer: Tensor | None):
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


def _linear_rows_loss(shifted, m, log_sum, keep, safe, label_smoothing, zs=0.0):
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


def _linear_rows_grad(z, m, log_sum, g, safe, label_smoothing, zs=0.0, slope=None):
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


def _accumulate(grad_z, hidden, weight, rows, grad_hidden, grad_weight, grad_bias):
    """Chain rule through the linear layer for one chunk: the two matrix products and
    the sum.
    """
    grad_z = grad_z.to(weight.dtype)
    grad_hidden[rows] = grad_z @ weight  # (B, V) @ (V, d)
    grad_weight.addmm_(
        grad_z.T.to(grad_weight.dtype), hidden.to(grad_weight.dtype)
    )  # (V, d)
    if grad_bias is not None:
        grad_bias += grad_z.sum(0).to(grad_bias.dtype)


# --------------------------------------------------------------------------------------
# Vocabulary-parallel cross-entropy: each rank holds a slice of the classes
# --------------------------------------------------------------------------------------


class VocabParallelCrossEntropy(torch.autograd.Function):
    """Per-row cross-entropy when rank ``r`` holds ``logits[:, start_r : start_r +
    V_r]``.

    Three all-reduces give every rank the full-vocabulary numbers (Megatron-LM's
    scheme): the maximum of each row, the sum of its shifted exponentials, and the
    shifted logit of its target (plus, with smoothing, the sum of its shifted logits).
    The backward pass needs no communication: each rank's slice of the gradient is its
    slice of ``softmax - a``.
    """

    @staticmethod
    def forward(
        ctx,
        shard,
        target,
        vocab_start,
        num_classes,
        ignore_index,
        label_smoothing,
        group,
    ):
        import torch.distributed as dist

        dtype = _compute_dtype(shard)
        z = shard.to(dtype)  # (N, V_r)
        m = (
            z.amax(dim=-1, keepdim=True)
            if z.shape[-1]
            else torch.full_like(z[:, :1], -torch.inf)
        )
        dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)  # the global row maximum
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        shifted = z - m
        sum_exp = torch.exp(shifted).sum(dim=-1, keepdim=True)  # this rank's part
        keep, local, mine = _shard_target(
            target, ignore_index, vocab_start, z.shape[-1]
        )
        picked = torch.where(mine, shifted.gather(-1, local[:, None])[:, 0], 0.0)
        parts = torch.stack(
            [sum_exp[:, 0], picked, shifted.sum(-1)]
        )  # (3, N): one message
        dist.all_reduce(parts, op=dist.ReduceOp.SUM, group=group)
        log_sum = torch.log(parts[0])[:, None]
        nll = log_sum[:, 0] - parts[1]  # -log q_y
        if label_smoothing > 0:
            smooth = num_classes * log_sum[:, 0] - parts[2]  # sum_c -log q_c
            nll = (1 - label_smoothing) * nll + label_smoothing / num_classes * smooth
        ctx.save_for_backward(shard, target, m, log_sum)
        ctx.options = (vocab_start, num_classes, ignore_index, label_smoothing)
        return torch.where(keep, nll, 0.0).to(shard.dtype)

    @staticmethod
    def backward(ctx, grad_loss):
        _refuse_second_derivatives("vocab_parallel_cross_entropy")
        shard, target, m, log_sum = ctx.saved_tensors
        vocab_start, num_classes, ignore_index, label_smoothing = ctx.options
        keep, local, mine = _shard_target(
            target, ignore_index, vocab_start, shard.shape[-1]
        )
        g = torch.where(keep, grad_loss.to(m.dtype), 0.0)  # (N,)
        p = _softmax_from(shard.to(m.dtype), m, log_sum).mul_(g[:, None])
        p.scatter_add_(
            -1,
            local[:, None],
            -torch.where(mine, (1 - label_smoothing) * g, 0.0)[:, None],
        )
        if label_smoothing > 0:
            p.sub_((label_smoothing / num_classes) * g[:, None])
        return p.to(shard.dtype), None, None, None, None, None, None


def _shard_target(target, ignore_index, vocab_start, shard_classes):
    """Rows kept; each target's index within this shard; whether this shard holds it."""
    keep = target != ignore_index
    mine = keep & (target >= vocab_start) & (target < vocab_start + shard_classes)
    local = torch.where(mine, target - vocab_start, torch.zeros_like(target))
    return keep, local, mine

r"""Vocabulary-parallel cross-entropy in ``xent.torch``: each rank of a process group
holds a slice of the classes, and the full ``(..., V)`` logits are never gathered.

:func:`vocab_parallel_cross_entropy` (public as
``xent.torch.vocab_parallel_cross_entropy``) checks its arguments and calls
:class:`VocabParallelCrossEntropy`, Megatron-LM's scheme of three all-reduces, with the
softmax of ``xent._torch_lean``. Derived in the chapter "Cross-entropy at scale";
``tests/test_vocab_parallel.py`` holds it to ``F.cross_entropy`` of the gathered logits
on two and four CPU processes.
"""

from __future__ import annotations

from typing import Any

import torch

from xent import _checks
from xent._checks import torch as _torch_checks
from xent._torch_rows import (
    TensorLike,
    _compute_dtype,
    _refuse_second_derivatives,
    _softmax_from,
)

Tensor = torch.Tensor


def vocab_parallel_cross_entropy(
    logits_shard: TensorLike,
    target: TensorLike,
    *,
    group: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross-entropy of logits split along the classes over the ranks of a process
    group.

    Rank :math:`r` of ``group`` (default: the whole world of ``torch.distributed``)
    holds the classes ``start_r`` to ``start_r + V_r - 1`` of every row, in rank
    order; shards may differ in size. The loss is that of
    :func:`xent.torch.cross_entropy` on the gathered ``(..., V)`` logits, without
    gathering them: all-reduces of the row maximum, of the sum of shifted
    exponentials and of the target's logit (Megatron-LM's scheme) give each rank the
    same loss, and each rank's backward pass computes its own slice of the gradient
    with no communication. Every rank must call it with the same ``target``. As with
    :func:`xent.torch.linear_cross_entropy`, the gradient cannot be differentiated
    again. See the chapter "Cross-entropy at scale". Unlike the other functions of
    ``xent.torch`` it does not compile with ``fullgraph=True`` and reads one value on
    the host per call: it gathers the shard sizes of all ranks and reads them
    (``int``) to learn where its classes start, and its autograd Function calls
    in-place collectives (``dist.all_reduce``), which the compiler cannot trace
    inside a Function.

    Shapes: ``logits_shard: (..., V_r)``, ``target: (...)`` global class indices in
    ``[0, V)``. Returns ``(...)`` for ``reduction="none"``, else a scalar, on every
    rank. Raises ``ValueError`` when no process group is initialised, for mismatched
    shapes, class indices outside ``[0, V)`` that are not ``ignore_index``,
    ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``.
    """
    import torch.distributed as dist

    from xent import torch as xt  # its conversions; it imports this module

    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "vocab_parallel_cross_entropy needs an initialised torch.distributed "
            "process group (torch.distributed.init_process_group)"
        )
    logits_shard = xt._floating("logits_shard", logits_shard)
    _checks.logits_shape("logits_shard", tuple(logits_shard.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)

    # Where this rank's classes start: the sizes of all shards, in rank order.
    gathered = [
        torch.zeros(1, dtype=torch.long, device=logits_shard.device)
        for _ in range(dist.get_world_size(group))
    ]
    mine = torch.tensor([logits_shard.shape[-1]], device=logits_shard.device)
    dist.all_gather(gathered, mine, group=group)
    sizes = [int(n) for n in gathered]
    rank = dist.get_rank(group)
    vocab_start, num_classes = sum(sizes[:rank]), sum(sizes)

    target = xt._index_target(
        "logits_shard", target, logits_shard.shape[:-1], logits_shard
    )
    _torch_checks.indices(target, num_classes, ignore_index)
    loss = VocabParallelCrossEntropy.apply(
        logits_shard.reshape(-1, logits_shard.shape[-1]),
        target.reshape(-1),
        vocab_start,
        num_classes,
        ignore_index,
        label_smoothing,
        group,
    ).reshape(target.shape)
    return xt._reduce(loss, reduction, (target != ignore_index).sum())


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
        ctx: Any,
        shard: Tensor,
        target: Tensor,
        vocab_start: int,
        num_classes: int,
        ignore_index: int,
        label_smoothing: float,
        group: Any,
    ) -> Tensor:
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
        # (3, N): one message
        parts = torch.stack([sum_exp[:, 0], picked, shifted.sum(-1)])
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
    def backward(ctx: Any, grad_loss: Tensor) -> tuple[Any, ...]:
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


def _shard_target(
    target: Tensor, ignore_index: int, vocab_start: int, shard_classes: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Rows kept; each target's index within this shard; whether this shard holds it."""
    keep = target != ignore_index
    mine = keep & (target >= vocab_start) & (target < vocab_start + shard_classes)
    local = torch.where(mine, target - vocab_start, torch.zeros_like(target))
    return keep, local, mine

"""``xent.torch.vocab_parallel_cross_entropy`` on 2 and 4 CPU processes (gloo,
loopback).

Each worker holds one slice of the classes of the same random logits; its loss must
equal ``F.cross_entropy`` on the whole logits, and its gradient the matching slice of
the whole gradient. The same workers also hold it to PyTorch's own tensor-parallel loss,
``F.cross_entropy`` under ``torch.distributed.tensor.parallel.loss_parallel()`` on a
vocabulary-sharded DTensor (one spawn per world size for every case). Workers check and
raise; ``torch.multiprocessing.spawn`` re-raises in this process.
"""

from __future__ import annotations

import datetime
import socket
import time

import pytest

torch = pytest.importorskip(
    "torch", reason="vocab_parallel_cross_entropy needs PyTorch"
)
dist = pytest.importorskip("torch.distributed", reason="needs torch.distributed")
if not dist.is_available():  # pragma: no cover
    pytest.skip(
        "torch.distributed is not available in this build", allow_module_level=True
    )

TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cases():
    """Every combination of reduction and label smoothing."""
    for reduction in ("mean", "sum", "none"):
        for label_smoothing in (0.0, 0.3):
            yield {"reduction": reduction, "label_smoothing": label_smoothing}


def _worker(rank: int, world_size: int, port: int, shard_sizes: list[int]) -> None:
    import torch.nn.functional as F

    from xent import torch as xt

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )
    try:
        gen = torch.Generator().manual_seed(
            0
        )  # the same logits and targets on every rank
        num_classes = sum(shard_sizes)
        logits = torch.randn(3, 5, num_classes, dtype=torch.float64, generator=gen) * 4
        target = torch.randint(0, num_classes, (3, 5), generator=gen)
        target[0, :2] = -100  # ignored rows
        start = sum(shard_sizes[:rank])
        for options in _cases():
            full = logits.clone().requires_grad_()
            want = F.cross_entropy(
                full.reshape(-1, num_classes), target.reshape(-1), **options
            )
            want = (
                want.reshape(target.shape) if options["reduction"] == "none" else want
            )
            shard = (
                logits[..., start : start + shard_sizes[rank]].clone().requires_grad_()
            )
            got = xt.vocab_parallel_cross_entropy(shard, target, **options)
            weights = torch.rand(want.shape, generator=gen, dtype=torch.float64)
            (want * weights).sum().backward()
            (got * weights).sum().backward()
            torch.testing.assert_close(
                got, want, rtol=1e-12, atol=1e-12, msg=str(options)
            )
            torch.testing.assert_close(
                shard.grad,
                full.grad[..., start : start + shard_sizes[rank]],
                rtol=1e-12,
                atol=1e-12,
                msg=str(options),
            )
        # Every rank ignored: nan loss, zero gradient, as F.cross_entropy.
        shard = logits[..., start : start + shard_sizes[rank]].clone().requires_grad_()
        loss = xt.vocab_parallel_cross_entropy(shard, torch.full((3, 5), -100))
        loss.backward()
        assert torch.isnan(loss) and torch.all(shard.grad == 0)
        with pytest.raises(ValueError, match="target holds class indices outside"):
            xt.vocab_parallel_cross_entropy(shard, torch.full((3, 5), num_classes))
        # Second derivatives would be silent zeros: refused, on every rank.
        loss = xt.vocab_parallel_cross_entropy(shard, target)
        with pytest.raises(RuntimeError, match="cannot be differentiated twice"):
            torch.autograd.grad(loss, shard, create_graph=True)
        _against_loss_parallel(rank, world_size, logits.reshape(-1, num_classes), gen)
    finally:
        dist.destroy_process_group()


def _against_loss_parallel(rank, world_size, logits, gen) -> None:
    """``vocab_parallel_cross_entropy`` on each rank's shard of a DTensor equals
    ``F.cross_entropy`` under ``loss_parallel()``: loss and gradient shard.

    DTensor shards the classes as ``torch.chunk`` does, so the local shards are those of
    the DTensor. ``loss_parallel`` refuses label smoothing (measured with torch 2.13: an
    in-place ``masked_fill_`` on a ``Partial`` DTensor) and class weights with ignored
    targets (its backward pass gathers the weight at ``ignore_index``); the chapter's
    feature table says so, and this test notices when that changes.
    """
    import torch.nn.functional as F
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    from torch.distributed.tensor.parallel import loss_parallel

    from xent import torch as xt

    mesh = init_device_mesh("cpu", (world_size,))
    num_rows, num_classes = logits.shape
    target = torch.randint(0, num_classes, (num_rows,), generator=gen)
    ignored = target.clone()
    ignored[:3] = -100
    weight = torch.rand(num_classes, generator=gen, dtype=torch.float64) + 0.5
    cases = [
        (ignored, {"reduction": reduction}) for reduction in ("mean", "sum", "none")
    ]
    cases += [
        (target, {"weight": weight}),
    ]
    for y, options in cases:
        peer = distribute_tensor(logits, mesh, [Shard(1)]).requires_grad_()
        with loss_parallel():
            want = F.cross_entropy(
                peer, distribute_tensor(y, mesh, [Replicate()]), **options
            )
            grad_out = torch.rand(want.shape, generator=gen, dtype=torch.float64)
            want.backward(distribute_tensor(grad_out, mesh, [Replicate()]))
        shard = peer.to_local().detach().clone().requires_grad_()
        if "weight" in options:  # xent's weighted form: a sum over the kept rows
            kept = torch.where(y != -100, weight[y.clamp(min=0)], 0)
            got = xt.vocab_parallel_cross_entropy(shard, y, reduction="none")
            got = (got * weight[y.clamp(min=0)]).sum() / kept.sum()
        else:
            got = xt.vocab_parallel_cross_entropy(shard, y, **options)
        got.backward(grad_out)
        torch.testing.assert_close(
            got, want.full_tensor(), rtol=1e-12, atol=1e-12, msg=str(options)
        )
        torch.testing.assert_close(
            shard.grad, peer.grad.to_local(), rtol=1e-12, atol=1e-12, msg=str(options)
        )
    # What loss_parallel refuses: label smoothing (even with no target ignored), and
    # class weights with ignored targets (in the backward pass).
    for y, options in (
        (target, {"label_smoothing": 0.3}),
        (ignored, {"weight": weight}),
    ):
        peer = distribute_tensor(logits, mesh, [Shard(1)]).requires_grad_()
        with loss_parallel(), pytest.raises(RuntimeError):
            loss = F.cross_entropy(
                peer, distribute_tensor(y, mesh, [Replicate()]), **options
            )
            loss.backward()


def _spawn(shard_sizes: list[int]) -> None:
    import torch.multiprocessing as mp

    world_size = len(shard_sizes)
    ctx = mp.spawn(
        _worker,
        args=(world_size, _free_port(), shard_sizes),
        nprocs=world_size,
        join=False,
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for process in ctx.processes:
                process.kill()
            pytest.fail(f"{world_size} workers did not finish within {TIMEOUT_S} s")


@pytest.mark.parametrize(
    "shard_sizes", [[5, 9], [1, 6, 3, 5]]
)  # 2 and 4 ranks, unequal
def test_matches_cross_entropy_of_gathered_logits(shard_sizes):
    _spawn(shard_sizes)


def test_needs_a_process_group():
    from xent import torch as xt

    if dist.is_initialized():  # pragma: no cover
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(ValueError, match="process group"):
        xt.vocab_parallel_cross_entropy(
            torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
        )

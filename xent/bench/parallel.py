"""The vocabulary-parallel rows: xent against PyTorch's ``loss_parallel``, on CPU
processes.

:func:`parallel` starts a fresh process (``python -m xent.bench.worker``, as the peak
memory does), which spawns ``world`` ranks joined by gloo over loopback. Each rank holds
a shard of the classes of the same seeded logits and runs, forward and backward,
``xent.torch.vocab_parallel_cross_entropy`` on its shard and ``F.cross_entropy`` under
``loss_parallel()`` on a class-sharded DTensor; rank 0 gathers each rank's time, peak
and error and reports one row per implementation.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from xent.bench.builders import Result
from xent.bench.cases import PARALLEL_IMPLS, Row, ce_data
from xent.bench.measure import (
    MALLOC_ENV,
    WORKER,
    median_time,
    read_report,
    status_bytes,
)


def parallel(n: int, c: int, world: int = 2, repeats: int = 7) -> list[Row]:
    """Rows for ``vocab_parallel_cross_entropy`` and ``F.cross_entropy`` under
    ``loss_parallel()`` on ``n x c`` logits sharded over ``world`` CPU processes,
    forward and backward: the median time (the slowest rank's), the peak extra memory
    of one run (the largest rank's) and the error of the loss and gradient shard
    against a float64 reference. Raises ``RuntimeError`` when the run fails.
    """
    if world < 1 or c < world:
        raise ValueError(f"`world` must be in [1, c={c}]; got {world}")
    spec = {"n": n, "c": c, "world": world, "repeats": repeats}
    proc = subprocess.run(
        [*WORKER, json.dumps({"parallel": spec})],
        capture_output=True,
        text=True,
        env=MALLOC_ENV,
        timeout=600,
    )
    rows = read_report(proc.stdout, "PARALLEL") if proc.returncode == 0 else None
    if rows is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:120]
        raise RuntimeError(f"the parallel run failed: {tail}")
    return list(rows)


def run_ranks(spec: dict[str, Any]) -> list[Row]:
    """Spawn the ranks of ``spec`` in this process and return rank 0's rows."""
    import torch.multiprocessing as mp

    with socket.socket() as sock:  # a free port for the ranks to meet on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "rows.json")
        mp.spawn(rank_main, args=(spec["world"], port, spec, out), nprocs=spec["world"])
        rows: list[Row] = json.loads(Path(out).read_text())
    return rows


def rank_main(rank: int, world: int, port: int, spec: dict[str, Any], out: str) -> None:
    """One rank: time, peak and error of both implementations; rank 0 writes the rows
    to ``out``.
    """
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        results = _measure_rank(rank, world, spec)
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, results)
        if rank == 0:
            rows = []
            for name in PARALLEL_IMPLS:
                per_rank = [g[name] for g in gathered]
                row: Row = {"kind": "parallel", "impl": name, "mode": "fwdbwd"}
                row.update(n=spec["n"], c=spec["c"], world=world)
                row["seconds"] = max(r[0] for r in per_rank)
                row["peak_bytes"] = max(r[1] for r in per_rank)
                row["max_error"] = max(r[2] for r in per_rank)
                rows.append(row)
            Path(out).write_text(json.dumps(rows))
    finally:
        dist.destroy_process_group()


def _measure_rank(
    rank: int, world: int, spec: dict[str, Any]
) -> dict[str, tuple[float, int, float]]:
    """(seconds, peak bytes, max error) of each implementation on this rank."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    from torch.distributed.tensor.parallel import loss_parallel

    from xent import torch as xt

    logits, target = ce_data({"n": spec["n"], "c": spec["c"]})
    mesh = init_device_mesh("cpu", (world,))
    z_dt = distribute_tensor(torch.from_numpy(logits), mesh, [Shard(1)])
    t = torch.from_numpy(target)
    t_dt = distribute_tensor(t, mesh, [Replicate()])
    shard = z_dt.to_local()
    # Where this rank's classes start (DTensor shards as torch.chunk does).
    start = sum(len(part) for part in torch.arange(spec["c"]).chunk(world)[:rank])

    def ours() -> Result:
        x = shard.detach().requires_grad_()
        loss = xt.vocab_parallel_cross_entropy(x, t)
        loss.backward()
        return loss.detach(), x.grad

    def peer() -> Result:
        x: Any = z_dt.detach().requires_grad_()  # a DTensor
        with loss_parallel():
            loss: Any = F.cross_entropy(x, t_dt)
            loss.backward()
        assert x.grad is not None
        return loss.detach().full_tensor(), x.grad.to_local()

    reference = torch.from_numpy(logits).double().requires_grad_()
    want = F.cross_entropy(reference, t)
    want.backward()
    assert reference.grad is not None
    want_grad = reference.grad[:, start : start + shard.shape[-1]]
    results = {}
    for name, fn in zip(PARALLEL_IMPLS, (ours, peer), strict=True):
        dist.barrier()
        seconds = median_time(fn, spec["repeats"])
        gc.collect()
        dist.barrier()
        Path("/proc/self/clear_refs").write_text("5")
        before = status_bytes("VmRSS")
        loss, grad = fn()
        peak = max(0, status_bytes("VmHWM") - before)
        error = max(
            abs(float(loss) - float(want)),
            float((grad.double() - want_grad).abs().max()),
        )
        results[name] = (seconds, peak, error)
    return results

"""Measuring cross-entropy implementations: time, bandwidth, peak memory and error.

The engine behind the benchmark (``python -m bench``) and the notebook "Cross-entropy at
scale". A *case* is a small dict (which implementation, which pass, which sizes, which
device); :func:`build` turns it into a function that runs the implementation once on
seeded data. Timing happens in the calling process; peak memory in a fresh one
(:func:`peak_memory` runs ``python -m xent._measure``), so that no allocator cache or
compiled kernel left by an earlier case hides or inflates what this one needs. Memory is
measured as follows:

* NumPy: ``tracemalloc`` (NumPy reports every array buffer to it), exact and per
  allocation.
* PyTorch on a GPU: ``torch.cuda.max_memory_allocated`` minus what was allocated before.
* PyTorch and TensorFlow on a CPU: the process's peak resident set (``VmHWM`` in
  ``/proc/self/status``, reset through ``/proc/self/clear_refs``) minus its resident set
  just before the run. The measuring process is started with
  ``MALLOC_MMAP_THRESHOLD_=65536``, so that glibc serves every block above 64 KiB with
  its own mapping and returns it to the system when it is freed: the resident set then
  follows the arrays that are alive, instead of keeping freed memory for reuse, and its
  peak is the most the run held at once. It also counts pages that the framework's own
  bookkeeping touches, small next to the arrays here.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

CE_IMPLS = (
    "xent-numpy",
    "xent-torch",
    "torch-eager",
    "torch-compile",
    "xent-compile",
    "xent-tf",
    "tf-sparse",
)
# Not losses: the exponentials of every logit, in the blocks of xent.numpy, a floor for
# the time of any forward pass in that library (every softmax-based loss evaluates N x C
# of them).
EXP_FLOORS = ("numpy-exp-only", "torch-exp-only")
FRAMEWORK = {
    "numpy-exp-only": "numpy",
    "torch-exp-only": "torch",
    "xent-numpy": "numpy",
    "xent-torch": "torch",
    "torch-eager": "torch",
    "torch-compile": "torch",
    "xent-compile": "torch",
    "xent-tf": "tensorflow",
    "tf-sparse": "tensorflow",
    "chunked": "torch",
    "eager": "torch",
    "chunked-compile": "torch",
    "eager-compile": "torch",
    "vocab-parallel": "torch",
    "loss-parallel": "torch",
}
# Compiled implementations and the compiled baseline each is compared with.
COMPILED_BASELINE = {
    "xent-compile": "torch-compile",
    "chunked-compile": "eager-compile",
}


def set_threads(num_threads: int) -> None:
    """One intra-op thread count for every framework (NumPy's ufuncs use one anyway)."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(num_threads)


def _torch_threads(num_threads: int | None):
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)
    return torch


def _tf(num_threads: int | None):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if num_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(num_threads)
        except RuntimeError:  # already initialised by an earlier case: keep its setting
            pass
    return tf


def resolve_device(device: str) -> str:
    """``"auto"``: CUDA when PyTorch sees a GPU, else the CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------


def _ce_data(case: dict) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case.get("seed", 0))
    logits = rng.standard_normal((case["n"], case["c"]), dtype=np.float32)
    target = rng.integers(0, case["c"], size=case["n"])
    return logits, target


def _linear_data(case: dict):
    rng = np.random.default_rng(case.get("seed", 0))
    n, d, v = case["n"], case["d"], case["v"]
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    weight = (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(
        np.float32
    )
    bias = (0.1 * rng.standard_normal(v)).astype(np.float32)
    target = rng.integers(0, v, size=n)
    return hidden, weight, bias, target


_COMPILED: dict = {}


def _compiled(torch, name: str):
    """``torch.compile`` of one implementation, compiled once per process for any
    shape.
    """
    if name not in _COMPILED:
        import torch.nn.functional as F

        from xent import torch as xt

        def eager_linear(h, w, t, bias=None):
            return F.cross_entropy(F.linear(h, w, bias), t)

        fn = {
            "torch-compile": F.cross_entropy,
            "xent-compile": xt.cross_entropy,
            "chunked-compile": xt.linear_cross_entropy,
            "eager-compile": eager_linear,
        }[name]
        _COMPILED[name] = torch.compile(fn, dynamic=True)
    return _COMPILED[name]


def build(
    case: dict, num_threads: int | None = None
) -> tuple[Callable[[], tuple], int]:
    """A function that runs ``case`` once and returns ``(loss, gradients)``, and its
    bytes.

    The bytes are the least that must cross the memory bus: the logits read once for a
    forward pass; read once and the gradient written once for forward and backward; for
    the linear form, its inputs read and their gradients written.
    """
    impl, mode, device = (
        case["impl"],
        case.get("mode", "fwd"),
        case.get("device", "cpu"),
    )
    if case["kind"] == "linear":
        return _build_linear(case, _torch_threads(num_threads), device)
    logits, target = _ce_data(case)
    nbytes = logits.nbytes * (2 if mode == "fwdbwd" else 1)
    if impl in EXP_FLOORS:
        if mode != "fwd":
            raise ValueError(f"{impl} has a forward pass only")
        return _build_exp_floor(
            impl, logits, _torch_threads(num_threads) if "torch" in impl else None
        ), nbytes
    if impl == "xent-numpy":
        from xent import numpy as xn

        if mode != "fwd":
            raise ValueError("xent-numpy has a forward pass only")
        return (lambda: (xn.cross_entropy(logits, target), None)), nbytes
    if FRAMEWORK[impl] == "tensorflow":
        tf = _tf(num_threads)
        from xent import tensorflow as xtf

        with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
            z, t = tf.constant(logits), tf.constant(target)
        if impl == "xent-tf":

            def fn(x):
                return xtf.cross_entropy(x, t)
        else:

            def fn(x):
                return tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(t, x)
                )

        if mode == "fwd":
            return (lambda: (fn(z), None)), nbytes

        def fwdbwd():
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = fn(z)
            return loss, tape.gradient(loss, z)

        return fwdbwd, nbytes

    torch = _torch_threads(num_threads)
    import torch.nn.functional as F

    from xent import torch as xt

    z = torch.from_numpy(logits).to(device)
    t = torch.from_numpy(target).to(device)
    if impl in ("torch-compile", "xent-compile"):
        fn = _compiled(torch, impl)
    else:
        fn = {"xent-torch": xt.cross_entropy, "torch-eager": F.cross_entropy}[impl]
    if case.get("options"):  # the language-model options: z_loss_scale, softcap
        fn = functools.partial(fn, **case["options"])
    if mode == "fwd":

        def forward():
            with torch.no_grad():
                return fn(z, t), None

        return _synced(torch, device, forward), nbytes

    def forward_backward():
        x = z.detach().requires_grad_()
        loss = fn(x, t)
        loss.backward()
        return loss.detach(), x.grad

    return _synced(torch, device, forward_backward), nbytes


def _build_exp_floor(impl: str, logits: np.ndarray, torch) -> Callable[[], tuple]:
    """``exp`` of every logit, a block of rows at a time into one scratch block, nothing
    else.
    """
    from xent import _numpy_blocked

    blocks = _numpy_blocked._row_blocks(*logits.shape)
    if torch is None:
        scratch = np.empty_like(logits[blocks[0]])

        def run():
            for rows in blocks:
                np.exp(logits[rows], out=scratch[: rows.stop - rows.start])
            return None, None

        return run
    z = torch.from_numpy(logits)
    scratch_t = torch.empty_like(z[blocks[0]])

    def run_torch():
        with torch.no_grad():
            for rows in blocks:
                torch.exp(z[rows], out=scratch_t[: rows.stop - rows.start])
        return None, None

    return run_torch


def _build_linear(case: dict, torch, device: str):
    from xent import torch as xt

    arrays = _linear_data(case)
    hidden, weight, bias, target = (torch.from_numpy(a).to(device) for a in arrays)
    nbytes = 2 * sum(a.nbytes for a in arrays[:3])
    chunk_size = case.get("chunk_size")

    def run():
        h, w, b = (x.detach().requires_grad_() for x in (hidden, weight, bias))
        if case["impl"] == "eager":
            loss = torch.nn.functional.cross_entropy(
                torch.nn.functional.linear(h, w, b), target
            )
        elif case["impl"] == "eager-compile":
            loss = _compiled(torch, "eager-compile")(h, w, target, bias=b)
        else:
            fn = (
                _compiled(torch, "chunked-compile")
                if case["impl"] == "chunked-compile"
                else xt.linear_cross_entropy
            )
            loss = fn(
                h, w, target, bias=b, chunk_size=chunk_size, **case.get("options", {})
            )
        loss.backward()
        return loss.detach(), (h.grad, w.grad, b.grad)

    return _synced(torch, device, run), nbytes


def _synced(torch, device: str, fn: Callable[[], tuple]) -> Callable[[], tuple]:
    """``fn`` followed by a device synchronisation, so that timings include the GPU's
    work.
    """
    if device == "cpu":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


# --------------------------------------------------------------------------------------
# Time, bandwidth and error
# --------------------------------------------------------------------------------------


def median_time(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of ``repeats`` runs, in seconds, after three untimed warm-up
    runs (a traced TensorFlow graph, say, is still optimised during its first calls).
    """
    for _ in range(3):
        fn()
    # Once: a collection takes long with frameworks loaded, and is not the loss's time.
    gc.collect()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(nbytes: int = 2**28, device: str = "cpu", repeats: int = 7) -> float:
    """Bytes per second of a plain copy (read and write both counted), the machine's
    yardstick.
    """
    if device == "cpu":
        src = np.ones(nbytes // 4, dtype=np.float32)
        dst = np.empty_like(src)
        return 2 * nbytes / median_time(lambda: np.copyto(dst, src), repeats)
    import torch

    src = torch.ones(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    return (
        2
        * nbytes
        / median_time(_synced(torch, device, lambda: dst.copy_(src)), repeats)
    )


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def max_error(case: dict, result: tuple) -> float | None:
    """Largest absolute difference of the loss (and gradients) from a float64 reference.

    None for the exponential floors, which compute no loss.
    """
    loss, grads = result
    if case["impl"] in EXP_FLOORS:
        return None
    if case.get("options"):
        return _options_error(case, loss, grads)
    if case["kind"] == "linear":
        import torch

        arrays = _linear_data(case)
        h, w, b = (torch.from_numpy(a).double().requires_grad_() for a in arrays[:3])
        t = torch.from_numpy(arrays[3])
        want = torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w, b), t)
        want.backward()
        pairs = [(loss, want.detach())] + list(
            zip(grads, (h.grad, w.grad, b.grad), strict=True)
        )
        return max(float(np.max(np.abs(_to_numpy(a) - _to_numpy(r)))) for a, r in pairs)
    from xent import numpy as xn

    logits, target = _ce_data(case)
    error = abs(
        float(_to_numpy(loss))
        - float(xn.cross_entropy(logits.astype(np.float64), target))
    )
    if grads is not None:
        grads = _to_numpy(grads)
        for rows in range(
            0, len(logits), 256
        ):  # the reference gradient, 256 rows at a time
            block = slice(rows, rows + 256)
            want = xn.cross_entropy_grad(
                logits[block].astype(np.float64), target[block], reduction="sum"
            ) / len(logits)
            error = max(error, float(np.max(np.abs(grads[block] - want))))
    return error


def _options_error(case: dict, loss, grads) -> float:
    """:func:`max_error` of a case with the language-model options: the reference is
    the formula composed from ``torch.nn.functional`` ops in float64.
    """
    import torch
    import torch.nn.functional as F

    options = case["options"]
    cap, scale = options.get("softcap"), options.get("z_loss_scale", 0.0)

    def reference(z, t):
        if cap is not None:
            z = cap * torch.tanh(z / cap)
        return F.cross_entropy(z, t) + scale * (torch.logsumexp(z, -1) ** 2).mean()

    if case["kind"] == "linear":
        arrays = _linear_data(case)
        inputs = [torch.from_numpy(a).double().requires_grad_() for a in arrays[:3]]
        h, w, b = inputs
        want = reference(F.linear(h, w, b), torch.from_numpy(arrays[3]))
    else:
        logits, target = _ce_data(case)
        inputs = [torch.from_numpy(logits).double().requires_grad_()]
        want = reference(inputs[0], torch.from_numpy(target))
    want.backward()
    got = [loss] + (
        [] if grads is None else list(grads) if case["kind"] == "linear" else [grads]
    )
    wanted = [want.detach()] + [x.grad for x in inputs][: len(got) - 1]
    return max(
        float(np.max(np.abs(_to_numpy(a) - _to_numpy(r))))
        for a, r in zip(got, wanted, strict=True)
    )


# --------------------------------------------------------------------------------------
# Vocabulary-parallel: xent against PyTorch's loss_parallel, on CPU processes (gloo)
# --------------------------------------------------------------------------------------


def parallel(n: int, c: int, world: int = 2, repeats: int = 7) -> list[dict]:
    """Rows for ``vocab_parallel_cross_entropy`` and ``F.cross_entropy`` under
    ``loss_parallel()`` on a class-sharded DTensor, forward and backward, on ``world``
    CPU processes: the median time (the slowest rank's), the peak extra memory of one
    run (the largest rank's) and the error of the loss and gradient shard against a
    float64 reference. Run in a fresh process (as :func:`peak_memory`), which spawns the
    ranks.
    """
    payload = json.dumps(
        {"parallel": {"n": n, "c": c, "world": world, "repeats": repeats}}
    )
    proc = subprocess.run(
        [sys.executable, "-m", "xent._measure", payload],
        capture_output=True,
        text=True,
        env=_MALLOC_ENV,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PARALLEL ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:120]
        raise RuntimeError(f"the parallel run failed: {tail}")
    return json.loads(lines[-1][len("PARALLEL ") :])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parallel_main(spec: dict) -> None:
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "rows.json")
        mp.spawn(
            _parallel_worker,
            args=(spec["world"], _free_port(), spec, out),
            nprocs=spec["world"],
        )
        print("PARALLEL " + Path(out).read_text(), flush=True)


def _parallel_worker(rank: int, world: int, port: int, spec: dict, out: str) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import Replicate, Shard, distribute_tensor
        from torch.distributed.tensor.parallel import loss_parallel

        from xent import torch as xt

        case = {"n": spec["n"], "c": spec["c"]}
        logits, target = _ce_data(case)
        mesh = init_device_mesh("cpu", (world,))
        z_dt = distribute_tensor(torch.from_numpy(logits), mesh, [Shard(1)])
        t = torch.from_numpy(target)
        t_dt = distribute_tensor(t, mesh, [Replicate()])
        shard = z_dt.to_local()
        start = sum(  # where this rank's classes start (DTensor shards as torch.chunk)
            len(part) for part in torch.arange(spec["c"]).chunk(world)[:rank]
        )

        def ours():
            x = shard.detach().requires_grad_()
            loss = xt.vocab_parallel_cross_entropy(x, t)
            loss.backward()
            return loss.detach(), x.grad

        def peer():
            x = z_dt.detach().requires_grad_()
            with loss_parallel():
                loss = F.cross_entropy(x, t_dt)
                loss.backward()
            return loss.detach().full_tensor(), x.grad.to_local()

        reference = torch.from_numpy(logits).double().requires_grad_()
        want = F.cross_entropy(reference, t)
        want.backward()
        want_grad = reference.grad[:, start : start + shard.shape[-1]]
        results = {}
        for name, fn in (("vocab-parallel", ours), ("loss-parallel", peer)):
            dist.barrier()
            seconds = median_time(fn, spec["repeats"])
            gc.collect()
            dist.barrier()
            Path("/proc/self/clear_refs").write_text("5")
            before = _status_bytes("VmRSS")
            loss, grad = fn()
            peak = max(0, _status_bytes("VmHWM") - before)
            error = max(
                abs(float(loss) - float(want)),
                float((grad.double() - want_grad).abs().max()),
            )
            results[name] = (seconds, peak, error)
        gathered = [None] * world
        dist.all_gather_object(gathered, results)
        if rank == 0:
            rows = []
            for name in ("vocab-parallel", "loss-parallel"):
                per_rank = [g[name] for g in gathered]
                rows.append(
                    {
                        "kind": "parallel",
                        "impl": name,
                        "mode": "fwdbwd",
                        "n": spec["n"],
                        "c": spec["c"],
                        "world": world,
                        "seconds": max(r[0] for r in per_rank),
                        "peak_bytes": max(r[1] for r in per_rank),
                        "max_error": max(r[2] for r in per_rank),
                    }
                )
            Path(out).write_text(json.dumps(rows))
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------
# Peak memory, in a fresh process
# --------------------------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure_here(case: dict, num_threads: int | None) -> int:
    """Peak bytes allocated by one run of ``case`` beyond what existed before it."""
    fn, _ = build(case, num_threads)
    fn()  # warm-up: lazy initialisation and compilation are not the loss's memory
    gc.collect()
    framework, device = FRAMEWORK[case["impl"]], case.get("device", "cpu")
    if framework == "numpy":
        tracemalloc.start()
        try:
            result = fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    elif device == "cuda" and framework == "torch":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        result = fn()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_bytes("VmRSS")
        result = fn()
        peak = _status_bytes("VmHWM") - before
    del result
    return max(0, int(peak))


def peak_memory(
    cases: list[dict], num_threads: int | None = 1, per_case: bool = True
) -> list:
    """Peak extra bytes of each case, measured in fresh processes (``None`` where one
    fails).

    ``per_case=True`` starts one process per case. ``False`` runs the cases of one
    framework one after another in one fresh process (each after its own warm-up run and
    peak reset): faster to start, at the price of allocator state shared between those
    cases.
    """
    groups = (
        [[(i, c)] for i, c in enumerate(cases)] if per_case else _by_framework(cases)
    )
    peaks: dict[int, int | None] = {}

    def start(group):
        payload = json.dumps({"cases": [c for _, c in group], "threads": num_threads})
        command = [sys.executable, "-m", "xent._measure", payload]
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_MALLOC_ENV,
        )

    def finish(group, proc):
        out, _ = proc.communicate()
        lines = [ln for ln in out.splitlines() if ln.startswith("PEAKS ")]
        found = json.loads(lines[-1][6:]) if proc.returncode == 0 and lines else None
        for k, (index, _) in enumerate(group):
            peaks[index] = None if found is None else found[k]

    if per_case:  # one at a time: no other process competes for the memory measured
        for group in groups:
            finish(group, start(group))
    else:  # the frameworks' processes side by side: each measures only itself
        for group, proc in [(g, start(g)) for g in groups]:
            finish(group, proc)
    return [peaks[i] for i in range(len(cases))]


# Large blocks get their own mapping, given back when freed (see the module's
# docstring).
_MALLOC_ENV = {
    **os.environ,
    "MALLOC_MMAP_THRESHOLD_": "65536",
    "MALLOC_TRIM_THRESHOLD_": "0",
}


def _by_framework(cases: list[dict]) -> list[list[tuple[int, dict]]]:
    groups: dict[str, list] = {}
    for i, case in enumerate(cases):
        groups.setdefault(FRAMEWORK[case["impl"]], []).append((i, case))
    return list(groups.values())


def _main(payload: str) -> None:
    spec = json.loads(payload)
    if "parallel" in spec:
        _parallel_main(spec["parallel"])
        return
    peaks = []
    for case in spec["cases"]:
        try:
            peaks.append(_measure_here(case, spec.get("threads")))
        except Exception as error:  # noqa: BLE001 - reported as a missing measurement
            print(f"{case}: {type(error).__name__}: {error}", file=sys.stderr)
            peaks.append(None)
    print("PEAKS " + json.dumps(peaks), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1])

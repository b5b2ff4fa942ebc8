"""Time, bandwidth and peak memory of a case.

Timing happens in the calling process (:func:`median_time`); peak memory in a fresh one
(:func:`peak_memory` runs ``python -m xent.bench.worker``), so that no allocator cache
or compiled kernel left by an earlier case hides or inflates what this one needs.
Memory is measured as follows:

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
from typing import Any

import numpy as np

from xent.bench.builders import build, synced
from xent.bench.cases import FRAMEWORK, Case

# The environment of the measuring processes: large blocks get their own mapping,
# given back when freed (see the module's docstring).
MALLOC_ENV = {
    **os.environ,
    "MALLOC_MMAP_THRESHOLD_": "65536",
    "MALLOC_TRIM_THRESHOLD_": "0",
}
WORKER = [sys.executable, "-m", "xent.bench.worker"]


def median_time(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of ``repeats`` runs of ``fn``, in seconds, after three untimed
    warm-up runs (a traced TensorFlow graph, say, is still optimised during its first
    calls).
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1; got {repeats}")
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


def interleaved_ratio(
    fn: Callable[[], object], baseline: Callable[[], object], repeats: int = 7
) -> float:
    """The median time of ``fn`` over the median time of ``baseline``, their runs
    alternating (after three warm-up runs of each), so that a machine that slows down
    or speeds up during the measurement affects both alike.
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1; got {repeats}")
    for _ in range(3):
        fn()
        baseline()
    gc.collect()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for k, f in enumerate((fn, baseline)):
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    return statistics.median(times[0]) / statistics.median(times[1])


def copy_bandwidth(nbytes: int = 2**28, device: str = "cpu", repeats: int = 7) -> float:
    """Bytes per second of a plain copy of ``nbytes`` (read and write both counted),
    the machine's yardstick.
    """
    if device == "cpu":
        src = np.ones(nbytes // 4, dtype=np.float32)
        dst = np.empty_like(src)
        return 2 * nbytes / median_time(lambda: np.copyto(dst, src), repeats)
    import torch

    src_t = torch.ones(nbytes // 4, device=device)
    dst_t = torch.empty_like(src_t)
    copy = synced(device, lambda: (dst_t.copy_(src_t), None))
    return 2 * nbytes / median_time(copy, repeats)


def status_bytes(field: str) -> int:
    """A size field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_here(case: Case, num_threads: int | None) -> int:
    """Peak bytes allocated by one run of ``case`` in this process beyond what existed
    before it (after one warm-up run: lazy initialisation and compilation are not the
    loss's memory).
    """
    fn, _ = build(case, num_threads)
    fn()
    gc.collect()
    framework, device = FRAMEWORK[case["impl"]], case.get("device", "cpu")
    if framework == "numpy":
        tracemalloc.start()
        try:
            fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    elif device == "cuda" and framework == "torch":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = status_bytes("VmRSS")
        fn()
        peak = status_bytes("VmHWM") - before
    return max(0, int(peak))


def peaks_here(cases: list[Case], num_threads: int | None) -> list[int | None]:
    """:func:`peak_here` of each case in turn (``None``, with the error on stderr,
    where one fails): what a measuring process runs.
    """
    peaks: list[int | None] = []
    for case in cases:
        try:
            peaks.append(peak_here(case, num_threads))
        except Exception as error:  # noqa: BLE001 - reported as a missing measurement
            print(f"{case}: {type(error).__name__}: {error}", file=sys.stderr)
            peaks.append(None)
    return peaks


def peak_memory(
    cases: list[Case], num_threads: int | None = 1, per_case: bool = True
) -> list[int | None]:
    """Peak extra bytes of one run of each case, measured in fresh processes (``None``
    where one fails).

    ``per_case=True`` starts one process per case, one at a time. ``False`` runs the
    cases of one framework one after another in one fresh process (each after its own
    warm-up run and peak reset), the frameworks' processes side by side: faster to
    start, at the price of allocator state shared between those cases.
    """
    if per_case:
        groups = [[(i, case)] for i, case in enumerate(cases)]
    else:
        by_framework: dict[str, list[tuple[int, Case]]] = {}
        for i, case in enumerate(cases):
            by_framework.setdefault(FRAMEWORK[case["impl"]], []).append((i, case))
        groups = list(by_framework.values())
    peaks: dict[int, int | None] = {}

    def start(group: list[tuple[int, Case]]) -> subprocess.Popen[str]:
        payload = {"cases": [case for _, case in group], "threads": num_threads}
        return subprocess.Popen(
            [*WORKER, json.dumps(payload)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=MALLOC_ENV,
        )

    def finish(group: list[tuple[int, Case]], proc: subprocess.Popen[str]) -> None:
        out, _ = proc.communicate()
        found = read_report(out, "PEAKS") if proc.returncode == 0 else None
        for k, (index, _) in enumerate(group):
            peaks[index] = None if found is None else found[k]

    if per_case:  # one at a time: no other process competes for the memory measured
        for group in groups:
            finish(group, start(group))
    else:  # side by side: each process measures only itself
        for group, proc in [(g, start(g)) for g in groups]:
            finish(group, proc)
    return [peaks[i] for i in range(len(cases))]


def read_report(out: str, tag: str) -> Any:
    """The JSON that a worker printed after ``tag`` on its last such line, or None."""
    lines = [line for line in out.splitlines() if line.startswith(tag + " ")]
    return json.loads(lines[-1][len(tag) + 1 :]) if lines else None

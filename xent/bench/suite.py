"""The whole benchmark: choose the cases, time each, measure their memory, add the
parallel rows and the ratios.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from xent.bench import cases as tables
from xent.bench.builders import build
from xent.bench.cases import Case, Row, available, ce_cases, linear_cases
from xent.bench.measure import (
    copy_bandwidth,
    interleaved_ratio,
    median_time,
    peak_memory,
)
from xent.bench.parallel import parallel
from xent.bench.reference import max_error
from xent.bench.report import add_ratios, label, size_key

_MEMORY_METHOD = (
    "tracemalloc (NumPy); peak RSS via VmHWM (CPU torch, TensorFlow); "
    "torch.cuda.max_memory_allocated (GPU)"
)


def resolve_device(device: str) -> str:
    """``"auto"``: CUDA when PyTorch sees a GPU, else the CPU; any other name as
    given.
    """
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _timed_row(case: Case, threads: int, repeats: int, copy: float) -> Row:
    """The case with its time, bandwidth and error, or a note saying why it failed."""
    row = dict(case)
    try:
        fn, nbytes = build(case, threads)
        seconds = median_time(fn, repeats)
        row.update(
            seconds=seconds,
            gbps=nbytes / seconds / 1e9,
            copy_ratio=nbytes / seconds / copy,
            max_error=max_error(case, fn()),
        )
    except Exception as error:  # noqa: BLE001 - e.g. torch.compile without a compiler
        first = str(error).splitlines()[0][:120] if str(error) else ""
        row["note"] = f"failed: {type(error).__name__}: {first}"
    return row


def _parallel_rows(
    n: int, c: int, repeats: int, copy: float, log: Callable[[str], object]
) -> list[Row]:
    """The two vocabulary-parallel rows on two processes, or two rows with the note of
    their failure.
    """
    try:
        rows = parallel(n, c, 2, repeats)
    except Exception as error:  # noqa: BLE001 - reported in the table
        note = f"failed: {type(error).__name__}: {str(error)[:120]}"
        base = {"kind": "parallel", "mode": "fwdbwd", "n": n, "c": c, "world": 2}
        return [{**base, "impl": i, "note": note} for i in tables.PARALLEL_IMPLS]
    for row in rows:
        row["logits_bytes"] = 4 * n * c // row["world"]  # one rank's shard
        # Read once, the gradient written once, per rank.
        row["gbps"] = 2 * row["logits_bytes"] / row["seconds"] / 1e9
        row["copy_ratio"] = row["gbps"] * 1e9 / copy
        log(f"  {label(row)}  {row['seconds'] * 1e3:9.2f} ms")
    return rows


def _pair_compiled(
    rows: list[Row], threads: int, repeats: int, log: Callable[[str], object]
) -> None:
    """Time each compiled xent row against its compiled baseline once more, their runs
    alternating: ``paired_ratio``, the ratio the table shows, which a drift of the
    machine's speed between two rows timed apart would otherwise bias.
    """
    timed = {(r["impl"], size_key(r)): r for r in rows if "seconds" in r}
    for row in list(timed.values()):
        peer = timed.get((tables.COMPILED_BASELINE.get(row["impl"], ""), size_key(row)))
        if peer is None:
            continue
        ratio = interleaved_ratio(
            build(row, threads)[0], build(peer, threads)[0], repeats
        )
        row["paired_ratio"] = ratio
        log(f"  {label(row)}  x{ratio:.2f} of {peer['impl']}, timed alternately")


def run(
    quick: bool = False,
    full: bool = False,
    device: str = "auto",
    threads: int = 1,
    repeats: int = 7,
    compile_torch: bool | None = None,
    per_case_memory: bool | None = None,
    log: Callable[[str], object] = print,
    impls: Collection[str] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; return ``{"meta": ..., "rows": [...]}`` (one row per case).

    ``quick``: tiny sizes, a smoke test; ``full``: also the language-model sizes.
    ``compile_torch`` (default: all but ``quick``) adds the ``torch.compile`` rows;
    ``per_case_memory`` (default: ``full``) measures each case's peak in a process of
    its own rather than one process per framework. ``impls``, when given, keeps only
    the cases of those implementations (keys of ``xent.bench.cases.FRAMEWORK``).
    ``log`` receives one line as each case finishes.
    """
    if quick and full:
        raise ValueError("`quick` and `full` must not both be true; got both")
    if repeats < 1 or threads < 1:
        raise ValueError(
            f"`repeats` and `threads` must be at least 1; got {repeats}, {threads}"
        )
    unknown = sorted(set(impls or ()) - set(tables.FRAMEWORK))
    if unknown:
        raise ValueError(
            f"`impls` must name implementations of {sorted(tables.FRAMEWORK)}; "
            f"got {unknown}"
        )
    device = resolve_device(device)
    compile_torch = (not quick) if compile_torch is None else compile_torch
    per_case_memory = full if per_case_memory is None else per_case_memory
    sizes = tables.QUICK_SIZES if quick else tables.FULL_SIZES if full else None
    linear = tables.QUICK_LINEAR if quick else tables.FULL_LINEAR if full else None
    cases, skipped = ce_cases(
        sizes or tables.DEFAULT_SIZES,
        device,
        compile_torch,
        compiled_forward=full or quick,
    )
    cases += linear_cases(linear or tables.DEFAULT_LINEAR, device, compile_torch)
    if impls is not None:
        cases = [c for c in cases if c["impl"] in impls]
        skipped = [r for r in skipped if r["impl"] in impls]
    copy = copy_bandwidth(2**24 if quick else 2**28, device, repeats)
    log(
        f"copy bandwidth on {device}: {copy / 1e9:.1f} GB/s; running {len(cases)} cases"
    )
    rows = []
    for case in cases:
        row = _timed_row(case, threads, repeats, copy)
        rows.append(row)
        log(f"  {label(row)}  {row.get('seconds', float('nan')) * 1e3:9.2f} ms")
    _pair_compiled(rows, threads, repeats, log)
    timed = [(c, r) for c, r in zip(cases, rows, strict=True) if "seconds" in r]
    peaks = peak_memory([case for case, _ in timed], threads, per_case_memory)
    for (_, row), peak in zip(timed, peaks, strict=True):
        row["peak_bytes"] = peak
        row["logits_bytes"] = 4 * row["n"] * row.get("c", row.get("v"))
    parallel_wanted = impls is None or set(impls) & set(tables.PARALLEL_IMPLS)
    if parallel_wanted and device == "cpu" and available("torch") is None:
        n, c = (
            tables.QUICK_PARALLEL
            if quick
            else tables.FULL_PARALLEL
            if full
            else tables.DEFAULT_PARALLEL
        )
        rows += _parallel_rows(n, c, repeats, copy, log)
    rows += skipped
    add_ratios(rows)
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": device,
        "threads": threads,
        "repeats": repeats,
        "quick": quick,
        "full": full,
        "copy_gbps": copy / 1e9,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "memory_method": _MEMORY_METHOD,
        "memory_per_case": per_case_memory,
    }
    for name in ("torch", "tensorflow"):
        if name in sys.modules:
            meta[name] = sys.modules[name].__version__
    return {"meta": meta, "rows": rows}

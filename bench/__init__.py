"""The benchmark of the cross-entropy book: ``make bench`` (``python -m bench``).

It times every implementation of the loss that the book discusses on the same seeded
logits and prints one table: median time of at least 7 runs, the ratio to PyTorch's
eager ``F.cross_entropy`` in the same pass, the effective bandwidth and its ratio to the
bandwidth of a plain copy measured in the same run, the peak extra memory (measured in a
fresh process, as a multiple of the logits' size) and the largest difference from a
float64 reference. Two rows per size are not losses but floors: the exponentials of
every logit alone, in NumPy and in PyTorch, a lower bound on the time of any
softmax-based forward pass in that library. The linear form is compared with the eager
composition over a sweep of chunk sizes. Compiled rows (``torch.compile`` of
``xent.torch.cross_entropy`` and of ``linear_cross_entropy``) stand beside compiled
``F.cross_entropy`` (and the compiled eager composition), with their time as a multiple
of that baseline's. The default run takes a few minutes on two cores; ``--full`` adds
the language-model sizes (about a quarter of an hour), ``--quick`` is a smoke test. Each
case is printed as it finishes. ``--json PATH`` writes the same numbers for plots. The
measuring itself lives in ``xent._measure``; this package only chooses the cases and
prints them.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys

import numpy as np

from xent import _measure

# The default run (``make bench``, under three minutes on two cores): the notebooks'
# size, where the cost per call dominates, and one size where the logits' memory
# matters; the compiled rows there for forward and backward only. ``--full`` adds a mid
# size, the language-model sizes and the compiled forward rows; ``--quick`` is a smoke
# test.
DEFAULT_SIZES = [(1024, 10), (4096, 4096)]
FULL_SIZES = [(1024, 10), (1024, 1000), (4096, 4096), (4096, 32000), (1024, 128256)]
QUICK_SIZES = [(64, 10), (256, 1000)]
DEFAULT_LINEAR = {"n": 1024, "d": 256, "v": 8192, "chunk_sizes": [256]}
# The language-model options (chapter "Training language models") at PaLM's and Gemma
# 2's values, each timed against the same call without it.
OPTIONS = [
    {"z_loss_scale": 1e-4},
    {"softcap": 30.0},
    {"z_loss_scale": 1e-4, "softcap": 30.0},
]
# vocab_parallel_cross_entropy and loss_parallel on two CPU processes: (rows, classes).
DEFAULT_PARALLEL = (1024, 8192)
FULL_PARALLEL = (4096, 32000)
QUICK_PARALLEL = (64, 256)
FULL_LINEAR = {"n": 2048, "d": 512, "v": 32000, "chunk_sizes": [64, 256, 1024, 2048]}
QUICK_LINEAR = {"n": 128, "d": 32, "v": 1000, "chunk_sizes": [16, 64]}


def _available(name: str) -> str | None:
    """Why a framework cannot be benchmarked here, or None when it can."""
    import importlib.util

    return None if importlib.util.find_spec(name) else f"{name} is not installed"


def _memory_allows(nbytes: int, device: str) -> bool:
    """Room for about eight copies of the logits (the eager forward and backward need
    ~4).
    """
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return 8 * nbytes < free
    for line in open("/proc/meminfo").read().splitlines():
        if line.startswith("MemAvailable:"):
            return 8 * nbytes < int(line.split()[1]) * 1024
    return True


def ce_cases(
    sizes, device: str, compile_torch: bool, compiled_forward: bool = True
) -> tuple[list[dict], list[dict]]:
    """The cross-entropy cases, and rows for those that cannot run (with the reason)."""
    cases, skipped = [], []
    plan = [
        ("numpy-exp-only", "fwd"),
        ("torch-exp-only", "fwd"),
        ("xent-numpy", "fwd"),
        ("xent-torch", "fwd"),
        ("torch-eager", "fwd"),
        ("torch-compile", "fwd"),
        ("xent-compile", "fwd"),
        ("xent-tf", "fwd"),
        ("tf-sparse", "fwd"),
        ("xent-torch", "fwdbwd"),
        ("torch-eager", "fwdbwd"),
        ("torch-compile", "fwdbwd"),
        ("xent-compile", "fwdbwd"),
        ("xent-tf", "fwdbwd"),
        ("tf-sparse", "fwdbwd"),
    ]
    for n, c in sizes:
        for impl, mode in plan:
            case = {
                "kind": "ce",
                "impl": impl,
                "mode": mode,
                "n": n,
                "c": c,
                "device": device,
            }
            framework = _measure.FRAMEWORK[impl]
            why = None if framework == "numpy" else _available(framework)
            compiled = impl in ("torch-compile", "xent-compile")
            if compiled and mode == "fwd" and not compiled_forward:
                # Each compiled pass costs a compilation; the default keeps one.
                continue
            if why is None and compiled and not compile_torch:
                why = "skipped (--no-compile; compiling takes ~30 s here)"
            if why is None and not _memory_allows(4 * n * c, device):
                why = "skipped: not enough free memory"
            if impl in _measure.EXP_FLOORS and device != "cpu":
                # The floors explain the CPU table; a GPU's exp is not its bottleneck.
                continue
            if why is None and impl == "xent-numpy" and device != "cpu":
                case["device"] = "cpu"
            (skipped if why else cases).append({**case, "note": why} if why else case)
            if not why and impl == "xent-torch" and mode == "fwdbwd":
                cases += [{**case, "options": o} for o in OPTIONS]
    return cases, skipped


def linear_cases(spec: dict, device: str, compile_torch: bool = False) -> list[dict]:
    base = {
        "kind": "linear",
        "mode": "fwdbwd",
        "n": spec["n"],
        "d": spec["d"],
        "v": spec["v"],
        "device": device,
    }
    compiled = (
        [{**base, "impl": "eager-compile"}, {**base, "impl": "chunked-compile"}]
        if compile_torch
        else []
    )
    chunked = {**base, "impl": "chunked", "chunk_size": spec["chunk_sizes"][-1]}
    return (
        [{**base, "impl": "eager"}]
        + [{**base, "impl": "chunked", "chunk_size": cs} for cs in spec["chunk_sizes"]]
        + [{**chunked, "options": o} for o in OPTIONS]
        + compiled
    )


def run(
    quick: bool = False,
    full: bool = False,
    device: str = "auto",
    threads: int = 1,
    repeats: int = 7,
    compile_torch: bool | None = None,
    per_case_memory: bool | None = None,
    log=print,
) -> dict:
    """Run the benchmark; return ``{"meta": ..., "rows": [...]}`` (one row per case)."""
    device = _measure.resolve_device(device)
    compile_torch = (not quick) if compile_torch is None else compile_torch
    per_case_memory = full if per_case_memory is None else per_case_memory
    _measure.set_threads(threads)
    sizes = QUICK_SIZES if quick else FULL_SIZES if full else DEFAULT_SIZES
    linear = QUICK_LINEAR if quick else FULL_LINEAR if full else DEFAULT_LINEAR
    cases, skipped = ce_cases(
        sizes, device, compile_torch, compiled_forward=full or quick
    )
    cases += linear_cases(linear, device, compile_torch)
    copy = _measure.copy_bandwidth(2**24 if quick else 2**28, device, repeats)
    log(
        f"copy bandwidth on {device}: {copy / 1e9:.1f} GB/s; running {len(cases)} cases"
    )

    rows = []
    for case in cases:
        row = dict(case)
        try:
            fn, nbytes = _measure.build(case, threads)
            seconds = _measure.median_time(fn, repeats)
            row.update(
                seconds=seconds,
                gbps=nbytes / seconds / 1e9,
                copy_ratio=nbytes / seconds / copy,
                max_error=_measure.max_error(case, fn()),
            )
        except Exception as error:  # noqa: BLE001 - e.g. torch.compile without a compiler
            row["note"] = (
                f"failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
            )
        rows.append(row)
        log(f"  {_label(row)}  {row.get('seconds', float('nan')) * 1e3:9.2f} ms")
    timed = [i for i, r in enumerate(rows) if "seconds" in r]
    peaks = _measure.peak_memory([cases[i] for i in timed], threads, per_case_memory)
    for i, peak in zip(timed, peaks, strict=True):
        rows[i]["peak_bytes"] = peak
        rows[i]["logits_bytes"] = 4 * rows[i]["n"] * rows[i].get("c", rows[i].get("v"))
    n, c = QUICK_PARALLEL if quick else FULL_PARALLEL if full else DEFAULT_PARALLEL
    why = _available("torch")
    if why is None and device == "cpu":
        try:
            for row in _measure.parallel(n, c, 2, repeats):
                row["logits_bytes"] = 4 * n * c // row["world"]  # one rank's shard
                # Read once, the gradient written once, per rank.
                row["gbps"] = 2 * row["logits_bytes"] / row["seconds"] / 1e9
                row["copy_ratio"] = row["gbps"] * 1e9 / copy
                rows.append(row)
                log(f"  {_label(row)}  {row['seconds'] * 1e3:9.2f} ms")
        except Exception as error:  # noqa: BLE001 - reported in the table
            note = f"failed: {type(error).__name__}: {str(error)[:120]}"
            rows += [
                {
                    "kind": "parallel",
                    "impl": i,
                    "mode": "fwdbwd",
                    "n": n,
                    "c": c,
                    "world": 2,
                    "note": note,
                }
                for i in ("vocab-parallel", "loss-parallel")
            ]
    rows += skipped
    _add_ratios(rows)
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
        "memory_method": "tracemalloc (NumPy); peak RSS via VmHWM (CPU torch, "
        "TensorFlow); torch.cuda.max_memory_allocated (GPU)",
        "memory_per_case": per_case_memory,
    }
    for name in ("torch", "tensorflow"):
        if name in sys.modules:
            meta[name] = sys.modules[name].__version__
    return {"meta": meta, "rows": rows}


def _add_ratios(rows: list[dict]) -> None:
    """Each row's time over PyTorch eager's in the same pass and size (linear: the eager
    form).
    """

    def key(r):
        return (r["kind"], r["mode"], r["n"], r.get("c"), r.get("d"), r.get("v"))

    eager = {
        key(r): r["seconds"]
        for r in rows
        if r["impl"] in ("torch-eager", "eager", "loss-parallel") and "seconds" in r
    }
    # The same call without the language-model options, for their overhead.
    plain = {
        (key(r), r["impl"], r.get("chunk_size")): r
        for r in rows
        if not r.get("options") and "seconds" in r
    }
    baselines = {
        (r["impl"], key(r)): r
        for r in rows
        if r["impl"] in _measure.COMPILED_BASELINE.values() and "seconds" in r
    }
    for r in rows:
        base = eager.get(key(r))
        if base and "seconds" in r:
            r["time_ratio"] = r["seconds"] / base
        compiled = baselines.get((_measure.COMPILED_BASELINE.get(r["impl"]), key(r)))
        if compiled and "seconds" in r:
            r["compiled_time_ratio"] = r["seconds"] / compiled["seconds"]
            if r.get("peak_bytes") is not None and compiled.get("peak_bytes"):
                r["compiled_peak_ratio"] = r["peak_bytes"] / compiled["peak_bytes"]
        if r.get("peak_bytes") is not None:
            r["peak_ratio"] = r["peak_bytes"] / r["logits_bytes"]
        without = plain.get((key(r), r["impl"], r.get("chunk_size")))
        if r.get("options") and without and "seconds" in r:
            r["options_time_ratio"] = r["seconds"] / without["seconds"]
            if r.get("peak_bytes") and without.get("peak_bytes"):
                r["options_peak_ratio"] = r["peak_bytes"] / without["peak_bytes"]


def _options_label(options: dict) -> str:
    parts = {"z_loss_scale": "z", "softcap": "cap"}
    return "+" + "+".join(f"{parts[k]} {v:g}" for k, v in options.items())


def _label(row: dict) -> str:
    impl = row["impl"] if row["kind"] != "linear" else f"linear {row['impl']}"
    if row.get("chunk_size"):
        impl += f" (chunk {row['chunk_size']})"
    if row.get("options"):
        impl += " " + _options_label(row["options"])
    if row["kind"] == "parallel":
        impl += f" ({row['world']} ranks)"
    size = (
        f"{row['n']}x{row['c']}"
        if row["kind"] != "linear"
        else (f"{row['n']}x{row['d']}->{row['v']}")
    )
    return f"{impl:<26} {row['mode']:<6} {size:<16}"


def format_table(result: dict) -> str:
    """The results as a fixed-width text table, with the notes of skipped or failed
    cases.
    """
    meta = result["meta"]
    head = (
        f"{'implementation':<26} {'pass':<6} {'size':<16} {'median ms':>10} "
        f"{'x eager':>8} {'GB/s':>7} {'x copy':>7} {'peak/logits':>11} "
        f"{'max |err|':>10} {'x compiled':>10}"
    )
    lines = [
        f"Cross-entropy benchmark on {meta['device']}, {meta['threads']} thread(s), "
        f"median of {meta['repeats']} runs; copy bandwidth {meta['copy_gbps']:.1f} "
        f"GB/s; load average {meta['load_average'][0]:.2f}",
        f"Peak memory: {meta['memory_method']}, in a fresh process "
        f"{'per case' if meta['memory_per_case'] else 'per framework'}.",
        head,
        "-" * len(head),
    ]

    def fmt(value, spec):
        return format(value, spec) if value is not None else "-"

    order = {"ce": 0, "linear": 1, "parallel": 2}
    for r in sorted(
        result["rows"],
        key=lambda r: (order[r["kind"]], r["mode"], r["n"], r.get("c") or r.get("v")),
    ):
        if "seconds" not in r:
            lines.append(f"{_label(r)} {r.get('note', '')}")
            continue
        lines.append(
            f"{_label(r)} {r['seconds'] * 1e3:>10.2f} "
            f"{fmt(r.get('time_ratio'), '8.2f')} {r['gbps']:>7.2f} "
            f"{r['copy_ratio']:>7.3f} {fmt(r.get('peak_ratio'), '11.3f')} "
            f"{fmt(r['max_error'], '10.1e')} "
            f"{fmt(r.get('compiled_time_ratio'), '10.2f')}"
        )
    lines.append(
        "x eager: time over PyTorch eager's (linear: the eager composition; parallel: "
        "loss_parallel's) in the same pass; x compiled: a compiled xent row's time "
        "over compiled F.cross_entropy's (linear: the compiled composition). Parallel "
        "rows: the slowest rank's time, the largest rank's peak over one rank's shard."
    )
    overhead = [r for r in result["rows"] if r.get("options_time_ratio")]
    if overhead:
        lines.append("Overhead of the language-model options (the same call without):")
        for r in overhead:
            lines.append(
                f"  {_label(r)} time x{r['options_time_ratio']:.2f}, peak memory "
                f"x{fmt(r.get('options_peak_ratio'), '.2f')}"
            )
    return "\n".join(lines)

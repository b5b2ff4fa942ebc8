"""The benchmark's ratios and its printed table.

:func:`add_ratios` adds to each row its time as a multiple of its baseline's in the same
pass and size (PyTorch eager; the eager composition for the linear form;
``loss_parallel`` for the parallel rows), a compiled row's time and peak over the
compiled baseline's, the peak memory over the logits' size, and the overhead of the
language-model options over the same call without them. :func:`format_table` prints
the rows as one fixed-width table.
"""

from __future__ import annotations

from typing import Any

from xent.bench.cases import COMPILED_BASELINE, Row

_EAGER_BASELINES = ("torch-eager", "eager", "loss-parallel")
_OPTION_NAMES = {"z_loss_scale": "z", "softcap": "cap"}


def size_key(row: Row) -> tuple[Any, ...]:
    """What a row shares with its baselines: kind, pass and sizes."""
    return (
        row["kind"],
        row["mode"],
        row["n"],
        row.get("c"),
        row.get("d"),
        row.get("v"),
    )


def add_ratios(rows: list[Row]) -> None:
    """Add ``time_ratio``, ``compiled_time_ratio``, ``compiled_peak_ratio``,
    ``peak_ratio``, ``options_time_ratio`` and ``options_peak_ratio`` to the rows that
    have what each needs (rows without ``seconds`` did not run).
    """
    timed = [r for r in rows if "seconds" in r]
    eager = {size_key(r): r for r in timed if r["impl"] in _EAGER_BASELINES}
    compiled = {
        (r["impl"], size_key(r)): r
        for r in timed
        if r["impl"] in COMPILED_BASELINE.values()
    }
    # The same call without the language-model options.
    plain = {
        (size_key(r), r["impl"], r.get("chunk_size")): r
        for r in timed
        if not r.get("options")
    }
    for r in rows:
        if r.get("peak_bytes") is not None:
            r["peak_ratio"] = r["peak_bytes"] / r["logits_bytes"]
        if "seconds" not in r:
            continue
        base = eager.get(size_key(r))
        if base:
            r["time_ratio"] = r["seconds"] / base["seconds"]
        peer = compiled.get((COMPILED_BASELINE.get(r["impl"]), size_key(r)))
        if peer:
            # Timed alternately with its peer where it was (see suite._pair_compiled).
            r["compiled_time_ratio"] = r.get(
                "paired_ratio", r["seconds"] / peer["seconds"]
            )
            if r.get("peak_bytes") is not None and peer.get("peak_bytes"):
                r["compiled_peak_ratio"] = r["peak_bytes"] / peer["peak_bytes"]
        without = plain.get((size_key(r), r["impl"], r.get("chunk_size")))
        if r.get("options") and without:
            r["options_time_ratio"] = r["seconds"] / without["seconds"]
            if r.get("peak_bytes") and without.get("peak_bytes"):
                r["options_peak_ratio"] = r["peak_bytes"] / without["peak_bytes"]


def label(row: Row) -> str:
    """The row's implementation, pass and size, in fixed-width columns.

    >>> row = {"kind": "linear", "impl": "chunked", "chunk_size": 64, "mode": "fwdbwd"}
    >>> row.update(n=128, d=32, v=1000, options={"softcap": 30.0})
    >>> label(row).split()
    ['linear', 'chunked', '(chunk', '64)', '+cap', '30', 'fwdbwd', '128x32->1000']
    """
    impl = row["impl"] if row["kind"] != "linear" else f"linear {row['impl']}"
    if row.get("chunk_size"):
        impl += f" (chunk {row['chunk_size']})"
    if row.get("options"):
        impl += " +" + "+".join(
            f"{_OPTION_NAMES[k]} {v:g}" for k, v in row["options"].items()
        )
    if row["kind"] == "parallel":
        impl += f" ({row['world']} ranks)"
    if row["kind"] == "linear":
        size = f"{row['n']}x{row['d']}->{row['v']}"
    else:
        size = f"{row['n']}x{row['c']}"
    return f"{impl:<26} {row['mode']:<6} {size:<16}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(result: dict[str, Any]) -> str:
    """The rows of ``result`` (from :func:`xent.bench.run`) as a fixed-width text
    table, with the notes of skipped or failed cases and the options' overhead.
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
    order = {"ce": 0, "linear": 1, "parallel": 2}
    for r in sorted(
        result["rows"],
        key=lambda r: (order[r["kind"]], r["mode"], r["n"], r.get("c") or r.get("v")),
    ):
        if "seconds" not in r:
            lines.append(f"{label(r)} {r.get('note', '')}")
            continue
        lines.append(
            f"{label(r)} {r['seconds'] * 1e3:>10.2f} "
            f"{_fmt(r.get('time_ratio'), '8.2f')} {r['gbps']:>7.2f} "
            f"{r['copy_ratio']:>7.3f} {_fmt(r.get('peak_ratio'), '11.3f')} "
            f"{_fmt(r['max_error'], '10.1e')} "
            f"{_fmt(r.get('compiled_time_ratio'), '10.2f')}"
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
                f"  {label(r)} time x{r['options_time_ratio']:.2f}, peak memory "
                f"x{_fmt(r.get('options_peak_ratio'), '.2f')}"
            )
    return "\n".join(lines)

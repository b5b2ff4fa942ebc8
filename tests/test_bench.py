"""Smoke test of the benchmark: ``python -m bench --quick`` runs, prints its table,
writes JSON.

Timings are never asserted (they depend on the machine and on what else runs); only that
every case produced its numbers, that the errors against the float64 reference are
small, and that the peak memory was measured in fresh processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the benchmark compares against PyTorch")
REPO = Path(__file__).resolve().parents[1]


def test_quick_benchmark_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "median ms" in proc.stdout
        and "x eager" in proc.stdout
        and "peak/logits" in proc.stdout
    )
    result = json.loads(out.read_text())
    assert result["meta"]["quick"] and result["meta"]["copy_gbps"] > 0
    rows = result["rows"]
    impls = {r["impl"] for r in rows}
    assert {"xent-numpy", "xent-torch", "torch-eager", "eager", "chunked"} <= impls
    assert {
        "numpy-exp-only",
        "torch-exp-only",
    } <= impls  # the floors of the forward pass
    # listed, with the reason they did not run (--quick does not compile)
    assert {"torch-compile", "xent-compile"} <= impls
    timed = [r for r in rows if "seconds" in r]
    for r in timed:
        assert r["seconds"] > 0 and r["gbps"] > 0, r
        if r["impl"].endswith("-exp-only"):
            assert r["max_error"] is None and r["mode"] == "fwd", (
                r
            )  # no loss to compare
        else:
            assert r["max_error"] < 1e-4, r
        assert r.get("peak_bytes") is not None, r
    eager = [r for r in timed if r["impl"] in ("torch-eager", "eager")]
    assert eager and all(r["time_ratio"] == 1.0 for r in eager)
    assert sum(r["impl"] == "chunked" for r in timed) >= 2  # a chunk-size sweep
    # The language-model options beside the same call without them, and the
    # vocabulary-parallel loss beside loss_parallel on two processes.
    with_options = [r for r in rows if r.get("options")]
    assert {r["kind"] for r in with_options} == {"ce", "linear"}
    for r in with_options:
        assert r["options_time_ratio"] > 0 and r["max_error"] < 1e-4, r
    # (the smallest sizes' peaks are below a page: no ratio there)
    assert any(r.get("options_peak_ratio") for r in with_options)
    parallel = {r["impl"]: r for r in rows if r["kind"] == "parallel"}
    assert set(parallel) == {"vocab-parallel", "loss-parallel"}
    assert parallel["loss-parallel"]["time_ratio"] == 1.0
    assert "Overhead of the language-model options" in proc.stdout
    assert "vocab-parallel (2 ranks)" in proc.stdout


def test_compiled_rows_are_compared_with_their_compiled_baselines():
    """``x compiled``: a compiled xent row's time over the compiled built-in's, same
    size."""
    from bench import _add_ratios, format_table

    def row(impl, seconds, kind="ce", peak=None):
        size = {"n": 8, "c": 4} if kind == "ce" else {"n": 8, "d": 2, "v": 4}
        return {
            "kind": kind,
            "impl": impl,
            "mode": "fwdbwd",
            **size,
            "seconds": seconds,
            "gbps": 1.0,
            "copy_ratio": 0.1,
            "max_error": 0.0,
            "peak_bytes": peak,
            "logits_bytes": 128,
        }

    rows = [
        row("torch-eager", 4.0, peak=384),
        row("torch-compile", 2.0, peak=128),
        row("xent-compile", 1.5, peak=64),
        row("eager", 8.0, "linear"),
        row("eager-compile", 4.0, "linear"),
        row("chunked-compile", 5.0, "linear"),
    ]
    _add_ratios(rows)
    by_impl = {r["impl"]: r for r in rows}
    assert by_impl["xent-compile"]["compiled_time_ratio"] == 0.75
    assert by_impl["xent-compile"]["compiled_peak_ratio"] == 0.5
    assert by_impl["xent-compile"]["time_ratio"] == 0.375
    assert by_impl["chunked-compile"]["compiled_time_ratio"] == 1.25
    assert "compiled_time_ratio" not in by_impl["torch-compile"]
    meta = {
        "device": "cpu",
        "threads": 1,
        "repeats": 7,
        "copy_gbps": 1.0,
        "load_average": (0.0, 0.0, 0.0),
        "memory_method": "-",
        "memory_per_case": False,
    }
    table = format_table({"meta": meta, "rows": rows})
    assert "x compiled" in table
    line = next(ln for ln in table.splitlines() if ln.startswith("xent-compile"))
    assert line.split()[-1] == "0.75"


def test_option_overhead_is_the_ratio_to_the_same_call_without_them():
    from bench import _add_ratios, _label

    base = {"kind": "ce", "impl": "xent-torch", "mode": "fwdbwd", "n": 8, "c": 4}
    rows = [
        {**base, "seconds": 2.0, "peak_bytes": 100, "logits_bytes": 128},
        {
            **base,
            "options": {"softcap": 30.0},
            "seconds": 3.0,
            "peak_bytes": 150,
            "logits_bytes": 128,
        },
        {**base, "impl": "torch-eager", "seconds": 4.0, "logits_bytes": 128},
    ]
    _add_ratios(rows)
    assert rows[1]["options_time_ratio"] == 1.5
    assert rows[1]["options_peak_ratio"] == 1.5
    assert "options_time_ratio" not in rows[0]
    assert "+cap 30" in _label(rows[1])

"""Smoke test of the benchmark: ``python -m bench --quick`` runs, prints its table, writes JSON.

Timings are never asserted (they depend on the machine and on what else runs); only that
every case produced its numbers, that the errors against the float64 reference are small,
and that the peak memory was measured in fresh processes.
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
    assert "torch-compile" in impls  # listed, with the reason it did not run
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

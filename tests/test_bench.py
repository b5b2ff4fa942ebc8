"""Smoke tests of the benchmark, the installed module ``xent.bench``: ``python -m
xent.bench --quick`` runs from outside the checkout, prints its table, writes JSON;
``--impl`` keeps one implementation's cases; the package keeps its own rules.

Timings are never asserted (they depend on the machine and on what else runs); only that
every case produced its numbers, that the errors against the float64 reference are
small, and that the peak memory was measured in fresh processes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the benchmark compares against PyTorch")
PACKAGE = Path(__file__).resolve().parents[1] / "xent" / "bench"


def _bench(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m xent.bench ARGS`` in ``cwd``, a folder outside the checkout (the
    module must come from the installed package, not from the working directory)."""
    return subprocess.run(
        [sys.executable, "-m", "xent.bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_quick_benchmark_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = _bench("--quick", "--json", str(out), cwd=tmp_path)
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
    from xent.bench import add_ratios, format_table

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
    add_ratios(rows)
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


def test_a_ratio_timed_alternately_is_the_one_the_table_shows(monkeypatch):
    """``interleaved_ratio`` alternates the two functions' runs (on a fake clock that
    each call advances by its own cost) and ``add_ratios`` prefers its result to the
    ratio of two rows timed apart."""
    from xent.bench import add_ratios, measure

    clock = [0.0]
    calls: list[str] = []
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock[0])

    def costing(name, seconds):
        def run():
            calls.append(name)
            clock[0] += seconds

        return run

    ratio = measure.interleaved_ratio(costing("a", 3.0), costing("b", 2.0), repeats=5)
    assert ratio == 1.5
    assert calls[6:] == ["a", "b"] * 5  # after three warm-up pairs, alternating
    with pytest.raises(ValueError, match="repeats"):
        measure.interleaved_ratio(costing("a", 1.0), costing("b", 1.0), repeats=0)

    base = {"kind": "ce", "mode": "fwdbwd", "n": 8, "c": 4}
    rows = [
        {**base, "impl": "torch-compile", "seconds": 2.0},
        {**base, "impl": "xent-compile", "seconds": 3.0, "paired_ratio": 0.9},
    ]
    add_ratios(rows)
    assert rows[1]["compiled_time_ratio"] == 0.9


def test_option_overhead_is_the_ratio_to_the_same_call_without_them():
    from xent.bench.report import add_ratios, label

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
    add_ratios(rows)
    assert rows[1]["options_time_ratio"] == 1.5
    assert rows[1]["options_peak_ratio"] == 1.5
    assert "options_time_ratio" not in rows[0]
    assert "+cap 30" in label(rows[1])


def test_one_implementation_from_outside_the_checkout(tmp_path):
    """``--impl xent-numpy --quick``: only that implementation's rows, each timed, with
    its error and peak; no parallel run; the progress lines on stderr."""
    out = tmp_path / "one.json"
    proc = _bench("--quick", "--impl", "xent-numpy", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["impl"] for r in rows] == ["xent-numpy", "xent-numpy"], rows
    for r in rows:
        assert r["seconds"] > 0 and r["max_error"] < 1e-6, r
        assert r["peak_bytes"] > 0 and r["peak_ratio"] > 0, r
    assert "running 2 cases" in proc.stderr
    assert proc.stderr.count("xent-numpy ") == 2 and "ranks)" not in proc.stdout


def test_the_command_line_explains_itself_and_rejects_bad_flags(tmp_path):
    helped = _bench("--help", cwd=tmp_path, timeout=60)
    assert helped.returncode == 0 and "python -m xent.bench" in helped.stdout
    assert "--impl NAME" in helped.stdout and "vocab-parallel" in helped.stdout
    for bad in (["--impl", "no-such-loss"], ["--repeats", "3"], ["--quick", "--full"]):
        proc = _bench(*bad, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2 and "error:" in proc.stderr, (bad, proc.stderr)


def test_bad_arguments_raise_value_errors_that_name_them():
    from xent import bench

    case = {"kind": "ce", "impl": "xent-numpy", "mode": "fwd", "n": 4, "c": 3}
    with pytest.raises(ValueError, match="`impl` of a ce case must be one of"):
        bench.build({**case, "impl": "chunked"})
    with pytest.raises(ValueError, match="`mode` of xent-numpy must be 'fwd'"):
        bench.build({**case, "mode": "fwdbwd"})
    with pytest.raises(ValueError, match="`kind` must be 'ce' or 'linear'"):
        bench.build({**case, "kind": "parallel"})
    with pytest.raises(ValueError, match="`impls` must name implementations"):
        bench.run(quick=True, impls=["no-such-loss"])
    with pytest.raises(ValueError, match="`repeats` must be at least 1"):
        bench.median_time(lambda: None, repeats=0)
    fn, nbytes = bench.build(case)  # the good case runs: a loss and no gradient
    loss, grads = fn()
    assert nbytes == 4 * 3 * 4 and grads is None
    assert bench.max_error(case, (loss, grads)) < 1e-6


def test_importing_the_benchmark_imports_no_framework():
    code = (
        "import sys, xent.bench; "
        "print(sorted({'torch', 'tensorflow'} & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def _private_imports(source: str) -> list[str]:
    """The names starting with ``_`` that ``source`` imports from xent modules (its
    own package's included), and the private xent modules it imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xent"):
            module = node.module or ""
            names = [a.name for a in node.names]
            if any(part.startswith("_") for part in module.split(".")):
                found.append(module)
            else:
                found += [f"{module}.{n}" for n in names if n.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [
                a.name
                for a in node.names
                if a.name.startswith("xent")
                and any(p.startswith("_") for p in a.name.split("."))
            ]
    return found


def test_the_benchmark_imports_nothing_private_from_the_rest_of_xent():
    modules = sorted(PACKAGE.glob("*.py"))
    assert {"__init__.py", "__main__.py", "worker.py"} <= {m.name for m in modules}
    for module in modules:
        assert _private_imports(module.read_text()) == [], module.name
    # The checker finds what it looks for.
    assert _private_imports("from xent._numpy_blocked import row_blocks") == [
        "xent._numpy_blocked"
    ]
    assert _private_imports("from xent.numpy import _compute") == [
        "xent.numpy._compute"
    ]
    assert _private_imports("import xent._checks") == ["xent._checks"]
    assert _private_imports("from xent.bench.cases import FRAMEWORK") == []
    assert _private_imports("from xent.bench.cases import _CE_PLAN") == [
        "xent.bench.cases._CE_PLAN"
    ]


def test_every_module_of_the_benchmark_is_small():
    sizes = {m.name: len(m.read_text().splitlines()) for m in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes

"""Every notebook runs top to bottom, as a reader would, with no network and no key.

Each notebook executes in a fresh kernel from its own folder, with W&B forced offline
into a temporary directory and no standard input (a prompt would fail, not hang).
Training notebooks must leave offline runs whose logged history (the JSONL copy that
``xent.tracking`` keeps) has the expected metrics and one entry per epoch, as listed in
``notebooks/expected_runs.json``; each run is then read back through W&B's own reader
(``wandb leet inspect``), whose history and summary must hold the same values
(``wandb_keys`` there maps a metric to the name another logger gave it in W&B). No
printed output names the machine's paths.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from _wandb_reader import assert_wandb_matches_history

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED_RUNS = json.loads((ROOT / "notebooks" / "expected_runs.json").read_text())
MAX_SECONDS = 90  # per notebook on 2 CPU cores; the issue asks for well under a minute


def execute(path: Path, wandb_dir: Path) -> tuple[float, str]:
    """Run the notebook; return its seconds and the text of its printed output."""
    nb = nbformat.read(path, as_version=4)
    env = {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(wandb_dir),
        "WANDB_SILENT": "true",
        "MPLBACKEND": "agg",
        "PYTHONHASHSEED": "0",
    }
    saved = {k: os.environ.get(k) for k in (*env, "WANDB_API_KEY")}
    os.environ.update(env)
    os.environ.pop("WANDB_API_KEY", None)
    try:
        client = nbclient.NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            allow_errors=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        printed = "\n".join(
            "".join(output.get("text", ""))
            for cell in nb.cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream"
        )
        return seconds, printed
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def histories(wandb_dir: Path) -> list[list[dict]]:
    runs = []
    for path in sorted(wandb_dir.rglob("history.jsonl")):
        runs.append(
            [json.loads(line) for line in path.read_text().splitlines() if line]
        )
    return runs


def test_every_notebook_is_listed():
    assert len(NOTEBOOKS) >= 9
    assert set(EXPECTED_RUNS) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    seconds, printed = execute(path, tmp_path)
    assert seconds < MAX_SECONDS, f"{path.name} took {seconds:.0f} s"
    home = [Path.home()] if len(Path.home().parts) > 1 else []  # HOME=/ names nothing
    for machine_path in map(str, (tmp_path, ROOT, *home)):
        assert machine_path not in printed, f"{path.name} prints {machine_path}"
    expected = EXPECTED_RUNS.get(path.stem)
    runs = histories(tmp_path)
    if expected is None:
        return
    assert len(runs) == expected["runs"], f"{path.name} logged {len(runs)} runs"
    for history in runs:
        epochs = [row for row in history if "epoch" in row]
        assert len(epochs) == expected["epochs"], path.name
        for row in epochs:
            missing = set(expected["keys"]) - set(row)
            assert not missing, f"{path.name}: {missing} not logged"
    offline = sorted(p.parent for p in tmp_path.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(offline) == expected["runs"], f"{path.name} left no offline W&B run"
    for run_dir in offline:  # what W&B stored, read back by W&B, against the JSONL
        summary = assert_wandb_matches_history(run_dir, expected.get("wandb_keys"))
        assert summary["project"] == expected["project"], path.name

"""Read an offline run back through W&B's own reader, and hold it to ``history.jsonl``.

W&B 0.31 stores a run as a ``.wandb`` transaction log and reads it with
``wandb leet inspect``: ``--json`` prints every record, ``--summary --json`` the run's
state, config and summary as W&B computes them. These helpers call that command, so the
tests see what ``wandb sync`` would upload, not the project's own JSONL copy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _leet_inspect(run_dir: Path, *flags: str, cli: bool = False) -> str:
    """``wandb leet inspect FLAGS RUN_DIR``, through the CLI or straight to wandb-core.

    The CLI only finds the run's ``.wandb`` file and hands it to the ``wandb-core``
    binary; calling that binary with the same arguments reads the same records without
    two seconds of Python start-up per call. ``cli=True`` goes through the CLI.
    """
    if importlib.util.find_spec("wandb") is None:
        pytest.skip("wandb is not installed: no reader for its run files")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    # offline: the reader uploads no telemetry of its own
    env.update(WANDB_MODE="offline", WANDB_ERROR_REPORTING="false", WANDB_SILENT="true")
    if cli:
        command = [
            sys.executable,
            "-m",
            "wandb",
            "leet",
            "inspect",
            *flags,
            str(run_dir),
        ]
    else:
        (log,) = run_dir.glob("run-*.wandb")
        core = (
            Path(importlib.util.find_spec("wandb").origin).parent / "bin" / "wandb-core"
        )
        command = [str(core), "leet", "inspect", "--no-observability", *flags]
        command += ["--run-file", str(log), str(run_dir.parent)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wandb_summary(run_dir: Path, *, cli: bool = False) -> dict[str, Any]:
    """``wandb leet inspect --summary --json``: state, exit code, config, summary."""
    return json.loads(_leet_inspect(run_dir, "--summary", "--json", cli=cli))


def wandb_history(run_dir: Path, *, cli: bool = False) -> list[dict[str, Any]]:
    """The items of the run's history records, in order, as ``wandb leet`` prints
    them."""
    out = _leet_inspect(run_dir, "--json", cli=cli)
    records = [json.loads(line) for line in out.splitlines()]
    return [r["history"]["item"] for r in records if r.get("type") == "history"]


def assert_wandb_matches_history(
    run_dir: Path, keys: dict[str, str] | None = None, *, state: str = "finished"
) -> dict[str, Any]:
    """W&B's history and summary of ``run_dir`` hold what ``history.jsonl`` holds.

    ``keys`` maps a JSONL metric to the name W&B stored it under, for runs logged to W&B
    by another caller (Keras's ``WandbMetricsLogger`` writes ``epoch/loss`` for
    ``train_loss``); None means the same names. Returns W&B's summary object.
    """
    rows = [
        json.loads(line)
        for line in (run_dir / "history.jsonl").read_text().splitlines()
        if line
    ]
    meta = json.loads((run_dir / "run.json").read_text())
    items = wandb_history(run_dir)
    assert len(items) == len(rows), f"{run_dir.name}: W&B has {len(items)} rows"
    for row, item in zip(rows, items, strict=True):
        assert item["_step"] == row["_step"], run_dir.name
        for name, value in row.items():
            if name == "_step" or (keys is not None and name not in keys):
                continue
            stored = item[keys[name] if keys else name]
            assert stored == pytest.approx(value, rel=1e-12, nan_ok=True), name
    summary = wandb_summary(run_dir)
    assert summary["state"] == state, run_dir.name
    assert summary["project"] == meta["project"]
    assert summary["name"] == (meta["name"] or summary["name"])
    assert summary["config"] == json.loads((run_dir / "config.json").read_text())
    latest: dict[str, Any] = {}  # W&B's summary keeps each metric's last value
    for row in rows:
        latest.update(row)
    for name, value in latest.items():
        if name == "_step" or (keys is not None and name not in keys):
            continue
        stored = summary["summary"][keys[name] if keys else name]
        assert stored == pytest.approx(value, rel=1e-12, nan_ok=True), name
    return summary

"""xent.tracking: mode choice, no prompts, where runs go, what it prints, the history.

The faults (an unreachable server, a rejected key, bad settings, interrupted runs) are
in ``test_tracking_faults.py``.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _wandb_reader import assert_wandb_matches_history

from xent import tracking
from xent.tracking import _settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    """No W&B key anywhere: empty HOME, no WANDB_* variables, no netrc, not in Colab."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("WANDB_API_KEY", "WANDB_MODE", "NETRC", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return home


def test_start_run_without_key_never_blocks_and_runs_offline(tmp_path):
    runs = tmp_path / "runs"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WANDB_") and k != "NETRC"
    }
    env.update(HOME=str(tmp_path), WANDB_DIR=str(runs), PYTHONPATH=str(REPO))
    script = textwrap.dedent(
        """
        import json
        from xent import tracking
        with tracking.start_run("nokey", {"lr": 0.1}, name="probe") as run:
            for epoch in range(3):
                run.log({"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
        print(json.dumps({"mode": run.mode, "dir": str(run.dir),
                          "history": tracking.read_history(run)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,  # a prompt would read EOF and fail, not hang
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    result = json.loads(last)
    # one line, with the run's name and mode and no path of this machine; W&B's own
    # console lines ("saved in /...", "wandb sync /...") are silenced
    assert printed == ["Run nokey/probe: W&B offline, kept in ~/runs/wandb"]  # HOME=tmp
    assert done.stderr == ""
    assert result["mode"] == "offline"
    run_dir = Path(result["dir"])
    assert run_dir.parent == runs / "wandb" and run_dir.name.startswith("offline-run-")
    assert list(run_dir.glob("run-*.wandb")), "W&B wrote no offline run file"
    assert [row["_step"] for row in result["history"]] == [0, 1, 2]
    assert result["history"][2]["train_loss"] == pytest.approx(1 / 3)
    assert json.loads((run_dir / "config.json").read_text()) == {"lr": 0.1}
    assert json.loads((run_dir / "run.json").read_text())["project"] == "nokey"
    assert tracking.find_runs("nokey", root=runs) == [run_dir]
    assert json.loads((run_dir / "run.json").read_text())["state"] == "finished"
    assert_wandb_matches_history(run_dir)  # what W&B stored, read back by W&B


def test_no_key_means_offline(no_key):
    assert not tracking.api_key_available()
    assert tracking.choose_mode() == "offline"


def test_key_in_environment_means_online(no_key, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.choose_mode() == "online"


def test_key_in_netrc_means_online(no_key):
    (no_key / ".netrc").write_text(
        "machine api.wandb.ai\n  login user\n  password " + "k" * 40
    )
    os.chmod(no_key / ".netrc", 0o600)
    assert tracking.api_key_available()
    assert tracking.choose_mode() == "online"


def test_netrc_for_another_host_is_no_key(no_key):
    (no_key / ".netrc").write_text("machine example.com login user password secret\n")
    os.chmod(no_key / ".netrc", 0o600)
    assert tracking.choose_mode() == "offline"


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("offline", "offline"),
        ("disabled", "disabled"),
        ("dryrun", "offline"),
        ("ONLINE", "online"),
    ],
)
def test_wandb_mode_overrides_key_detection(no_key, monkeypatch, value, mode):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", value)
    assert tracking.choose_mode() == mode


def test_unknown_wandb_mode_is_an_error(no_key, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(ValueError, match="WANDB_MODE"):
        tracking.choose_mode()


def test_runs_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    assert tracking.runs_dir() == tmp_path.resolve()
    monkeypatch.delenv("WANDB_DIR")
    assert tracking.runs_dir() == REPO / "_build" / "wandb"  # inside this repository


def test_disabled_run_writes_jsonl_and_config(tmp_path):
    with tracking.start_run(
        "p", {"lr": np.float32(0.5)}, dir=tmp_path, mode="disabled"
    ) as run:
        assert run.wandb is None and run.mode == "disabled"
        run.log({"loss": np.float64(2.0), "n": np.int64(3)})
        run.log({"loss": 1.0}, step=5)
        run.log({"extra": 7})
    assert run.dir.parent == tmp_path / "wandb"
    assert tracking.read_history(run.dir) == [
        {"_step": 0, "loss": 2.0, "n": 3},
        {"_step": 5, "loss": 1.0},
        {"_step": 6, "extra": 7},
    ]
    assert tracking.read_history(run.history_path) == tracking.read_history(run)
    assert json.loads((run.dir / "config.json").read_text()) == {"lr": 0.5}
    with pytest.raises(RuntimeError, match="finished"):
        run.log({"loss": 0.0})


def test_without_wandb_installed_runs_are_disabled(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    run = tracking.start_run("p", {}, dir=tmp_path, mode="offline")
    run.log({"loss": 1.0})
    run.finish()
    assert run.mode == "disabled" and run.wandb is None
    assert tracking.read_history(run) == [{"_step": 0, "loss": 1.0}]


def test_find_runs_filters_by_project_in_start_order(tmp_path):
    a = tracking.start_run("a", dir=tmp_path, mode="disabled")
    b = tracking.start_run("b", dir=tmp_path, mode="disabled")
    a2 = tracking.start_run("a", dir=tmp_path, mode="disabled")
    for run in (a, b, a2):
        run.finish()
    assert tracking.find_runs("a", root=tmp_path) == [a.dir, a2.dir]
    assert len(tracking.find_runs(root=tmp_path)) == 3


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda d: tracking.start_run("", dir=d, mode="disabled"), "project"),
        (lambda d: tracking.start_run("p", [1], dir=d, mode="disabled"), "config"),
        (lambda d: tracking.start_run("p", dir=d, mode="cloud"), "mode"),
        (lambda d: tracking.start_run("p", dir=d, mode="disabled", name=""), "name"),
        (lambda d: tracking.read_history(d / "missing"), "run_or_path"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(tmp_path)


def test_bad_log_calls(tmp_path):
    with tracking.start_run("p", dir=tmp_path, mode="disabled") as run:
        run.log({"a": 1}, step=3)
        with pytest.raises(ValueError, match="step must be an integer >= 3; got 1"):
            run.log({"a": 1}, step=1)
        with pytest.raises(ValueError, match="step must be an integer"):
            run.log({"a": 1}, step=True)  # a flag, not a step
        run.log({"b": 2}, step=np.int64(3))  # the last step again adds to its row
        with pytest.raises(ValueError, match="metrics"):
            run.log({1: 2.0})
    assert tracking.read_history(run) == [{"_step": 3, "a": 1}, {"_step": 3, "b": 2}]


def test_where_runs_went_is_shown_relative_to_the_book_or_home(monkeypatch, tmp_path):
    """Printed output is part of the book: no absolute path, user name or temp dir."""
    shown = _settings.shown
    assert shown(REPO / "_build" / "wandb" / "wandb", "x") == "_build/wandb/wandb"
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".cache" / "xent" / "wandb" / "wandb"
    assert shown(cache, "the runs directory") == "~/.cache/xent/wandb/wandb"
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert shown(cache, "WANDB_DIR") == "$WANDB_DIR/wandb"
    assert shown(cache, "dir") == "<dir>/wandb"


def test_disabled_run_prints_name_and_mode_only(tmp_path, capsys):
    with tracking.start_run("p", dir=tmp_path, mode="disabled", name="quiet") as run:
        run.log({"loss": 1.0})
    out, err = capsys.readouterr()
    assert out == "Run p/quiet: W&B disabled, history kept in <dir>/wandb\n"
    assert err == "" and str(tmp_path) not in out


def test_finished_run_records_its_state(tmp_path):
    run = tracking.start_run("p", dir=tmp_path, mode="disabled")
    assert json.loads((run.dir / "run.json").read_text())["state"] == "running"
    run.finish(exit_code=1)
    meta = json.loads((run.dir / "run.json").read_text())
    assert (run.state, meta["state"], meta["exit_code"]) == ("failed", "failed", 1)
    assert not list(run.dir.glob("*.partial"))  # written whole, then renamed


def test_a_run_left_open_is_finished_by_the_next_start(tmp_path):
    first = tracking.start_run("p", dir=tmp_path, mode="disabled")
    first.log({"loss": 1.0})
    with tracking.start_run("p", dir=tmp_path, mode="disabled") as second:
        assert first.finished and first.state == "finished"
        second.log({"loss": 0.5})
    assert tracking.read_history(first) == [{"_step": 0, "loss": 1.0}]


def test_the_runs_page_shows_real_commands_and_the_printed_line():
    """``runs.md`` shows how to browse and upload runs: with commands and options the
    installed ``wandb`` has, the line a run really prints, and no typed decimal."""
    page = (REPO / "runs.md").read_text()
    cli = pytest.importorskip("wandb.cli.cli").cli

    def options(command) -> set[str]:
        return {o for p in command.params for o in p.opts}

    assert {"--summary", "--json"} <= options(cli.commands["leet"].commands["inspect"])
    assert (
        "wandb leet inspect --summary" in page and "wandb leet inspect --json" in page
    )
    assert (
        "--dry-run" in options(cli.commands["sync"]) and "wandb sync --dry-run" in page
    )
    notebook = (REPO / "notebooks" / "05-pytorch-classifier.ipynb").read_text()
    assert 'name=\\"binary-head\\"' in notebook
    assert 'PROJECT = \\"xent-05-pytorch-classifier\\"' in notebook
    folder = _settings.shown(REPO / "_build" / "wandb" / "wandb", "the runs directory")
    line = f"Run xent-05-pytorch-classifier/binary-head: W&B offline, kept in {folder}"
    assert line in page and f"wandb sync {folder}/offline-run-*" in page
    assert "tracking.PROBE_TIMEOUT" in page and tracking.PROBE_TIMEOUT > 0
    assert re.findall(r"(?<![\w.])\d+\.\d+(?![\d.])", page) == []

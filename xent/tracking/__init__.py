"""Weights & Biases without surprises: runs that never prompt, never stall, and always
leave a plain log.

:func:`start_run` chooses the W&B mode once, from what it can see:

1. ``WANDB_MODE`` when it is set (``online``, ``offline`` or ``disabled``);
2. ``online`` when an API key is available: the ``WANDB_API_KEY`` environment
   variable, an entry for W&B's host in the netrc file that ``wandb login`` writes, or a
   Colab secret named ``WANDB_API_KEY``;
3. ``offline`` otherwise: the run is written to disk, and ``wandb sync`` uploads it
   later.

It never reads from the keyboard, and it never waits long for a server. Before the first
online run of a process it asks the W&B server who the key belongs to, waiting at most
:data:`PROBE_TIMEOUT` seconds. A server that refuses the connection, does not answer, or
rejects the key is reported in one line, and that run and every later one in the same
process are written offline at once, ready for ``wandb sync``.

Every run is written under one directory, outside the source tree (see
:func:`runs_dir`), and every run also keeps a plain JSON-lines copy of what it logged,
``history.jsonl``, one object per :meth:`Run.log` call, so that tests and plots read the
history back with :func:`read_history`, without the network or W&B's file format. If
``wandb`` is not installed, runs still work, with mode ``"disabled"`` and the JSONL.

Importing this module imports neither ``wandb`` nor a deep-learning framework.

The package holds one idea per module: ``_settings`` (where runs go, the API key, the
mode), ``_probe`` (asking the server once), ``_run`` (the run and reading runs back),
and here :func:`start_run`, which puts them together. Set :data:`PROBE_TIMEOUT` and
:data:`INIT_TIMEOUT` on this module; :func:`start_run` reads them at each start.
"""

from __future__ import annotations

import importlib
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xent.tracking import _probe
from xent.tracking._run import Run, find_runs, finish_open_run, opened, read_history
from xent.tracking._settings import (
    Mode,
    StrPath,
    api_key_available,
    as_mode,
    base_url,
    choose_mode,
    colab_key,
    runs_dir,
    usable_root,
)

__all__ = [
    "Run",
    "start_run",
    "choose_mode",
    "api_key_available",
    "runs_dir",
    "read_history",
    "find_runs",
    "PROBE_TIMEOUT",
    "INIT_TIMEOUT",
]

PROBE_TIMEOUT = 5.0
"""Seconds the first online start waits for the W&B server to answer before going
offline."""

INIT_TIMEOUT = 30.0
"""Seconds ``wandb.init`` may take online once the server has answered (W&B's default is
90)."""


def _wandb() -> Any:
    """The ``wandb`` module, or None when it is not installed."""
    try:
        return importlib.import_module("wandb")
    except ImportError:
        return None


def _text(name: str, value: object) -> str:
    """A non-empty string (a project, a run's name, group or job type)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value


def _optional_text(name: str, value: object) -> str | None:
    """None, or a non-empty string."""
    return None if value is None else _text(name, value)


def start_run(
    project: str,
    config: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    dir: StrPath | None = None,
    mode: str | None = None,
) -> Run:
    """Start a run in the mode :func:`choose_mode` picks (or ``mode``); never prompts.

    ``config`` (the hyperparameters) is saved with the run, in W&B and as
    ``config.json``. The run is written under ``dir`` (default :func:`runs_dir`): W&B's
    files in ``dir/wandb/offline-run-...`` (or ``run-...``), and ``history.jsonl``,
    ``config.json`` and ``run.json`` (project, name, mode, state) in that same folder.
    A run still open from an earlier call is finished first.

    Online, the first start of the process asks the server once (at most
    :data:`PROBE_TIMEOUT` seconds); when it refuses, does not answer, or rejects the
    key, or when no key is found, one line says so and this run and all later ones in
    the process go offline at once. A ``wandb.init`` that still fails online (it may
    take :data:`INIT_TIMEOUT` seconds) falls back the same way. The printed lines name
    the run and its mode, and where it went relative to the book or ``~``, never an
    absolute path.

    Raises ``ValueError`` for an empty ``project``, a ``config`` that is not a mapping,
    an unknown ``mode`` or ``WANDB_MODE``, or a ``dir`` or ``WANDB_DIR`` that cannot
    hold runs, all before a run starts.

    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> with start_run("doc", {"lr": 0.1}, dir=tmp, mode="disabled") as run:
    ...     run.log({"train_loss": 0.5})
    Run doc/...: W&B disabled, history kept in <dir>/wandb
    >>> read_history(run)
    [{'_step': 0, 'train_loss': 0.5}]
    """
    project = _text("project", project)
    name = _optional_text("name", name)
    group = _optional_text("group", group)
    job_type = _optional_text("job_type", job_type)
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ValueError(
            f"config must be a mapping (a dict of hyperparameters); got {config!r}"
        )
    hyperparameters = dict(config)
    chosen: Mode
    if mode is None:
        chosen, mode_from = choose_mode(), "WANDB_MODE"
    else:
        chosen, mode_from = as_mode("mode", mode, mode), "mode"
    root, folder = usable_root(dir)
    finish_open_run()
    wandb = _wandb()

    def new_run(mode: Mode, run_dir: Path, wandb_run: Any = None) -> Run:
        return opened(
            Run(
                project,
                hyperparameters,
                mode=mode,
                run_dir=run_dir,
                wandb_run=wandb_run,
                name=name,
                group=group,
                job_type=job_type,
            )
        )

    if wandb is None or chosen == "disabled":
        run_id = secrets.token_hex(4)
        stamp = time.strftime("%Y%m%d_%H%M%S")
        run = new_run("disabled", root / "wandb" / f"disabled-run-{stamp}-{run_id}")
        print(f"Run {project}/{name or run_id}: W&B disabled, history kept in {folder}")
        return run

    if chosen == "online":
        problem = _probe.online_problem(mode_from, PROBE_TIMEOUT)
        if problem is not None:
            _probe.say_offline(problem, folder)
            chosen = "offline"
    if wandb.run is not None:  # wandb.log and WandbMetricsLogger use the one active run
        wandb.run.finish()

    def init(mode: Mode, **settings: Any) -> Any:
        """``wandb.init`` of this run; W&B prints nothing of its own."""
        return wandb.init(
            project=project,
            config=hyperparameters,
            name=name,
            group=group,
            job_type=job_type,
            dir=str(root),
            mode=mode,
            settings=wandb.Settings(silent=True, **settings),
        )

    settings: dict[str, Any] = {}
    if chosen == "online":
        settings["init_timeout"] = INIT_TIMEOUT
        key = None if os.environ.get("WANDB_API_KEY") else colab_key()
        if key:
            settings["api_key"] = key
    try:
        wandb_run = init(chosen, **settings)
    except Exception as error:
        if chosen != "online":
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        problem = f"W&B at {base_url()} could not start a run ({first_line})"
        _probe.server_failed(problem)
        _probe.say_offline(problem, folder)
        chosen = "offline"
        wandb_run = init("offline")
    run = new_run(chosen, Path(wandb_run.settings.sync_dir), wandb_run)
    label = name or getattr(wandb_run, "name", None) or wandb_run.id
    where = wandb_run.url if chosen == "online" else f"kept in {folder}"
    print(f"Run {project}/{label}: W&B {chosen}, {where}")
    return run

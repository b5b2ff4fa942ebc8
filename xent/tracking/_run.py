"""The run: what one training run logs, to W&B and to a plain ``history.jsonl``; and
reading runs back without W&B.

Private to :mod:`xent.tracking`, which re-exports :class:`Run`, :func:`read_history` and
:func:`find_runs`. The run started last and not yet finished is remembered here, so that
the next start, or the end of the process, closes it.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xent import _checks
from xent.tracking._settings import Mode, StrPath, runs_dir

_open: Run | None = None  # the run started last and not yet finished


def _plain(value: Any) -> Any:
    """A JSON-ready scalar from a Python number, NumPy scalar, or one-element tensor."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "numpy") and not hasattr(value, "item"):  # TensorFlow tensors
        value = value.numpy()
    if hasattr(value, "item"):  # NumPy scalars and arrays, torch tensors
        return _plain(value.item())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _write_json(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` whole or not at all (a new file, then a rename)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(partial, path)


class Run:
    """One training run: logs to W&B (unless disabled) and to ``history.jsonl``.

    Made by :func:`start_run`; use it as a context manager, or call :meth:`finish`.
    Attributes: ``project``, ``name``, ``mode`` (``"online"``, ``"offline"`` or
    ``"disabled"``), ``dir`` (the run's directory), ``history_path``, ``config`` (a
    dict), ``state`` (``"running"``, then ``"finished"`` or ``"failed"``) and ``wandb``
    (the ``wandb`` run object, or None when W&B is disabled or not installed).

    Every :meth:`log` call is on disk when it returns, so a run interrupted by an
    exception or ``KeyboardInterrupt`` keeps every row logged before it; leaving the
    ``with`` block by an exception marks the run ``"failed"``, in ``run.json`` and in
    W&B.
    """

    def __init__(
        self,
        project: str,
        config: dict[str, Any],
        *,
        mode: Mode,
        run_dir: Path,
        wandb_run: Any = None,
        name: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
    ) -> None:
        self.project = project
        self.config = config
        self.mode = mode
        self.dir = run_dir
        self.wandb = wandb_run
        self.name = name
        self.history_path = run_dir / "history.jsonl"
        self.finished = False
        self.state = "running"
        self._step = 0
        run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path.write_text("")
        self._meta: dict[str, Any] = {
            "project": project,
            "name": name,
            "group": group,
            "job_type": job_type,
            "mode": mode,
            "id": getattr(wandb_run, "id", None) or run_dir.name.rsplit("-", 1)[-1],
            "started": time.time(),
            "state": self.state,
        }
        _write_json(run_dir / "config.json", _plain(config))
        _write_json(run_dir / "run.json", self._meta)

    def log(
        self,
        metrics: Mapping[str, Any],
        step: int | None = None,
        *,
        to_wandb: bool = True,
    ) -> None:
        """Record ``metrics`` (name -> number) at ``step`` (default: one more than the
        last).

        Appends ``{"_step": step, **metrics}`` to ``history.jsonl`` (one line, written
        whole, before W&B sees it) and, unless ``to_wandb`` is False or W&B is off,
        calls ``wandb.log``. Values may be Python or NumPy numbers or one-element
        tensors. Raises ``ValueError`` for a step below the last one or a metric name
        that is not a string, and ``RuntimeError`` after :meth:`finish`.
        """
        if self.finished:
            raise RuntimeError(
                f"run {self.name or self.dir.name} is finished; start a new one"
            )
        if not isinstance(metrics, Mapping) or not all(
            isinstance(k, str) for k in metrics
        ):
            raise ValueError(
                "metrics must be a mapping from metric names (str) to numbers; got "
                f"{metrics!r}"
            )
        if step is None:
            step = self._step
        else:  # the last step again may add metrics to its row, as in W&B
            step = _checks.integer("step", step, minimum=max(self._step - 1, 0))
        row = {"_step": step, **{k: _plain(v) for k, v in metrics.items()}}
        line = json.dumps(row, allow_nan=True) + "\n"
        with self.history_path.open("a") as f:
            f.write(line)
        self._step = step + 1
        if to_wandb and self.wandb is not None:
            self.wandb.log({k: v for k, v in row.items() if k != "_step"}, step=step)

    def finish(self, *, exit_code: int = 0) -> None:
        """Close the run: ``"finished"`` for ``exit_code`` 0, else ``"failed"``.

        W&B writes its last records; ``run.json`` records the state. Calling it twice
        does nothing.
        """
        global _open
        if self.finished:
            return
        self.finished = True
        self.state = "finished" if exit_code == 0 else "failed"
        if _open is self:
            _open = None
        try:
            if self.wandb is not None:
                self.wandb.finish(exit_code=exit_code)
        finally:
            self._meta.update(state=self.state, exit_code=exit_code, ended=time.time())
            _write_json(self.dir / "run.json", self._meta)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.finish()
        else:  # W&B's own code for an interrupted process is 255
            self.finish(exit_code=255 if issubclass(exc_type, KeyboardInterrupt) else 1)

    def __repr__(self) -> str:
        return (
            f"Run(project={self.project!r}, mode={self.mode!r}, dir={str(self.dir)!r})"
        )


def opened(run: Run) -> Run:
    """Remember ``run`` as the open one, which the next start or the process's end
    closes."""
    global _open
    _open = run
    return run


def finish_open_run() -> None:
    """Finish the run left open, e.g. by an interrupted cell without ``with``."""
    if _open is not None:
        _open.finish()


def _finish_at_exit() -> None:
    """Record the state of a run left open when the process ends.

    W&B's own exit hook closes its run (it may already have done so, and its connection
    may be gone), so only ``run.json`` is written here.
    """
    if _open is not None:
        _open.wandb = None
        _open.finish()


atexit.register(_finish_at_exit)


def read_history(run_or_path: Run | StrPath) -> list[dict[str, Any]]:
    """The logged rows of a run, in order: one dict per :meth:`Run.log` call, with
    ``_step``.

    Accepts a :class:`Run`, a run's directory or its ``history.jsonl``. Raises
    ``ValueError`` when there is no such history.
    """
    path = (
        run_or_path.history_path if isinstance(run_or_path, Run) else Path(run_or_path)
    )
    if path.is_dir():
        path = path / "history.jsonl"
    if not path.is_file():
        raise ValueError(
            "run_or_path must be a run, its directory or its history.jsonl; got "
            f"{str(path)!r}, which is not a file"
        )
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def find_runs(project: str | None = None, *, root: StrPath | None = None) -> list[Path]:
    """Directories of the runs under ``root`` (default :func:`runs_dir`), oldest first.

    With ``project``, only the runs of that project.

    >>> import tempfile
    >>> from xent.tracking import start_run
    >>> root = tempfile.mkdtemp()
    >>> with start_run("doc", dir=root, mode="disabled") as run:
    ...     run.log({"train_loss": 0.5})
    Run doc/...: W&B disabled, history kept in <dir>/wandb
    >>> find_runs("doc", root=root) == [run.dir]
    True
    >>> find_runs("another-project", root=root)
    []
    """
    base = (Path(root) if root is not None else runs_dir()) / "wandb"
    found = []
    for meta_path in base.glob("*/run.json"):
        if meta_path.parent.is_symlink():  # W&B's "latest-run" links to a listed run
            continue
        meta = json.loads(meta_path.read_text())
        if project is None or meta.get("project") == project:
            found.append((meta.get("started", math.inf), meta_path.parent))
    return [path for _, path in sorted(found)]

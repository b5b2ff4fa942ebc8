"""Weights & Biases without surprises: a run that never prompts and always leaves a plain log.

:func:`start_run` chooses the W&B mode once, from what it can see:

1. ``WANDB_MODE`` when it is set (``online``, ``offline`` or ``disabled``);
2. ``online`` when an API key is available: the ``WANDB_API_KEY`` environment variable, an
   entry for ``api.wandb.ai`` in the netrc file that ``wandb login`` writes, or a Colab secret
   named ``WANDB_API_KEY``;
3. ``offline`` otherwise: the run is written to disk, and ``wandb sync`` uploads it later.

It never reads from the keyboard. Every run is written under one directory, outside the
source tree (see :func:`runs_dir`), and every run also keeps a plain JSON-lines copy of what it
logged, ``history.jsonl``, one object per :meth:`Run.log` call, so that tests and plots read
the history back with :func:`read_history`, without the network or W&B's file format.
If ``wandb`` is not installed, runs still work, with mode ``"disabled"`` and only the JSONL.

Importing this module imports neither ``wandb`` nor a deep-learning framework.
"""

from __future__ import annotations

import json
import math
import netrc
import os
import secrets
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = [
    "Run",
    "start_run",
    "choose_mode",
    "api_key_available",
    "runs_dir",
    "read_history",
    "find_runs",
]

MODES = ("online", "offline", "disabled")
_ALIASES = {"dryrun": "offline", "run": "online"}  # older spellings W&B still accepts

# ---------------------------------------------------------------------------------------------
# Where runs go, and which mode they use
# ---------------------------------------------------------------------------------------------


def _repository_root() -> Path | None:
    """This book's repository, when ``xent`` is imported from a checkout of it."""
    root = Path(__file__).resolve().parent.parent
    if (root / "_toc.yml").is_file() and (root / "xent" / "__init__.py").is_file():
        return root
    return None


def runs_dir() -> Path:
    """The directory that holds every run: W&B writes its files under ``runs_dir() / "wandb"``.

    ``WANDB_DIR`` when set; else ``_build/wandb`` in this repository when ``xent`` runs from a
    checkout of it (the build folder is ignored by git); else a per-user cache directory,
    ``$XDG_CACHE_HOME/xent/wandb`` (by default ``~/.cache/xent/wandb``).

    >>> runs_dir().is_absolute()
    True
    """
    if os.environ.get("WANDB_DIR"):
        return Path(os.environ["WANDB_DIR"]).expanduser().resolve()
    root = _repository_root()
    if root is not None:
        return root / "_build" / "wandb"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser().resolve() / "xent" / "wandb"


def _netrc_has_key() -> bool:
    """True when the netrc file (``$NETRC`` or ``~/.netrc``) has a password for W&B's host."""
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        entry = netrc.netrc(str(path)).authenticators(host or "api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def _colab_key() -> str | None:
    """The Colab secret ``WANDB_API_KEY``, in Colab only; None when absent or not shared."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import userdata  # type: ignore[import-not-found]

        return userdata.get("WANDB_API_KEY") or None
    except Exception:  # not granted to this notebook, or no such secret
        return None


def api_key_available() -> bool:
    """Whether W&B can log in without asking: a key in the environment, netrc or Colab.

    >>> isinstance(api_key_available(), bool)
    True
    """
    return (
        bool(os.environ.get("WANDB_API_KEY"))
        or _netrc_has_key()
        or _colab_key() is not None
    )


def choose_mode() -> str:
    """The mode :func:`start_run` uses: ``WANDB_MODE`` if set, online with a key, else offline.

    Raises ``ValueError`` when ``WANDB_MODE`` holds something W&B does not know.

    >>> choose_mode() in ("online", "offline", "disabled")
    True
    """
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        mode = _ALIASES.get(mode, mode)
        if mode not in MODES:
            raise ValueError(
                f"WANDB_MODE must be one of 'online', 'offline' or 'disabled'; got "
                f"{os.environ['WANDB_MODE']!r}"
            )
        return mode
    return "online" if api_key_available() else "offline"


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


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


class Run:
    """One training run: logs to W&B (unless disabled) and to ``history.jsonl``.

    Made by :func:`start_run`; use it as a context manager, or call :meth:`finish`.
    Attributes: ``project``, ``name``, ``mode`` (``"online"``, ``"offline"`` or
    ``"disabled"``), ``dir`` (the run's directory), ``history_path``, ``config`` (a dict) and
    ``wandb`` (the ``wandb`` run object, or None when W&B is disabled or not installed).
    """

    def __init__(
        self,
        project: str,
        config: dict[str, Any],
        *,
        mode: str,
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
        self._step = 0
        run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path.write_text("")
        meta = {
            "project": project,
            "name": name,
            "group": group,
            "job_type": job_type,
            "mode": mode,
            "id": getattr(wandb_run, "id", None) or run_dir.name,
            "started": time.time(),
        }
        (run_dir / "config.json").write_text(
            json.dumps(_plain(config), indent=2) + "\n"
        )
        (run_dir / "run.json").write_text(json.dumps(meta, indent=2) + "\n")

    def log(
        self,
        metrics: Mapping[str, Any],
        step: int | None = None,
        *,
        to_wandb: bool = True,
    ):
        """Record ``metrics`` (name -> number) at ``step`` (default: one more than the last).

        Appends ``{"_step": step, **metrics}`` to ``history.jsonl`` and, unless ``to_wandb``
        is False or W&B is off, calls ``wandb.log``. Values may be Python or NumPy numbers or
        one-element tensors. Raises ``ValueError`` for a step below the last one or a metric
        name that is not a string, and ``RuntimeError`` after :meth:`finish`.
        """
        if self.finished:
            raise RuntimeError(
                f"run {self.name or self.dir.name} is finished; start a new one"
            )
        if not isinstance(metrics, Mapping) or not all(
            isinstance(k, str) for k in metrics
        ):
            raise ValueError(
                "metrics must be a mapping from metric names (str) to numbers"
            )
        if step is None:
            step = self._step
        elif (
            isinstance(step, bool)
            or not isinstance(step, int)
            or step < max(self._step - 1, 0)
        ):
            raise ValueError(
                f"step must be an integer >= {max(self._step - 1, 0)}; got {step!r}"
            )
        row = {"_step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.history_path.open("a") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")
        if to_wandb and self.wandb is not None:
            self.wandb.log({k: v for k, v in row.items() if k != "_step"}, step=step)
        self._step = step + 1

    def finish(self) -> None:
        """Close the run (W&B writes its last records). Calling it twice does nothing."""
        if not self.finished:
            self.finished = True
            if self.wandb is not None:
                self.wandb.finish()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def __repr__(self) -> str:
        return (
            f"Run(project={self.project!r}, mode={self.mode!r}, dir={str(self.dir)!r})"
        )


def _check_name(name: str, value: object, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value


def start_run(
    project: str,
    config: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    dir: str | os.PathLike | None = None,
    mode: str | None = None,
) -> Run:
    """Start a run in the mode :func:`choose_mode` picks (or ``mode``), without prompting.

    ``config`` (the hyperparameters) is saved with the run, in W&B and as ``config.json``.
    The run is written under ``dir`` (default :func:`runs_dir`): W&B's files in
    ``dir/wandb/offline-run-...`` (or ``run-...``), and ``history.jsonl``, ``config.json``
    and ``run.json`` (project, name, mode) in that same folder. An online start that fails
    (no network, bad key) falls back to offline with a warning instead of raising or hanging.
    Raises ``ValueError`` for an empty ``project``, a ``config`` that is not a mapping, or an
    unknown ``mode``.

    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> with start_run("doc", {"lr": 0.1}, dir=tmp, mode="disabled") as run:  # doctest: +ELLIPSIS
    ...     run.log({"train_loss": 0.5})
    Run doc/disabled-run-...: W&B disabled, history in .../history.jsonl
    >>> read_history(run)
    [{'_step': 0, 'train_loss': 0.5}]
    """
    project = _check_name("project", project, optional=False)
    name = _check_name("name", name, optional=True)
    group = _check_name("group", group, optional=True)
    job_type = _check_name("job_type", job_type, optional=True)
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ValueError(
            f"config must be a mapping (a dict of hyperparameters); got {config!r}"
        )
    config = dict(config)
    if mode is None:
        mode = choose_mode()
    elif mode not in MODES:
        raise ValueError(
            f"mode must be one of 'online', 'offline' or 'disabled'; got {mode!r}"
        )
    root = Path(dir).expanduser().resolve() if dir is not None else runs_dir()
    (root / "wandb").mkdir(parents=True, exist_ok=True)

    try:
        import wandb
    except ImportError:
        wandb = None
    if wandb is None or mode == "disabled":
        stamp = time.strftime("%Y%m%d_%H%M%S")
        run_dir = root / "wandb" / f"disabled-run-{stamp}-{secrets.token_hex(4)}"
        run = Run(
            project,
            config,
            mode="disabled",
            run_dir=run_dir,
            name=name,
            group=group,
            job_type=job_type,
        )
        print(
            f"Run {project}/{name or run_dir.name}: W&B disabled, history in {run.history_path}"
        )
        return run

    if mode == "online" and not api_key_available():
        warnings.warn(
            "WANDB_MODE is 'online' but no W&B API key was found (WANDB_API_KEY, `wandb login`, "
            "or a Colab secret): logging offline instead of asking for one.",
            stacklevel=2,
        )
        mode = "offline"
    if (
        wandb.run is not None
    ):  # wandb.log and WandbMetricsLogger talk to the one active run
        wandb.run.finish()
    wandb_run = _init_wandb(wandb, project, config, name, group, job_type, root, mode)
    if wandb_run is None:  # online start failed
        mode = "offline"
        wandb_run = _init_wandb(
            wandb, project, config, name, group, job_type, root, mode
        )
    run_dir = Path(wandb_run.settings.sync_dir)
    run = Run(
        project,
        config,
        mode=mode,
        run_dir=run_dir,
        wandb_run=wandb_run,
        name=name,
        group=group,
        job_type=job_type,
    )
    where = getattr(wandb_run, "url", None) if mode == "online" else None
    label = name or getattr(wandb_run, "name", None) or wandb_run.id
    print(f"Run {project}/{label}: W&B {mode}, " + (where or f"saved in {run_dir}"))
    return run


def _init_wandb(wandb, project, config, name, group, job_type, root, mode):
    """``wandb.init`` with settings that never ask for input; None if an online start fails."""
    settings: dict[str, Any] = {"silent": True}
    key = (
        _colab_key()
        if mode == "online" and not os.environ.get("WANDB_API_KEY")
        else None
    )
    if key:
        settings["api_key"] = key
    try:
        return wandb.init(
            project=project,
            config=config,
            name=name,
            group=group,
            job_type=job_type,
            dir=str(root),
            mode=mode,
            settings=wandb.Settings(**settings),
        )
    except Exception as error:
        if mode != "online":
            raise
        warnings.warn(
            f"W&B could not start online ({error}); logging offline instead.",
            stacklevel=3,
        )
        return None


# ---------------------------------------------------------------------------------------------
# Reading runs back
# ---------------------------------------------------------------------------------------------


def read_history(run_or_path: Run | str | os.PathLike) -> list[dict[str, Any]]:
    """The logged rows of a run, in order: one dict per :meth:`Run.log` call, with ``_step``.

    Accepts a :class:`Run`, a run's directory or its ``history.jsonl``. Raises
    ``ValueError`` when there is no such history.
    """
    path = (
        run_or_path.history_path if isinstance(run_or_path, Run) else Path(run_or_path)
    )
    if path.is_dir():
        path = path / "history.jsonl"
    if not path.is_file():
        raise ValueError(f"run_or_path has no history: {path} is not a file")
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def find_runs(
    project: str | None = None, *, root: str | os.PathLike | None = None
) -> list[Path]:
    """Directories of the runs under ``root`` (default :func:`runs_dir`), oldest first.

    With ``project``, only the runs of that project.

    >>> import tempfile
    >>> find_runs("no-such-project", root=tempfile.mkdtemp())
    []
    """
    base = (Path(root) if root is not None else runs_dir()) / "wandb"
    found = []
    for meta_path in base.glob("*/run.json"):
        if (
            meta_path.parent.is_symlink()
        ):  # W&B's "latest-run" points at a run already listed
            continue
        meta = json.loads(meta_path.read_text())
        if project is None or meta.get("project") == project:
            found.append((meta.get("started", math.inf), meta_path.parent))
    return [path for _, path in sorted(found)]

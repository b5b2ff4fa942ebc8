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
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import math
import netrc
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
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
    "PROBE_TIMEOUT",
    "INIT_TIMEOUT",
]

MODES = ("online", "offline", "disabled")
_ALIASES = {"dryrun": "offline", "run": "online"}  # older spellings W&B still accepts
DEFAULT_BASE_URL = "https://api.wandb.ai"

PROBE_TIMEOUT = 5.0
"""Seconds the first online start waits for the W&B server to answer before going
offline."""

INIT_TIMEOUT = 30.0
"""Seconds ``wandb.init`` may take online once the server has answered (W&B's default is
90)."""

# Base URL -> None when the server answered and knew the key, else why it cannot serve.
# Filled by the first online start of the process; later starts read it and never wait.
_servers: dict[str, str | None] = {}
_said: set[str] = set()  # the fallback lines printed so far
_active: Run | None = None  # the run started last and not yet finished

# --------------------------------------------------------------------------------------
# Where runs go, and which mode they use
# --------------------------------------------------------------------------------------


def _repository_root() -> Path | None:
    """This book's repository, when ``xent`` is imported from a checkout of it."""
    root = Path(__file__).resolve().parent.parent
    if (root / "_toc.yml").is_file() and (root / "xent" / "__init__.py").is_file():
        return root
    return None


def runs_dir() -> Path:
    """The directory that holds every run; W&B writes under ``runs_dir() / "wandb"``.

    ``WANDB_DIR`` when set; else ``_build/wandb`` in this repository when ``xent`` runs
    from a checkout of it (the build folder is ignored by git); else a per-user cache
    directory, ``$XDG_CACHE_HOME/xent/wandb`` (by default ``~/.cache/xent/wandb``).
    :func:`start_run` checks that the directory is usable before a run starts.

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


def _base_url() -> str:
    """The W&B server: ``WANDB_BASE_URL``, else W&B's cloud."""
    return (os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")


def _netrc_key() -> str | None:
    """The password for W&B's host in the netrc file (``$NETRC`` or ``~/.netrc``)."""
    host = urlparse(_base_url()).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return entry[2] if entry and entry[2] else None


def _colab_key() -> str | None:
    """The Colab secret ``WANDB_API_KEY`` in Colab; None when absent or not shared."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import userdata  # type: ignore[import-not-found]

        return userdata.get("WANDB_API_KEY") or None
    except Exception:  # not granted to this notebook, or no such secret
        return None


def _api_key() -> str | None:
    """The API key W&B would use: environment, then netrc, then a Colab secret."""
    return os.environ.get("WANDB_API_KEY") or _netrc_key() or _colab_key()


def api_key_available() -> bool:
    """Whether W&B can log in without asking: a key in the environment, netrc or Colab.

    >>> isinstance(api_key_available(), bool)
    True
    """
    return _api_key() is not None


def choose_mode() -> str:
    """The mode :func:`start_run` uses: ``WANDB_MODE`` if set, online with a key, else
    offline.

    Raises ``ValueError`` when ``WANDB_MODE`` holds something W&B does not know.

    >>> choose_mode() in ("online", "offline", "disabled")
    True
    """
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        mode = _ALIASES.get(mode, mode)
        if mode not in MODES:
            raise ValueError(
                "WANDB_MODE must be one of 'online', 'offline' or 'disabled'; got "
                f"{os.environ['WANDB_MODE']!r}"
            )
        return mode
    return "online" if api_key_available() else "offline"


def _usable_root(dir: str | os.PathLike | None) -> tuple[Path, str]:
    """The runs directory, made and checked for writing, and how to show it to a reader.

    Raises ``ValueError`` naming ``dir`` or ``WANDB_DIR`` when the directory cannot hold
    runs (a path through a file, a file, a folder that cannot be written).
    """
    if dir is not None:
        name, given, root = "dir", dir, Path(dir).expanduser().resolve()
    elif os.environ.get("WANDB_DIR"):
        name, given, root = "WANDB_DIR", os.environ["WANDB_DIR"], runs_dir()
    else:
        name, root = "the runs directory", runs_dir()
        given = root
    target, problem = root / "wandb", None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = error.strerror or type(error).__name__
    if problem is not None or not os.access(target, os.W_OK | os.X_OK):
        existing = next(p for p in (target, *target.parents) if p.exists())
        if not existing.is_dir():
            problem = f"{existing} is a file"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{existing} is not writable"
        raise ValueError(
            f"{name} must be a directory that can be written, or a path where one can "
            f"be made; got {str(given)!r} ({problem})"
        )
    return root, _shown(root / "wandb", name)


def _shown(folder: Path, name: str) -> str:
    """``folder`` as a reader should see it: relative to the book, to ``~``, or by name.

    Never an absolute path: printed output is part of the book, and the same on every
    machine.
    """
    repo = _repository_root()
    if repo is not None and folder.is_relative_to(repo):
        return folder.relative_to(repo).as_posix()
    home = Path.home().resolve()
    if home != Path("/") and folder.is_relative_to(home):
        return "~/" + folder.relative_to(home).as_posix()
    return "$WANDB_DIR/wandb" if name == "WANDB_DIR" else f"<{name}>/wandb"


# --------------------------------------------------------------------------------------
# Asking the server once, so that a run never waits for a network that is not there
# --------------------------------------------------------------------------------------


def _ask_server(base_url: str, key: str) -> str | None:
    """Why W&B at ``base_url`` cannot take runs with ``key``; None when it can.

    One GraphQL query for the key's user (``viewer``), as W&B's own login check does.
    """
    auth = base64.b64encode(f"api:{key}".encode()).decode()
    request = urllib.request.Request(
        base_url + "/graphql",
        data=json.dumps({"query": "query XentProbe { viewer { id } }"}).encode(),
        headers={
            "Authorization": f"Basic {auth}",
            "Content-Type": "application/json",
            "User-Agent": "xent-tracking",
        },
        method="POST",
    )
    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    try:
        context = ssl.create_default_context(cafile=cafile or None)
        with urllib.request.urlopen(
            request, timeout=PROBE_TIMEOUT, context=context
        ) as response:
            body = response.read(1 << 20)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return f"rejected the API key (HTTP {error.code})"
        return f"answered HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return "refused the connection"
        if isinstance(reason, TimeoutError):
            return f"did not answer within {PROBE_TIMEOUT:g} s"
        return f"is unreachable ({getattr(reason, 'strerror', None) or reason})"
    except TimeoutError:
        return f"did not answer within {PROBE_TIMEOUT:g} s"
    except (OSError, ValueError, http.client.HTTPException) as error:
        return f"is unreachable ({error})"  # a reset connection, a garbled answer
    try:
        answer = json.loads(body)
        viewer = answer["data"]["viewer"]
    except (ValueError, KeyError, TypeError):  # a proxy's or captive portal's page
        return "did not answer as a W&B server does"
    return None if viewer else "did not recognise the API key"


def _server_problem(base_url: str, key: str) -> str | None:
    """:func:`_ask_server` with a hard time limit, name lookups included."""
    answers: list[str | None] = []
    thread = threading.Thread(
        target=lambda: answers.append(_ask_server(base_url, key)),
        name="xent-wandb-probe",
        daemon=True,
    )
    thread.start()
    thread.join(PROBE_TIMEOUT)
    return answers[0] if answers else f"did not answer within {PROBE_TIMEOUT:g} s"


def _online_problem(mode_from: str) -> str | None:
    """Why this process cannot log online; None when it can. Asks the server once."""
    key = _api_key()
    if key is None:
        return (
            f"{mode_from} is 'online' but no W&B API key was found (WANDB_API_KEY, "
            "`wandb login` or a Colab secret)"
        )
    base_url = _base_url()
    if base_url not in _servers:
        problem = _server_problem(base_url, key)
        _servers[base_url] = problem and f"W&B at {base_url} {problem}"
    return _servers[base_url]


def _say_offline(problem: str, folder: str) -> None:
    """One line, once per process and problem: why runs go offline, how to sync."""
    # wandb-core reports its own errors to the server, and would wait for it at exit
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    if problem in _said:
        return
    _said.add(problem)
    print(
        f"{problem}: logging offline, this run and later ones in this process; upload "
        f"later with `wandb sync {folder}/offline-run-*`",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


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
        self.state = "running"
        self._step = 0
        run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path.write_text("")
        self._meta = {
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
    ):
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
        global _active
        if self.finished:
            return
        self.finished = True
        self.state = "finished" if exit_code == 0 else "failed"
        if _active is self:
            _active = None
        try:
            if self.wandb is not None:
                self.wandb.finish(exit_code=exit_code)
        finally:
            self._meta.update(state=self.state, exit_code=exit_code, ended=time.time())
            _write_json(self.dir / "run.json", self._meta)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        else:  # W&B's own code for an interrupted process is 255
            self.finish(exit_code=255 if issubclass(exc_type, KeyboardInterrupt) else 1)

    def __repr__(self) -> str:
        return (
            f"Run(project={self.project!r}, mode={self.mode!r}, dir={str(self.dir)!r})"
        )


def _finish_active() -> None:
    """Record the state of a run left open when the process ends.

    W&B's own exit hook closes its run (it may already have done so, and its connection
    may be gone), so only ``run.json`` is written here.
    """
    if _active is not None:
        _active.wandb = None
        _active.finish()


atexit.register(_finish_active)


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
    global _active
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
        mode, mode_from = choose_mode(), "WANDB_MODE"
    elif mode not in MODES:
        raise ValueError(
            f"mode must be one of 'online', 'offline' or 'disabled'; got {mode!r}"
        )
    else:
        mode_from = "mode"
    root, folder = _usable_root(dir)
    if _active is not None:  # left open, e.g. by an interrupted cell without `with`
        _active.finish()

    try:
        import wandb
    except ImportError:
        wandb = None
    if wandb is None or mode == "disabled":
        run_id = secrets.token_hex(4)
        stamp = time.strftime("%Y%m%d_%H%M%S")
        run = Run(
            project,
            config,
            mode="disabled",
            run_dir=root / "wandb" / f"disabled-run-{stamp}-{run_id}",
            name=name,
            group=group,
            job_type=job_type,
        )
        _active = run
        print(f"Run {project}/{name or run_id}: W&B disabled, history kept in {folder}")
        return run

    if mode == "online":
        problem = _online_problem(mode_from)
        if problem is not None:
            _say_offline(problem, folder)
            mode = "offline"
    if wandb.run is not None:  # wandb.log and WandbMetricsLogger use the one active run
        wandb.run.finish()
    settings: dict[str, Any] = {"silent": True}  # W&B prints nothing of its own
    if mode == "online":
        settings["init_timeout"] = INIT_TIMEOUT
        colab_key = None if os.environ.get("WANDB_API_KEY") else _colab_key()
        if colab_key:
            settings["api_key"] = colab_key
    init = dict(project=project, config=config, name=name, group=group)
    init.update(job_type=job_type, dir=str(root))
    try:
        wandb_run = wandb.init(mode=mode, settings=wandb.Settings(**settings), **init)
    except Exception as error:
        if mode != "online":
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        problem = f"W&B at {_base_url()} could not start a run ({first_line})"
        _servers[_base_url()] = problem
        _say_offline(problem, folder)
        mode = "offline"
        wandb_run = wandb.init(mode=mode, settings=wandb.Settings(silent=True), **init)
    run = Run(
        project,
        config,
        mode=mode,
        run_dir=Path(wandb_run.settings.sync_dir),
        wandb_run=wandb_run,
        name=name,
        group=group,
        job_type=job_type,
    )
    _active = run
    label = name or getattr(wandb_run, "name", None) or wandb_run.id
    where = wandb_run.url if mode == "online" else f"kept in {folder}"
    print(f"Run {project}/{label}: W&B {mode}, {where}")
    return run


# --------------------------------------------------------------------------------------
# Reading runs back
# --------------------------------------------------------------------------------------


def read_history(run_or_path: Run | str | os.PathLike) -> list[dict[str, Any]]:
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
        if meta_path.parent.is_symlink():  # W&B's "latest-run" links to a listed run
            continue
        meta = json.loads(meta_path.read_text())
        if project is None or meta.get("project") == project:
            found.append((meta.get("started", math.inf), meta_path.parent))
    return [path for _, path in sorted(found)]

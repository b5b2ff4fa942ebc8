"""What a run reads from its surroundings: where runs go, the API key, the mode.

Private to :mod:`xent.tracking`, which re-exports the public names (:func:`runs_dir`,
:func:`api_key_available`, :func:`choose_mode`). Names without an underscore here are
used by the other modules of the package.
"""

from __future__ import annotations

import importlib
import netrc
import os
import sys
from pathlib import Path
from typing import Literal, TypeAlias
from urllib.parse import urlparse

Mode: TypeAlias = Literal["online", "offline", "disabled"]
StrPath: TypeAlias = str | os.PathLike[str]

MODES: tuple[Mode, ...] = ("online", "offline", "disabled")
_ALIASES = {"dryrun": "offline", "run": "online"}  # older spellings W&B still accepts
DEFAULT_BASE_URL = "https://api.wandb.ai"


def _repository_root() -> Path | None:
    """This book's repository, when ``xent`` is imported from a checkout of it."""
    root = Path(__file__).resolve().parents[2]  # xent/tracking/_settings.py
    if (root / "_toc.yml").is_file() and (root / "xent" / "__init__.py").is_file():
        return root
    return None


def runs_dir() -> Path:
    """The directory that holds every run; W&B writes under ``runs_dir() / "wandb"``.

    ``WANDB_DIR`` when set; else ``_build/wandb`` in this repository when ``xent`` runs
    from a checkout of it (the build folder is ignored by git); else a per-user cache
    directory, ``$XDG_CACHE_HOME/xent/wandb`` (by default ``~/.cache/xent/wandb``).
    :func:`start_run` checks that the directory is usable before a run starts.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", WANDB_DIR="~/runs"):
    ...     runs_dir() == Path.home().resolve() / "runs"
    True
    """
    if os.environ.get("WANDB_DIR"):
        return Path(os.environ["WANDB_DIR"]).expanduser().resolve()
    root = _repository_root()
    if root is not None:
        return root / "_build" / "wandb"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser().resolve() / "xent" / "wandb"


def base_url() -> str:
    """The W&B server: ``WANDB_BASE_URL``, else W&B's cloud."""
    return (os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")


def _netrc_key() -> str | None:
    """The password for W&B's host in the netrc file (``$NETRC`` or ``~/.netrc``)."""
    host = urlparse(base_url()).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return entry[2] if entry and entry[2] else None


def colab_key() -> str | None:
    """The Colab secret ``WANDB_API_KEY`` in Colab; None when absent or not shared."""
    if "google.colab" not in sys.modules:
        return None
    try:
        userdata = importlib.import_module("google.colab.userdata")
        return userdata.get("WANDB_API_KEY") or None
    except Exception:  # not granted to this notebook, or no such secret
        return None


def api_key() -> str | None:
    """The API key W&B would use: environment, then netrc, then a Colab secret."""
    return os.environ.get("WANDB_API_KEY") or _netrc_key() or colab_key()


def api_key_available() -> bool:
    """Whether W&B can log in without asking: a key in the environment, netrc or Colab.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", WANDB_API_KEY="k" * 40):
    ...     api_key_available()
    True
    """
    return api_key() is not None


def as_mode(name: str, value: object, given: object) -> Mode:
    """``value`` as one of :data:`MODES`; else a ``ValueError`` naming ``name`` and
    showing ``given`` (what the caller wrote)."""
    for mode in MODES:
        if value == mode:
            return mode
    raise ValueError(
        f"{name} must be one of 'online', 'offline' or 'disabled'; got {given!r}"
    )


def choose_mode() -> Mode:
    """The mode :func:`start_run` uses: ``WANDB_MODE`` if set, online with a key, else
    offline.

    Raises ``ValueError`` when ``WANDB_MODE`` holds something W&B does not know.

    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", WANDB_MODE="dryrun"):  # W&B's old name
    ...     choose_mode()
    'offline'
    """
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        return as_mode("WANDB_MODE", _ALIASES.get(mode, mode), os.environ["WANDB_MODE"])
    return "online" if api_key_available() else "offline"


def usable_root(dir: StrPath | None) -> tuple[Path, str]:
    """The runs directory, made and checked for writing, and how to show it to a reader.

    Raises ``ValueError`` naming ``dir`` or ``WANDB_DIR`` when the directory cannot hold
    runs (a path through a file, a file, a folder that cannot be written).
    """
    given: object
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
    return root, shown(root / "wandb", name)


def shown(folder: Path, name: str) -> str:
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

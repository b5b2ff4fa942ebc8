"""Shared fixtures, the heavy tests that ``make test-fast`` leaves out, and the
hypothesis profiles.

Backends: ``backend`` is each of ``xent.numpy``, ``xent.torch`` and ``xent.tensorflow``
in turn, ``autograd_backend`` each of the two with an autograd (PyTorch, TensorFlow): a
test of gradients takes the second and never skips NumPy. Both are the ``Backend`` of
``_backends.py``, beside PyTorch's oracles and the grid of options.

The fast loop: ``make test-fast`` runs ``-m "not slow and not browser and not heavy"``
with the ``fast`` hypothesis profile (fewer random examples); ``make test`` runs
everything with the ``full`` profile, the default. A test is ``heavy`` when it starts
processes, runs a benchmark or trains for seconds (by ``@pytest.mark.heavy`` in its
file, or by name in ``HEAVY`` below), and a parametrisation is ``heavy`` when it takes
no parameter value that an earlier one of its test did not (``_mark_repeats``): the fast
loop runs every test function, on each value of each of its parameters at least once.

Which book is tested (``test_book.py``, ``test_browser.py``):

* ``XENT_BOOK_DIR`` (default: the repository root) is the book's source folder; its HTML
  is ``$XENT_BOOK_DIR/_build/html``. Point it at a throwaway copy to test that copy.
* ``XENT_BOOK_BUILT=1`` says the HTML is already built (e.g. by ``make book``): the
  tests use it as it is, and fail when it is missing. Otherwise the first test that
  needs the book runs ``jupyter-book build <dir> -W -n --keep-going`` once for the whole
  pytest session (with pytest-xdist, one worker builds and the others wait for it) and
  fails with the build log if the build fails.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from _backends import AUTOGRAD_NAMES, NAMES, Backend, load
from _chapter_numbers import torch_or_skip
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# What `make test` installs (requirements/ci.txt: the frameworks and the extras), by
# import name: a missing one stops the session with one message instead of skipping the
# tests that need it. XENT_TESTS_WITHOUT names those left out on purpose, e.g.
# XENT_TESTS_WITHOUT=torch,tensorflow to test an install without the frameworks: the
# tests that need them skip and say why.
REQUIRED = (
    "torch",
    "tensorflow",
    "keras",
    "sklearn",
    "nbformat",
    "nbclient",
    "myst_nb",
    "matplotlib",
    "ipywidgets",
    "wandb",
    "playwright",
    "build",
    "mypy",
)


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once when a test dependency is missing (see ``REQUIRED``)."""
    without = os.environ.get("XENT_TESTS_WITHOUT", "")
    allowed = {name.strip() for name in without.split(",")}
    missing = [
        name
        for name in REQUIRED
        if name not in allowed and importlib.util.find_spec(name) is None
    ]
    if missing:
        raise pytest.UsageError(
            f"the tests need {', '.join(missing)}, missing from {sys.prefix}: "
            "`make test` installs everything (pip install -r requirements/ci.txt); "
            f"or set XENT_TESTS_WITHOUT={','.join(missing)} to skip what needs them"
        )


# Random examples per hypothesis test: `full` for `make test` (the default), `fast` for
# `make test-fast` (`--hypothesis-profile=fast`). A test's own `max_examples` wins.
settings.register_profile("full", max_examples=60, deadline=None)
settings.register_profile("fast", max_examples=8, deadline=None)
settings.load_profile("full")

# Tests that `make test-fast` leaves out, in files whose owners have not marked them
# `@pytest.mark.heavy` themselves: file name -> test functions (every parametrisation).
# Each starts processes, runs the benchmark or trains for seconds; a name that no longer
# exists fails the collection, so the list cannot go stale.
HEAVY = {
    "test_bench.py": (
        "test_quick_benchmark_prints_a_table_and_writes_json",
        "test_one_implementation_from_outside_the_checkout",
        "test_the_command_line_explains_itself_and_rejects_bad_flags",
    ),
    "test_device.py": (
        "test_quick_benchmark_runs_on_the_device",
        "test_cross_entropy_memory_is_at_most_half_of_f_cross_entropy",
        "test_linear_cross_entropy_memory_is_at_most_a_quarter_of_the_eager_composition",
    ),
    "test_tracking_faults.py": (
        "test_unreachable_server_falls_back_fast_once_and_for_later_runs",
        "test_explicit_online_mode_without_a_key_falls_back_and_says_so",
        "test_online_start_that_stalls_after_the_probe_falls_back",
        "test_interrupted_runs_keep_every_row_and_are_closed",
        "test_probe_timeout_set_on_the_module_bounds_the_wait",
    ),
    "test_train.py": ("test_train_imports_a_framework_only_when_its_loop_is_used",),
    # a training run of seconds (test_fit_is_deterministic trains in test-fast)
    "test_language_model.py": (
        "test_fit_approaches_but_cannot_beat_the_bigram_entropy_with_one_character",
    ),
    "test_vocab_parallel.py": ("test_matches_cross_entropy_of_gathered_logits",),
}


def _choices(item: pytest.Function) -> set[tuple[str, str]]:
    """The (parameter, value) pairs of one parametrised test; a dict of options counts
    as its (parameter.option, value) pairs and the set of options it names."""
    pairs = set()
    for name, value in item.callspec.params.items():
        if isinstance(value, dict):
            pairs |= {(f"{name}.{k}", repr(v)) for k, v in value.items()}
            pairs.add((f"{name}.keys", repr(sorted(value))))
        else:
            pairs.add((name, repr(value)))
    return pairs


def _mark_repeats(items: list[pytest.Item]) -> None:
    """Mark ``heavy`` each parametrisation whose every parameter value an earlier one
    of the same test function already took: ``-m "not heavy"`` keeps, per function,
    the first parametrisations (in collection order) that together take each value of
    each parameter at least once (each backend, reduction, dtype, ...)."""
    seen: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for item in items:
        if not isinstance(item, pytest.Function) or not hasattr(item, "callspec"):
            continue
        covered = seen.setdefault((str(item.path), item.originalname), set())
        pairs = _choices(item)
        if pairs <= covered:
            item.add_marker(pytest.mark.heavy)
        covered |= pairs


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Mark ``heavy`` the tests named in ``HEAVY`` (and fail on a name that its module
    lacks) and the parametrisations that repeat covered values (``_mark_repeats``)."""
    modules: dict[str, Any] = {}
    for item in items:
        names = HEAVY.get(item.path.name, ())
        if isinstance(item, pytest.Function) and names:
            modules[item.path.name] = item.module
            if item.originalname in names:
                item.add_marker(pytest.mark.heavy)
    _mark_repeats(items)
    stale = [
        f"{file}::{name}"
        for file, module in modules.items()
        for name in HEAVY[file]
        if not hasattr(module, name)
    ]
    if stale:
        raise pytest.UsageError(
            f"conftest.HEAVY names tests that do not exist: {', '.join(stale)}"
        )


@pytest.fixture(params=NAMES)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn: ``xent.numpy``, ``xent.torch``, ``xent.tensorflow``."""
    return load(request.param)


@pytest.fixture(params=AUTOGRAD_NAMES)
def autograd_backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend with an autograd in turn: ``xent.torch``, ``xent.tensorflow``."""
    return load(request.param)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def book_dir() -> Path:
    """The book's source folder: ``$XENT_BOOK_DIR`` or the repository root."""
    return Path(os.environ.get("XENT_BOOK_DIR", REPO)).resolve()


def book_config() -> dict:
    """The book's ``_config.yml``."""
    return yaml.safe_load((book_dir() / "_config.yml").read_text(encoding="utf-8"))


def toc_docnames() -> list[str]:
    """Every page that ``_toc.yml`` lists, root first, as Sphinx docnames (no
    suffix)."""
    toc = yaml.safe_load((book_dir() / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return [
        str(Path(name).with_suffix("")) if name.endswith((".md", ".ipynb")) else name
        for name in names
    ]


def source_of(docname: str) -> Path:
    """The source file of a page: ``<docname>.md`` or ``<docname>.ipynb``."""
    for suffix in (".md", ".ipynb"):
        path = book_dir() / f"{docname}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"_toc.yml lists {docname!r}, which has no .md or .ipynb file"
    )


def _build_book(source: Path, log: Path) -> None:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [
        str(jupyter_book),
        "build",
        str(source),
        "--all",
        "-W",
        "-n",
        "--keep-going",
    ]
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(
            command, cwd=source, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    seconds = time.perf_counter() - start
    text = re.sub(
        r"\x1b\[[0-9;]*m", "", log.read_text(encoding="utf-8", errors="replace")
    )
    if result.returncode != 0:
        problems = [
            line
            for line in text.splitlines()
            if re.search(r"WARNING|ERROR|Error|Traceback", line)
            and "[IPKernelApp]" not in line
        ]
        pytest.fail(
            f"`{' '.join(command)}` failed (exit {result.returncode}) "
            f"after {seconds:.0f} s; "
            f"full log in {log}.\nWarnings and errors:\n"
            + "\n".join(problems[-60:])
            + f"\nEnd of the log:\n{text[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The built HTML folder, built once per session unless ``XENT_BOOK_BUILT=1``."""
    source = book_dir()
    html = source / "_build" / "html"
    if os.environ.get("XENT_BOOK_BUILT") == "1":
        if not (html / "index.html").exists():
            pytest.fail(
                f"XENT_BOOK_BUILT=1 but the book is not built: no {html / 'index.html'}"
                " (run `make book`, or unset XENT_BOOK_BUILT to build it here)",
                pytrace=False,
            )
        return html
    (source / "_build").mkdir(exist_ok=True)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid{os.getpid()}")
    stamp = source / "_build" / ".built-for-pytest"
    log = source / "_build" / "book-build.log"
    with (source / "_build" / ".book-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time, others wait and reuse
        done = stamp.exists() and stamp.read_text() == run_id
        if not done:
            stamp.unlink(missing_ok=True)
            _build_book(source, log)
            stamp.write_text(run_id)
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def book_server(built_book: Path) -> Iterator[str]:
    """A loopback HTTP server over the built HTML; yields its base URL (with a final
    slash)."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright; a missing Chromium fails the
    browser tests (``make test`` installs it), which ``-m "not browser"`` leaves out."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it as root with apt-get "
            "(scripts/ensure-chromium.sh); elsewhere install Debian's chromium, or "
            'leave the browser tests out with -m "not browser"',
            pytrace=False,
        )
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshots_dir(built_book: Path) -> Path:
    """``_build/screenshots/`` next to the built HTML, emptied once per session."""
    folder = built_book.parent / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def torch() -> Any:
    """PyTorch for the chapter-number tests, or a skip that says why it is missing."""
    return torch_or_skip()

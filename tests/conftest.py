"""Shared fixtures for the tests of the built book (``test_book.py``,
``test_browser.py``).

Which book is tested:

* ``XENT_BOOK_DIR`` (default: the repository root) is the book's source folder; its HTML
  is ``$XENT_BOOK_DIR/_build/html``. Point it at a throwaway copy to test that copy.
* ``XENT_BOOK_BUILT=1`` says the HTML is already built (e.g. by ``make book``): the
  tests use it as it is, and skip when it is missing. Otherwise the first test that
  needs the book runs ``jupyter-book build <dir> -W -n --keep-going`` once for the whole
  pytest session (with pytest-xdist, one worker builds and the others wait for it) and
  fails with the build log if the build fails.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from _chapter_numbers import torch_or_skip

REPO = Path(__file__).resolve().parents[1]
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
            pytest.skip(
                f"XENT_BOOK_BUILT=1 but the book is not built: no {html / 'index.html'}"
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
def chromium():
    """Debian's headless Chromium driven by Playwright (skips when either is
    missing)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: apt-get install chromium "
            "(scripts/ensure-chromium.sh)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed"
    )
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
def torch():
    """PyTorch for the chapter-number tests, or a skip that says why it is missing."""
    return torch_or_skip()

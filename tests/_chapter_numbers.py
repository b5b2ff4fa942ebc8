"""Binding every decimal number of a chapter's prose to a test that recomputes it.

A test that checks numbers of a chapter is decorated with ``@binds(chapter, "0.6931",
...)`` and calls ``printed(chapter, snippet)`` with snippets it formats from the values
it computed (and from the chosen inputs it computed them with). After the test body has
run, the decorator requires every declared number to occur in one of those snippets, so
a declaration cannot outlive its check.

The guard, ``loose(chapter, ...)``, runs every bound test of the calling module once,
records the snippets they print, and returns each occurrence of a decimal number in the
chapter that lies in no recorded snippet (nor in a cited section number such as "section
4.1"). So changing a result, or an input without its results, or writing a new number
anywhere on the page, fails a test.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\d.])")


def torch_or_skip():
    """PyTorch, or a skip that says why: what a bound test's ``torch`` argument gets,
    from the ``torch`` fixture of ``conftest.py`` and from :func:`loose`."""
    return pytest.importorskip("torch")


# module name -> the bound tests defined in it, in order (filled by ``binds``)
BOUND_TESTS: defaultdict[str, list[Callable]] = defaultdict(list)
# The snippets printed by the bound tests now running, one list per running test.
_RECORDING: list[list[tuple[str, str]]] = []


@functools.cache
def text(name: str) -> str:
    """Chapter ``name`` (a file name) with every run of whitespace collapsed to one."""
    return " ".join((CHAPTERS / name).read_text(encoding="utf-8").split())


def decimals(snippet: str) -> set[str]:
    """The decimal numbers in ``snippet``, without sign, as the guard reads them."""
    return set(DECIMAL.findall(snippet))


def printed(name: str, snippet: str) -> None:
    """Assert that chapter ``name`` contains ``snippet`` (whitespace-insensitive)."""
    snippet = " ".join(snippet.split())
    assert snippet in text(name), f"{name} does not print {snippet!r}"
    for record in _RECORDING:
        record.append((name, snippet))


def _recorded(test: Callable, *args, **kwargs) -> list[tuple[str, str]]:
    record: list[tuple[str, str]] = []
    _RECORDING.append(record)
    try:
        test(*args, **kwargs)
    finally:
        _RECORDING.remove(record)
    return record


def binds(name: str, *numbers: str) -> Callable:
    """Declare that the decorated test recomputes ``numbers`` of chapter ``name``."""
    numbers = tuple(number.lstrip("-") for number in numbers)

    def decorate(test: Callable) -> Callable:
        @functools.wraps(test)
        def run(*args, **kwargs):
            record = _recorded(test, *args, **kwargs)
            found = set().union(*(decimals(s) for n, s in record if n == name))
            missing = set(numbers) - found
            assert not missing, f"{test.__name__} declares {sorted(missing)} of {name}"

        tests = BOUND_TESTS[test.__module__]
        if not any(t.__name__ == test.__name__ for t in tests):
            tests.append(inspect.unwrap(run))
        return run

    return decorate


@functools.cache
def _snippets(module: str, fixtures: tuple[tuple[str, Callable], ...]) -> tuple:
    """Every snippet the bound tests of ``module`` print, running each test once."""
    values = {}
    found = []
    for test in BOUND_TESTS[module]:
        names = inspect.signature(test).parameters
        for arg in names:
            if arg not in values:
                values[arg] = dict(fixtures)[arg]()
        found.extend(_recorded(test, **{arg: values[arg] for arg in names}))
    return tuple(found)


def loose(
    name: str, module: str, fixtures: dict[str, Callable], citations: set[str]
) -> list[str]:
    """Occurrences of decimal numbers in chapter ``name`` that no snippet covers.

    ``module`` is the test module whose bound tests check the chapter; ``fixtures``
    maps each argument those tests take to a function that returns its value (and may
    skip).
    ``citations`` are section numbers of cited books, printed as "section 4.1".
    """
    page = text(name)
    covered: set[int] = set()
    snippets = [s for n, s in _snippets(module, tuple(fixtures.items())) if n == name]
    snippets += [f"section {section}" for section in citations]
    for snippet in snippets:
        start = page.find(snippet)
        assert start >= 0, f"{name} does not print {snippet!r}"
        while start >= 0:
            covered.update(start + m.start() for m in DECIMAL.finditer(snippet))
            start = page.find(snippet, start + 1)
    return [
        f"{m.group()!r} in ...{page[max(0, m.start() - 50) : m.end() + 10]}"
        for m in DECIMAL.finditer(page)
        if m.start() not in covered
    ]

"""Binding the decimal numbers of a chapter's prose to the tests that recompute them.

A test that checks numbers of a chapter is decorated with ``@binds(chapter, "0.6931",
...)`` and calls ``printed(chapter, snippet)`` with snippets it formats from the values
it computed (and from the inputs it computed them with). After the test body has run,
the decorator requires every declared number to occur in one of those snippets, so a
declaration cannot outlive its check. ``unchecked(chapter, citations)`` is the guard:
the decimal numbers the chapter prints that no test declares, nor the chapter cites as a
section of a book. The declarations are collected at import time, so the guard does not
depend on which tests ran before it.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\d.])")

# chapter -> numbers that some test declares it recomputes (filled by ``binds``)
BOUND: defaultdict[str, set[str]] = defaultdict(set)
# The snippets printed by the tests now running, one list per running bound test.
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


def binds(name: str, *numbers: str) -> Callable:
    """Declare that the decorated test recomputes ``numbers`` of chapter ``name``."""
    numbers = tuple(number.lstrip("-") for number in numbers)
    BOUND[name].update(numbers)

    def decorate(test: Callable) -> Callable:
        @functools.wraps(test)
        def run(*args, **kwargs):
            record: list[tuple[str, str]] = []
            _RECORDING.append(record)
            try:
                test(*args, **kwargs)
            finally:
                _RECORDING.remove(record)
            found = set().union(*(decimals(s) for n, s in record if n == name))
            missing = set(numbers) - found
            assert not missing, f"{test.__name__} declares {sorted(missing)} of {name}"

        return run

    return decorate


def unchecked(name: str, citations: set[str]) -> set[str]:
    """Decimals of chapter ``name`` that no test binds and that cite no section."""
    shown = decimals(text(name))
    assert BOUND[name] <= shown, f"bound but not printed: {sorted(BOUND[name] - shown)}"
    for section in citations:
        assert f"section {section}" in text(name), (
            f"{section} is not cited as a section"
        )
    return shown - BOUND[name] - citations

"""Every decimal number in a notebook's prose is pasted from a cell that ran.

A notebook's Markdown may state a decimal only through a myst-nb glue role
(``{glue:text}`name:.3f```), whose value the build takes from the executed cell that
called ``glue("name", value)``. These tests read the committed notebooks (no
execution): they fail when a Markdown cell gains a typed decimal, when a glue role
names a value no code cell glues, and when a notebook that states claims has no hidden
cell asserting them. The build (``jupyter-book build -W``) then fails if a glued name
has no value or a hidden assertion stops being true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]*)`")
GLUE_CALL = re.compile(r"""\bglue\(\s*["']([\w.-]+)["']""")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\d.])")
PERCENT = re.compile(r"(?<![\w.])\d+%")  # a share typed as a whole percentage
# Decimals that are neither inputs nor results, with the reason they may be typed.
ALLOWED: dict[str, dict[str, str]] = {}


def cells(path: Path, kind: str) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == kind]


def unglued_decimals(markdown: str) -> list[str]:
    """The decimals in ``markdown`` outside glue roles and outside link targets."""
    text = GLUE_ROLE.sub(" ", markdown)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's address is not prose
    return DECIMAL.findall(text) + PERCENT.findall(text)


def glued_names(path: Path) -> set[str]:
    return {name for src in cells(path, "code") for name in GLUE_CALL.findall(src)}


def test_the_guard_finds_decimals():
    # the guard itself: typed decimals and percentages are caught, glued ones are not
    assert unglued_decimals("the loss falls to 0.693 nats") == ["0.693"]
    assert unglued_decimals("the loss falls to {glue:text}`loss:.3f` nats") == []
    assert unglued_decimals("$e^{709.8}$ and $10^{-16}$") == ["709.8"]
    assert unglued_decimals("epoch 3 of 20, section 2.1") == ["2.1"]
    assert unglued_decimals("with 10% positives") == ["10%"]
    assert unglued_decimals("with {glue:text}`share:.0f`% positives") == []
    assert unglued_decimals("see [the page](https://example.org/v1.2)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_decimal_in_the_prose_is_glued(path):
    allowed = ALLOWED.get(path.stem, {})
    typed = [
        (number, md.strip().splitlines()[0][:60])
        for md in cells(path, "markdown")
        for number in unglued_decimals(md)
        if number not in allowed
    ]
    assert typed == [], f"{path.name}: decimals typed in Markdown, not glued: {typed}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_glue_role_has_a_value(path):
    names = glued_names(path)
    used = {
        role.split("::")[-1].rsplit(":", 1)[0]
        for md in cells(path, "markdown")
        for role in GLUE_ROLE.findall(md)
    }
    assert used - names == set(), f"{path.name}: pasted but never glued"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_claims_are_asserted_in_hidden_cells(path):
    nb = nbformat.read(path, as_version=4)
    hidden = [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
    ]
    assert any("assert " in src for src in hidden), (
        f"{path.name} has no hidden cell that asserts its prose"
    )

"""``xent.book.glue`` forwards to myst-nb's ``glue`` where it is, else does nothing."""

from __future__ import annotations

import sys

import pytest

from xent import book


def test_glue_forwards_name_value_and_display_to_myst_nb(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    calls = []
    monkeypatch.setattr(
        myst_nb,
        "glue",
        lambda name, value, display=True: calls.append((name, value, display)),
    )
    assert book.glue("loss", 0.25, display=False) is None
    book.glue("acc", 0.75)
    assert calls == [("loss", 0.25, False), ("acc", 0.75, True)]


def test_glue_reaches_the_real_myst_nb(capsys):
    # outside a kernel myst_nb.glue displays the value as plain text when asked to
    pytest.importorskip("myst_nb")
    book.glue("loss", 0.25)
    assert capsys.readouterr().out.strip() == "0.25"
    book.glue("loss", 0.25, display=False)
    assert capsys.readouterr().out == ""


def test_glue_does_nothing_without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # "import myst_nb" now fails
    with pytest.raises(ImportError):
        import myst_nb  # noqa: F401
    assert book.glue("loss", 0.25) is None
    assert book.glue("loss", 0.25, display=False) is None


def test_xent_book_is_a_lazy_submodule():
    import xent

    assert "book" in xent._SUBMODULES and "book" in dir(xent)
    assert xent.book is book

"""What the notebooks need from the book's tooling: ``glue``, with or without myst-nb.

The built book pastes numbers computed in a notebook into its prose with myst-nb's
``glue`` (``{glue:text}`name:.3f``` in a Markdown cell). A reader running the notebook
elsewhere, in Colab or a plain Jupyter, may not have myst-nb installed; there ``glue``
does nothing, and the notebook runs the same.

    from xent.book import glue

    glue("val_loss", 0.25, display=False)  # a value for {glue:text}`val_loss:.3f`
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = True) -> None:
    """Hand ``value`` to ``myst_nb.glue`` under ``name``; do nothing without myst-nb.

    ``display=False`` keeps the value out of the cell's visible output (the prose shows
    it where a glue role names it). myst-nb is looked up at each call, so installing it
    in a running kernel takes effect at once.

    >>> glue("val_loss", 0.25, display=False)  # the prose shows it, the cell does not
    """
    try:
        myst_nb = importlib.import_module("myst_nb")
    except ImportError:
        return None
    myst_nb.glue(name, value, display=display)
    return None

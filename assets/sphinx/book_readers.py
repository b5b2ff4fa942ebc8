"""What the pages show readers, fixed where the tools that write them cannot be told.

* myst-nb writes every collapsed code cell's toggle as
  ``<summary aria-label="Toggle hidden content">`` around its visible prompt (the set-up
  cells' "Set-up: installs xent in Colab, ..."). The label replaces what the summary
  shows, so a screen reader says something other than what the reader sees (WCAG 2.5.3,
  axe-core's ``label-content-name-mismatch``). The label is dropped: the summary's name
  is its text.
* docutils marks each entry of the bibliography's citation list (``role="list"``) with
  ``role="doc-biblioentry"``, a role DPUB-ARIA 1.1 deprecated in favour of ``listitem``;
  assistive technology and axe-core (``aria-required-children``) then find a list
  without items. The entries get ``role="listitem"``.
* TensorFlow's C++ runtime logs, at import, lines stamped with the time, the process id
  and its source file ("I0000 00:00:1796... 9288 port.cc:153] oneDNN custom operations
  are on..."), 280 characters wide, which ``TF_CPP_MIN_LOG_LEVEL`` no longer silences
  (they come before absl's logging starts). They are facts of the build machine, not of
  the book: those lines, and absl's notice that introduces them, are taken out of the
  notebooks' stderr outputs; an output left empty is removed. Every other stderr line
  stays.

The theme's own buttons are fixed in ``assets/templates/``; the rest is in
``assets/static/book.css``.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

MYST_NB_SUMMARY = '<summary aria-label="Toggle hidden content">'
CITATION_ENTRY = re.compile(
    r'(<div class="citation" id="[^"]+") role="doc-biblioentry">'
)

# glog/absl's line format: severity and date, time (here seconds since the epoch),
# thread id, file:line]
NATIVE_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r" are written to STDERR)\n?",
    re.MULTILINE,
)


def drop_native_log_lines(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for node in list(doctree.findall(nodes.literal_block)):
        if "stderr" not in node.get("classes", []):
            continue
        text = node.astext()
        kept = NATIVE_LOG_LINE.sub("", text)
        if kept == text:
            continue
        if not kept.strip():
            node.parent.remove(node)
            continue
        copy = nodes.literal_block(kept, kept, **node.attributes)
        node.replace_self(copy)


def fix_roles(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Name collapsed cells' toggles by their text; bibliography entries: list items."""
    body = context.get("body")
    if isinstance(body, str):
        body = body.replace(MYST_NB_SUMMARY, "<summary>")
        context["body"] = CITATION_ENTRY.sub(r'\1 role="listitem">', body)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", drop_native_log_lines)
    app.connect("html-page-context", fix_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

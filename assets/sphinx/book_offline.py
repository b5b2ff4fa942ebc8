"""Keep the built book readable offline: no page loads a script or style from elsewhere.

The theme, MathJax and the widget manager are served from the book itself (see
``_config.yml`` and ``assets/README.md``). This extension handles the rest:

* Matplotlib's ``Animation.to_jshtml()`` output starts with a ``<link>`` to Font Awesome
  4 on a CDN, for the icons on its play/step buttons. The book's theme already loads
  Font Awesome 6 (which still knows the version-4 icon names) from its own ``_static/``,
  so the link is only a request to another host: it is removed.
* Any other ``<script src=...>`` or stylesheet ``<link>`` to another host in a notebook
  output is reported as a warning, so that the book build (``-W``) fails and names the
  page.
* Jupyter Book always loads ``sphinx_thebe``, which writes a Thebe loader (pointing at a
  CDN) into every page, and with Sphinx 7.4 writes its inline configuration twice, so
  that every page logs "Identifier 'THEBE_JS_URL' has already been declared". The book
  has no Thebe button (``launch_buttons.thebe`` is off: readers run notebooks in Colab),
  so unless that option is turned on, the loader is left out.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

# The stylesheet that matplotlib's jshtml template links: Font Awesome 4 on any CDN.
FONT_AWESOME_4_LINK = re.compile(
    r"<link\b[^>]*\bhref=[\"']https?://[^\"']*font-awesome/4\.[^\"']*[\"'][^>]*>\s*",
    re.IGNORECASE,
)
# A script or stylesheet that the browser would fetch from another host.
REMOTE_RESOURCE = re.compile(
    r"<(?:script\b[^>]*\bsrc|link\b[^>]*\bhref)=[\"']((?:https?:)?//[^\"']+)[\"']",
    re.IGNORECASE,
)


def strip_remote_resources(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Drop the jshtml Font Awesome link; warn of any other remote script or style."""
    for node in list(doctree.findall(nodes.raw)):
        if "html" not in node.get("format", "").split():
            continue
        html = node.astext()
        cleaned = FONT_AWESOME_4_LINK.sub("", html)
        for match in REMOTE_RESOURCE.finditer(cleaned):
            logger.warning(
                "an output loads %s from another host; the book must read offline",
                match.group(1),
                location=node,
                type="book_offline",
            )
        if cleaned != html:
            node.replace_self(nodes.raw("", cleaned, format=node["format"]))


def leave_out_thebe(app: Sphinx, config: Config) -> None:
    """Disconnect sphinx_thebe's page-wide loader unless the Thebe button is on."""
    launch_buttons = (config.html_theme_options or {}).get("launch_buttons", {})
    if launch_buttons.get("thebe"):
        return
    for listener in list(app.events.listeners.get("env-before-read-docs", [])):
        handler = listener.handler
        if (
            handler.__module__ == "sphinx_thebe"
            and handler.__name__ == "init_thebe_core"
        ):
            app.disconnect(listener.id)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", leave_out_thebe)
    app.connect("doctree-resolved", strip_remote_resources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

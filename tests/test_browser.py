"""The built book in a real browser: headless Chromium, driven by Playwright, over HTTP.

Every request the pages make is recorded. A request to any host other than 127.0.0.1 is
aborted on the spot and reported as a failure: the book must read offline. Each page
must also load without console errors, failed requests or HTTP errors, show its math
typeset by MathJax and every image decoded. Search, framework tabs that remember the
reader's choice, and the notebook 01 animation slider (its frames' alt text included)
are exercised as a reader would.

Readers' checks, on every page: at 1280 px axe-core finds no serious or critical
violation of the WCAG 2.1 A and AA rules in the light theme, nor of its colour rules in
the dark one, and no code block or output (``pre``) is wider than its box; at 390 px (a
phone), every display equation is within the screen or in a box that scrolls sideways,
and the page itself does not scroll sideways. Screenshots of the landing page, a chapter
and a notebook page, at 1280 px light, 1280 px dark and 390 px, are written to
``_build/screenshots/``.

Skips (with the reason) when /usr/bin/chromium or Playwright is missing, or when
``XENT_BOOK_BUILT=1`` and the book is not built. See conftest.py for ``XENT_BOOK_DIR``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, source_of, toc_docnames

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANIMATION_PAGE = "notebooks/01-entropy-playground"
NOT_LOOPBACK = re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*")
FRAMEWORKS = ("numpy", "torch", "tensorflow")
# axe-core, which `make test` installs with npm into .venv/node/; XENT_AXE_JS overrides
AXE_JS = Path(
    os.environ.get("XENT_AXE_JS", REPO / ".venv/node/node_modules/axe-core/axe.min.js")
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Runs in the page once it has loaded: waits for MathJax's first typesetting and for
# every image (lazy ones included), then reports what is wrong.
INSPECT_PAGE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done); img.addEventListener("error", done);
  })));
  const code = "pre, code, script, style, textarea, .highlight, mjx-container";
  const text = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest(code)) text.push(node.nodeValue);
  }
  const views = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]');
  return {
    math: document.querySelectorAll("span.math, div.math").length,
    typeset: document.querySelectorAll("mjx-container").length,
    untypeset: [...document.querySelectorAll("span.math, div.math")]
      .filter((el) => !el.querySelector("mjx-container"))
      .map((el) => el.textContent.trim().slice(0, 80)),
    rawDisplayMath: text.join(" ").includes("$$"),
    brokenImages: images.filter((img) => !(img.naturalWidth > 0))
      .map((img) => img.currentSrc || img.src || img.outerHTML.slice(0, 100)),
    widgetViews: views.length,
    // html-manager renders each saved view into a .widget-subarea before its script
    widgetsRendered: [...views].filter((view) => {
      const area = view.previousElementSibling;
      return area && area.classList.contains("widget-subarea")
        && area.querySelector(".jupyter-widgets");
    }).length,
  };
}"""


@dataclass
class Visit:
    """What a browser context saw: every request, and everything that went wrong."""

    requests: list[str] = field(default_factory=list)
    off_host: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def assert_clean(self, where: str) -> None:
        assert not self.off_host, f"{where}: requests to other hosts: {self.off_host}"
        assert not self.problems, f"{where}:\n" + "\n".join(self.problems)


def open_context(chromium, visit: Visit, *, viewport=DESKTOP, theme: str = "light"):
    """A fresh browser context (own storage) that records requests and problems.

    ``theme="dark"`` stores the reader's choice as the theme's switch does
    (pydata-sphinx-theme reads ``localStorage`` before the page is drawn) and asks for
    dark colours.
    """
    context = chromium.new_context(
        viewport=viewport, color_scheme=theme, device_scale_factor=1
    )
    context.add_init_script(  # also runs in frames without storage, hence the try
        f"try {{ localStorage.setItem('mode', '{theme}');"
        f" localStorage.setItem('theme', '{theme}'); }} catch (error) {{}}"
    )

    def block(route):
        visit.off_host.append(route.request.url)
        route.abort()

    context.route(NOT_LOOPBACK, block)
    context.on("request", lambda request: visit.requests.append(request.url))
    context.on(
        "requestfailed",
        lambda request: visit.problems.append(
            f"request failed: {request.url} ({request.failure})"
        ),
    )

    def on_response(response):
        if response.status >= 400:
            visit.problems.append(f"HTTP {response.status}: {response.url}")

    def on_page(page):
        page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and visit.problems.append(
                    f"console error: {msg.text} at {msg.location}"
                )
            ),
        )
        page.on(
            "pageerror", lambda error: visit.problems.append(f"page error: {error}")
        )

    context.on("response", on_response)
    context.on("page", on_page)
    return context


def inspect(page) -> dict:
    """Wait for math and images on the loaded page, then for the network to settle."""
    report = page.evaluate(INSPECT_PAGE)
    page.wait_for_load_state("networkidle")
    return report


def goto(page, url: str) -> dict:
    page.goto(url, wait_until="load")
    return inspect(page)


def pages_to_visit() -> list[str]:
    names = toc_docnames()
    return [*names, "index", "search", "genindex"]


@pytest.mark.parametrize("docname", pages_to_visit())
def test_page_loads_offline_with_math_and_images(chromium, book_server, docname):
    visit = Visit()
    context = open_context(chromium, visit)
    try:
        page = context.new_page()
        if docname == "index":  # a redirect to the landing page
            page.goto(f"{book_server}index.html")
            page.wait_for_url(
                f"{book_server}{toc_docnames()[0]}.html", wait_until="load"
            )
            report = inspect(page)
        else:
            report = goto(page, f"{book_server}{docname}.html")
        if report["widgetViews"]:
            page.wait_for_selector(".widget-subarea .jupyter-widgets", timeout=15_000)
            report = page.evaluate(INSPECT_PAGE)
    finally:
        context.close()
    visit.assert_clean(docname)
    assert not report["untypeset"], (
        f"{docname}: math left untypeset: {report['untypeset']}"
    )
    assert report["typeset"] >= report["math"], report
    assert not report["rawDisplayMath"], f"{docname}: raw $$ left in the page's text"
    assert not report["brokenImages"], (
        f"{docname}: images not loaded: {report['brokenImages']}"
    )
    assert report["widgetsRendered"] == report["widgetViews"], (
        f"{docname}: widgets not drawn"
    )
    if docname in toc_docnames() and source_of(docname).read_text().count("$") >= 2:
        assert report["typeset"], (
            f"{docname}: the source has math but the page shows none"
        )


def test_search_finds_softmax(chromium, book_server):
    visit = Visit()
    context = open_context(chromium, visit)
    try:
        page = context.new_page()
        page.goto(f"{book_server}search.html?q=softmax", wait_until="load")
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('#search-results p.search-summary')"
            " && !/Preparing|Searching/.test("
            "document.querySelector('#search-results p.search-summary').textContent)",
            timeout=30_000,
        )
        hits = page.eval_on_selector_all(
            "#search-results ul.search li a",
            "links => links.map(a => a.getAttribute('href'))",
        )
    finally:
        context.close()
    visit.assert_clean("search.html?q=softmax")
    pages = {href.split("?")[0].split("#")[0] for href in hits}
    assert any(p.startswith(("chapters/", "notebooks/")) for p in pages), hits


def test_tab_choice_persists_to_the_next_page(chromium, book_server, built_book):
    tabbed = [
        name
        for name in toc_docnames()
        if 'data-sync-group="tab"'
        in (built_book / f"{name}.html").read_text(encoding="utf-8")
        and 'data-sync-id="torch"'
        in (built_book / f"{name}.html").read_text(encoding="utf-8")
    ]
    assert tabbed, (
        "no page has framework tabs (tab-set with :sync: numpy/torch/tensorflow)"
    )
    first, then = tabbed[0], tabbed[1] if len(tabbed) > 1 else tabbed[0]
    visit = Visit()
    context = open_context(chromium, visit)
    checked_torch = """() => [
        ...document.querySelectorAll('label.sd-tab-label[data-sync-id]')]
        .filter((label) => ['numpy', 'torch', 'tensorflow']
          .includes(label.dataset.syncId))
        .map((label) => [
          label.dataset.syncId, document.getElementById(label.htmlFor).checked])"""
    try:
        page = context.new_page()
        goto(page, f"{book_server}{first}.html")
        before = page.evaluate(checked_torch)
        assert any(sync == "torch" and not on for sync, on in before), (
            f"{first}: the PyTorch tab is already selected before any choice"
        )
        page.locator('label.sd-tab-label[data-sync-id="torch"]').first.click()
        after = page.evaluate(checked_torch)
        assert all(on == (sync == "torch") for sync, on in after), (
            f"{first}: choosing PyTorch did not switch every synced tab-set: {after}"
        )
        goto(page, f"{book_server}{then}.html")
        remembered = page.evaluate(checked_torch)
        visible = page.locator(
            'label.sd-tab-label[data-sync-id="torch"] + .sd-tab-content'
        ).first.is_visible()
    finally:
        context.close()
    visit.assert_clean(f"{first} then {then}")
    assert remembered and all(on == (sync == "torch") for sync, on in remembered), (
        f"{then}: the PyTorch choice made on {first} was not remembered: {remembered}"
    )
    assert visible, f"{then}: the PyTorch tab's content is not shown"


def test_animation_slider_changes_the_figure(chromium, book_server, built_book):
    assert (built_book / f"{ANIMATION_PAGE}.html").is_file(), (
        f"{ANIMATION_PAGE} is not built"
    )
    visit = Visit()
    context = open_context(chromium, visit)
    try:
        page = context.new_page()
        goto(page, f"{book_server}{ANIMATION_PAGE}.html")
        slider = page.locator("input.anim-slider[type=range]").first
        assert slider.count(), f"{ANIMATION_PAGE} has no jshtml animation slider"
        image = page.locator(
            "#" + slider.get_attribute("id").replace("_anim_slider", "_anim_img")
        )
        slider.scroll_into_view_if_needed()
        page.wait_for_function(
            "id => (document.getElementById(id).getAttribute('src') || '').length > 0",
            arg=image.get_attribute("id"),
        )
        assert int(slider.get_attribute("max")) > 0, "the animation has a single frame"
        first_frame = image.get_attribute("src")
        first_alt = image.get_attribute("alt")
        page.wait_for_timeout(300)
        assert image.get_attribute("src") == first_frame, (
            "the animation plays by itself"
        )
        box = slider.bounding_box()
        page.mouse.click(box["x"] + 0.95 * box["width"], box["y"] + box["height"] / 2)
        moved_frame = image.get_attribute("src")
        moved_value = slider.input_value()
        moved_alt = image.get_attribute("alt")
        spoken = slider.get_attribute("aria-valuetext")
        slider_name = slider.get_attribute("aria-label")
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
        back_frame = image.get_attribute("src")
        back_alt = image.get_attribute("alt")
    finally:
        context.close()
    visit.assert_clean(ANIMATION_PAGE)
    assert int(moved_value) > 0, "moving the slider did not change its value"
    assert moved_frame != first_frame, (
        "moving the slider did not change the drawn frame"
    )
    assert back_frame == first_frame, (
        "moving the slider back did not bring back the first frame"
    )
    # the frame's alt text and the slider's spoken value follow the frame shown
    assert slider_name and first_alt and slider_name in first_alt, (
        slider_name,
        first_alt,
    )
    assert moved_alt != first_alt and back_alt == first_alt, (first_alt, moved_alt)
    assert spoken and spoken in moved_alt, (spoken, moved_alt)


SCREENSHOTS = {  # name suffix: (viewport, theme)
    "": (DESKTOP, "light"),
    "-dark": (DESKTOP, "dark"),
    "-phone": (PHONE, "light"),
}


def test_screenshots(chromium, book_server, screenshots_dir):
    chapter = next(name for name in toc_docnames() if name.startswith("chapters/"))
    shots = {"landing": "intro", "chapter": chapter, "notebook": ANIMATION_PAGE}
    visit = Visit()
    themes = {}
    for suffix, (viewport, theme) in SCREENSHOTS.items():
        context = open_context(chromium, visit, viewport=viewport, theme=theme)
        try:
            page = context.new_page()
            for label, docname in shots.items():
                goto(page, f"{book_server}{docname}.html")
                themes[label + suffix] = page.evaluate(
                    "() => [document.documentElement.dataset.theme, innerWidth]"
                )
                page.screenshot(path=str(screenshots_dir / f"{label}{suffix}.png"))
        finally:
            context.close()
    for suffix, (viewport, theme) in SCREENSHOTS.items():
        for label in shots:
            name = label + suffix
            assert (screenshots_dir / f"{name}.png").stat().st_size > 10_000, name
            assert themes[name] == [theme, viewport["width"]], (name, themes[name])
    visit.assert_clean("screenshots")


# --- what readers see: accessibility, code that fits, equations on a phone -----------

# Every serious or critical violation axe-core finds for the given rules (as axe's own
# `runOnly`: tags or rule ids), with up to three of the elements at fault.
RUN_AXE = """async (only) => {
  const result = await axe.run(document, {runOnly: only, resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id} (${v.nodes.length}x): ${v.help}: `
      + v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " | "
        + (n.failureSummary || "").split("\\n").slice(-1)[0].trim().slice(0, 150))
        .join("; "));
}"""
WCAG_21_AA = {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
# The dark theme changes colours only (same page, same markup), so in dark mode the
# rules that depend on colour run: text contrast, and links told apart from text by
# colour.
COLOUR_RULES = {"type": "rule", "values": ["color-contrast", "link-in-text-block"]}

# Opens every collapsed block (hidden cells, dropdowns) and shows every tab, then
# reports each `pre` whose content is wider than its box: the longest line, and by how
# much.
WIDE_CODE = """() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const style = document.createElement("style");
  style.textContent = ".sd-tab-content { display: block !important; }";
  document.head.append(style);
  return [...document.querySelectorAll("pre")]
    .filter((pre) => pre.getClientRects().length
      && pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => {
      const lines = pre.textContent.split("\\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      const kind = pre.closest(".cell_output, .output") ? "output" : "code";
      return `${kind}, ${pre.scrollWidth - pre.clientWidth} px over `
        + `(${longest.length} chars): ${longest.trim().slice(0, 90)}`;
    });
}"""

# At phone width: the display equations that are cut (neither within the screen nor in a
# keyboard-focusable box within the screen that scrolls sideways to show all of them),
# how many scroll, and how far the page itself scrolls sideways.
PHONE_MATH = """() => {
  const screen = document.documentElement.clientWidth;
  const inside = (r) => r.left >= -1 && r.right <= screen + 1;
  const cut = [];
  let scrolled = 0;
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = eq.querySelector("mjx-math");
    if (!math || !eq.getClientRects().length) continue;
    const need = math.getBoundingClientRect();
    let box = null;
    for (let el = eq; el && el !== document.body; el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowX;
      if (overflow === "auto" || overflow === "scroll") { box = el; break; }
      if (overflow === "hidden" || overflow === "clip") break;
    }
    const scrolls = box && box.scrollWidth > box.clientWidth + 1;
    if (scrolls) scrolled += 1;
    const fine = scrolls
      ? inside(box.getBoundingClientRect()) && box.scrollWidth + 1 >= need.width
        && box.tabIndex >= 0
      : inside(need);
    if (!fine) {
      cut.push(`${Math.round(need.width)} px wide, `
        + (box ? `in a ${Math.round(box.clientWidth)} px box`
          + (box.tabIndex >= 0 ? "" : " that the keyboard cannot reach")
          : "in no box that scrolls")
        + `: ${eq.textContent.slice(0, 50)}`);
    }
  }
  return {cut, scrolled, pageScroll: document.documentElement.scrollWidth - screen};
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(
            f"{AXE_JS} is missing: `make test` installs it (npm install axe-core); "
            "`-m 'not browser'` leaves the browser tests out",
            pytrace=False,
        )
    return AXE_JS.read_text(encoding="utf-8")


@dataclass
class Readers:
    """What every page showed, by page: axe's findings, wide code, cut equations."""

    visit: Visit
    axe: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {"light": {}, "dark": {}}
    )
    wide_code: dict[str, list[str]] = field(default_factory=dict)
    phone: dict[str, list[str]] = field(default_factory=dict)
    equations_scrolled: int = 0


# What the theme's light/dark switch does to the page (pydata-sphinx-theme 0.17 keeps
# the choice in `localStorage` for the next page, and draws this one from these
# attributes), with the theme's colour transitions off, so that axe-core measures the
# colours the reader ends up with rather than a frame of the fade.
SET_THEME = """(theme) => {
  if (!document.getElementById("no-transitions")) {  // colours settle at once
    const style = document.createElement("style");
    style.id = "no-transitions";
    style.textContent = "*, *::before, *::after { transition: none !important; }";
    document.head.append(style);
  }
  document.documentElement.dataset.mode = theme;
  document.documentElement.dataset.theme = theme;
  return getComputedStyle(document.body).backgroundColor;
}"""


def _read_every_page(chromium, book_server, axe_source) -> Readers:
    """One tab over every page, as readers see it. At 1280 px: axe-core's WCAG 2.1 A/AA
    rules in the light theme, then its colour rules with the page switched to dark, then
    the width of every code block; then at 390 px (the viewport resized, as a window
    narrowed or a phone turned: the layout follows), the equations and the page width.
    Pages are loaded once: the book's 25 pages take two to three minutes on two cores,
    most of it axe-core's contrast rule."""
    readers = Readers(Visit())
    context = open_context(chromium, readers.visit)
    try:
        page = context.new_page()
        for docname in [*toc_docnames(), "search", "genindex"]:
            page.set_viewport_size(DESKTOP)
            response = page.goto(f"{book_server}{docname}.html", wait_until="load")
            if not (response and response.ok):
                continue  # the visit records the HTTP error; every test reports it
            report = page.evaluate(INSPECT_PAGE)
            if report["widgetViews"]:
                page.wait_for_selector(".widget-subarea .jupyter-widgets")
            page.add_script_tag(content=axe_source)
            backgrounds = []
            for theme, only in (("light", WCAG_21_AA), ("dark", COLOUR_RULES)):
                backgrounds.append(page.evaluate(SET_THEME, theme))
                if found := page.evaluate(RUN_AXE, only):
                    readers.axe[theme][docname] = found
            page.evaluate(SET_THEME, "light")
            assert backgrounds[0] != backgrounds[1], (
                f"{docname}: the dark theme did not change the page's background"
            )
            if found := page.evaluate(WIDE_CODE):
                readers.wide_code[docname] = found
            page.set_viewport_size(PHONE)
            phone = page.evaluate(PHONE_MATH)
            readers.equations_scrolled += phone["scrolled"]
            found = phone["cut"]
            if phone["pageScroll"] > 1:
                found.append(f"the page scrolls {phone['pageScroll']} px sideways")
            if found:
                readers.phone[docname] = found
    finally:
        context.close()
    return readers


@pytest.fixture(scope="module")
def readers(chromium, book_server, axe_source) -> Readers:
    return _read_every_page(chromium, book_server, axe_source)


def _summary(problems: dict[str, list[str]]) -> str:
    count = sum(map(len, problems.values()))
    lines = [f"{count} on {len(problems)} pages:"]
    for docname, found in problems.items():
        lines += [f"{docname}:", *(f"    {line}" for line in found)]
    return "\n".join(lines)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_serious_violation(readers, theme):
    readers.visit.assert_clean("every page")
    rules = "WCAG 2.1 A/AA" if theme == "light" else "colour (contrast, links)"
    assert not readers.axe[theme], (
        f"axe-core, {theme} theme, serious or critical {rules} violations: "
        + _summary(readers.axe[theme])
    )


def test_code_fits_its_box_at_1280_px(readers):
    readers.visit.assert_clean("every page")
    assert not readers.wide_code, "code wider than its box at 1280 px: " + _summary(
        readers.wide_code
    )


def test_equations_scroll_and_pages_fit_on_a_phone(readers):
    readers.visit.assert_clean("every page")
    assert not readers.phone, (
        "at 390 px, equations cut or pages wider than the screen: "
        + _summary(readers.phone)
    )
    # the book has equations wider than a phone; were there none, nothing was tested
    assert readers.equations_scrolled > 0, "no equation needed to scroll at 390 px"

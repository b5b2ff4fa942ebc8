"""The built book in a real browser: headless Chromium, driven by Playwright, over loopback HTTP.

Every request the pages make is recorded. A request to any host other than 127.0.0.1 is
aborted on the spot and reported as a failure: the book must read offline. Each page must
also load without console errors, failed requests or HTTP errors, show its math typeset by
MathJax and every image decoded. Search, framework tabs that remember the reader's choice, and
the notebook 01 animation slider are exercised as a reader would. Screenshots of the landing
page, a chapter and a notebook page are written to ``_build/screenshots/``.

Skips (with the reason) when /usr/bin/chromium or Playwright is missing, or when
``XENT_BOOK_BUILT=1`` and the book is not built. See conftest.py for ``XENT_BOOK_DIR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from conftest import source_of, toc_docnames

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANIMATION_PAGE = "notebooks/01-entropy-playground"
NOT_LOOPBACK = re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*")
FRAMEWORKS = ("numpy", "torch", "tensorflow")

# Runs in the page once it has loaded: waits for MathJax's first typesetting and for every
# image (lazy ones included), then reports what is wrong.
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
    // html-manager renders each saved view into a .widget-subarea just before its script
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


def open_context(chromium, visit: Visit):
    """A fresh browser context (own storage) that records requests and problems into visit."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})

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
    checked_torch = """() => [...document.querySelectorAll('label.sd-tab-label[data-sync-id]')]
        .filter((label) => ['numpy', 'torch', 'tensorflow'].includes(label.dataset.syncId))
        .map((label) => [label.dataset.syncId, document.getElementById(label.htmlFor).checked])"""
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
        page.wait_for_timeout(300)
        assert image.get_attribute("src") == first_frame, (
            "the animation plays by itself"
        )
        box = slider.bounding_box()
        page.mouse.click(box["x"] + 0.95 * box["width"], box["y"] + box["height"] / 2)
        moved_frame = image.get_attribute("src")
        moved_value = slider.input_value()
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
        back_frame = image.get_attribute("src")
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


def test_screenshots(chromium, book_server, screenshots_dir):
    chapter = next(name for name in toc_docnames() if name.startswith("chapters/"))
    shots = {"landing": "intro", "chapter": chapter, "notebook": ANIMATION_PAGE}
    visit = Visit()
    context = open_context(chromium, visit)
    try:
        page = context.new_page()
        for label, docname in shots.items():
            goto(page, f"{book_server}{docname}.html")
            page.screenshot(path=str(screenshots_dir / f"{label}.png"))
    finally:
        context.close()
    for label in shots:
        assert (screenshots_dir / f"{label}.png").stat().st_size > 10_000, label
    visit.assert_clean("screenshots")

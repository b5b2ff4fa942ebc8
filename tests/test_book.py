"""The book as a product, checked on its sources and on the built HTML (no browser).

The built-HTML tests share one build per session (the ``built_book`` fixture in
conftest.py: ``jupyter-book build . -W -n --keep-going``, or the existing
``_build/html`` when ``XENT_BOOK_BUILT=1``). Set ``XENT_BOOK_DIR`` to test another copy
of the book. No page may show a path of the machine that built it (a reader cannot use
it, and it changes with every build).
"""

from __future__ import annotations

import getpass
import json
import re
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, book_config, book_dir, source_of, toc_docnames

COLAB_HOST = "https://colab.research.google.com"
SETUP_COMMENT = (
    "# Set-up: in Google Colab, install this book's package `xent`; "
    "elsewhere, do nothing."
)


def notebook_docnames() -> list[str]:
    """The notebook pages in the table of contents (a missing source fails another)."""
    return [name for name in toc_docnames() if (book_dir() / f"{name}.ipynb").is_file()]


def built_pages(html: Path) -> list[Path]:
    """Every HTML page of the book (theme templates under _static/ are not pages)."""
    return sorted(
        p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts
    )


def repository() -> tuple[str, str]:
    """``_config.yml``'s repository URL (no trailing slash) and branch."""
    repo = book_config()["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


class _Tags(HTMLParser):
    """Collects (tag, attributes) of every start tag, and <figure> contents."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.figures: list[dict] = []
        self._figure: dict | None = None
        self._in_caption = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if tag == "figure":
            self._figure = {"imgs": [], "caption": "", "id": attributes.get("id", "")}
            self.figures.append(self._figure)
        elif self._figure is not None and tag == "img":
            self._figure["imgs"].append(attributes)
        elif self._figure is not None and tag == "figcaption":
            self._in_caption += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "figcaption" and self._in_caption:
            self._in_caption -= 1

    def handle_data(self, data: str) -> None:
        if self._figure is not None and self._in_caption:
            self._figure["caption"] += data


def parse(page: Path) -> _Tags:
    parser = _Tags()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


# --- sources (fast) ------------------------------------------------------------------


def test_config_points_colab_at_the_repository_on_main():
    config = book_config()
    url, branch = repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert branch == "main"
    assert config["launch_buttons"]["colab_url"].rstrip("/") == COLAB_HOST
    assert (
        config["html"]["use_repository_button"] and config["html"]["use_issues_button"]
    )


def test_every_toc_entry_has_a_source_file():
    for name in toc_docnames():
        source_of(name)  # raises with the page's name when missing


@pytest.mark.parametrize("docname", notebook_docnames())
def test_notebook_colab_cell_installs_from_the_configured_repository(docname):
    url, branch = repository()
    notebook = json.loads(source_of(docname).read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code, f"{docname} has no code cell"
    first = "".join(code[0]["source"])
    assert first.startswith(SETUP_COMMENT), (
        f"{docname}: the first code cell is not the set-up cell"
    )
    assert '"google.colab" in sys.modules' in first, (
        f"{docname}: set-up cell must check for Colab"
    )
    # the address is written once, as `repository`, and the branch in the requirement
    repositories = re.findall(r'^\s+repository = "(\S+)"$', first, re.M)
    branches = re.findall(
        r'^\s+package = f"xent\[notebooks\] @ git\+\{repository\}@([\w./-]+)"$',
        first,
        re.M,
    )
    assert (repositories, branches) == ([url], [branch]), (
        f"{docname}: the set-up cell installs from {repositories}@{branches}, "
        f"but _config.yml's repository is {url}@{branch}"
    )


@pytest.mark.parametrize("docname", notebook_docnames())
def test_notebook_setup_cell_is_short_or_hidden_with_a_note(docname):
    notebook = json.loads(source_of(docname).read_text(encoding="utf-8"))
    cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    lines = "".join(cell["source"]).splitlines()
    assert max(map(len, lines)) <= 88, f"{docname}: a set-up line is wider than 88"
    if len(lines) <= 3:
        return
    metadata = cell["metadata"]
    assert "hide-input" in metadata.get("tags", []), (
        f"{docname}: a set-up cell of {len(lines)} lines must be hidden (`hide-input`)"
    )
    note = metadata.get("mystnb", {}).get("code_prompt_show", "")
    assert "Colab" in note and "\n" not in note and len(note) <= 88, (
        f"{docname}: the hidden set-up cell needs a one-line note; got {note!r}"
    )


# --- the built book ------------------------------------------------------------------


@pytest.mark.slow
def test_build_succeeds_with_warnings_as_errors(built_book):
    # The fixture fails with the log when `jupyter-book build -W` fails; what it leaves
    # must be a whole book with a landing page.
    assert (built_book / "index.html").is_file()
    assert (built_book / "searchindex.js").is_file()


@pytest.mark.slow
def test_every_toc_entry_has_a_built_page(built_book):
    missing = [
        name for name in toc_docnames() if not (built_book / f"{name}.html").is_file()
    ]
    assert not missing, f"no built page for: {missing}"
    for name in toc_docnames():
        title = re.search(
            r"<title>(.*?)</title>", (built_book / f"{name}.html").read_text()
        )
        assert title and title.group(1).strip(), f"{name}.html has no title"


@pytest.mark.slow
def test_every_page_has_the_repository_and_issue_buttons(built_book):
    url, _ = repository()
    for name in toc_docnames():
        links = {
            attrs.get("href", "")
            for tag, attrs in parse(built_book / f"{name}.html").tags
        }
        assert url in links, f"{name}: no repository button"
        assert any(link.startswith(f"{url}/issues/new?") for link in links), (
            f"{name}: no issue button"
        )


@pytest.mark.slow
@pytest.mark.parametrize("docname", notebook_docnames())
def test_notebook_page_has_its_colab_launch_link(built_book, docname):
    url, branch = repository()
    owner_repo = urlsplit(url).path.strip("/")
    path_to_book = (book_config()["repository"].get("path_to_book") or "").strip("/")
    path = "/".join(p for p in (path_to_book, f"{docname}.ipynb") if p)
    expected = f"{COLAB_HOST}/github/{owner_repo}/blob/{branch}/{path}"
    tags = parse(built_book / f"{docname}.html").tags
    links = [attrs.get("href", "") for tag, attrs in tags if tag == "a"]
    colab = [href for href in links if href.startswith(COLAB_HOST)]
    assert colab == [expected], f"{docname}: Colab links {colab}, expected [{expected}]"


@pytest.mark.slow
def test_no_page_loads_a_script_or_style_from_another_host(built_book):
    offenders = []
    for page in built_pages(built_book):
        for tag, attrs in parse(page).tags:
            if tag == "script":
                address = attrs.get("src", "")
            elif tag == "link" and attrs.get("rel", "") not in (
                "canonical",
                "alternate",
            ):
                address = attrs.get("href", "")
            else:
                continue
            if address.startswith(("http:", "https:", "//")):
                offenders.append(f"{page.relative_to(built_book)}: <{tag}> {address}")
    assert not offenders, "pages load files from other hosts:\n" + "\n".join(offenders)


@pytest.mark.slow
def test_no_stylesheet_imports_from_another_host(built_book):
    remote = re.compile(
        r"(?:@import\s+(?:url\()?|url\()\s*[\"']?((?:https?:)?//[^\"')\s]+)"
    )
    offenders = [
        f"{css.relative_to(built_book)}: {match}"
        for css in built_book.rglob("*.css")
        for match in remote.findall(
            re.sub(r"/\*.*?\*/", "", css.read_text(), flags=re.S)
        )
    ]
    assert not offenders, "stylesheets fetch from other hosts:\n" + "\n".join(offenders)


@pytest.mark.slow
def test_math_and_widgets_are_served_by_the_book(built_book):
    config = book_config()["sphinx"]["config"]
    assert not (book_dir() / "_static").exists(), (
        "a root _static/ makes Jupyter Book load every .js/.css under html_static_path "
        "on every page; keep static files in assets/"
    )
    mathjax = built_book / "_static" / config["mathjax_path"]
    assert mathjax.is_file(), f"MathJax is not in the build: {mathjax}"
    fonts = list(
        (mathjax.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")
    )
    assert fonts, "MathJax's CHTML fonts are not in the build"
    for script in config["nb_ipywidgets_js"]:
        assert not script.startswith(("http:", "https:", "//")), script
        assert (built_book / "_static" / script).is_file(), (
            f"widget script {script} not built"
        )
    for page in built_pages(built_book):
        text = page.read_text(encoding="utf-8")
        if 'class="math' in text:
            assert config["mathjax_path"] in text, (
                f"{page.name} shows math but loads no MathJax"
            )


@pytest.mark.slow
def test_figures_have_captions_and_alt_text(built_book):
    problems = []
    for page in built_pages(built_book):
        for figure in parse(page).figures:
            where = f"{page.relative_to(built_book)} figure {figure['id'] or '(no id)'}"
            if not figure["caption"].strip():
                problems.append(f"{where}: no caption")
            for img in figure["imgs"]:
                alt = img.get("alt", "").strip()
                # Sphinx writes the image's own path as alt text when none is given.
                if (
                    not alt
                    or alt == img.get("src")
                    or alt.endswith((".png", ".svg", ".jpg"))
                ):
                    problems.append(f"{where}: no alt text (give the figure an :alt:)")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_every_image_has_alt_text_that_describes_it(built_book):
    # A notebook's figure gets its alt text from its cell's metadata
    # ({"mystnb": {"image": {"alt": "..."}}}); without it Sphinx writes the image's own
    # file name, which tells a reader who cannot see the figure nothing.
    problems = []
    for page in built_pages(built_book):
        for tag, attrs in parse(page).tags:
            if tag != "img":
                continue
            alt = attrs.get("alt", "").strip()
            if (
                not alt
                or alt == attrs.get("src")
                or alt.endswith((".png", ".svg", ".jpg"))
            ):
                name = (alt or attrs.get("src", "") or attrs.get("id", "")).split("/")[
                    -1
                ]
                problems.append(f"{page.relative_to(built_book)}: {name[:40]}")
    assert not problems, (
        f"{len(problems)} images without alt text (give the figure's cell "
        '{"mystnb": {"image": {"alt": "..."}}}):\n' + "\n".join(problems)
    )


# --- no build leftovers: paths of the machine that built the book ------------------

# Folders under which a machine keeps its users, checkouts and temporary files, as the
# start of an absolute path (not after a letter, dot, slash or colon: URLs and relative
# paths such as ``https://host/home/x`` or ``../tmp/x`` are not machine paths).
MACHINE_ROOTS = re.compile(
    r"(?<![\w.~/:-])/(?:home|Users|root|tmp|var/folders|var/tmp|private|mnt|media|opt"
    r"|srv|scratch|work|builds|runner|github/workspace|usr/local|content)/[\w.@+-]"
    r"|\b[A-Za-z]:\\(?:Users|Windows|Temp|ProgramData)\\",
)


def machine_patterns() -> list[re.Pattern[str]]:
    """This machine's own folders as the start of a path, and its user's name in one."""
    folders = {
        REPO,
        book_dir(),
        Path.home(),
        Path(tempfile.gettempdir()),
        Path(sys.prefix),
        Path(sys.base_prefix),
    }
    names = {str(f) for f in folders} | {str(f.resolve()) for f in folders}
    patterns = [
        re.compile(rf"(?<![\w.~/:-]){re.escape(name)}(?![\w.-])")
        for name in sorted(names, key=len, reverse=True)
        if len(name) > 1
    ]
    user = re.escape(getpass.getuser())
    patterns.append(re.compile(rf"[/\\]{user}[/\\]|(?<![\w.-]){user}@[\w-]"))
    return [MACHINE_ROOTS, *patterns]


def leftovers(text: str, patterns: list[re.Pattern[str]]) -> list[str]:
    """Each machine path or user name in text (not inside a URL), with some context."""
    starts = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            token = re.split(
                r"[\s\"'(<>=]", text[max(0, match.start() - 200) : match.start()]
            )
            if "://" not in token[-1]:
                starts.add(match.start())
    return [
        text[max(0, start - 40) : start + 80].replace("\n", " ")
        for start in sorted(starts)
    ]


def test_leftover_finder_flags_machine_paths_and_not_urls():
    machine = [
        MACHINE_ROOTS,
        re.compile(r"(?<![\w.~/:-])/data/alice(?![\w.-])"),
        re.compile(r"[/\\]alice[/\\]|(?<![\w.-])alice@[\w-]"),
    ]
    flagged = [
        "saved in /work/main/_build/wandb/offline-run-1",
        "cache at /tmp/pytest-of-root/pytest-3/x",
        "see /home/bob/notes.txt",
        "C:\\Users\\bob\\AppData",
        "/Users/carol/Library/x",
        "run by alice@build-7",
        "<pre>/content/drive/x</pre>",
        "written to /data/alice/runs",
        "in /nfs/alice/book",
    ]
    clean = [
        "https://github.com/home/tmp/x",
        "../_images/a.png and _static/tmp/x.css",
        "the ratio 1/2 and a / b",
        "wandb/offline-run-20260101_000000-abc (relative to the book)",
        "square root/home-grown, tmp/",
        "https://github.com/alice/book and /data/alicebook",
    ]
    for text in flagged:
        assert leftovers(text, machine), text
    for text in clean:
        assert not leftovers(text, machine), text


@pytest.mark.slow
def test_no_page_shows_a_path_of_the_build_machine(built_book):
    # Every page readers can open or download: the HTML pages (text, code, outputs,
    # widget state, attributes), the executed notebooks and sources under _sources/, and
    # the search index, which holds the text of every page.
    machine = machine_patterns()
    files = [
        *built_pages(built_book),
        *sorted((built_book / "_sources").rglob("*")),
        built_book / "searchindex.js",
    ]
    problems = {}
    for path in files:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found = leftovers(text, machine)
            if found:
                problems[str(path.relative_to(built_book))] = found
    count = sum(map(len, problems.values()))
    assert not problems, (
        f"{count} machine paths or user names on {len(problems)} pages:\n"
        + "\n".join(
            f"{page}: ...{found[0]}..." + (f" (+{len(found) - 1})" if found[1:] else "")
            for page, found in problems.items()
        )
    )


def _book_readers():
    sys.path.insert(0, str(REPO / "assets" / "sphinx"))
    try:
        import book_readers
    finally:
        sys.path.pop(0)
    return book_readers


def test_native_log_lines_leave_stderr_outputs_and_the_rest_stays():
    from docutils import nodes
    from docutils.utils import new_document

    book_readers = _book_readers()
    native = (
        "WARNING: All log messages before absl::InitializeLog() is called are written "
        "to STDERR\nI0000 00:00:1796116946.700169    9288 port.cc:153] oneDNN custom "
        "operations are on.\n"
    )
    document = new_document("page")
    only_native = nodes.literal_block(native, native, classes=["output", "stderr"])
    mixed_text = native + "UserWarning: something a reader should see\n"
    mixed = nodes.literal_block(mixed_text, mixed_text, classes=["output", "stderr"])
    stdout = nodes.literal_block(native, native, classes=["output", "stream"])
    for node in (only_native, mixed, stdout):
        document += nodes.container("", node)
    book_readers.drop_native_log_lines(None, document, "page")
    blocks = [b.astext() for b in document.findall(nodes.literal_block)]
    assert blocks == ["UserWarning: something a reader should see\n", native], blocks


@pytest.mark.slow
def test_no_page_shows_native_log_lines(built_book):
    pattern = _book_readers().NATIVE_LOG_LINE
    found = [
        str(page.relative_to(built_book))
        for page in built_pages(built_book)
        if pattern.search(page.read_text(encoding="utf-8"))
    ]
    assert not found, f"timestamped C++ log lines on {found}"

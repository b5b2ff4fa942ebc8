"""Repository hygiene: cheap imports, lint, stripped notebooks, one list of
dependencies.

The tools these tests run (ruff, mypy, nbstripout) are test dependencies: a missing one
fails the test and says how to install it, it never skips.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> Path:
    """The executable ``name`` beside this Python, or a failure saying how to get it."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(
            f"{name} is missing from {path.parent}: it is a test dependency; install "
            f"the test extra (`pip install -e '.[test]'`, or `make test` does it)",
            pytrace=False,
        )
    return path


def run_python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return out.stdout.strip()


def test_import_xent_imports_no_framework():
    code = (
        "import sys, xent, xent.numpy, xent._checks\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', "
        "'matplotlib', 'wandb') "
        "if m in sys.modules))"
    )
    assert run_python(code) == "[]"


@pytest.mark.heavy  # a fresh process imports PyTorch
def test_torch_backend_imports_torch_only():
    pytest.importorskip("torch")
    code = (
        "import sys\nfrom xent import torch as xt\n"
        "print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    assert run_python(code) == "True False"


@pytest.mark.heavy  # a fresh process imports TensorFlow (about 10 s)
def test_tensorflow_backend_imports_tensorflow_only():
    pytest.importorskip("tensorflow")
    code = (
        "import sys\nfrom xent import tensorflow as xtf\n"
        "print('tensorflow' in sys.modules, 'torch' in sys.modules)"
    )
    assert run_python(code).splitlines()[-1] == "True False"


def test_backends_are_reachable_as_attributes():
    assert (
        run_python("import xent; print(xent.numpy.softmax.__module__)") == "xent.numpy"
    )


def test_ruff_lint_and_format_are_clean():
    ruff = tool("ruff")
    lint = subprocess.run(
        [ruff, "check", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [ruff, "format", "--check", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.heavy  # a cold mypy run over the package takes about 30 s
def test_mypy_is_clean_on_the_package():
    # The configuration, [tool.mypy] in pyproject.toml, names the files and the rules:
    # every function annotated, frameworks without usable types typed as Any.
    mypy = tool("mypy")
    out = subprocess.run([mypy], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


# A module is one idea that reads top to bottom: about 400 lines at most. The largest,
# xent/torch.py, is the shared API in the backends' common order (see xent/_docs.py).
MAX_MODULE_LINES = 470


def test_no_module_of_the_package_is_longer_than_one_idea():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "xent").rglob("*.py"))
    }
    assert len(lengths) > 40  # the whole package was found
    too_long = {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES}
    assert not too_long, too_long


def tracked_notebooks() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "*.ipynb"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return [ROOT / p for p in out.stdout.split()] or sorted(
        ROOT.glob("notebooks/*.ipynb")
    )


def test_notebooks_are_committed_without_outputs():
    nbstripout = tool("nbstripout")
    notebooks = tracked_notebooks()
    assert notebooks, "no notebooks found"
    check = subprocess.run(
        [nbstripout, "--verify", *notebooks],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for path in notebooks:  # and, read directly: no outputs, no execution counts
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, (
                    path.name
                )


def declared_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs |= set(extra)
    return {r.replace(" ", "") for r in reqs}


def test_environment_yml_lists_what_pyproject_declares():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {r.replace(" ", "") for r in pip if not r.startswith("-")}
    assert listed == declared_requirements()
    assert "--editable ." in pip
    python = next(
        d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")
    )
    assert python.split("=")[-1] in ("3.10", "3.11", "3.12")


def test_ci_pins_cpu_builds_and_the_book_toolchain():
    ci = (ROOT / "requirements" / "ci.txt").read_text()
    constraints = (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in ci.split()
    assert "tensorflow-cpu" in ci.split()
    pins = dict(line.split("==", 1) for line in constraints if "==" in line)
    assert pins["jupyter-book"] == "1.0.4.post1"
    for package in ("Sphinx", "myst-nb", "sphinx-book-theme", "sphinxcontrib-bibtex"):
        assert package in pins, package
    ci_script = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci_script and "make test" in readme

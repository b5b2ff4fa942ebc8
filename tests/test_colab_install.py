"""The package installs and works where the notebooks' Colab cell installs it.

Colab comes with NumPy, Matplotlib, PyTorch, TensorFlow and ipywidgets installed; the
first cell of every notebook then pip-installs ``xent`` from the repository. This test
rebuilds that situation on this machine, honestly and in well under two minutes:

1. It builds a wheel (``python -m build --wheel``) from a copy of the package's sources,
   so the checkout is left untouched, and checks what the wheel holds and declares.
2. It creates a fresh virtual environment (no system site-packages) and makes the "Colab
   preinstalled" set visible in it: the distributions named above, with everything they
   require, taken from the test's own environment and linked into one folder that a
   ``.pth`` file adds to the new environment's path. Nothing else of the test
   environment is visible (no pytest, no wandb, no editable ``xent``). Downloading
   PyTorch and TensorFlow afresh would cost minutes and gigabytes for no extra proof:
   what is under test is our package. (Namespace folders shared by several
   distributions, such as ``google/``, come along whole.)
3. ``pip install --no-index`` of the wheel into that environment succeeds only if the
   dependencies the wheel declares are satisfied by what Colab already has, without a
   network.
4. In that environment, outside the repository, ``import xent`` imports neither torch
   nor TensorFlow, and the NumPy, PyTorch and TensorFlow backends all compute the same
   cross-entropy as ``torch.nn.functional.cross_entropy`` and a direct NumPy formula.

A second, fast test runs each notebook's set-up cell itself, once with a stand-in
``google.colab`` module and once without, with a ``subprocess.run`` that records its
arguments: in "Colab" it runs the kernel's own pip, once, for ``xent[notebooks]`` from
``_config.yml``'s repository and branch; anywhere else it does nothing.

Here TensorFlow is the ``tensorflow-cpu`` distribution (Colab's is ``tensorflow``),
which is why the test installs the wheel without its ``[tensorflow]`` extra.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
COLAB_PROVIDES = ("numpy", "matplotlib", "torch", "tensorflow", "ipywidgets")
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "xent")

CHECK_IN_COLAB_VENV = r"""
import json, sys
import importlib.metadata as md

import xent
loaded = sorted({"torch", "tensorflow", "keras"} & set(sys.modules))

import numpy as np
logits = np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 0.3, 0.4], [-3.0, 4.0, 0.0, 1.0]])
target = np.array([0, 3, 1])
picked = logits[np.arange(3), target]
by_formula = float(np.mean(np.log(np.exp(logits).sum(-1)) - picked))

from xent import numpy as xn
losses = {"numpy": float(xn.cross_entropy(logits, target))}
loaded_by_numpy_backend = sorted({"torch", "tensorflow"} & set(sys.modules))

import torch
from xent import torch as xt
logits_t, target_t = torch.tensor(logits), torch.tensor(target)
losses["torch"] = float(xt.cross_entropy(logits_t, target_t))
oracle = float(torch.nn.functional.cross_entropy(logits_t, target_t))

import tensorflow as tf
from xent import tensorflow as xtf
logits_tf, target_tf = tf.constant(logits), tf.constant(target)
losses["tensorflow"] = float(xtf.cross_entropy(logits_tf, target_tf))

print(json.dumps({
    "file": xent.__file__,
    "version": md.version("xent"),
    "loaded_by_import_xent": loaded,
    "loaded_by_numpy_backend": loaded_by_numpy_backend,
    "losses": losses,
    "by_formula": by_formula,
    "torch_oracle": oracle,
}))
"""


def _distribution(name: str) -> md.Distribution:
    for candidate in (name, f"{name}-cpu"):  # tensorflow-cpu stands in for tensorflow
        try:
            return md.distribution(candidate)
        except md.PackageNotFoundError:
            continue
    pytest.skip(
        f"{name} is not installed here, so the Colab environment cannot be rebuilt"
    )


def _requirement_closure(names: tuple[str, ...]) -> list[md.Distribution]:
    """The distributions named and all they require (markers evaluated, no extras)."""
    seen: dict[str, md.Distribution] = {}
    todo = [_distribution(name) for name in names]
    while todo:
        dist = todo.pop()
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                todo.append(md.distribution(requirement.name))
            except md.PackageNotFoundError:
                continue  # an optional dependency the test environment lacks
    return list(seen.values())


def _link_distributions(dists: list[md.Distribution], folder: Path) -> None:
    """Symlink each distribution's top-level modules and metadata folder into folder."""
    folder.mkdir()
    for dist in dists:
        for entry in dist.files or []:
            top = entry.parts[0]
            if top in ("..", "__pycache__") or (folder / top).exists():
                continue
            source = Path(dist.locate_file(top))
            if source.exists():
                (folder / top).symlink_to(source)


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "src"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(
                path, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif path.exists():
            shutil.copy2(path, source / name)
    command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp / "dist")]
    try:  # build with this environment's setuptools when it is new enough: no download
        if Version(md.version("setuptools")) >= Version("77"):
            command.append("--no-isolation")
    except md.PackageNotFoundError:
        pass
    result = subprocess.run(command + [str(source)], capture_output=True, text=True)
    assert result.returncode == 0, (
        f"building the wheel failed:\n{result.stdout}\n{result.stderr}"
    )
    (wheel,) = (tmp / "dist").glob("xent-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_colab_like_environment(tmp_path):
    pytest.importorskip(
        "build", reason="the `build` package is needed to build the wheel"
    )
    wheel = _build_wheel(tmp_path)

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(
            next(n for n in names if n.endswith(".dist-info/METADATA"))
        )
    modules = {n for n in names if n.startswith("xent/")}
    for module in ("__init__.py", "numpy.py", "torch.py", "tensorflow.py", "py.typed"):
        assert f"xent/{module}" in modules, f"the wheel lacks xent/{module}"
    assert all(n.startswith(("xent/", "xent-")) for n in names), names
    requires = [
        line.split(":", 1)[1].strip()
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    required = [r for r in requires if "extra ==" not in r]
    assert [Requirement(r).name for r in required] == ["numpy"], required
    extras = re.findall(r"^Provides-Extra: (\S+)$", metadata.decode(), re.M)
    assert "notebooks" in extras, f"the set-up cells install xent[notebooks]; {extras}"

    environment = tmp_path / "colab"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(environment)
    python = environment / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    preinstalled = tmp_path / "colab-preinstalled"
    _link_distributions(_requirement_closure(COLAB_PROVIDES), preinstalled)
    (Path(purelib) / "colab_preinstalled.pth").write_text(f"{preinstalled}\n")

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", TF_CPP_MIN_LOG_LEVEL="3")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-cache-dir", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, (
        "installing the wheel with only Colab's packages and no index failed:\n"
        f"{install.stdout}\n{install.stderr}"
    )

    run = subprocess.run(
        [python, "-I", "-c", CHECK_IN_COLAB_VENV],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, (
        f"xent failed in the Colab-like environment:\n{run.stderr[-4000:]}"
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(environment), (
        f"xent was imported from {report['file']}, not from the installed wheel"
    )
    declared = re.search(
        r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M
    )[1]
    assert report["version"] == declared, report["version"]
    assert report["loaded_by_import_xent"] == [], "`import xent` imported a framework"
    assert report["loaded_by_numpy_backend"] == [], (
        "the NumPy backend imported a framework"
    )
    for backend, loss in report["losses"].items():
        assert loss == pytest.approx(report["by_formula"], rel=1e-12), (backend, report)
        assert loss == pytest.approx(report["torch_oracle"], rel=1e-12), (
            backend,
            report,
        )


# Runs each notebook's set-up cell as Jupyter would, with `subprocess.run` recording its
# arguments instead of starting pip.
RUN_SETUP_CELLS = r"""
import json, subprocess, sys, types

calls = []

def record(args, **options):
    calls.append({"args": list(args), "options": options})
    return subprocess.CompletedProcess(args, 0)

subprocess.run = record
report = {"python": sys.executable, "notebooks": {}}
for path in sys.argv[1:]:
    notebook = json.load(open(path, encoding="utf-8"))
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    runs = {}
    for place in ("elsewhere", "colab"):
        if place == "colab":
            sys.modules["google.colab"] = types.ModuleType("google.colab")
        calls.clear()
        exec(compile("".join(cell["source"]), path, "exec"), {"__name__": "__main__"})
        runs[place] = list(calls)
        sys.modules.pop("google.colab", None)
    report["notebooks"][path] = runs
print(json.dumps(report))
"""


def test_setup_cell_pip_installs_xent_in_colab_and_does_nothing_elsewhere():
    from conftest import book_config, book_dir

    repository = book_config()["repository"]
    url = repository["url"].rstrip("/")
    branch = repository.get("branch", "main")
    notebooks = sorted((book_dir() / "notebooks").glob("*.ipynb"))
    assert notebooks
    run = subprocess.run(
        [sys.executable, "-c", RUN_SETUP_CELLS, *map(str, notebooks)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for path, runs in report["notebooks"].items():
        name = Path(path).name
        assert runs["elsewhere"] == [], (name, runs)
        (call,) = runs["colab"]  # exactly one pip call
        assert call["options"] == {"check": True}, (name, call)
        python, *command, argument = call["args"]
        assert python == report["python"], (name, call)  # the kernel's own Python
        assert command == ["-m", "pip", "install", "-q"], (name, call)
        requirement = Requirement(argument)
        assert requirement.name == "xent", (name, argument)
        assert requirement.extras == {"notebooks"}, (name, argument)
        assert requirement.url == f"git+{url}@{branch}", (name, argument)

"""Run a notebook's code cells in order in this Python, without Jupyter:
``run_notebook.py NB``.

For machines that have the notebook's libraries but no Jupyter kernel (the GPU machine
of ``scripts/gpu-check.sh``). The cells share one namespace, as in a kernel; figures go
to the Agg backend; each cell's time is printed after its own output. The tests execute
notebooks in a real kernel (``tests/test_notebooks.py``); this is only a way to run them
elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(path: str) -> None:
    notebook = Path(path).resolve()
    os.environ.setdefault("MPLBACKEND", "agg")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.chdir(notebook.parent)  # as Jupyter does: relative paths start at the notebook
    cells = json.loads(notebook.read_text())["cells"]
    namespace: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not source.strip():
            continue
        if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
            raise SystemExit(
                f"cell {index} uses IPython syntax; run it in Jupyter instead"
            )
        began = time.perf_counter()
        exec(compile(source, f"{notebook.name}[cell {index}]", "exec"), namespace)  # noqa: S102
        print(
            f"[{notebook.name} cell {index}: {time.perf_counter() - began:.1f} s]",
            flush=True,
        )
    print(f"[{notebook.name}: all cells ran in {time.perf_counter() - start:.1f} s]")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/run_notebook.py NOTEBOOK.ipynb")
    main(sys.argv[1])

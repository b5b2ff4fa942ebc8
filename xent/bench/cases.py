"""What the benchmark measures: the implementations, the sizes, the cases, their data.

A *case* is a small dict that says what to run once: ``kind`` (``"ce"``, the loss of
given logits; ``"linear"``, the output layer and its loss; ``"parallel"``, the loss of
class-sharded logits on several processes), ``impl`` (a key of :data:`FRAMEWORK`),
``mode`` (``"fwd"`` or ``"fwdbwd"``), the sizes (``n`` and ``c``; for the linear form
``n``, ``d`` and ``v``) and ``device``; optionally ``seed``, ``chunk_size`` and
``options`` (the language-model options of chapter "Training language models"). A *row*
is a case with its results added. The tables below choose the cases of the default run,
of ``--full`` and of ``--quick``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

Case: TypeAlias = dict[str, Any]
Row: TypeAlias = dict[str, Any]

# Each implementation and the framework that runs it (which decides how its memory is
# measured). Of the cross-entropy kind: the two exponential floors (below), xent's
# three backends, PyTorch's F.cross_entropy eager and compiled, xent.torch compiled,
# and TensorFlow's sparse softmax cross-entropy. Of the linear kind: the eager
# composition F.cross_entropy(F.linear(h, W, b), y), xent.torch.linear_cross_entropy
# ("chunked"), and both compiled. Of the parallel kind: xent's
# vocab_parallel_cross_entropy and F.cross_entropy under loss_parallel().
FRAMEWORK = {
    "numpy-exp-only": "numpy",
    "torch-exp-only": "torch",
    "xent-numpy": "numpy",
    "xent-torch": "torch",
    "torch-eager": "torch",
    "torch-compile": "torch",
    "xent-compile": "torch",
    "xent-tf": "tensorflow",
    "tf-sparse": "tensorflow",
    "eager": "torch",
    "chunked": "torch",
    "eager-compile": "torch",
    "chunked-compile": "torch",
    "vocab-parallel": "torch",
    "loss-parallel": "torch",
}
# Not losses: the exponentials of every logit, a block of rows at a time, a floor for
# the time of any forward pass in that library (every softmax-based loss evaluates
# N x C of them).
EXP_FLOORS = ("numpy-exp-only", "torch-exp-only")
# Compiled implementations and the compiled baseline each is compared with.
COMPILED_BASELINE = {
    "xent-compile": "torch-compile",
    "chunked-compile": "eager-compile",
}
LINEAR_IMPLS = ("eager", "chunked", "eager-compile", "chunked-compile")
PARALLEL_IMPLS = ("vocab-parallel", "loss-parallel")

# The default run (``make bench``, under three minutes on two cores): the notebooks'
# size, where the cost per call dominates, and one size where the logits' memory
# matters; the compiled rows there for forward and backward only. ``--full`` adds a mid
# size, the language-model sizes and the compiled forward rows; ``--quick`` is a smoke
# test. Sizes are (rows, classes).
DEFAULT_SIZES = [(1024, 10), (4096, 4096)]
FULL_SIZES = [(1024, 10), (1024, 1000), (4096, 4096), (4096, 32000), (1024, 128256)]
QUICK_SIZES = [(64, 10), (256, 1000)]
# The linear form: rows, hidden size, vocabulary, and the chunk sizes of its sweep.
DEFAULT_LINEAR = {"n": 1024, "d": 256, "v": 8192, "chunk_sizes": [256]}
FULL_LINEAR = {"n": 2048, "d": 512, "v": 32000, "chunk_sizes": [64, 256, 1024, 2048]}
QUICK_LINEAR = {"n": 128, "d": 32, "v": 1000, "chunk_sizes": [16, 64]}
# The language-model options (chapter "Training language models") at PaLM's and Gemma
# 2's values, each timed against the same call without it.
OPTIONS = [
    {"z_loss_scale": 1e-4},
    {"softcap": 30.0},
    {"z_loss_scale": 1e-4, "softcap": 30.0},
]
# vocab_parallel_cross_entropy and loss_parallel on two CPU processes: (rows, classes).
DEFAULT_PARALLEL = (1024, 8192)
FULL_PARALLEL = (4096, 32000)
QUICK_PARALLEL = (64, 256)

# The cross-entropy plan for each size: (implementation, pass).
_CE_PLAN = [
    ("numpy-exp-only", "fwd"),
    ("torch-exp-only", "fwd"),
    ("xent-numpy", "fwd"),
    ("xent-torch", "fwd"),
    ("torch-eager", "fwd"),
    ("torch-compile", "fwd"),
    ("xent-compile", "fwd"),
    ("xent-tf", "fwd"),
    ("tf-sparse", "fwd"),
    ("xent-torch", "fwdbwd"),
    ("torch-eager", "fwdbwd"),
    ("torch-compile", "fwdbwd"),
    ("xent-compile", "fwdbwd"),
    ("xent-tf", "fwdbwd"),
    ("tf-sparse", "fwdbwd"),
]


def available(name: str) -> str | None:
    """Why a framework cannot be benchmarked here, or None when it can."""
    return None if importlib.util.find_spec(name) else f"{name} is not installed"


def memory_allows(nbytes: int, device: str) -> bool:
    """Room for about eight copies of the logits (the eager forward and backward need
    about four).
    """
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return 8 * nbytes < free
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return 8 * nbytes < int(line.split()[1]) * 1024
    return True  # no /proc (not Linux): assume there is room


def ce_cases(
    sizes: list[tuple[int, int]],
    device: str,
    compile_torch: bool,
    compiled_forward: bool = True,
) -> tuple[list[Case], list[Row]]:
    """The cross-entropy cases, and rows for those that cannot run (with the reason in
    ``note``). Each size gets the plan above; ``xent-torch`` forward and backward also
    gets one case per language-model option.
    """
    cases: list[Case] = []
    skipped: list[Row] = []
    for n, c in sizes:
        for impl, mode in _CE_PLAN:
            compiled = impl in ("torch-compile", "xent-compile")
            if compiled and mode == "fwd" and not compiled_forward:
                continue  # each compiled pass costs a compilation: the default has one
            if impl in EXP_FLOORS and device != "cpu":
                continue  # the floors explain the CPU table; a GPU's exp is no limit
            case = {"kind": "ce", "impl": impl, "mode": mode, "n": n, "c": c}
            # xent.numpy runs on the CPU whatever the device of the others.
            case["device"] = "cpu" if impl == "xent-numpy" else device
            framework = FRAMEWORK[impl]
            why = None if framework == "numpy" else available(framework)
            if why is None and compiled and not compile_torch:
                why = "skipped (--no-compile; compiling takes ~30 s here)"
            if why is None and not memory_allows(4 * n * c, device):
                why = "skipped: not enough free memory"
            if why:
                skipped.append({**case, "note": why})
                continue
            cases.append(case)
            if impl == "xent-torch" and mode == "fwdbwd":
                cases += [{**case, "options": o} for o in OPTIONS]
    return cases, skipped


def linear_cases(
    spec: dict[str, Any], device: str, compile_torch: bool = False
) -> list[Case]:
    """The linear-form cases of ``spec`` (``n``, ``d``, ``v``, ``chunk_sizes``): the
    eager composition, the chunk-size sweep, the options at the largest chunk, and the
    compiled pair when ``compile_torch``.
    """
    base = {"kind": "linear", "mode": "fwdbwd", "device": device}
    base.update(n=spec["n"], d=spec["d"], v=spec["v"])
    largest = {**base, "impl": "chunked", "chunk_size": spec["chunk_sizes"][-1]}
    compiled = [{**base, "impl": "eager-compile"}, {**base, "impl": "chunked-compile"}]
    return (
        [{**base, "impl": "eager"}]
        + [{**base, "impl": "chunked", "chunk_size": cs} for cs in spec["chunk_sizes"]]
        + [{**largest, "options": o} for o in OPTIONS]
        + (compiled if compile_torch else [])
    )


def ce_data(case: Case) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The seeded logits ``(n, c)`` and class indices ``(n,)`` of a case."""
    rng = np.random.default_rng(case.get("seed", 0))
    n, c = int(case["n"]), int(case["c"])
    logits = rng.standard_normal((n, c), dtype=np.float32)
    target = rng.integers(0, c, size=n)
    return logits, target


def linear_data(
    case: Case,
) -> tuple[
    NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]
]:
    """The seeded hidden states ``(n, d)``, weight ``(v, d)``, bias ``(v,)`` and class
    indices ``(n,)`` of a linear case; the weight is scaled so that logits are O(1).
    """
    rng = np.random.default_rng(case.get("seed", 0))
    n, d, v = int(case["n"]), int(case["d"]), int(case["v"])
    hidden = rng.standard_normal((n, d), dtype=np.float32)
    weight = (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(
        np.float32
    )
    bias = (0.1 * rng.standard_normal(v)).astype(np.float32)
    target = rng.integers(0, v, size=n)
    return hidden, weight, bias, target

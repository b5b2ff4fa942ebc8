"""xent: cross-entropy loss in NumPy, PyTorch and TensorFlow, with one API.

Importing ``xent`` is cheap: it imports neither PyTorch nor TensorFlow. Pick a backend::

    from xent import numpy as xn        # the reference implementation
    from xent import torch as xt        # imports torch
    from xent import tensorflow as xtf  # imports tensorflow

Every backend defines the same functions with the same signatures; classes are on the
last axis and the numbers follow ``torch.nn.functional``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "numpy",
    "torch",
    "tensorflow",
    "keras",
    "data",
    "tracking",
    "train",
    "plots",
    "calibration",
    "widgets",
    "text",
    "lm",
    "information",
    "likelihood",
    "book",
    "bench",
)


def __getattr__(name: str) -> Any:
    # ``xent.torch`` after a plain ``import xent`` imports the backend on first use
    # only.
    if name in _SUBMODULES:
        return importlib.import_module(f"xent.{name}")
    raise AttributeError(f"module 'xent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])

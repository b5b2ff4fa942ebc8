"""One interface over the three backends for the tests, and PyTorch as the oracle.

Tests take the ``backend`` fixture (see ``backend_fixture``) and never branch on
frameworks themselves: ``b.arr(x)`` turns a NumPy array into the backend's tensor,
``b.np(y)`` turns a result back, and ``b.grad(f, x)`` differentiates ``sum(f(x))`` with
the framework's autograd (or is ``None`` for NumPy, which has the analytic
``cross_entropy_grad`` instead).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

NAMES = ("numpy", "torch", "tensorflow")
FRAMEWORK = {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow"}


@dataclass
class Backend:
    name: str
    mod: Any

    def arr(self, x, dtype=None):
        x = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
        if self.name == "torch":
            import torch

            return torch.as_tensor(x)
        if self.name == "tensorflow":
            import tensorflow as tf

            return tf.convert_to_tensor(x)
        return x

    def np(self, y) -> np.ndarray:
        if self.name == "torch":
            return y.detach().cpu().numpy()
        if self.name == "tensorflow":
            return y.numpy()
        return np.asarray(y)

    def dtype_name(self, y) -> str:
        if self.name == "torch":
            return str(y.dtype).removeprefix("torch.")
        if self.name == "tensorflow":
            return y.dtype.name
        return np.asarray(y).dtype.name

    def grad(self, f, *xs):
        """Gradients of ``sum(f(*xs))`` with respect to each NumPy array in ``xs``."""
        if self.name == "torch":
            import torch

            ts = [torch.tensor(x, requires_grad=True) for x in xs]
            f(*ts).sum().backward()
            return [t.grad.numpy() for t in ts]
        if self.name == "tensorflow":
            import tensorflow as tf

            vs = [tf.Variable(x) for x in xs]
            with tf.GradientTape() as tape:
                out = tf.reduce_sum(f(*vs))
            return [g.numpy() for g in tape.gradient(out, vs)]
        return None


def load(name: str) -> Backend:
    pytest.importorskip(FRAMEWORK[name], reason=f"{FRAMEWORK[name]} is not installed")
    return Backend(name, importlib.import_module(f"xent.{name}"))


def torch_oracle():
    """PyTorch's functional API, or a skip when PyTorch is missing."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the oracle and is not installed"
    )
    import torch.nn.functional as F

    return torch, F


def classes_first(x: np.ndarray) -> np.ndarray:
    """Our (N, d1, ..., C) layout to PyTorch's (N, C, d1, ...)."""
    return np.moveaxis(x, -1, 1) if x.ndim > 2 else x


def classes_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x

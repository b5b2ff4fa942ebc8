"""One interface over the three backends, PyTorch as the oracle, one grid of options.

Backends: tests take the ``backend`` fixture of ``conftest.py`` (NumPy, PyTorch and
TensorFlow in turn) or ``autograd_backend`` (PyTorch and TensorFlow, the two with an
autograd), and never branch on frameworks themselves: ``b.arr(x)`` turns a NumPy array
into the backend's tensor, ``b.np(y)`` turns a result back, ``b.grad(f, x)``
differentiates ``sum(f(x))`` with the framework's autograd, and ``b.cross_entropy_grad``
is the gradient of the summed cross-entropy in every backend (autograd, or NumPy's
analytic ``cross_entropy_grad``).

Oracle: :func:`torch_cross_entropy` is PyTorch's ``F.cross_entropy`` in ``xent``'s
layout (classes on the last axis), with the z-loss and soft cap of language models
written out in PyTorch ops; :func:`torch_loss_and_grad` calls it on NumPy arrays.

Options: :func:`options_grid` is every combination of the values given for
``cross_entropy``'s options, the one grid that the tests of the options draw from.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeAlias

import numpy as np
import pytest

Tensor: TypeAlias = Any  # a NumPy array, a torch.Tensor or a tf.Tensor
Array: TypeAlias = np.ndarray  # (``Backend.np`` hides the name ``np`` in the class)

NAMES = ("numpy", "torch", "tensorflow")
AUTOGRAD_NAMES = ("torch", "tensorflow")
REDUCTIONS = ("none", "mean", "sum")


@dataclass
class Backend:
    name: str
    mod: ModuleType

    @property
    def autograd(self) -> bool:
        """Whether the framework differentiates (NumPy does not)."""
        return self.name in AUTOGRAD_NAMES

    def arr(self, x: Any, dtype: Any = None) -> Tensor:
        x = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
        if self.name == "torch":
            import torch

            return torch.as_tensor(x)
        if self.name == "tensorflow":
            import tensorflow as tf

            return tf.convert_to_tensor(x)
        return x

    def opt(self, x: Any) -> Tensor | None:
        """``arr(x)``, or ``None`` for ``None`` (an optional weight)."""
        return None if x is None else self.arr(x)

    def np(self, y: Tensor) -> Array:
        if self.name == "torch":
            return y.detach().cpu().numpy()
        if self.name == "tensorflow":
            return y.numpy()
        return np.asarray(y)

    def dtype_name(self, y: Tensor) -> str:
        if self.name == "torch":
            return str(y.dtype).removeprefix("torch.")
        if self.name == "tensorflow":
            return str(y.dtype.name)
        return np.asarray(y).dtype.name

    def grad(self, f: Callable[..., Tensor], *xs: Array) -> list[Array]:
        """Gradients of ``sum(f(*xs))`` with respect to each NumPy array in ``xs``."""
        if self.name == "torch":
            import torch

            ts = [torch.tensor(x, requires_grad=True) for x in xs]
            return [g.numpy() for g in torch.autograd.grad(f(*ts).sum(), ts)]
        if self.name == "tensorflow":
            import tensorflow as tf

            vs = [tf.Variable(x) for x in xs]
            with tf.GradientTape() as tape:
                out = tf.reduce_sum(f(*vs))
            return [g.numpy() for g in tape.gradient(out, vs)]
        raise TypeError(
            "NumPy has no autograd: a test of gradients takes the autograd_backend "
            "fixture (or cross_entropy_grad)"
        )

    def cross_entropy_grad(self, logits: Array, target: Array, **options: Any) -> Array:
        """The gradient of ``sum(cross_entropy(logits, target, **options))`` in the
        logits: by autograd, or by NumPy's analytic ``cross_entropy_grad``."""
        if not self.autograd:
            return np.asarray(self.mod.cross_entropy_grad(logits, target, **options))
        weight = self.opt(options.pop("weight", None))

        def loss(z: Tensor) -> Tensor:
            return self.mod.cross_entropy(z, self.arr(target), weight=weight, **options)

        return self.grad(loss, logits)[0]


def load(name: str) -> Backend:
    """The backend ``xent.<name>``, or a skip when its framework is not installed."""
    pytest.importorskip(name, reason=f"{name} is not installed")
    return Backend(name, importlib.import_module(f"xent.{name}"))


def torch_oracle() -> tuple[ModuleType, ModuleType]:
    """PyTorch and its functional API, or a skip when PyTorch is missing."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the oracle and is not installed"
    )
    import torch.nn.functional as F

    return torch, F


def classes_first(x: np.ndarray) -> np.ndarray:
    """Our (N, d1, ..., C) layout to PyTorch's (N, C, d1, ...)."""
    return np.moveaxis(x, -1, 1) if x.ndim > 2 else x


def classes_last(x: np.ndarray) -> np.ndarray:
    """PyTorch's (N, C, d1, ...) layout to ours, (N, d1, ..., C)."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def torch_cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor:
    """The oracle of ``cross_entropy``: ``F.cross_entropy`` on torch tensors in our
    layout, logits ``(..., C)`` and a target ``(...)`` of class indices or ``(..., C)``
    of probabilities, with ``cross_entropy``'s signature.

    The rows are flattened to ``(N, C)`` (PyTorch's own layout puts the classes on axis
    1; the loss is the same). The language-model options are the formulas written out:
    ``softcap`` replaces ``z`` by ``softcap * tanh(z / softcap)`` before the loss, and
    ``z_loss_scale`` adds ``z_loss_scale * logsumexp(z)**2`` per counted row (not for an
    ignored target), reduced as the loss is. Autograd runs through all of it, the class
    weights included: PyTorch's ``nll_loss`` gives no gradient in ``weight``, so for
    class indices and a ``weight`` that requires one, the loss is written out in
    PyTorch ops (:func:`_written_out`, held to ``F.cross_entropy`` by the tests).
    """
    torch, F = torch_oracle()
    z = logits if softcap is None else softcap * torch.tanh(logits / softcap)
    num_classes = z.shape[-1]
    probs = target.is_floating_point()
    options = {
        "weight": weight,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
    }
    flat_z = z.reshape(-1, num_classes)
    flat_y = target.reshape(-1, num_classes) if probs else target.reshape(-1)
    written = weight is not None and weight.requires_grad and not probs
    if not z_loss_scale and not return_z_loss and not written:
        loss = F.cross_entropy(flat_z, flat_y, reduction=reduction, **options)
        return loss.reshape(z.shape[:-1]) if reduction == "none" else loss
    if written:
        main = _written_out(flat_z, flat_y, weight, ignore_index, label_smoothing)
    else:
        main = F.cross_entropy(flat_z, flat_y, reduction="none", **options)
    main = main.reshape(z.shape[:-1])
    z_term = z_loss_scale * torch.logsumexp(z, dim=-1) ** 2
    if probs:
        denominator = main.numel()
    else:
        keep = target != ignore_index
        z_term = torch.where(keep, z_term, 0)
        safe = torch.where(keep, target, 0)
        denominator = keep.sum() if weight is None else (weight[safe] * keep).sum()
    total = main + z_term
    if reduction == "sum":
        total, z_term = total.sum(), z_term.sum()
    elif reduction == "mean":
        total, z_term = total.sum() / denominator, z_term.sum() / denominator
    return (total, z_term.detach()) if return_z_loss else total


def _written_out(
    z: Tensor, target: Tensor, weight: Tensor, ignore_index: int, eps: float
) -> Tensor:
    """Each row's ``F.cross_entropy(z, target, weight=weight, reduction="none")`` for
    class indices, in PyTorch ops that differentiate in ``weight`` too."""
    torch, _ = torch_oracle()
    log_q = torch.log_softmax(z, dim=-1)
    keep = target != ignore_index
    safe = torch.where(keep, target, 0)
    w_t = torch.where(keep, weight[safe], 0)
    nll = -w_t * log_q.gather(-1, safe[..., None])[..., 0]
    smooth = -(log_q * weight).sum(-1)
    return torch.where(keep, (1 - eps) * nll + eps / z.shape[-1] * smooth, 0)


def torch_loss_and_grad(
    logits: np.ndarray, target: np.ndarray, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`torch_cross_entropy` on NumPy arrays: the loss and the gradient of its
    sum in the logits, as NumPy arrays (``weight`` may be a NumPy array too)."""
    torch, _ = torch_oracle()
    weight = options.pop("weight", None)
    z = torch.tensor(logits, requires_grad=True)
    loss = torch_cross_entropy(
        z,
        torch.as_tensor(target),
        weight=None if weight is None else torch.as_tensor(weight),
        **options,
    )
    loss.sum().backward()
    return loss.detach().numpy(), z.grad.numpy()


def reference_grid(*axes: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The cases of the reference tests: ``(weight, ignore_index, label_smoothing,
    probs, reduction, *axes)`` for every combination, less those that give probability
    targets a non-negative ``ignore_index`` (PyTorch refuses one)."""
    return [
        case
        for case in itertools.product(
            [False, True],  # weight
            [-100, 2],  # ignore_index
            [0.0, 0.3],  # label_smoothing
            [False, True],  # probability targets
            ["none", "mean", "sum"],  # reduction
            *axes,
        )
        if not (case[3] and case[1] >= 0)
    ]


def seeded_case(
    seed: int,
    lead: tuple[int, ...],
    dtype: Any,
    use_weight: bool,
    ignore_index: int,
    probs: bool,
    num_classes: int = 7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Seeded logits ``lead + (C,)`` (spread 3), a target (probabilities, or class
    indices with a quarter of the rows ``ignore_index``) and class weights or None."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=lead + (num_classes,)) * 3).astype(dtype)
    if probs:
        target = rng.dirichlet(np.ones(num_classes), size=lead).astype(dtype)
    else:
        target = rng.integers(0, num_classes, size=lead)
        target = np.where(rng.random(lead) < 0.25, ignore_index, target)
    weight = rng.uniform(0.1, 2.0, num_classes).astype(dtype) if use_weight else None
    return logits, target, weight


def options_grid(
    *,
    reduction: Iterable[str] = REDUCTIONS,
    label_smoothing: Iterable[float] = (0.0, 0.3),
    weight: Iterable[bool] = (False, True),
    ignore_index: Iterable[int] | None = None,
    z_loss_scale: Iterable[float] | None = None,
    softcap: Iterable[float | None] | None = None,
) -> list[dict[str, Any]]:
    """Every combination of the values given for ``cross_entropy``'s options, one dict
    each, in a fixed order (the last option varies fastest).

    The reduction, the label smoothing and the weight always vary; ``ignore_index``,
    ``z_loss_scale`` and ``softcap`` join the grid when given (else the dicts leave
    them out, to their defaults). ``weight`` holds flags: a test builds the class
    weights of its own shape where the flag is true.
    """
    axes: dict[str, Sequence[Any]] = {
        "reduction": tuple(reduction),
        "label_smoothing": tuple(label_smoothing),
        "weight": tuple(weight),
    }
    optional = {
        "ignore_index": ignore_index,
        "z_loss_scale": z_loss_scale,
        "softcap": softcap,
    }
    axes.update({k: tuple(v) for k, v in optional.items() if v is not None})
    return [
        dict(zip(axes, values, strict=True))
        for values in itertools.product(*axes.values())
    ]


def options_id(options: dict[str, Any]) -> str:
    """A short test id for one point of the grid, e.g. ``mean-ls0.3-w-ii2``: the
    reduction, then only the options away from their defaults."""
    parts = [str(options.get("reduction", "mean"))]
    for key, short, default in _SHORT:
        value = options.get(key, default)
        if isinstance(value, bool):
            parts += [short] if value else []
        elif value != default:
            parts.append(f"{short}{value}")
    return "-".join(parts)


_SHORT = (
    ("label_smoothing", "ls", 0.0),
    ("weight", "w", False),
    ("ignore_index", "ii", -100),
    ("z_loss_scale", "z", 0.0),
    ("softcap", "cap", None),
)

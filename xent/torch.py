"""Cross-entropy and its relatives in PyTorch, with the API of ``xent.numpy``.

The same functions, in the same order, with the same signatures as the NumPy reference;
only what PyTorch changes differs: tensors instead of arrays, autograd instead of the
analytic gradient, and the device of the input. Every function is differentiable and
runs on the device of its input. The docstrings of the shared functions live in
``xent._docs``; the memory-lean autograd Functions in ``xent._torch_lean`` (the
cross-entropy, the clamped binary cross-entropy), ``xent._torch_linear`` (the chunked
linear layer) and ``xent._torch_parallel`` (vocabulary-parallel), each tested against
the plain formula; the losses for large output spaces in ``xent._torch_sampled``
(sampled softmax, NCE) and ``xent._torch_adjusted`` (logit adjustment); the forms of the
negative log-likelihood that ``torch.compile`` fuses best in ``xent._torch_compiled``.

Classes are on the last axis: ``logits`` has shape ``(..., C)`` (PyTorch's own losses
put them on axis 1). The numbers are those of ``torch.nn.functional``, options included.

Every function compiles with ``torch.compile(fullgraph=True)``, runs on ``meta`` tensors
and never reads a tensor's value on the host, so a call never waits for the device.
Wrong shapes, dtypes and options raise ``ValueError`` before anything is computed; wrong
values (a class index out of range, a probability outside [0, 1]) raise ``ValueError``
in eager CPU code and are a device-side assertion with the same message elsewhere and
under ``torch.compile``, as PyTorch's own losses on CUDA: see ``xent._checks.torch`` and
the chapter "Cross-entropy at scale".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xent import _checks, _docs, _torch_compiled, _torch_lean
from xent._checks import torch as _torch_checks
from xent._torch_adjusted import logit_adjusted_cross_entropy
from xent._torch_linear import linear_cross_entropy
from xent._torch_parallel import vocab_parallel_cross_entropy
from xent._torch_rows import TensorLike
from xent._torch_sampled import nce_loss, sampled_softmax_cross_entropy

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
    "linear_cross_entropy",
    "vocab_parallel_cross_entropy",
    "default_device",
    "sampled_softmax_cross_entropy",
    "nce_loss",
    "logit_adjusted_cross_entropy",
]

Tensor = torch.Tensor
shared = _docs.shared("torch")

# --------------------------------------------------------------------------------------
# Helpers: argument conversion and reductions
# --------------------------------------------------------------------------------------


def _kind(x: Tensor) -> str:
    if x.dtype == torch.bool:
        return "b"
    if x.dtype.is_floating_point:
        return "f"
    if x.dtype.is_complex:
        return "c"
    return "u" if x.dtype == torch.uint8 else "i"


def _tensor(x: TensorLike, like: Tensor | None = None) -> Tensor:
    """A tensor on the device of ``like`` (arrays and lists are converted, not copied
    twice).
    """
    return torch.as_tensor(x, device=None if like is None else like.device)


def _floating(name: str, x: TensorLike) -> Tensor:
    x = _tensor(x)
    _checks.floating(name, _kind(x), x.dtype)
    return x


def _compute(x: Tensor) -> Tensor:
    # float16 and bfloat16 have too few bits for exp and log sums: compute in float32.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


# The checks of values (class indices in range, probabilities in [0, 1]) are in
# xent._checks.torch: ValueError in eager CPU code, a device-side assertion elsewhere.


def _weight(weight: TensorLike | None, num_classes: int, like: Tensor) -> Tensor:
    """Per-class weights of shape (C,) in the dtype of ``like``, ones when none are
    given.
    """
    if weight is None:
        return torch.ones(num_classes, dtype=like.dtype, device=like.device)
    weight = _tensor(weight, like)
    _checks.class_weight(tuple(weight.shape), _kind(weight), num_classes)
    return weight.to(like.dtype)


def _class_target(
    logits: Tensor, target: TensorLike, ignore_index: int, allow_probs: bool = True
) -> tuple[Tensor, bool]:
    """Check a multi-class target's shape and dtype; return it and whether it holds
    probabilities (in the dtype of the logits) or class indices (int64). Its values are
    checked by the caller, after the options, in ``xent._checks.torch``.
    """
    target = _tensor(target, logits)
    is_probs = _checks.class_target(
        "logits",
        tuple(logits.shape),
        tuple(target.shape),
        _kind(target),
        target.dtype,
        ignore_index,
        allow_probs,
    )
    return (target.to(logits.dtype), True) if is_probs else (target.long(), False)


def _binary_target(
    name: str, target: TensorLike, like: Tensor, like_name: str
) -> Tensor:
    """A binary target: same shape as ``like``, numbers in [0, 1] (checked by the
    caller).
    """
    target = _tensor(target, like)
    _checks.same_shape("target", tuple(target.shape), like_name, tuple(like.shape))
    if _kind(target) not in "fiub":
        dtype = target.dtype
        raise ValueError(f"target must hold numbers in [0, 1]; got dtype {dtype}")
    return target


def _broadcast_weight(
    name: str, weight: TensorLike | None, like: Tensor
) -> Tensor | None:
    if weight is None:
        return None
    weight = _tensor(weight, like)
    _checks.broadcastable(name, tuple(weight.shape), "logits", tuple(like.shape))
    return weight.to(like.dtype)


def _reduce(
    loss: Tensor, reduction: str, denominator: Tensor | float | None = None
) -> Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the size)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    count = loss.numel() if denominator is None else denominator
    return total / count  # empty: 0 / 0 = nan


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def _row_max(x: Tensor, axis: int) -> Tensor:
    """The maximum along ``axis``, kept as a dimension and constant for autograd; 0
    where it is not finite (an all -inf row, or an empty axis, which ``amax``
    refuses).
    """
    if x.shape[axis] == 0:
        return torch.zeros_like(x.sum(dim=axis, keepdim=True))
    m = x.detach().amax(dim=axis, keepdim=True)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


@shared
def logsumexp(x: TensorLike, axis: int = -1, keepdims: bool = False) -> Tensor:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.ndim)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return logsumexp(x.reshape(1), axis, keepdims).reshape(())
    xc = _compute(x)
    m = _row_max(xc, axis)
    out = m + torch.log(torch.sum(torch.exp(xc - m), dim=axis, keepdim=True))
    out = out.to(x.dtype)
    return out if keepdims else out.squeeze(axis)


@shared
def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    x = _floating("x", x)
    axis = _checks.axis(axis, x.ndim)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return log_softmax(x.reshape(1), axis).reshape(())
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    out = shifted - torch.log(torch.sum(torch.exp(shifted), dim=axis, keepdim=True))
    return out.to(x.dtype)


@shared
def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    return torch.exp(log_softmax(x, axis=axis))


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


@shared
def cross_entropy(
    logits: TensorLike,
    target: TensorLike,
    *,
    weight: TensorLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", tuple(logits.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    target, is_probs = _class_target(logits, target, ignore_index)
    reduction = _checks.reduction(reduction)
    eps = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    num_classes = logits.shape[-1]
    w = None if weight is None else _weight(weight, num_classes, logits)
    if is_probs:
        _torch_checks.unit_interval("target (class probabilities)", target)
    else:
        _torch_checks.indices(target, num_classes, ignore_index)
    args = (logits, target, is_probs, w, ignore_index, eps, z_loss_scale, softcap)
    needs_autograd = (w is not None and w.requires_grad) or target.requires_grad
    if needs_autograd or torch.compiler.is_compiling():
        # Gradients beyond the logits, or a compiler that fuses the plain formula's
        # passes (and, as for F.cross_entropy, keeps one (..., C) array for the backward
        # pass): the plain formula and autograd.
        loss, z_loss, denominator = _cross_entropy_plain(*args)
    else:
        # Memory-lean: an autograd Function keeps two numbers per row for the backward
        # pass instead of the (..., C) log-softmax (chapter "Cross-entropy at scale").
        loss, z_loss, denominator = _torch_lean.cross_entropy(*args)
    if not return_z_loss:
        return _reduce(loss, reduction, denominator)
    if z_loss is None:  # no z-loss: zeros, reduced as the loss
        z_loss = torch.zeros_like(loss)
    z_loss = _reduce(z_loss.detach(), reduction, denominator)
    return _reduce(loss, reduction, denominator), z_loss


def _cross_entropy_plain(
    logits: Tensor,
    target: Tensor,
    is_probs: bool,
    w: Tensor | None,
    ignore_index: int,
    eps: float,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | int]:
    """Each element's loss (its z-loss included), its z-loss (None without one) and the
    ``"mean"`` denominator: the plain formula, differentiated by autograd, which keeps
    the ``(..., C)`` log-softmax for the backward pass.
    """
    num_classes = logits.shape[-1]
    if w is None:
        w = torch.ones(num_classes, dtype=logits.dtype, device=logits.device)
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    # PyTorch's fused kernel: its backward pass keeps only its output, as
    # F.cross_entropy's does, and the compiler fuses it best; the same numbers as
    # log_softmax above.
    log_probs = torch.log_softmax(logits, dim=-1)  # (..., C)
    z_loss = None
    if z_loss_scale:  # z_loss_scale (log Z)^2 for each row
        z_loss = z_loss_scale * torch.logsumexp(logits, dim=-1).square()  # (...)
    if is_probs:
        # Smoothing mixes the target with the uniform distribution over the C classes.
        p = (1 - eps) * target + eps / num_classes  # (..., C)
        loss = -(w * p * log_probs).sum(dim=-1)  # (...)
        loss = loss if z_loss is None else loss + z_loss
        return loss, z_loss, loss.numel()

    loss, kept_weight = _nll(log_probs, target, w, ignore_index)  # (...): -w_y log q_y
    if eps > 0:
        # The uniform part of the smoothed target: every class, weighted; ignored: 0.
        uniform = torch.where(target != ignore_index, -(w * log_probs).sum(dim=-1), 0)
        loss = (1 - eps) * loss + eps / num_classes * uniform
    if z_loss is not None:  # ignored rows add nothing
        z_loss = torch.where(target != ignore_index, z_loss, torch.zeros_like(z_loss))
        loss = loss + z_loss
        z_loss = z_loss.to(logits.dtype)
    return loss.to(logits.dtype), z_loss, kept_weight.sum()


def _nll(
    log_probs: Tensor, target: Tensor, w: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor]:
    """Per element, ``-w[y] * log_probs[y]`` and the weight ``w[y]`` (0 if ignored)."""
    if torch.compiler.is_compiling():  # forms the compiler fuses into the softmax's
        return _torch_compiled.nll(log_probs, target, w, ignore_index)
    keep = target != ignore_index  # (...)
    safe = torch.where(keep, target, 0)  # any valid index where ignored; masked below
    picked = torch.gather(log_probs, -1, safe.unsqueeze(-1)).squeeze(-1)  # (...)
    kept_weight = torch.where(keep, w[safe], 0)
    # torch.where, not a product with 0: autograd gives ignored rows a zero gradient.
    return torch.where(keep, -kept_weight * picked, 0), kept_weight


@shared
def nll_loss(
    log_probs: TensorLike,
    target: TensorLike,
    *,
    weight: TensorLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", tuple(log_probs.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    target, _ = _class_target(log_probs, target, ignore_index, allow_probs=False)
    reduction = _checks.reduction(reduction)
    w = _weight(weight, log_probs.shape[-1], log_probs)
    _torch_checks.indices(target, log_probs.shape[-1], ignore_index)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, kept_weight.sum())


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stably, with the exact gradient sigmoid(x) everywhere, at 0
    too.

    ``-logsigmoid(-x)`` rather than ``F.softplus``, which returns ``x`` itself above 20.
    """
    return -F.logsigmoid(-x)


@shared
def binary_cross_entropy_with_logits(
    logits: TensorLike,
    target: TensorLike,
    *,
    weight: TensorLike | None = None,
    pos_weight: TensorLike | None = None,
    reduction: str = "mean",
) -> Tensor:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    weight = _broadcast_weight("weight", weight, logits)
    pos_weight = _broadcast_weight("pos_weight", pos_weight, logits)
    reduction = _checks.reduction(reduction)
    _torch_checks.unit_interval("target", target)
    target = target.to(logits.dtype)

    z = _compute(logits)
    if pos_weight is None:
        loss = (1 - target) * z + _softplus(-z)
    else:
        loss = (1 - target) * z + (1 + (pos_weight - 1) * target) * _softplus(-z)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.to(logits.dtype), reduction)


@shared
def binary_cross_entropy(
    probs: TensorLike,
    target: TensorLike,
    *,
    weight: TensorLike | None = None,
    reduction: str = "mean",
) -> Tensor:
    probs = _floating("probs", probs)
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)
    _torch_checks.unit_interval("probs", probs)
    _torch_checks.unit_interval("target", target)
    target = target.to(probs.dtype)

    loss = _torch_lean.clamped_bce(_compute(probs), _compute(target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.to(probs.dtype), reduction)


@shared
def sigmoid_focal_loss(
    logits: TensorLike,
    target: TensorLike,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)
    _torch_checks.unit_interval("target", target)
    target = target.to(logits.dtype)

    q = torch.exp(-_softplus(-_compute(logits)))  # sigmoid(z) = exp(-softplus(-z))
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")
    q_y = q * target + (1 - q) * (1 - target)  # the probability given to the label
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - q_y) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(loss.to(logits.dtype), reduction)


# --------------------------------------------------------------------------------------
# PyTorch only: devices; large vocabularies and large output spaces, imported above:
# linear_cross_entropy (xent._torch_linear), vocab_parallel_cross_entropy
# (xent._torch_parallel), sampled_softmax_cross_entropy and nce_loss
# (xent._torch_sampled), logit_adjusted_cross_entropy (xent._torch_adjusted)
# --------------------------------------------------------------------------------------


def _index_target(
    name: str, target: TensorLike, shape: tuple[int, ...], like: Tensor
) -> Tensor:
    """Class indices of the given ``shape`` as int64 (their values are checked
    later).
    """
    target = _tensor(target, like)
    _torch_checks.index_target(name, target.shape, shape, _kind(target), target.dtype)
    return target.long()


def default_device() -> torch.device:
    """The best device here: CUDA if there is a GPU, then Apple's MPS, else the CPU.

    >>> from unittest import mock
    >>> with (
    ...     mock.patch("torch.cuda.is_available", return_value=False),
    ...     mock.patch("torch.backends.mps.is_available", return_value=False),
    ... ):
    ...     default_device()
    device(type='cpu')
    >>> with mock.patch("torch.cuda.is_available", return_value=True):
    ...     default_device()
    device(type='cuda')
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")

"""Cross-entropy and its relatives in PyTorch, with the API of ``xent.numpy``.

The same functions, in the same order, with the same signatures as the NumPy reference;
only what PyTorch changes differs: tensors instead of arrays, autograd instead of the
analytic gradient, and the device of the input. Every function is differentiable and
runs on the device of its input.

Classes are on the last axis: ``logits`` has shape ``(..., C)`` (PyTorch's own losses
put them on axis 1). The numbers are those of ``torch.nn.functional``, options included.

Every function compiles with ``torch.compile(fullgraph=True)``, runs on ``meta`` tensors
and never reads a tensor's value on the host, so a call never waits for the device.
Errors:

* wrong shapes, dtypes and options raise ``ValueError`` before anything is computed,
  everywhere (under ``torch.compile`` while it traces);
* wrong values (a class index outside ``[0, C)`` that is not ``ignore_index``, a
  probability outside ``[0, 1]``) raise ``ValueError`` naming one of them in eager code
  on the CPU, where reading values is free. On an accelerator and under
  ``torch.compile`` they are a device-side assertion (``torch._assert_async``) with the
  same message: a ``RuntimeError`` when the device runs the check, which on CUDA
  surfaces at the next synchronisation as "device-side assert triggered", as PyTorch's
  own losses do there. Meta tensors hold no values and pass. See the chapter
  "Cross-entropy at scale".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xent import _checks, _torch_scale
from xent._checks import torch as _torch_checks

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

_BCE_EPS = 9.999999960041972e-13  # PyTorch's 1e-12 for the BCE gradient, a float32

Tensor = torch.Tensor

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


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """A tensor on the device of ``like`` (arrays and lists are converted, not copied
    twice).
    """
    return torch.as_tensor(x, device=None if like is None else like.device)


def _floating(name: str, x) -> Tensor:
    x = _tensor(x)
    _checks.floating(name, _kind(x), x.dtype)
    return x


def _compute(x: Tensor) -> Tensor:
    # float16 and bfloat16 have too few bits for exp and log sums: compute in float32.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _weight(weight, num_classes: int, like: Tensor) -> Tensor | None:
    """Per-class weights of shape (C,) in the dtype of ``like``; None when none are
    given.
    """
    if weight is None:
        return None
    weight = _tensor(weight, like)
    _checks.class_weight(tuple(weight.shape), _kind(weight), num_classes)
    return weight.to(like.dtype)


def _class_target(
    logits: Tensor, target, ignore_index: int, allow_probs: bool = True
) -> tuple[Tensor, bool]:
    """Check a multi-class target's shape and dtype; return it and whether it holds
    probabilities (in the dtype of the logits) or class indices (int64). Its values are
    checked later, in ``xent._checks.torch``.
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


# The checks of values (class indices in range, probabilities in [0, 1]) live in
# xent/_checks/torch.py: ValueError in eager CPU code, a device-side assertion
# elsewhere.
_on_host = _torch_checks.on_host  # used by xent._torch_sampled until it imports them
_assert = _torch_checks.device_assert
_check_indices = _torch_checks.indices


def _index_parts(target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``keep``: where the target is not ``ignore_index``; ``safe``: a valid index
    there.
    """
    keep = target != ignore_index
    return keep, torch.where(keep, target, 0)


def _binary_target(name: str, target, like: Tensor, like_name: str) -> Tensor:
    """A binary target: same shape as ``like``, numbers in [0, 1] (checked later)."""
    target = _tensor(target, like)
    _checks.same_shape("target", tuple(target.shape), like_name, tuple(like.shape))
    if _kind(target) not in "fiub":
        raise ValueError(
            f"target must hold numbers in [0, 1]; got dtype {target.dtype}"
        )
    return target


def _broadcast_weight(name: str, weight, like: Tensor) -> Tensor | None:
    if weight is None:
        return None
    weight = _tensor(weight, like)
    _checks.broadcastable(name, tuple(weight.shape), "logits", tuple(like.shape))
    return weight.to(like.dtype)


def _reduce(
    loss: Tensor, reduction: str, denominator: Tensor | float | None = None
) -> Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the element
    count).
    """
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (loss.numel() if denominator is None else denominator)  # 0 / 0 = nan


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


def logsumexp(x, axis: int = -1, keepdims: bool = False) -> Tensor:
    r"""Log of the sum of exponentials, :math:`\log \sum_j e^{x_j}`, without overflow.

    Subtracting the maximum :math:`m` first, :math:`m + \log \sum_j e^{x_j - m}`, keeps
    every exponent at most :math:`e^0 = 1` (derived in the chapter "Numerical
    stability"). The shift is a constant for autograd, so the gradient is the softmax.

    Shapes: ``x: (..., C)`` gives ``(...)``, or ``(..., 1)`` with ``keepdims=True``.
    Raises ``ValueError`` when ``x`` is not floating-point.

    >>> float(logsumexp(torch.tensor([1000.0, 1000.0])))  # naive: log(inf) = inf
    1000.6931762695312
    """
    x = _floating("x", x)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return logsumexp(x.reshape(1), axis, keepdims).reshape(())
    xc = _compute(x)
    m = _row_max(xc, axis)
    out = m + torch.log(torch.sum(torch.exp(xc - m), dim=axis, keepdim=True))
    out = out.to(x.dtype)
    return out if keepdims else out.squeeze(axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    r"""Logarithm of the softmax, :math:`x_i - \log \sum_j e^{x_j}`, computed stably.

    Computed as :math:`(x_i - m) - \log \sum_j e^{x_j - m}`: subtracting the shifted
    terms keeps full precision even where :math:`m` itself is large.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> log_softmax(torch.tensor([0.0, 0.0]))
    tensor([-0.6931, -0.6931])
    """
    x = _floating("x", x)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return log_softmax(x.reshape(1), axis).reshape(())
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    out = shifted - torch.log(torch.sum(torch.exp(shifted), dim=axis, keepdim=True))
    return out.to(x.dtype)


def softmax(x, axis: int = -1) -> Tensor:
    r"""Softmax, :math:`e^{x_i} / \sum_j e^{x_j}`: non-negative, sums to one along
    ``axis``.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> softmax(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    return torch.exp(log_softmax(x, axis=axis))


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


def cross_entropy(
    logits,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Cross-entropy between ``target`` and the softmax of ``logits``.

    For a class index :math:`y`, the loss of one row is :math:`-w_y \log q_y` with
    :math:`q = \mathrm{softmax}(z)`; with label smoothing :math:`\varepsilon` it is
    :math:`(1-\varepsilon)(-w_y \log q_y) + \frac{\varepsilon}{C}\sum_c w_c(-\log q_c)`.
    For class probabilities :math:`p` it is :math:`-\sum_c w_c p'_c \log q_c` with
    :math:`p' = (1-\varepsilon) p + \varepsilon / C`. ``"mean"`` divides by the summed
    weight of the non-ignored targets (class indices) or by the number of rows
    (probabilities), exactly as ``torch.nn.functional.cross_entropy`` does.

    Shapes: ``logits: (..., C)``; ``target: (...)`` integer class indices, or ``(...,
    C)`` class probabilities; ``weight: (C,)``. Returns ``(...)`` for
    ``reduction="none"``, else a scalar.

    Raises ``ValueError`` for mismatched shapes, a ``weight`` not of shape ``(C,)``,
    ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``; class indices
    outside ``[0, C)`` that are not ``ignore_index`` and probabilities outside ``[0,
    1]`` raise ``ValueError`` in eager CPU code and fail a device-side assertion (a
    ``RuntimeError``, same message) on accelerators and under ``torch.compile`` (see the
    module docstring). Under ``torch.compile`` the plain formula is used, which the
    compiler fuses; eagerly, a custom autograd Function keeps two numbers per row.
    Derived in the chapter "From maximum likelihood to cross-entropy".

    Language-model options (chapter "Training language models"): ``softcap`` replaces
    the logits by ``softcap * tanh(z / softcap)`` before everything else (Gemma 2);
    ``z_loss_scale`` adds ``z_loss_scale * (log Z)**2`` to each counted row's loss,
    :math:`\log Z = \log \sum_c e^{z_c}` (PaLM's auxiliary z-loss), reduced with the
    main term (ignored rows add nothing; ``"mean"`` divides both by the same number,
    and class weights do not weight it). With ``return_z_loss=True`` the result is
    ``(loss, z_loss)``: the loss, which includes the z-loss, and the z-loss alone,
    detached, for logging. ``ValueError`` for a negative or non-finite
    ``z_loss_scale`` and a ``softcap`` that is not ``None`` or a finite number > 0.

    >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    >>> loss = cross_entropy(logits, torch.tensor([0, 2]))  # (0.1698 + log 3) / 2
    >>> round(float(loss), 4)
    0.6342
    """
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", tuple(logits.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    target, is_probs = _class_target(logits, target, ignore_index)
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    num_classes = logits.shape[-1]
    w = _weight(weight, num_classes, logits)
    if is_probs:
        _torch_checks.unit_interval("target (class probabilities)", target)
    else:
        _torch_checks.indices(target, num_classes, ignore_index)
    needs_autograd = (w is not None and w.requires_grad) or target.requires_grad
    if needs_autograd or torch.compiler.is_compiling():
        # Gradients beyond the logits, or a compiler that fuses the plain formula's
        # passes (and, as for F.cross_entropy, keeps one (..., C) array for the backward
        # pass): the plain formula and autograd.
        loss, z_loss = _cross_entropy_autograd(
            logits,
            target,
            w,
            ignore_index,
            reduction,
            label_smoothing,
            is_probs,
            z_loss_scale,
            softcap,
        )
        return (loss, z_loss.detach()) if return_z_loss else loss

    # Memory-lean (chapter "Cross-entropy at scale"): a custom autograd Function keeps
    # two numbers per row for the backward pass instead of the (..., C) log-softmax.
    if is_probs:
        keep = safe = None
        rows_target = target.reshape(-1, num_classes)
    else:
        keep, safe = _index_parts(target, ignore_index)  # (...), (...)
        rows_target = safe.reshape(-1)
    rows = (
        logits.reshape(-1, num_classes),
        rows_target,
        None if keep is None else keep.reshape(-1),
        w,
        label_smoothing,
        z_loss_scale,
        softcap,
    )
    if torch.is_grad_enabled() and logits.requires_grad:
        loss, log_z = _torch_scale.CrossEntropy.apply(*rows)
    else:  # no backward pass: the same forward, without autograd's bookkeeping
        loss, m, log_sum = _torch_scale.cross_entropy_rows(*rows)
        log_z = (m + log_sum).squeeze(-1)
    loss = loss.reshape(logits.shape[:-1])  # (...)
    if reduction != "mean":
        denominator = None
    elif is_probs:
        denominator = loss.numel()
    else:
        # "mean" divides by the summed weight of the kept targets (none kept: nan).
        denominator = keep.sum() if w is None else torch.where(keep, w[safe], 0).sum()
    if not return_z_loss:
        return _reduce(loss, reduction, denominator)
    z_loss = (z_loss_scale * log_z.square()).to(loss.dtype).reshape(loss.shape)
    if keep is not None:
        z_loss = torch.where(keep, z_loss, 0)
    return _reduce(loss, reduction, denominator), _reduce(
        z_loss, reduction, denominator
    )


def _cross_entropy_autograd(
    logits: Tensor,
    target: Tensor,
    w: Tensor,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    is_probs: bool,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`cross_entropy` as the plain formula, differentiated by autograd, and its
    z-loss term under the same reduction.

    Used when the class weights or a probability target need a gradient too, and under
    ``torch.compile``; it keeps the ``(..., C)`` log-softmax for the backward pass.
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
    z_loss = torch.zeros(logits.shape[:-1], dtype=logits.dtype, device=logits.device)
    if z_loss_scale:
        z_loss = z_loss_scale * torch.logsumexp(logits, dim=-1).square()  # (...)

    if is_probs:
        # Smoothing mixes the target with the uniform distribution over the C classes.
        target = (1 - label_smoothing) * target + label_smoothing / num_classes
        loss = -(w * target * log_probs).sum(dim=-1) + z_loss  # (...)
        return (
            _reduce(loss, reduction, loss.numel()),
            _reduce(z_loss, reduction, loss.numel()),
        )

    loss, kept_weight = _nll(log_probs, target, w, ignore_index)  # (...), (...)
    if label_smoothing > 0:
        # The uniform part of the smoothed target: every class, weighted, ignored rows
        # zeroed.
        smooth = torch.where(
            target != ignore_index, -(w * log_probs).sum(dim=-1), torch.zeros_like(loss)
        )
        loss = (1 - label_smoothing) * loss + label_smoothing / num_classes * smooth
    denominator = kept_weight.sum()
    if z_loss_scale:
        z_loss = torch.where(target != ignore_index, z_loss, torch.zeros_like(z_loss))
        loss = loss + z_loss
    return (
        _reduce(loss.to(logits.dtype), reduction, denominator),
        _reduce(z_loss.to(logits.dtype), reduction, denominator),
    )


def _nll(log_probs: Tensor, target: Tensor, w: Tensor, ignore_index: int):
    """Per-element ``-w[t] * log_probs[t]`` and the weight ``w[t]`` (both 0 where
    ignored).
    """
    keep = target != ignore_index  # (...)
    safe = torch.where(
        keep, target, torch.zeros_like(target)
    )  # a valid index; masked below
    if torch.compiler.is_compiling() and not w.requires_grad:
        # The compiler lowers PyTorch's own nll_loss to a gather of one number per row
        # and a backward pass it fuses into the softmax's; a masked sum would read the
        # (..., C) log-probabilities once more (measured: 1.2x F.cross_entropy's time at
        # 4096 x 4096, against 0.94x). Its weight takes no gradient, hence the guard.
        num_classes = log_probs.shape[-1]
        loss = F.nll_loss(
            log_probs.reshape(-1, num_classes),
            target.reshape(-1),
            weight=w,
            ignore_index=ignore_index,
            reduction="none",
        ).reshape(target.shape)
        return loss, torch.where(keep, w[safe], torch.zeros_like(loss))
    if torch.compiler.is_compiling():
        # A masked sum instead of a gather: its gradient is a mask the compiler fuses
        # into the softmax's, where a gather's would scatter into an (..., C) array of
        # zeros.
        classes = torch.arange(log_probs.shape[-1], device=log_probs.device)
        is_target = classes == safe.unsqueeze(-1)  # (..., C), never materialised
        picked = torch.where(is_target, log_probs, 0).sum(-1)  # (...)
    else:
        picked = torch.gather(log_probs, -1, safe.unsqueeze(-1)).squeeze(-1)  # (...)
    kept_weight = torch.where(keep, w[safe], torch.zeros_like(picked))
    # torch.where, not a product with 0: autograd then gives ignored rows a zero
    # gradient.
    return torch.where(
        keep, -kept_weight * picked, torch.zeros_like(picked)
    ), kept_weight


def nll_loss(
    log_probs,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of class indices under given log-probabilities.

    One element's loss is :math:`-w_y \cdot \mathrm{log\_probs}_y`; ``"mean"`` divides
    the sum by :math:`\sum w_y` over the targets that are not ``ignore_index``, as
    ``torch.nn.functional.nll_loss``. ``cross_entropy(z, t)`` equals
    ``nll_loss(log_softmax(z), t)``.

    Shapes: ``log_probs: (..., C)``, ``target: (...)`` integers, ``weight: (C,)``.
    Raises ``ValueError`` as :func:`cross_entropy` does (class probabilities are
    refused).

    >>> log_probs = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(float(nll_loss(log_probs, torch.tensor([0, 0]))), 4)
    0.3993
    """
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", tuple(log_probs.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    target, _ = _class_target(log_probs, target, ignore_index, allow_probs=False)
    reduction = _checks.reduction(reduction)
    num_classes = log_probs.shape[-1]
    w = _weight(weight, num_classes, log_probs)
    _torch_checks.indices(target, num_classes, ignore_index)
    if w is None:
        w = torch.ones(num_classes, dtype=log_probs.dtype, device=log_probs.device)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, kept_weight.sum())


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stably, with the exact gradient sigmoid(x) everywhere, also at
    0.

    ``-logsigmoid(-x)`` rather than ``F.softplus``, which returns ``x`` itself above 20.
    """
    return -torch.nn.functional.logsigmoid(-x)


def binary_cross_entropy_with_logits(
    logits,
    target,
    *,
    weight=None,
    pos_weight=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of targets in [0, 1] under :math:`\sigma(z)`, from logits.

    One element's loss is :math:`-[p\,y \log\sigma(z) + (1-y)\log(1-\sigma(z))]` with
    :math:`p` = ``pos_weight``, computed in the stable form :math:`(1-y)z + (1 +
    (p-1)y)\,\mathrm{softplus}(-z)`. (The equal form :math:`\max(z, 0) - zy + \log(1 +
    e^{-|z|})` of ``xent.numpy`` would give autograd a wrong gradient at exactly
    :math:`z = 0`, where ``max`` and ``abs`` have a kink.) ``weight`` multiplies each
    element; ``"mean"`` averages over all elements.

    Shapes: ``logits: (...)``; ``target``: same shape; ``weight`` and ``pos_weight``:
    broadcastable to it (``pos_weight`` usually ``(C,)``, one per label). Raises
    ``ValueError`` for mismatched shapes, targets outside ``[0, 1]`` and an unknown
    ``reduction``. Derived in the chapter "From maximum likelihood to cross-entropy".

    >>> z, y = torch.tensor([0.0]), torch.tensor([1.0])
    >>> round(float(binary_cross_entropy_with_logits(z, y)), 4)
    0.6931
    """
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


class _ClampedBCE(torch.autograd.Function):
    """Element-wise binary cross-entropy on probabilities with PyTorch's clamps and
    gradients.

    The log is clamped at -100, whose derivative would be 0 * inf = nan at p = 0 or 1
    under plain autograd; PyTorch instead uses (p - y) / max(p (1 - p), 1e-12), and so
    do we (1e-12 rounded to float32, as PyTorch stores it).
    """

    @staticmethod
    def forward(ctx, p: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(p, y)
        log_p = torch.clamp(torch.log(p), min=-100)
        log_1mp = torch.clamp(torch.log1p(-p), min=-100)
        return -(y * log_p + (1 - y) * log_1mp)

    @staticmethod
    def backward(ctx, grad: Tensor):
        p, y = ctx.saved_tensors
        grad_p = grad * (p - y) / torch.clamp(p * (1 - p), min=_BCE_EPS)
        grad_y = grad * (torch.log1p(-p) - torch.log(p))  # -logit(p), as PyTorch
        return grad_p, grad_y


def binary_cross_entropy(
    probs,
    target,
    *,
    weight=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of targets in [0, 1] under probabilities in [0, 1].

    One element's loss is :math:`-w[y \log p + (1-y)\log(1-p)]`, each logarithm clamped
    at -100 as PyTorch does, so a confident mistake costs at most 100 instead of
    infinity; the gradient is PyTorch's, :math:`w(p - y)/\max(p(1-p), 10^{-12})`, finite
    at 0 and 1. Prefer :func:`binary_cross_entropy_with_logits`: it is stable and needs
    no clamp.

    Shapes: ``probs: (...)``; ``target``: same shape; ``weight``: broadcastable to it.
    Raises ``ValueError`` for probabilities or targets outside ``[0, 1]``, mismatched
    shapes and an unknown ``reduction``. See the chapter "Numerical stability".

    >>> p, y = torch.tensor([0.0]), torch.tensor([1.0])
    >>> float(binary_cross_entropy(p, y))  # log 0 clamped
    100.0
    """
    probs = _floating("probs", probs)
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)
    _torch_checks.unit_interval("probs", probs)
    _torch_checks.unit_interval("target", target)
    target = target.to(probs.dtype)

    loss = _ClampedBCE.apply(_compute(probs), _compute(target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.to(probs.dtype), reduction)


def sigmoid_focal_loss(
    logits,
    target,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> Tensor:
    r"""Focal loss of Lin et al. (2017): binary cross-entropy scaled down on easy
    examples.

    One element's loss is :math:`\alpha_t (1 - p_t)^\gamma \cdot \mathrm{BCE}(z, y)`
    with :math:`p_t = p y + (1-p)(1-y)`, :math:`p = \sigma(z)` and :math:`\alpha_t =
    \alpha y + (1-\alpha)(1-y)`; a negative ``alpha`` turns the :math:`\alpha_t` factor
    off. Same numbers as ``torchvision.ops.sigmoid_focal_loss``, including its default
    ``reduction="none"``.

    Shapes: ``logits: (...)``, ``target``: same shape. Raises ``ValueError`` for
    mismatched shapes, targets outside ``[0, 1]``, ``alpha`` above 1, negative ``gamma``
    and an unknown ``reduction``. See the chapter "Variants".

    >>> z, y = torch.tensor([0.0]), torch.tensor([1.0])
    >>> float(sigmoid_focal_loss(z, y, alpha=-1, gamma=0)[0])
    0.6931471824645996
    """
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)
    _torch_checks.unit_interval("target", target)
    target = target.to(logits.dtype)

    p = torch.exp(
        -_softplus(-_compute(logits))
    )  # sigmoid(z) = exp(-softplus(-z)), stably
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - p_t) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(loss.to(logits.dtype), reduction)


def _index_target(name: str, target, shape: tuple, like: Tensor) -> Tensor:
    """Class indices of the given ``shape`` as int64 (their values are checked
    later).
    """
    target = _tensor(target, like)
    if tuple(target.shape) != tuple(shape):
        raise ValueError(
            f"target of shape {_checks._fmt(target.shape)} must hold one class index "
            f"per row of {name}: shape {_checks._fmt(shape)}"
        )
    if _kind(target) not in ("i", "u"):
        raise ValueError(
            "target holds class indices and must have an integer dtype; got "
            f"{target.dtype}"
        )
    return target.long()


def linear_cross_entropy(
    hidden,
    weight,
    target,
    *,
    bias=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Cross-entropy of a linear layer's logits, without ever holding all of them.

    Equals ``cross_entropy(hidden @ weight.T + bias, target, ...)`` and has the same
    gradients with respect to ``hidden``, ``weight`` and ``bias``, but the ``(N, V)``
    logits exist only ``chunk_size`` rows at a time: each chunk's log-sum-exp, loss and
    gradients are computed and the chunk is dropped. With a vocabulary of 32000 to
    256000 classes the logits and the log-softmax dominate the memory of a language
    model's last layer; here the largest temporaries are a few ``(chunk_size, V)``
    blocks. ``chunk_size`` defaults to the rows that make about 16 MiB of float32
    logits. See the chapter "Cross-entropy at scale". The gradients are computed once
    and cannot be differentiated again (``create_graph=True`` raises a
    ``RuntimeError``): for second derivatives use the eager composition. Under
    ``torch.compile`` it is that composition, ``cross_entropy(F.linear(...))``, which
    the compiler fuses: the compiler cannot keep the chunk loop lean (measured: it held
    about four copies of the logits where the compiled composition holds one and a
    quarter), so compiled code holds the logits, as compiled ``F.cross_entropy`` does.
    ``z_loss_scale``, ``softcap`` and ``return_z_loss`` are those of
    :func:`cross_entropy`; the cap is applied chunk by chunk (one more block of the
    chunk's size for its slope), and the z-loss needs nothing more than the saved
    ``log Z`` of each row.

    Shapes: ``hidden: (..., d)``, ``weight: (V, d)``, ``bias: (V,)``, ``target: (...)``
    class indices. Returns ``(...)`` for ``reduction="none"``, else a scalar. Raises
    ``ValueError`` for mismatched shapes, class indices outside ``[0, V)`` that are not
    ``ignore_index``, a ``chunk_size`` that is not a positive integer,
    ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``.

    >>> hidden, weight = torch.randn(6, 4), torch.randn(10, 4)
    >>> target = torch.tensor([0, 1, 2, 3, 4, 5])
    >>> want = cross_entropy(hidden @ weight.T, target)
    >>> got = linear_cross_entropy(hidden, weight, target, chunk_size=4)
    >>> bool(torch.allclose(got, want))
    True
    """
    hidden = _floating("hidden", hidden)
    weight = _floating("weight", _tensor(weight, hidden))
    if hidden.ndim == 0:
        raise ValueError(
            "hidden must have a feature axis (shape (..., d)); got a scalar"
        )
    if weight.ndim != 2 or weight.shape[1] != hidden.shape[-1] or weight.shape[0] == 0:
        raise ValueError(
            f"weight must have shape (V, {hidden.shape[-1]}), one row of d = "
            f"{hidden.shape[-1]} features per class as hidden (..., d); got shape "
            f"{_checks._fmt(weight.shape)}"
        )
    num_classes = weight.shape[0]
    if bias is not None:
        bias = _floating("bias", _tensor(bias, hidden))
        if tuple(bias.shape) != (num_classes,):
            raise ValueError(
                f"bias must have shape ({num_classes},), one entry per row of weight; "
                f"got shape {_checks._fmt(bias.shape)}"
            )
    ignore_index = _checks.ignore_index(ignore_index)
    target = _index_target("hidden", target, hidden.shape[:-1], hidden)
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    if chunk_size is None:
        chunk_size = max(1, 2**22 // num_classes)  # about 16 MiB of float32 logits
    elif (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int)
        or chunk_size < 1
    ):
        raise ValueError(
            "chunk_size must be a positive integer (rows per chunk); got "
            f"{chunk_size!r}"
        )
    _torch_checks.indices(target, num_classes, ignore_index)

    if torch.compiler.is_compiling():  # the composition, fused by the compiler
        return cross_entropy(
            torch.nn.functional.linear(hidden, weight, bias),
            target,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            z_loss_scale=z_loss_scale,
            softcap=softcap,
            return_z_loss=return_z_loss,
        )
    params = (hidden, weight) if bias is None else (hidden, weight, bias)
    want_grad = torch.is_grad_enabled() and any(x.requires_grad for x in params)
    loss, log_z = _torch_scale.LinearCrossEntropy.apply(
        hidden.reshape(-1, hidden.shape[-1]),
        weight,
        bias,
        target.reshape(-1),
        ignore_index,
        label_smoothing,
        reduction,
        chunk_size,
        want_grad,
        z_loss_scale,
        softcap,
    )
    if reduction == "none":
        loss = loss.reshape(target.shape)
    if not return_z_loss:
        return loss
    keep = target != ignore_index
    z_loss = torch.where(keep, z_loss_scale * log_z.reshape(target.shape).square(), 0)
    return loss, _reduce(z_loss.to(loss.dtype), reduction, keep.sum())


def vocab_parallel_cross_entropy(
    logits_shard,
    target,
    *,
    group=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross-entropy of logits split along the classes over the ranks of a process
    group.

    Rank :math:`r` of ``group`` (default: the whole world of ``torch.distributed``)
    holds the classes ``start_r`` to ``start_r + V_r - 1`` of every row, in rank order;
    shards may differ in size. The loss is that of :func:`cross_entropy` on the gathered
    ``(..., V)`` logits, without gathering them: all-reduces of the row maximum, of the
    sum of shifted exponentials and of the target's logit (Megatron-LM's scheme) give
    each rank the same loss, and each rank's backward pass computes its own slice of the
    gradient with no communication. Every rank must call it with the same ``target``. As
    with :func:`linear_cross_entropy`, the gradient cannot be differentiated again. See
    the chapter "Cross-entropy at scale". Unlike the other functions of this module it
    does not compile with ``fullgraph=True`` and reads one value on the host per call:
    it gathers the shard sizes of all ranks and reads them (``int``) to learn where its
    classes start, and its autograd Function calls in-place collectives
    (``dist.all_reduce``), which the compiler cannot trace inside a Function.

    Shapes: ``logits_shard: (..., V_r)``, ``target: (...)`` global class indices in
    ``[0, V)``. Returns ``(...)`` for ``reduction="none"``, else a scalar, on every
    rank. Raises ``ValueError`` when no process group is initialised, for mismatched
    shapes, class indices outside ``[0, V)`` that are not ``ignore_index``,
    ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "vocab_parallel_cross_entropy needs an initialised torch.distributed "
            "process group (torch.distributed.init_process_group)"
        )
    logits_shard = _floating("logits_shard", logits_shard)
    _checks.logits_shape("logits_shard", tuple(logits_shard.shape))
    ignore_index = _checks.ignore_index(ignore_index)
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)

    # Where this rank's classes start: the sizes of all shards, in rank order.
    sizes = [
        torch.zeros(1, dtype=torch.long, device=logits_shard.device)
        for _ in range(dist.get_world_size(group))
    ]
    mine = torch.tensor([logits_shard.shape[-1]], device=logits_shard.device)
    dist.all_gather(sizes, mine, group=group)
    sizes = [int(n) for n in sizes]
    rank = dist.get_rank(group)
    vocab_start, num_classes = sum(sizes[:rank]), sum(sizes)

    target = _index_target(
        "logits_shard", target, logits_shard.shape[:-1], logits_shard
    )
    _torch_checks.indices(target, num_classes, ignore_index)
    loss = _torch_scale.VocabParallelCrossEntropy.apply(
        logits_shard.reshape(-1, logits_shard.shape[-1]),
        target.reshape(-1),
        vocab_start,
        num_classes,
        ignore_index,
        label_smoothing,
        group,
    ).reshape(target.shape)
    return _reduce(loss, reduction, (target != ignore_index).sum())


# --------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------


def default_device() -> torch.device:
    """The best device here: CUDA if there is a GPU, then Apple's MPS, else the CPU.

    >>> default_device().type in {"cuda", "mps", "cpu"}
    True
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")


# --------------------------------------------------------------------------------------
# Large output spaces (chapter "Large output spaces"; computed in
# xent/_torch_sampled.py)
# --------------------------------------------------------------------------------------

from xent import _torch_sampled  # noqa: E402  (it imports this module's helpers)


def sampled_softmax_cross_entropy(
    hidden,
    weight,
    target,
    *,
    num_sampled: int,
    bias=None,
    sampler="log_uniform",
    sampled=None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Sampled softmax: cross-entropy over the row's class and ``S`` drawn classes.

    Draws ``S = num_sampled`` classes :math:`c_1, \dots, c_S` from the proposal
    :math:`Q` (with replacement, once for the whole batch; or takes them from
    ``sampled``) and computes each row's logits :math:`z = W h + b` only there. With the
    log-Q correction the loss of a row is
    :math:`-z_y + \log\big(e^{z_y} + \sum_{s} e^{z_{c_s} - \log(S Q(c_s))}\big)`,
    where draws equal to :math:`y` (accidental hits) are left out: the sum estimates
    :math:`\sum_{c \ne y} e^{z_c}` without bias, so the loss and its gradient tend to
    those of the full softmax as :math:`S` grows. ``subtract_log_q=False`` drops the
    correction (biased towards frequent classes). Unlike ``tf.nn.sampled_softmax_loss``,
    the row's own logit is not corrected; passing ``true_expected_count = 1`` to
    TensorFlow gives the same numbers. Evaluate with the full loss
    (:func:`linear_cross_entropy`).

    ``sampler``: ``"log_uniform"`` (Zipf, for classes sorted by decreasing frequency),
    ``"uniform"``, or ``(V,)`` non-negative numbers (e.g. counts), normalised.
    ``"mean"`` averages over the rows whose target is not ``ignore_index``.

    Shapes: ``hidden: (..., d)``, ``weight: (V, d)``, ``bias: (V,)``, ``target: (...)``
    class indices, ``sampled: (S,)``. Returns ``(...)`` for ``reduction="none"``, else a
    scalar. Raises ``ValueError`` for mismatched shapes, class indices outside
    ``[0, V)`` that are not ``ignore_index``, a ``num_sampled`` that is not a positive
    integer, a bad ``sampler`` or ``sampled`` and an unknown ``reduction``.
    See the chapter "Large output spaces".

    >>> hidden, weight = torch.randn(4, 8), torch.randn(50, 8)
    >>> target = torch.tensor([0, 1, 2, 3])
    >>> every = torch.arange(50).repeat(2)  # each class drawn twice, Q uniform
    >>> loss = sampled_softmax_cross_entropy(
    ...     hidden, weight, target, num_sampled=100, sampled=every, sampler="uniform"
    ... )
    >>> bool(torch.allclose(loss, cross_entropy(hidden @ weight.T, target)))
    True
    """
    return _torch_sampled.sampled_softmax_cross_entropy(
        hidden,
        weight,
        target,
        num_sampled=num_sampled,
        bias=bias,
        sampler=sampler,
        sampled=sampled,
        generator=generator,
        subtract_log_q=subtract_log_q,
        remove_accidental_hits=remove_accidental_hits,
        ignore_index=ignore_index,
        reduction=reduction,
    )


def nce_loss(
    hidden,
    weight,
    target,
    *,
    num_sampled: int,
    bias=None,
    sampler="log_uniform",
    sampled=None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Noise-contrastive estimation; ``subtract_log_q=False`` is word2vec's negative
    sampling.

    Each row's class is a "data" example and each of the ``S`` classes drawn from
    :math:`Q` (as in :func:`sampled_softmax_cross_entropy`) a "noise" example of a
    binary classifier with logit :math:`s_c = z_c - \log(S Q(c))`; the loss of a row is
    :math:`-\log\sigma(s_y) - \sum_{s=1}^{S} \log\sigma(-s_{c_s})`, the numbers of
    ``tf.nn.nce_loss`` given the same draws. Without the correction,
    :math:`-\log\sigma(z_y) - \sum_s \log\sigma(-z_{c_s})` is the skip-gram
    negative-sampling objective (Mikolov et al. 2013), whose optimum is not the
    softmax's. ``remove_accidental_hits=True`` drops the noise terms of draws equal to
    the row's class.

    Shapes, ``sampler``, ``reduction`` and the ``ValueError``\ s: as for
    :func:`sampled_softmax_cross_entropy`. See the chapter "Large output spaces".

    >>> hidden, weight = torch.zeros(2, 3), torch.zeros(10, 3)  # every logit 0
    >>> loss = nce_loss(hidden, weight, torch.tensor([0, 1]), num_sampled=4,
    ...                 subtract_log_q=False)
    >>> round(float(loss), 4)  # 5 log 2
    3.4657
    """
    return _torch_sampled.nce_loss(
        hidden,
        weight,
        target,
        num_sampled=num_sampled,
        bias=bias,
        sampler=sampler,
        sampled=sampled,
        generator=generator,
        subtract_log_q=subtract_log_q,
        remove_accidental_hits=remove_accidental_hits,
        ignore_index=ignore_index,
        reduction=reduction,
    )


def logit_adjusted_cross_entropy(
    logits,
    target,
    *,
    class_prior,
    tau: float = 1.0,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al. 2021) for long-tailed labels.

    :func:`cross_entropy` of :math:`z + \tau \log \pi`, with :math:`\pi` =
    ``class_prior`` the training frequencies of the classes (counts serve as well: a
    constant added to a row changes nothing). Trained this way, the plain logits
    :math:`z` estimate :math:`\log p(x \mid c)` up to a constant when
    :math:`\tau = 1`, so :math:`\arg\max_c z_c` aims at the balanced error; predict with
    :math:`z` itself.
    Every option is that of :func:`cross_entropy`.

    Shapes: ``logits: (..., C)``, ``target: (...)`` class indices or ``(..., C)``
    probabilities, ``class_prior: (C,)``, ``weight: (C,)``. Raises ``ValueError`` as
    :func:`cross_entropy` does, and for a ``class_prior`` not of shape ``(C,)`` or not
    positive and a ``tau`` that is not a finite real number.
    See the chapter "Large output spaces".

    >>> logits, target = torch.zeros(1, 2), torch.tensor([1])
    >>> loss = logit_adjusted_cross_entropy(logits, target, class_prior=[0.9, 0.1])
    >>> round(float(loss), 4)  # -log 0.1
    2.3026
    """
    return _torch_sampled.logit_adjusted_cross_entropy(
        logits,
        target,
        class_prior=class_prior,
        tau=tau,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )

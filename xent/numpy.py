"""Cross-entropy and its relatives in NumPy: the reference backend.

Read this module top to bottom like a chapter: small helpers first, then the stable
building blocks (log-sum-exp, log-softmax, softmax), then the losses, then the
information-theoretic quantities and the analytic gradient that the theory chapters
derive. Each function is the plain formula its chapter derives; the one optimised path,
the blocked pass that ``cross_entropy`` uses for large inputs, lives in
``xent._numpy_blocked`` and is tested against it. ``xent.torch`` and ``xent.tensorflow``
define the same functions, in the same order, with the same signatures; they are tested
against this module and against their frameworks' losses.

Classes are on the last axis: ``logits`` has shape ``(..., C)``. The numbers follow
``torch.nn.functional`` exactly, options included.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks

__all__ = [
    "logsumexp",
    "log_softmax",
    "softmax",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "sigmoid_focal_loss",
    "entropy",
    "kl_divergence",
    "cross_entropy_grad",
]

# --------------------------------------------------------------------------------------
# Helpers: argument conversion and reductions
# --------------------------------------------------------------------------------------


def _floating(name: str, x: ArrayLike) -> NDArray:
    x = np.asarray(x)
    _checks.floating(name, x.dtype.kind, x.dtype)
    return x


def _compute(x: NDArray) -> NDArray:
    # float16 has too few bits for exp and log sums: compute in float32, return float16.
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _weight(weight: ArrayLike | None, num_classes: int, dtype: np.dtype) -> NDArray:
    """Per-class weights of shape (C,), ones when none are given."""
    if weight is None:
        return np.ones(num_classes, dtype=dtype)
    weight = np.asarray(weight)
    _checks.class_weight(weight.shape, weight.dtype.kind, num_classes)
    return weight.astype(dtype)


def _class_target(
    logits: NDArray,
    target: ArrayLike,
    ignore_index: int,
    allow_probs: bool = True,
    cast: bool = True,
) -> tuple[NDArray, bool]:
    """Check a multi-class target; return it (int64 indices or probabilities), its kind.

    Probabilities are cast to the dtype of ``logits``, unless ``cast`` is False (for a
    caller that converts them itself, perhaps a block at a time, to avoid a full copy).
    """
    target = np.asarray(target)
    is_probs = _checks.class_target(
        "logits",
        logits.shape,
        target.shape,
        target.dtype.kind,
        target.dtype,
        ignore_index,
        allow_probs,
    )
    if is_probs:
        if target.size and (
            target.min() < 0 or target.max() > 1
        ):  # no (N, C) temporaries
            bad = target[(target < 0) | (target > 1)][0]
            raise _checks.unit_interval_error("target (class probabilities)", bad)
        return (target.astype(logits.dtype, copy=False) if cast else target), True
    target = target.astype(np.int64)
    num_classes = logits.shape[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if np.any(bad):
        raise _checks.index_error(num_classes, ignore_index, int(target[bad][0]))
    return target, False


def _binary_target(
    name: str, target: ArrayLike, like: NDArray, like_name: str
) -> NDArray:
    """A binary target: same shape as ``like``, values in [0, 1], cast to its dtype."""
    target = np.asarray(target)
    _checks.same_shape("target", target.shape, like_name, like.shape)
    if target.dtype.kind not in "fiub":
        raise ValueError(
            f"target must hold numbers in [0, 1]; got dtype {target.dtype}"
        )
    outside = (target < 0) | (target > 1)
    if np.any(outside):
        raise _checks.unit_interval_error(name, target[outside][0])
    return target.astype(like.dtype)


def _broadcast_weight(
    name: str, weight: ArrayLike | None, like: NDArray
) -> NDArray | None:
    if weight is None:
        return None
    weight = np.asarray(weight)
    _checks.broadcastable(name, weight.shape, "logits", like.shape)
    return weight.astype(like.dtype)


def _reduce(loss: NDArray, reduction: str, denominator: NDArray | float | None = None):
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the size)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    with np.errstate(
        divide="ignore", invalid="ignore"
    ):  # empty batch: 0 / 0 = nan, as torch
        return (total / (loss.size if denominator is None else denominator)).astype(
            loss.dtype
        )


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def _row_max(x: NDArray, axis: int) -> NDArray:
    """The maximum along ``axis``, kept as a dimension; 0 where it is not finite."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(
        np.isfinite(m), m, 0.0
    )  # rows of all -inf (or with inf): nothing to shift


def logsumexp(x: ArrayLike, axis: int = -1, keepdims: bool = False) -> NDArray:
    r"""Log of the sum of exponentials, :math:`\log \sum_j e^{x_j}`, without overflow.

    Subtracting the maximum :math:`m` first, :math:`m + \log \sum_j e^{x_j - m}`, keeps
    every exponent at most :math:`e^0 = 1` (derived in the chapter "Numerical
    stability").

    Shapes: ``x: (..., C)`` gives ``(...)``, or ``(..., 1)`` with ``keepdims=True``.
    Raises ``ValueError`` when ``x`` is not floating-point.

    >>> float(logsumexp(np.array([1000.0, 1000.0])))  # naive: log(inf) = inf
    1000.6931471805599
    """
    x = _floating("x", x)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return logsumexp(x.reshape(1), axis, keepdims).reshape(())
    xc = _compute(x)
    m = _row_max(xc, axis)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf row
        out = m + np.log(np.sum(np.exp(xc - m), axis=axis, keepdims=True))
    out = out.astype(x.dtype)
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: ArrayLike, axis: int = -1) -> NDArray:
    r"""Logarithm of the softmax, :math:`x_i - \log \sum_j e^{x_j}`, computed stably.

    Computed as :math:`(x_i - m) - \log \sum_j e^{x_j - m}`: subtracting the shifted
    terms keeps full precision even where :math:`m` itself is large.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> log_softmax(np.array([0.0, 0.0])).round(4)
    array([-0.6931, -0.6931])
    """
    x = _floating("x", x)
    if x.ndim == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return log_softmax(x.reshape(1), axis).reshape(())
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    with np.errstate(divide="ignore"):
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out.astype(x.dtype)


def softmax(x: ArrayLike, axis: int = -1) -> NDArray:
    r"""Softmax, :math:`e^{x_i} / \sum_j e^{x_j}`: non-negative, sums to one along
    ``axis``.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> softmax(np.array([1.0, 1.0, 1.0, 1.0]))
    array([0.25, 0.25, 0.25, 0.25])
    """
    return np.exp(log_softmax(x, axis=axis))


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


# Logits of more bytes than this (64 KiB) go through the blocked pass of
# ``xent._numpy_blocked``: beyond it the plain formula's temporaries, a few arrays the
# size of the logits, outgrow a core's cache and grow with the batch (see ``bench``).
_PLAIN_MAX_BYTES = 2**16


def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
):
    r"""Cross-entropy between ``target`` and the softmax of ``logits``.

    For a class index :math:`y`, the loss of one row is :math:`-w_y \log q_y` with
    :math:`q = \mathrm{softmax}(z)`; with label smoothing :math:`\varepsilon` it is
    :math:`(1-\varepsilon)(-w_y \log q_y) + \frac{\varepsilon}{C}\sum_c w_c(-\log q_c)`.
    For class probabilities :math:`p` it is :math:`-\sum_c w_c p'_c \log q_c` with
    :math:`p' = (1-\varepsilon) p + \varepsilon / C`. ``"mean"`` divides by the summed
    weight of the non-ignored targets (class indices) or by the number of rows
    (probabilities), exactly as ``torch.nn.functional.cross_entropy`` does.

    Shapes: ``logits: (..., C)``; ``target: (...)`` integer class indices, or
    ``(..., C)`` class probabilities; ``weight: (C,)``. Returns ``(...)`` for
    ``reduction="none"``, else a scalar.

    Raises ``ValueError`` for mismatched shapes, class indices outside ``[0, C)`` that
    are not ``ignore_index``, probabilities outside ``[0, 1]``, a ``weight`` not of
    shape ``(C,)``, ``label_smoothing`` outside ``[0, 1]`` and an unknown
    ``reduction``. Derived in the chapter "From maximum likelihood to cross-entropy".
    Inputs larger than ``_PLAIN_MAX_BYTES`` go through ``xent._numpy_blocked``: the same
    numbers, one cache-sized block of rows at a time (chapter "Cross-entropy at scale").

    Language-model options (chapter "Training language models"): ``softcap`` replaces
    the logits by ``softcap * tanh(z / softcap)`` first; ``z_loss_scale`` adds
    ``z_loss_scale * (log Z)**2`` to each counted row, :math:`\log Z = \log \sum_c
    e^{z_c}`, reduced with the main term (same denominator; class weights do not weight
    it). ``return_z_loss=True`` returns ``(loss, z_loss)``, the loss including the
    z-loss and the z-loss alone. ``ValueError`` for a negative or non-finite
    ``z_loss_scale`` and a ``softcap`` that is not ``None`` or a finite number > 0.

    >>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    >>> round(float(cross_entropy(logits, np.array([0, 2]))), 4)  # (0.1698 + log 3) / 2
    0.6342
    """
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", logits.shape)
    ignore_index = _checks.ignore_index(ignore_index)
    target, is_probs = _class_target(logits, target, ignore_index, cast=False)
    reduction = _checks.reduction(reduction)
    eps = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    num_classes = logits.shape[-1]
    out_dtype = logits.dtype
    if softcap is not None:  # z' = softcap tanh(z / softcap), in the compute dtype
        logits = softcap * np.tanh(_compute(logits) / softcap)
    # float16 logits are computed in float32, and so are their weights
    w = _weight(weight, num_classes, np.promote_types(logits.dtype, np.float32))
    if logits.nbytes > _PLAIN_MAX_BYTES:
        from xent import _numpy_blocked  # it builds on this module's helpers

        loss, denominator = _numpy_blocked.cross_entropy(
            logits, target, is_probs, w, ignore_index, eps
        )
    else:
        loss, denominator = _cross_entropy_plain(
            logits, target, is_probs, w, ignore_index, eps
        )
    loss = loss.astype(out_dtype)
    z_loss = np.zeros_like(loss)
    if z_loss_scale:
        z_loss = z_loss_scale * np.square(logsumexp(logits).astype(loss.dtype))
        if not is_probs:
            z_loss = np.where(target != ignore_index, z_loss, 0).astype(loss.dtype)
        loss = loss + z_loss
    loss = _reduce(loss, reduction, denominator)
    if not return_z_loss:
        return loss
    return loss, _reduce(z_loss, reduction, denominator)


def _cross_entropy_plain(logits, target, is_probs, w, ignore_index, eps):
    """Each element's loss and the ``"mean"`` denominator, the plain formula."""
    num_classes = logits.shape[-1]
    log_probs = log_softmax(_compute(logits))  # (..., C): log q_c = z_c - LSE(z)
    if is_probs:
        # Smoothing mixes the target with the uniform distribution over the C classes.
        p = (1 - eps) * target.astype(w.dtype) + eps / num_classes  # (..., C)
        loss = -(w * p * log_probs).sum(axis=-1)  # (...)
        return loss.astype(logits.dtype), loss.size

    loss, kept_weight = _nll(log_probs, target, w, ignore_index)  # (...): -w_y log q_y
    if eps > 0:
        # The uniform part of the smoothed target: every class, weighted; ignored: 0.
        uniform = np.where(target != ignore_index, -(w * log_probs).sum(axis=-1), 0)
        loss = (1 - eps) * loss + eps / num_classes * uniform
    return loss.astype(logits.dtype), kept_weight.sum()


def _nll(log_probs: NDArray, target: NDArray, w: NDArray, ignore_index: int):
    """Per element, ``-w[y] * log_probs[y]`` and the weight ``w[y]`` (0 if ignored)."""
    keep = target != ignore_index  # (...)
    safe = np.where(keep, target, 0)  # any valid index where ignored; masked out below
    picked = np.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]  # (...)
    kept_weight = np.where(keep, w[safe], 0).astype(log_probs.dtype)
    return np.where(keep, -kept_weight * picked, 0), kept_weight


def nll_loss(
    log_probs: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
):
    r"""Negative log-likelihood of class indices under given log-probabilities.

    One element's loss is :math:`-w_y \cdot \mathrm{log\_probs}_y`; ``"mean"`` divides
    the sum by :math:`\sum w_y` over the targets that are not ``ignore_index``, as
    ``torch.nn.functional.nll_loss``. ``cross_entropy(z, y)`` equals
    ``nll_loss(log_softmax(z), y)``.

    Shapes: ``log_probs: (..., C)``, ``target: (...)`` integers, ``weight: (C,)``.
    Raises ``ValueError`` as :func:`cross_entropy` does (and refuses probabilities).

    >>> log_probs = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(float(nll_loss(log_probs, np.array([0, 0]))), 4)
    0.3993
    """
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", log_probs.shape)
    target, _ = _class_target(
        log_probs, target, _checks.ignore_index(ignore_index), allow_probs=False
    )
    reduction = _checks.reduction(reduction)
    w = _weight(weight, log_probs.shape[-1], log_probs.dtype)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, kept_weight.sum())


def _softplus(x: NDArray) -> NDArray:
    """log(1 + exp(x)), stably: max(x, 0) + log1p(exp(-|x|))."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
):
    r"""Binary cross-entropy of targets in [0, 1] under :math:`\sigma(z)`, from logits.

    One element's loss is :math:`-[w_+\,y \log\sigma(z) + (1-y)\log(1-\sigma(z))]`
    with :math:`w_+` = ``pos_weight``, computed in the stable form
    :math:`(1-y)z + (1 + (w_+-1)y)\,\mathrm{softplus}(-z)`; without ``pos_weight`` this
    is :math:`\max(z, 0) - zy + \log(1 + e^{-|z|})`. ``weight`` multiplies each element;
    ``"mean"`` averages over all elements.

    Shapes: ``logits: (...)``; ``target``: same shape; ``weight`` and ``pos_weight``:
    broadcastable to it (``pos_weight`` usually ``(C,)``, one per label).
    Raises ``ValueError`` for mismatched shapes, targets outside ``[0, 1]`` and an
    unknown ``reduction``. Derived in the chapter "From maximum likelihood to
    cross-entropy".

    >>> z, y = np.array([0.0]), np.array([1.0])
    >>> round(float(binary_cross_entropy_with_logits(z, y)), 4)
    0.6931
    """
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    weight = _broadcast_weight("weight", weight, logits)
    pos_weight = _broadcast_weight("pos_weight", pos_weight, logits)
    reduction = _checks.reduction(reduction)

    z = _compute(logits)
    if pos_weight is None:
        loss = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
    else:
        loss = (1 - target) * z + (1 + (pos_weight - 1) * target) * _softplus(-z)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(logits.dtype), reduction)


def binary_cross_entropy(
    probs: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
):
    r"""Binary cross-entropy of targets in [0, 1] under probabilities in [0, 1].

    One element's loss is :math:`-w[y \log q + (1-y)\log(1-q)]`, each logarithm clamped
    at -100 as PyTorch does, so that a confident mistake costs 100, not infinity.
    Prefer :func:`binary_cross_entropy_with_logits`: it is stable and needs no clamp.

    Shapes: ``probs: (...)``; ``target``: same shape; ``weight``: broadcastable to it.
    Raises ``ValueError`` for probabilities or targets outside ``[0, 1]``, mismatched
    shapes and an unknown ``reduction``. See the chapter "Numerical stability".

    >>> float(binary_cross_entropy(np.array([0.0]), np.array([1.0])))  # log 0 clamped
    100.0
    """
    probs = _floating("probs", probs)
    outside = (probs < 0) | (probs > 1)
    if np.any(outside):
        raise _checks.unit_interval_error("probs", probs[outside][0])
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)

    p = _compute(probs)
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
        log_p = np.maximum(np.log(p), -100)
        log_1mp = np.maximum(np.log1p(-p), -100)
    loss = -(target * log_p + (1 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(probs.dtype), reduction)


def sigmoid_focal_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
):
    r"""Focal loss of Lin et al. (2017): binary cross-entropy, scaled down where easy.

    One element's loss is :math:`\alpha_y (1 - q_y)^\gamma \cdot \mathrm{BCE}(z, y)`
    with :math:`q_y = q y + (1-q)(1-y)` the probability given to the label,
    :math:`q = \sigma(z)`, and :math:`\alpha_y = \alpha y + (1-\alpha)(1-y)`; a
    negative ``alpha`` turns the :math:`\alpha_y` factor off. Same numbers as
    ``torchvision.ops.sigmoid_focal_loss``, including its default ``reduction="none"``.

    Shapes: ``logits: (...)``, ``target``: same shape. Raises ``ValueError`` for
    mismatched shapes, targets outside ``[0, 1]``, ``alpha`` above 1, negative ``gamma``
    and an unknown ``reduction``. See the chapter "Variants".

    >>> z, y = np.array([0.0]), np.array([1.0])
    >>> float(sigmoid_focal_loss(z, y, alpha=-1, gamma=0)[0])
    0.6931471805599453
    """
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)

    q = np.exp(-_softplus(-_compute(logits)))  # sigmoid(z) = exp(-softplus(-z)), stably
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")
    q_y = q * target + (1 - q) * (1 - target)  # the probability given to the label
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - q_y) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(loss.astype(logits.dtype), reduction)


# --------------------------------------------------------------------------------------
# Information theory and the analytic gradient (NumPy only)
# --------------------------------------------------------------------------------------


def _distribution(name: str, p: ArrayLike) -> NDArray:
    p = _floating(name, p)
    outside = (p < 0) | (p > 1)
    if np.any(outside):
        raise _checks.unit_interval_error(name, p[outside][0])
    return p


def _log_base(base: float | None) -> float:
    if base is None:
        return 1.0
    base = _checks.real_number("base", base)
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1; got {base}")
    return float(np.log(base))


def entropy(p: ArrayLike, *, axis: int = -1, base: float | None = None) -> NDArray:
    r"""Shannon entropy :math:`H(p) = -\sum_c p_c \log p_c`, with :math:`0 \log 0 = 0`.

    In nats by default; ``base=2`` gives bits. Shapes: ``p: (..., C)`` gives ``(...)``.
    Raises ``ValueError`` for entries outside ``[0, 1]``. See the chapter "Information".

    >>> float(entropy(np.array([0.5, 0.5]), base=2))
    1.0
    """
    p = _distribution("p", p)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return (terms.sum(axis=axis) / _log_base(base)).astype(p.dtype)


def kl_divergence(
    p: ArrayLike, q: ArrayLike, *, axis: int = -1, base: float | None = None
) -> NDArray:
    r"""Kullback-Leibler divergence, :math:`\sum_c p_c \log(p_c / q_c)`.

    :math:`D_{\mathrm{KL}}(p \,\|\, q)`: terms with :math:`p_c = 0` are zero; a
    :math:`q_c = 0` where :math:`p_c > 0` makes it infinite. Never negative (Gibbs'
    inequality); zero only when :math:`p = q`. In nats by default; ``base=2`` gives
    bits. Shapes: ``p, q: (..., C)`` give ``(...)``.
    Raises ``ValueError`` for entries outside ``[0, 1]`` or shapes that differ.
    See the chapter "Information".

    >>> round(float(kl_divergence(np.array([0.5, 0.5]), np.array([0.9, 0.1]))), 4)
    0.5108
    """
    p = _distribution("p", p)
    q = _distribution("q", q)
    _checks.same_shape("q", q.shape, "p", p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return (terms.sum(axis=axis) / _log_base(base)).astype(p.dtype)


def cross_entropy_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> NDArray:
    r"""Gradient of :func:`cross_entropy` with respect to ``logits``, in closed form.

    Every option of :func:`cross_entropy` makes one row's loss
    :math:`-\sum_c a_c \log q_c` for some non-negative coefficients :math:`a` (the
    weighted, smoothed target), so the gradient is :math:`(\sum_c a_c)\,q - a`; with
    one-hot targets and no options that is ``softmax(logits) - onehot(target)``.
    ``"mean"`` divides by the same denominator as the loss; ``"none"`` returns each
    row's own gradient (that of the sum).
    Derived in the chapter "Logits, softmax and the gradient".

    Shapes: as :func:`cross_entropy`; returns ``(..., C)``. Raises as
    :func:`cross_entropy`.

    >>> cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([1]))
    array([[ 0.5, -0.5]])
    """
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", logits.shape)
    target, is_probs = _class_target(logits, target, _checks.ignore_index(ignore_index))
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)
    num_classes = logits.shape[-1]
    w = _weight(weight, num_classes, logits.dtype)

    if is_probs:
        keep = np.ones(logits.shape[:-1] + (1,), dtype=bool)
        a = w * ((1 - label_smoothing) * target + label_smoothing / num_classes)
        denominator = float(np.prod(logits.shape[:-1]))
    else:
        keep = (target != ignore_index)[..., None]  # (..., 1)
        onehot = np.arange(num_classes) == np.where(keep[..., 0], target, -1)[..., None]
        a = (
            1 - label_smoothing
        ) * w * onehot + label_smoothing / num_classes * w * keep
        denominator = (w * onehot).sum()  # summed weight of the kept targets
    grad = a.sum(axis=-1, keepdims=True) * softmax(logits) - a  # (..., C)
    if reduction == "mean":
        # Ignored rows stay exactly zero, even when nothing is kept and the mean is 0/0.
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = np.where(keep, grad / denominator, 0.0)
    return grad.astype(logits.dtype)

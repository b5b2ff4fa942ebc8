"""Cross-entropy and its relatives in TensorFlow, with the API of ``xent.numpy``.

The same functions, in the same order, with the same signatures as the NumPy reference;
only what TensorFlow changes differs: tensors instead of arrays, ``GradientTape``
instead of the analytic gradient, and checks that also work while ``tf.function`` traces
a graph. Shape and option errors raise ``ValueError`` at once (while tracing, too);
checks on values (a class index out of range, a probability above one) raise
``ValueError`` in eager mode and become graph assertions
(``tf.errors.InvalidArgumentError``, same message) inside ``tf.function``.

Classes are on the last axis: ``logits`` has shape ``(..., C)``, as in Keras. The
numbers are those of ``torch.nn.functional``, options included.
"""

from __future__ import annotations

import tensorflow as tf

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
]

_BCE_EPS = 9.999999960041972e-13  # PyTorch's 1e-12 for the BCE gradient, a float32

Tensor = tf.Tensor

# --------------------------------------------------------------------------------------
# Helpers: argument conversion and reductions
# --------------------------------------------------------------------------------------


def _kind(x: Tensor) -> str:
    if x.dtype.is_bool:
        return "b"
    if x.dtype.is_floating:
        return "f"
    if x.dtype.is_complex:
        return "c"
    return "u" if x.dtype.is_unsigned else "i" if x.dtype.is_integer else "?"


def _shape(x: Tensor) -> tuple[int | None, ...]:
    return tuple(x.shape.as_list())


def _tensor(x) -> Tensor:
    return x if isinstance(x, tf.Tensor | tf.Variable) else tf.convert_to_tensor(x)


def _floating(name: str, x) -> Tensor:
    x = _tensor(x)
    _checks.floating(name, _kind(x), x.dtype.name)
    return x


def _compute(x: Tensor) -> Tensor:
    # float16 and bfloat16 have too few bits for exp and log sums: compute in float32.
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def _fail_if(bad: Tensor, values: Tensor, error, *args) -> Tensor:
    """Raise ``error(*args, first bad value)`` if any of ``bad`` holds; return
    ``values``.

    While ``tf.function`` traces, values are unknown: the check becomes a graph
    assertion with the same message, and the returned ``values`` depend on it, so that
    no later op (a gather with a bad index, say) can fail first with a message of its
    own.
    """
    if tf.executing_eagerly():
        if bool(tf.reduce_any(bad)):
            raise error(*args, tf.boolean_mask(values, bad)[0].numpy().item())
        return values
    message = str(error(*args))  # no example: the values are not known yet
    check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [message])
    with tf.control_dependencies([check]):
        return tf.identity(values)


def _weight(weight, num_classes: int | None, like: Tensor) -> Tensor:
    """Per-class weights of shape (C,), ones when none are given."""
    if weight is None:
        return tf.ones(tf.shape(like)[-1:], dtype=like.dtype)
    weight = _tensor(weight)
    _checks.class_weight(_shape(weight), _kind(weight), num_classes)
    return tf.cast(weight, like.dtype)


def _class_target(
    logits: Tensor, target, ignore_index: int, allow_probs: bool = True
) -> tuple[Tensor, bool]:
    """Check a multi-class target; return it (int64 indices or probabilities) and its
    kind.
    """
    target = _tensor(target)
    is_probs = _checks.class_target(
        "logits",
        _shape(logits),
        _shape(target),
        _kind(target),
        target.dtype.name,
        ignore_index,
        allow_probs,
    )
    if is_probs:
        outside = (target < 0) | (target > 1)
        target = _fail_if(
            outside, target, _checks.unit_interval_error, "target (class probabilities)"
        )
        return tf.cast(target, logits.dtype), True
    target = tf.cast(target, tf.int64)
    num_classes = tf.shape(logits, out_type=tf.int64)[-1]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    return _fail_if(
        bad, target, _checks.index_error, logits.shape[-1], ignore_index
    ), False


def _binary_target(name: str, target, like: Tensor, like_name: str) -> Tensor:
    """A binary target: same shape as ``like``, values in [0, 1], cast to its dtype."""
    target = _tensor(target)
    _checks.same_shape("target", _shape(target), like_name, _shape(like))
    if _kind(target) not in "fiub":
        raise ValueError(
            f"target must hold numbers in [0, 1]; got dtype {target.dtype.name}"
        )
    target = tf.cast(target, like.dtype)
    outside = (target < 0) | (target > 1)
    return _fail_if(outside, target, _checks.unit_interval_error, name)


def _broadcast_weight(name: str, weight, like: Tensor) -> Tensor | None:
    if weight is None:
        return None
    weight = _tensor(weight)
    _checks.broadcastable(name, _shape(weight), "logits", _shape(like))
    return tf.cast(weight, like.dtype)


def _reduce(loss: Tensor, reduction: str, denominator: Tensor | None = None) -> Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` (default: the element
    count).
    """
    if reduction == "none":
        return loss
    total = tf.reduce_sum(loss)
    if reduction == "sum":
        return total
    if denominator is None:
        denominator = tf.cast(tf.size(loss), loss.dtype)
    return tf.math.divide(total, denominator)  # 0 / 0 = nan, as torch


# --------------------------------------------------------------------------------------
# Stable building blocks
# --------------------------------------------------------------------------------------


def _row_max(x: Tensor, axis: int) -> Tensor:
    """The maximum along ``axis``, kept as a dimension and constant for the tape; 0
    where it is not finite (an all -inf row, or an empty axis).
    """
    m = tf.stop_gradient(tf.reduce_max(x, axis=axis, keepdims=True))
    return tf.where(tf.math.is_finite(m), m, tf.zeros_like(m))


def logsumexp(x, axis: int = -1, keepdims: bool = False) -> Tensor:
    r"""Log of the sum of exponentials, :math:`\log \sum_j e^{x_j}`, without overflow.

    Subtracting the maximum :math:`m` first, :math:`m + \log \sum_j e^{x_j - m}`, keeps
    every exponent at most :math:`e^0 = 1` (derived in the chapter "Numerical
    stability"). The shift is a constant for ``GradientTape``, so the gradient is the
    softmax.

    Shapes: ``x: (..., C)`` gives ``(...)``, or ``(..., 1)`` with ``keepdims=True``.
    Raises ``ValueError`` when ``x`` is not floating-point.

    >>> float(logsumexp(tf.constant([1000.0, 1000.0])))  # naive: log(inf) = inf
    1000.6931762695312
    """
    x = _floating("x", x)
    if x.shape.rank == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return tf.reshape(logsumexp(tf.reshape(x, [1]), axis, keepdims), [])
    xc = _compute(x)
    m = _row_max(xc, axis)
    out = m + tf.math.log(tf.reduce_sum(tf.exp(xc - m), axis=axis, keepdims=True))
    out = tf.cast(out, x.dtype)
    return out if keepdims else tf.squeeze(out, axis=axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    r"""Logarithm of the softmax, :math:`x_i - \log \sum_j e^{x_j}`, computed stably.

    Computed as :math:`(x_i - m) - \log \sum_j e^{x_j - m}`: subtracting the shifted
    terms keeps full precision even where :math:`m` itself is large.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> log_softmax(tf.constant([0.0, 0.0])).numpy().round(4)
    array([-0.6931, -0.6931], dtype=float32)
    """
    x = _floating("x", x)
    if x.shape.rank == 0:  # a scalar is a single class, as in PyTorch (axis -1 or 0)
        return tf.reshape(log_softmax(tf.reshape(x, [1]), axis), [])
    xc = _compute(x)
    shifted = xc - _row_max(xc, axis)  # the largest entry of each row is now 0
    out = shifted - tf.math.log(
        tf.reduce_sum(tf.exp(shifted), axis=axis, keepdims=True)
    )
    return tf.cast(out, x.dtype)


def softmax(x, axis: int = -1) -> Tensor:
    r"""Softmax, :math:`e^{x_i} / \sum_j e^{x_j}`: non-negative, sums to one along
    ``axis``.

    Shapes: ``x: (..., C)`` gives ``(..., C)``. Raises ``ValueError`` for non-float
    input.

    >>> softmax(tf.constant([1.0, 1.0, 1.0, 1.0])).numpy()
    array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    return tf.exp(log_softmax(x, axis=axis))


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

    Raises ``ValueError`` for mismatched shapes, class indices outside ``[0, C)`` that
    are not ``ignore_index``, probabilities outside ``[0, 1]``, a ``weight`` not of
    shape ``(C,)``, ``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``.
    Derived in the chapter "From maximum likelihood to cross-entropy".

    Language-model options (chapter "Training language models"): ``softcap`` replaces
    the logits by ``softcap * tanh(z / softcap)`` first; ``z_loss_scale`` adds
    ``z_loss_scale * (log Z)**2`` to each counted row, reduced with the main term (same
    denominator; class weights do not weight it). ``return_z_loss=True`` returns
    ``(loss, z_loss)``: the loss including the z-loss, and the z-loss alone (no
    gradient), for logging. ``ValueError`` for a negative or non-finite
    ``z_loss_scale`` and a ``softcap`` that is not ``None`` or a finite number > 0.

    >>> logits = tf.constant([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    >>> loss = cross_entropy(logits, tf.constant([0, 2]))  # (0.1698 + log 3) / 2
    >>> round(float(loss), 4)
    0.6342
    """
    logits = _floating("logits", logits)
    _checks.logits_shape("logits", _shape(logits))
    ignore_index = _checks.ignore_index(ignore_index)
    target = _tensor(target)
    is_probs = _checks.class_target(
        "logits",
        _shape(logits),
        _shape(target),
        _kind(target),
        target.dtype.name,
        ignore_index,
    )
    reduction = _checks.reduction(reduction)
    label_smoothing = _checks.label_smoothing(label_smoothing)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    softcap = _checks.softcap(softcap)
    w = None if weight is None else _weight(weight, logits.shape[-1], logits)
    target = tf.cast(target, logits.dtype if is_probs else tf.int64)
    options = (
        ignore_index,
        reduction,
        label_smoothing,
        is_probs,
        z_loss_scale,
        softcap,
    )
    if not tf.executing_eagerly():  # inside the caller's graph: a graph assertion
        loss, z_loss, bad = _cross_entropy(logits, target, w, *options)
        message = (
            _checks.unit_interval_error("target (class probabilities)")
            if is_probs
            else _checks.index_error(logits.shape[-1], ignore_index)
        )
        check = tf.debugging.Assert(tf.logical_not(bad), [str(message)])
        with tf.control_dependencies([check]):
            loss, z_loss = tf.identity(loss), tf.stop_gradient(tf.identity(z_loss))
        return (loss, z_loss) if return_z_loss else loss
    # Eager: one call of the traced graph instead of some forty eager operations, each
    # of which costs more than the arithmetic at small sizes; the check's verdict comes
    # back with the loss, and a bad target is found again eagerly, to name it.
    loss, z_loss, bad = _cross_entropy_graph(logits, target, w, *options)
    if bool(bad):
        if is_probs:
            _fail_if(
                (target < 0) | (target > 1),
                target,
                _checks.unit_interval_error,
                "target (class probabilities)",
            )
        _class_target(logits, target, ignore_index)
    return (loss, tf.stop_gradient(z_loss)) if return_z_loss else loss


def _cross_entropy(
    logits, target, w, ignore_index, reduction, eps, is_probs, zs=0.0, cap=None
):
    """The loss of :func:`cross_entropy`, its z-loss term (``zs * (log Z)**2`` per
    counted row, under the same reduction) and whether its target holds a bad value.

    A bad class index is replaced by a valid one, so that no gather fails before the
    caller sees the verdict; the loss is then meaningless and the caller raises.
    """
    if w is None:
        w = tf.ones(tf.shape(logits)[-1:], dtype=logits.dtype)
    w = _compute(w)  # (C,)

    # Memory-lean (chapter "Cross-entropy at scale"): the tape never holds the (..., C)
    # log-softmax. Two small custom gradients do the work on the shifted logits s = z -
    # m; everything else is per row.
    z = _compute(tf.reshape(logits, tf.stack([-1, tf.shape(logits)[-1]])))  # (N, C)
    if cap is not None:  # soft-capping, z' = cap tanh(z / cap)
        z = cap * tf.tanh(z / cap)
    num_classes = tf.cast(tf.shape(z)[-1], z.dtype)
    m = _row_max(z, -1)  # (N, 1), a constant to the tape
    rows_shape = tf.shape(logits)[:-1]  # (...)

    if is_probs:
        bad = tf.reduce_any((target < 0) | (target > 1))
        # Smoothing mixes the target with the uniform distribution over the C classes;
        # with a = w * y', the loss sum_c a_c (lambda - s_c) is two sums of non-negative
        # terms.
        y = _compute(tf.reshape(target, tf.shape(z)))  # (N, C)
        a = w * ((1 - eps) * y + eps / num_classes)  # (N, C)
        log_sum = _log_sum_exp_shifted(z, m)  # (N,): lambda = log sum_j exp(s_j)
        loss = log_sum * tf.reduce_sum(a, axis=-1) - _shifted_dot(z, m, a)  # (N,)
        z_rows = zs * tf.square(m[:, 0] + log_sum)  # (N,): log Z = m + lambda
        loss = tf.cast(tf.reshape(loss + z_rows, rows_shape), logits.dtype)
        z_rows = tf.cast(tf.reshape(z_rows, rows_shape), logits.dtype)
        count = tf.cast(tf.size(loss), loss.dtype)
        return (
            _reduce(loss, reduction, count),
            _reduce(z_rows, reduction, count),
            bad,
        )

    t = tf.reshape(target, [-1])  # (N,)
    keep = t != ignore_index
    valid = (t >= 0) & (t < tf.shape(z, out_type=tf.int64)[-1])
    bad = tf.reduce_any(keep & ~valid)
    safe = tf.where(keep & valid, t, tf.zeros_like(t))  # a valid index; masked below
    log_sum, picked = _log_sum_exp_and_pick(z, m, safe)  # (N,), (N,): lambda, s_t
    # (N,): w_y or 0
    kept_weight = tf.where(keep, tf.gather(w, safe), tf.zeros_like(picked))
    # tf.where, not a product with 0: the tape then gives ignored rows a zero gradient.
    loss = tf.where(keep, kept_weight * (log_sum - picked), tf.zeros_like(picked))
    if eps > 0:
        # The uniform part of the smoothed target: every class, weighted, ignored rows
        # zeroed; sum_c w_c (-log q_c).
        smooth = log_sum * tf.reduce_sum(w) - _shifted_dot(z, m, w)
        loss = (1 - eps) * loss + eps / num_classes * tf.where(
            keep, smooth, tf.zeros_like(loss)
        )
    z_rows = tf.where(keep, zs * tf.square(m[:, 0] + log_sum), tf.zeros_like(loss))
    loss = tf.cast(tf.reshape(loss + z_rows, rows_shape), logits.dtype)
    z_rows = tf.cast(tf.reshape(z_rows, rows_shape), logits.dtype)
    kept = tf.reduce_sum(tf.cast(kept_weight, logits.dtype))
    return _reduce(loss, reduction, kept), _reduce(z_rows, reduction, kept), bad


_GRAPHS: dict = {}


def _cross_entropy_graph(logits, target, w, *options):
    """:func:`_cross_entropy` as a graph traced once per rank, dtype and options (every
    dimension left unknown), so that a new batch size never traces it again.
    """
    key = (logits.shape.rank, logits.dtype, target.shape.rank, target.dtype, w is None)
    key += tuple(options)
    if key not in _GRAPHS:
        specs = [
            tf.TensorSpec([None] * logits.shape.rank, logits.dtype),
            tf.TensorSpec([None] * target.shape.rank, target.dtype),
        ]
        if w is None:
            traced = tf.function(
                lambda z, t: _cross_entropy(z, t, None, *options), input_signature=specs
            )
        else:
            specs.append(tf.TensorSpec([None], w.dtype))
            traced = tf.function(
                lambda z, t, v: _cross_entropy(z, t, v, *options), input_signature=specs
            )
        _GRAPHS[key] = traced
    args = (logits, target) if w is None else (logits, target, w)
    return _GRAPHS[key](*args)


def _log_sum_of_exp(z: Tensor, m: Tensor) -> Tensor:
    """``lambda = log sum_j exp(z_j - m)`` of each row of ``z: (N, C)``, shift ``m: (N,
    1)``.
    """
    return tf.math.log(tf.reduce_sum(tf.exp(z - m), axis=-1))


@tf.custom_gradient
def _log_sum_exp_shifted(z: Tensor, m: Tensor):
    """``log sum_j exp(z_j - m)`` of each row of ``z: (N, C)``, for a constant shift
    ``(N, 1)``.

    Its gradient is the softmax, recomputed from ``z`` in the backward pass by one fused
    ``tf.nn.softmax``, so the tape keeps no ``(N, C)`` array for it. The backward pass
    is made of differentiable operations: a tape that records it gets second derivatives
    right.
    """
    log_sum = _log_sum_of_exp(z, m)

    def grad(upstream):
        return upstream[:, None] * tf.nn.softmax(z, axis=-1), None

    return log_sum, grad


@tf.custom_gradient
def _log_sum_exp_and_pick(z: Tensor, m: Tensor, index: Tensor):
    """:func:`_log_sum_exp_shifted` of each row of ``z: (N, C)`` and its shifted entry
    ``index``.

    One custom gradient for both, so the backward pass adds the target's term into the
    softmax it builds anyway, instead of the tape adding a second ``(N, C)`` gradient to
    it.
    """
    log_sum = _log_sum_of_exp(z, m)  # (N,)
    rows = tf.range(tf.shape(index, out_type=index.dtype)[0])
    at = tf.stack([rows, index], axis=1)  # (N, 2): (row, index) pairs
    picked = tf.gather_nd(z, at) - m[:, 0]  # (N,)

    def grad(upstream_log_sum, upstream_picked):
        grad_z = upstream_log_sum[:, None] * tf.nn.softmax(z, axis=-1)
        return tf.tensor_scatter_nd_add(grad_z, at, upstream_picked), None, None

    return (log_sum, picked), grad


@tf.custom_gradient
def _shifted_dot(z: Tensor, m: Tensor, a: Tensor):
    """``sum_c a_c (z_c - m)`` of each row of ``z: (N, C)``; ``a: (C,)`` or ``(N, C)``.

    Gradients for ``z`` and ``a``; the shifted logits are recomputed in the backward
    pass rather than kept by the tape.
    """
    out = tf.reduce_sum(a * (z - m), axis=-1)

    def grad(upstream):
        grad_a = upstream[:, None] * (z - m)  # (N, C)
        if a.shape.rank == 1:
            grad_a = tf.reduce_sum(grad_a, axis=0)  # (C,)
        return upstream[:, None] * a, None, grad_a

    return out, grad


def _nll(log_probs: Tensor, target: Tensor, w: Tensor, ignore_index: int):
    """Per-element ``-w[t] * log_probs[t]`` and the weight ``w[t]`` (both 0 where
    ignored).
    """
    keep = target != ignore_index  # (...)
    safe = tf.where(keep, target, tf.zeros_like(target))  # a valid index; masked below
    picked = tf.gather(log_probs, safe[..., None], batch_dims=len(target.shape))[
        ..., 0
    ]  # (...)
    kept_weight = tf.where(keep, tf.gather(w, safe), tf.zeros_like(picked))
    # tf.where, not a product with 0: the tape then gives ignored rows a zero gradient.
    return tf.where(keep, -kept_weight * picked, tf.zeros_like(picked)), kept_weight


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

    >>> log_probs = tf.math.log(tf.constant([[0.5, 0.5], [0.9, 0.1]]))
    >>> round(float(nll_loss(log_probs, tf.constant([0, 0]))), 4)
    0.3993
    """
    log_probs = _floating("log_probs", log_probs)
    _checks.logits_shape("log_probs", _shape(log_probs))
    target, _ = _class_target(
        log_probs, target, _checks.ignore_index(ignore_index), allow_probs=False
    )
    reduction = _checks.reduction(reduction)
    w = _weight(weight, log_probs.shape[-1], log_probs)
    loss, kept_weight = _nll(log_probs, target, w, ignore_index)
    return _reduce(loss, reduction, tf.reduce_sum(kept_weight))


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stably, with the exact gradient sigmoid(x) everywhere, also at
    0.
    """
    return tf.math.softplus(x)


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
    e^{-|z|})` of ``xent.numpy`` would give the tape a wrong gradient at exactly
    :math:`z = 0`, where ``max`` and ``abs`` have a kink.) ``weight`` multiplies each
    element; ``"mean"`` averages over all elements.

    Shapes: ``logits: (...)``; ``target``: same shape; ``weight`` and ``pos_weight``:
    broadcastable to it (``pos_weight`` usually ``(C,)``, one per label). Raises
    ``ValueError`` for mismatched shapes, targets outside ``[0, 1]`` and an unknown
    ``reduction``. Derived in the chapter "From maximum likelihood to cross-entropy".

    >>> z, y = tf.constant([0.0]), tf.constant([1.0])
    >>> round(float(binary_cross_entropy_with_logits(z, y)), 4)
    0.6931
    """
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    weight = _broadcast_weight("weight", weight, logits)
    pos_weight = _broadcast_weight("pos_weight", pos_weight, logits)
    reduction = _checks.reduction(reduction)

    z, target = _compute(logits), _compute(target)
    if pos_weight is None:
        loss = (1 - target) * z + _softplus(-z)
    else:
        loss = (1 - target) * z + (1 + (_compute(pos_weight) - 1) * target) * _softplus(
            -z
        )
    if weight is not None:
        loss = loss * _compute(weight)
    return _reduce(tf.cast(loss, logits.dtype), reduction)


@tf.custom_gradient
def _clamped_bce(p: Tensor, y: Tensor):
    """Element-wise binary cross-entropy on probabilities with PyTorch's clamps and
    gradients.

    The log is clamped at -100, whose derivative would be 0 * inf = nan at p = 0 or 1 on
    a plain tape; PyTorch instead uses (p - y) / max(p (1 - p), 1e-12), and so do we
    (1e-12 rounded to float32, as PyTorch stores it).
    """
    log_p = tf.maximum(tf.math.log(p), -100.0)
    log_1mp = tf.maximum(tf.math.log1p(-p), -100.0)

    def grad(upstream: Tensor):
        grad_p = upstream * (p - y) / tf.maximum(p * (1 - p), _BCE_EPS)
        grad_y = upstream * (
            tf.math.log1p(-p) - tf.math.log(p)
        )  # -logit(p), as PyTorch
        return grad_p, grad_y

    return -(y * log_p + (1 - y) * log_1mp), grad


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
    at 0 and 1. (Keras's ``BinaryCrossentropy`` clips probabilities to ``[1e-7, 1 -
    1e-7]`` instead.) Prefer :func:`binary_cross_entropy_with_logits`: it is stable and
    needs no clamp.

    Shapes: ``probs: (...)``; ``target``: same shape; ``weight``: broadcastable to it.
    Raises ``ValueError`` for probabilities or targets outside ``[0, 1]``, mismatched
    shapes and an unknown ``reduction``. See the chapter "Numerical stability".

    >>> p, y = tf.constant([0.0]), tf.constant([1.0])
    >>> float(binary_cross_entropy(p, y))  # log 0 clamped
    100.0
    """
    probs = _floating("probs", probs)
    probs = _fail_if(
        (probs < 0) | (probs > 1), probs, _checks.unit_interval_error, "probs"
    )
    target = _binary_target("target", target, probs, "probs")
    weight = _broadcast_weight("weight", weight, probs)
    reduction = _checks.reduction(reduction)

    loss = _clamped_bce(_compute(probs), _compute(target))
    if weight is not None:
        loss = loss * _compute(weight)
    return _reduce(tf.cast(loss, probs.dtype), reduction)


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

    >>> z, y = tf.constant([0.0]), tf.constant([1.0])
    >>> float(sigmoid_focal_loss(z, y, alpha=-1, gamma=0)[0])
    0.6931471824645996
    """
    logits = _floating("logits", logits)
    target = _binary_target("target", target, logits, "logits")
    alpha, gamma = _checks.focal_params(alpha, gamma)
    reduction = _checks.reduction(reduction)

    p = tf.exp(-_softplus(-_compute(logits)))  # sigmoid(z) = exp(-softplus(-z)), stably
    ce = _compute(binary_cross_entropy_with_logits(logits, target, reduction="none"))
    target = _compute(target)
    p_t = p * target + (1 - p) * (1 - target)
    # gamma = 0 is plain BCE; skipping the factor also spares the tape 0 * 0**-1 = nan.
    loss = ce * (1 - p_t) ** gamma if gamma > 0 else ce
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(tf.cast(loss, logits.dtype), reduction)

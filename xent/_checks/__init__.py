"""Argument checks shared by every backend.

Each backend turns its arrays into plain facts (a shape as a tuple, a dtype as a
one-letter kind: ``"f"`` floating, ``"i"`` signed integer, ``"u"`` unsigned integer,
``"b"`` boolean) and calls these functions, so that all three raise the same
``ValueError`` with the same words. A dimension that is unknown while TensorFlow traces
a graph is ``None`` and matches anything. Checks that need the values themselves (a
class index out of range, a probability above one) are computed by the backend, eagerly
where reading the values is free and as a device-side or graph assertion elsewhere;
their messages are built here for both.

Every message reads "<name> must <requirement>; got <what it got>". The scalar
validators (``positive_int``, ``positive_number``, ``non_negative``, ``fraction``,
``seed``, ...) live in ``xent._checks.scalars`` and are re-exported here; they serve
every module of the package. Checks that read array values live beside them, one module
per framework: ``xent._checks.numpy`` (the NumPy-only modules), ``xent._checks.torch``
and ``xent._checks.tensorflow``.
"""

from __future__ import annotations

from collections.abc import Sequence

from xent._checks.scalars import (
    REDUCTIONS,
    base,
    finite_number,
    flag,
    focal_params,
    fraction,
    ignore_index,
    instance,
    integer,
    interval,
    label_smoothing,
    non_empty_string,
    non_negative,
    pair,
    positive_int,
    positive_number,
    real_number,
    reduction,
    seed,
    softcap,
    temperature,
    z_loss_scale,
)

__all__ = [
    "REDUCTIONS",
    "integer",
    "positive_int",
    "seed",
    "flag",
    "finite_number",
    "positive_number",
    "non_negative",
    "interval",
    "non_empty_string",
    "pair",
    "instance",
    "fraction",
    "temperature",
    "reduction",
    "label_smoothing",
    "z_loss_scale",
    "softcap",
    "ignore_index",
    "real_number",
    "focal_params",
    "base",
    "Shape",
    "floating",
    "axis",
    "logits_shape",
    "class_target",
    "class_weight",
    "same_shape",
    "broadcastable",
    "index_error",
    "unit_interval_error",
    "vector",
]

Shape = Sequence[int | None]


def _fmt(shape: Shape) -> str:
    """Shapes in messages look like ``(4, 3)``, with ``?`` for a dimension not yet
    known.
    """
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _same(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a, b, strict=False)
    )


def floating(name: str, kind: str, dtype: object) -> None:
    if kind != "f":
        raise ValueError(f"{name} must have a floating-point dtype; got {dtype}")


def axis(value: object, ndim: int | None) -> int:
    """A dimension of an ``ndim``-d input, counted as PyTorch counts them: ``-ndim`` to
    ``ndim - 1``, and ``-1`` or ``0`` for a 0-d input (a single class). ``ndim=None``, a
    rank unknown while a graph is traced, checks only that ``value`` is an integer.

    >>> axis(-1, 2), axis(0, 0)
    (-1, 0)
    >>> axis(2, 2)
    Traceback (most recent call last):
    ...
    ValueError: axis must be an integer in [-2, 1] for a 2-d input; got 2
    """
    number = integer("axis", value)
    if ndim is None:
        return number
    size = max(ndim, 1)
    if not -size <= number < size:
        raise ValueError(
            f"axis must be an integer in [{-size}, {size - 1}] for a {ndim}-d input; "
            f"got {value!r}"
        )
    return number


def logits_shape(name: str, shape: Shape) -> None:
    """Class scores need a class axis: at least one dimension, and at least one
    class.
    """
    if len(shape) == 0:
        raise ValueError(
            f"{name} must have a class axis (shape (..., C)); got a scalar"
        )
    if shape[-1] == 0:
        raise ValueError(
            f"{name} must have at least one class; got shape {_fmt(shape)}"
        )


def class_target(
    logits_name: str,
    logits_shape: Shape,
    target_shape: Shape,
    target_kind: str,
    target_dtype: object,
    ignore_index: int,
    allow_probs: bool = True,
) -> bool:
    """Check a multi-class target; return True for probabilities, False for class
    indices.

    Class indices have the shape of the logits without the class axis and an integer
    dtype; class probabilities have the shape of the logits and a floating dtype.
    """
    if len(target_shape) == len(logits_shape) - 1 and _same(
        target_shape, logits_shape[:-1]
    ):
        if target_kind not in ("i", "u"):
            raise ValueError(
                f"target of shape {_fmt(target_shape)} holds class indices and must "
                f"have an integer dtype; got {target_dtype}"
            )
        return False
    if len(target_shape) == len(logits_shape) and allow_probs:
        if not _same(target_shape[:-1], logits_shape[:-1]):
            raise ValueError(
                f"target of shape {_fmt(target_shape)} does not match {logits_name} of "
                f"shape {_fmt(logits_shape)}: class probabilities need shape "
                f"{_fmt(logits_shape)}"
            )
        if not _same(target_shape, logits_shape):
            raise ValueError(
                "target holds class probabilities with last dimension "
                f"{target_shape[-1]}, but {logits_name} has {logits_shape[-1]} classes "
                f"(shape {_fmt(logits_shape)})"
            )
        if target_kind != "f":
            raise ValueError(
                f"target of shape {_fmt(target_shape)} holds class probabilities and "
                f"must have a floating-point dtype; got {target_dtype}"
            )
        if ignore_index >= 0:
            raise ValueError(
                "ignore_index applies to class-index targets only; with class "
                f"probabilities leave it negative (got {ignore_index})"
            )
        return True
    wanted = f"class indices of shape {_fmt(logits_shape[:-1])}"
    if allow_probs:
        wanted += f" or class probabilities of shape {_fmt(logits_shape)}"
    raise ValueError(
        f"target of shape {_fmt(target_shape)} does not match {logits_name} of shape "
        f"{_fmt(logits_shape)}: give {wanted}"
    )


def class_weight(
    shape: Shape | None, kind: str | None, num_classes: int | None
) -> None:
    if shape is None:
        return
    if kind != "f" and kind not in ("i", "u"):
        raise ValueError(
            f"weight must hold real numbers, one per class; got dtype kind {kind!r}"
        )
    if len(shape) != 1 or not _same(shape, (num_classes,)):
        raise ValueError(
            f"weight must have shape ({'?' if num_classes is None else num_classes},), "
            f"one entry per class; got shape {_fmt(shape)}"
        )


def same_shape(name: str, shape: Shape, other_name: str, other_shape: Shape) -> None:
    if not _same(shape, other_shape):
        raise ValueError(
            f"{name} of shape {_fmt(shape)} must have the same shape as {other_name} "
            f"({_fmt(other_shape)})"
        )


def broadcastable(
    name: str, shape: Shape | None, to_name: str, to_shape: Shape
) -> None:
    """``shape`` must broadcast to ``to_shape`` without changing it (NumPy's rules)."""
    if shape is None:
        return
    ok = len(shape) <= len(to_shape) and all(
        d is None or t is None or d in (1, t)
        for d, t in zip(reversed(shape), reversed(to_shape), strict=False)
    )
    if not ok:
        raise ValueError(
            f"{name} of shape {_fmt(shape)} does not broadcast to the shape of "
            f"{to_name} {_fmt(to_shape)}"
        )


def index_error(
    num_classes: int | None, ignore_index: int, example: object = None
) -> ValueError:
    """Class indices out of range; ``example`` is one of them, or None where the check
    runs on a device (a device-side assertion or a graph assertion cannot name the
    value).
    """
    return ValueError(
        f"target holds class indices outside [0, {num_classes}) that are not "
        f"ignore_index={ignore_index}"
        + ("" if example is None else f", e.g. {example}")
    )


def unit_interval_error(name: str, example: object = None) -> ValueError:
    """Values outside [0, 1]; ``example`` as for :func:`index_error`."""
    found = "" if example is None else f"; got {example} among them"
    return ValueError(f"{name} must hold values in [0, 1]{found}")


def vector(
    name: str,
    shape: Shape,
    kind: str,
    dtype: object,
    length: int,
    holds: str,
    *,
    kinds: str = "fiu",
) -> None:
    """A 1-D array of ``length`` entries whose dtype kind is one of ``kinds``;
    ``holds`` says what the entries are ("positive numbers, one per class").
    """
    if kind not in kinds or not (len(shape) == 1 and _same(shape, (length,))):
        raise ValueError(
            f"{name} must hold ({length},) {holds}; got shape {_fmt(shape)} and "
            f"dtype {dtype}"
        )

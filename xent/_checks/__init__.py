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
validators below (``positive_int``, ``positive_number``, ``non_negative``, ``fraction``,
``seed``, ...) serve every module of the package; checks that read array values live
beside this one, one module per framework: ``xent._checks.numpy`` (the NumPy-only
modules), ``xent._checks.torch`` and ``xent._checks.tensorflow``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TypeVar

REDUCTIONS = ("none", "mean", "sum")

Shape = Sequence[int | None]
T = TypeVar("T")


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


# --------------------------------------------------------------------------------------
# Scalar arguments: every check names the argument and says "<name> must ...; got ..."
# --------------------------------------------------------------------------------------
# Python's int and float, NumPy's integer and floating scalars (registered with the
# ``numbers`` ABCs) are accepted; bool is refused wherever a number is meant, because
# ``True`` is an int to Python but never a size, a seed or a rate to a reader.


def _as_int(value: object) -> int | None:
    """``value`` as an int, or None if it is not an integer (bool is not)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _as_float(value: object) -> float:
    """``value`` as a float, NaN if it is not a real number (bool is not)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return math.nan  # fails every comparison below


def integer(name: str, value: object, minimum: int | None = None) -> int:
    """An integer (not bool), at least ``minimum`` when one is given."""
    number = _as_int(value)
    if number is None or (minimum is not None and number < minimum):
        wanted = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {wanted}; got {value!r}")
    return number


def positive_int(name: str, value: object) -> int:
    """An integer >= 1 (a size, a count, a number of steps)."""
    number = _as_int(value)
    if number is None or number < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return number


def seed(value: object) -> int:
    """A random seed: an integer >= 0."""
    number = _as_int(value)
    if number is None or number < 0:
        raise ValueError(f"seed must be a non-negative integer; got {value!r}")
    return number


def flag(name: str, value: object) -> bool:
    """A switch: exactly True or False (not 0, 1 or None)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return value


def finite_number(name: str, value: object) -> float:
    """A finite real number (not bool, NaN or an infinity)."""
    number = _as_float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return number


def positive_number(name: str, value: object) -> float:
    """A finite number > 0 (a rate, a scale, a standard deviation)."""
    number = _as_float(value)
    if not 0.0 < number < math.inf:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return number


def non_negative(name: str, value: object) -> float:
    """A finite number >= 0 (a noise level, a weight, a smoothing count)."""
    number = _as_float(value)
    if not 0.0 <= number < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return number


def interval(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A number between ``low`` and ``high``, each end included unless ``*_open``.

    The message writes the interval as mathematics does: ``[0, 1]``, ``(0, 0.5]``.
    """
    number = _as_float(value)
    above = low < number if low_open else low <= number
    below = number < high if high_open else number <= high
    if not (above and below):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(
            f"{name} must be a number in {left}{low:g}, {high:g}{right}; got {value!r}"
        )
    return number


def non_empty_string(name: str, value: object) -> str:
    """A ``str`` with at least one character (the message shows 40 at most)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string; got {value!r:.40}")
    return value


def pair(name: str, value: object) -> tuple[float, float]:
    """Bounds ``(low, high)`` of a search: finite numbers with ``0 < low < high``."""
    if isinstance(value, tuple | list) and len(value) == 2:
        low, high = _as_float(value[0]), _as_float(value[1])
        if 0.0 < low < high < math.inf:
            return low, high
    raise ValueError(
        f"{name} must be a pair (low, high) of finite numbers with 0 < low < high; "
        f"got {value!r}"
    )


def instance(name: str, value: object, cls: type[T], what: str) -> T:
    """``value`` is a ``cls``; ``what`` names it ("an xent.data.Split")."""
    if not isinstance(value, cls):
        raise ValueError(f"{name} must be {what}; got {type(value).__name__}")
    return value


def fraction(name: str, value: object) -> float:
    """A number in [0, 1] (a share of the data, a probability, a smoothing weight)."""
    return interval(name, value, 0.0, 1.0)


def temperature(value: object) -> float:
    """The temperature ``T`` of ``softmax(z / T)``: a finite number > 0."""
    return positive_number("temperature", value)


def reduction(value: object) -> str:
    if value not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of 'none', 'mean' or 'sum'; got {value!r}"
        )
    return value


def label_smoothing(value: object) -> float:
    """The share ``epsilon`` of the target moved to the uniform distribution."""
    return fraction("label_smoothing", value)


def z_loss_scale(value: object) -> float:
    """The weight of the z-loss ``scale * (log Z)**2``: a finite number >= 0."""
    return non_negative("z_loss_scale", value)


def softcap(value: object) -> float | None:
    """The cap of ``softcap * tanh(z / softcap)``: None (no cap) or a finite number
    > 0.
    """
    if value is None:
        return None
    number = _as_float(value)
    if not 0.0 < number < math.inf:
        raise ValueError(f"softcap must be None or a finite number > 0; got {value!r}")
    return number


def ignore_index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"ignore_index must be an integer; got {value!r}")
    return int(value)


def real_number(name: str, value: object) -> float:
    """A real number, infinities included (not bool, not NaN)."""
    number = _as_float(value)
    if math.isnan(number):
        raise ValueError(f"{name} must be a real number; got {value!r}")
    return number


def focal_params(alpha: object, gamma: object) -> tuple[float, float]:
    """The focal loss's class weight ``alpha`` (negative: off) and focus ``gamma``."""
    number = real_number("alpha", alpha)
    if number > 1:
        raise ValueError(
            f"alpha must be a number in [0, 1], or negative to turn it off; "
            f"got {alpha!r}"
        )
    return number, non_negative("gamma", gamma)


def base(value: object) -> float | None:
    """The base of a logarithm: None (natural, nats) or a finite number > 0, not 1."""
    if value is None:
        return None
    number = _as_float(value)
    if not 0.0 < number < math.inf or number == 1.0:
        raise ValueError(
            f"base must be None or a finite number > 0 other than 1; got {value!r}"
        )
    return number


def floating(name: str, kind: str, dtype: object) -> None:
    if kind != "f":
        raise ValueError(f"{name} must have a floating-point dtype; got {dtype}")


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

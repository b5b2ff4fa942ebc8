"""Scalar arguments: sizes, seeds, rates, switches and the options of the losses.

Every check names the argument and says "<name> must <requirement>; got <repr>".
Python's int and float and NumPy's integer and floating scalars (registered with the
``numbers`` ABCs) are accepted; bool is refused wherever a number is meant, because
``True`` is an int to Python but never a size, a seed or a rate to a reader. Import
them from ``xent._checks``, which re-exports every one.
"""

from __future__ import annotations

import math
import numbers
from typing import TypeVar

REDUCTIONS = ("none", "mean", "sum")

T = TypeVar("T")


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
    """How losses are combined: ``"none"``, ``"mean"`` or ``"sum"``."""
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
    """The class index whose rows are left out (any integer; -100 by default)."""
    return integer("ignore_index", value)


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

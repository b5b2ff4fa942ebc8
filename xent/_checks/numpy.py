"""Checks that read the values of NumPy arrays, for the modules that compute in NumPy.

The calibration measures and fits, the likelihoods, the information measures of a
joint table and the character models take array-likes and read every value anyway, so
a bad value raises ``ValueError`` at once, naming the argument and one offending value:
"``name`` must hold ...; got ``value`` among them". Scalar arguments are checked by
``xent._checks``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "finite",
    "same_shape_after_broadcast",
    "unit_interval",
    "at_least",
    "probabilities",
    "labels",
    "logits",
    "binary",
    "ids",
    "joint",
]

Floats = NDArray[np.float64]


def _first(array: NDArray, bad: NDArray[np.bool_]) -> object:
    """One offending value, as Python shows it (``nan``, ``1.5``, ``3``)."""
    return array[bad].flat[0].item()


def finite(name: str, value: ArrayLike) -> Floats:
    """``value`` as float64, every entry finite (not NaN, not an infinity)."""
    array = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} must hold finite numbers; got {_first(array, bad)} among them"
        )
    return array


def same_shape_after_broadcast(named: dict[str, NDArray]) -> None:
    """The arrays of ``named`` broadcast to one shape (NumPy's rules)."""
    try:
        np.broadcast_shapes(*(array.shape for array in named.values()))
    except ValueError:
        names = ", ".join(named)
        shapes = ", ".join(str(array.shape) for array in named.values())
        raise ValueError(f"{names} must broadcast to one shape; got {shapes}") from None


def unit_interval(name: str, array: Floats, what: str = "probabilities") -> None:
    """Every entry of the float ``array`` in [0, 1] (NaN is refused)."""
    bad = ~((array >= 0) & (array <= 1))
    if bad.any():
        raise ValueError(
            f"{name} must hold {what} in [0, 1]; got {_first(array, bad)} among them"
        )


def at_least(name: str, array: Floats, low: float, *, strict: bool = False) -> None:
    """Every entry of the float ``array`` ``>= low`` (``> low`` when ``strict``)."""
    bad = ~(array > low) if strict else ~(array >= low)
    if bad.any():
        wanted = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(
            f"{name} must hold numbers {wanted}; got {_first(array, bad)} among them"
        )


def probabilities(name: str, value: ArrayLike) -> Floats:
    """Probabilities of shape ``(n,)`` (of class 1) or ``(n, C)`` (rows summing to
    one, to 1e-4), with ``n > 0``, as float64.
    """
    array = np.asarray(value, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n,) (binary) or (n, C) (multi-class) with "
            f"n > 0; got shape {array.shape}"
        )
    unit_interval(name, array)
    if array.ndim == 2:
        sums = array.sum(axis=1)
        bad = ~np.isclose(sums, 1.0, atol=1e-4)
        if bad.any():
            raise ValueError(
                f"{name} of shape (n, C) must have rows that sum to 1; got a row sum "
                f"of {_first(sums, bad)} among them"
            )
    return array


def logits(name: str, value: ArrayLike) -> Floats:
    """Finite scores of shape ``(n,)`` (binary) or ``(n, C)``, ``n > 0``, as float64."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n,) (binary) or (n, C) (multi-class) with "
            f"n > 0; got shape {array.shape}"
        )
    return finite(name, array)


def labels(
    value: ArrayLike, num_rows: int, num_classes: int, rows_of: str
) -> NDArray[np.int64]:
    """Class labels ``y`` of shape ``(num_rows,)``, one per row of ``rows_of``, with
    integer values (any dtype) in ``[0, num_classes)``, as int64.
    """
    y = np.asarray(value)
    if y.shape != (num_rows,):
        raise ValueError(
            f"y must have shape ({num_rows},), one label per row of {rows_of}; "
            f"got shape {y.shape}"
        )
    if y.dtype.kind not in "iub":
        if y.dtype.kind not in "f":
            raise ValueError(f"y must hold integer class labels; got dtype {y.dtype}")
        bad = y != np.round(y)  # NaN too
        if bad.any():
            raise ValueError(
                f"y must hold integer class labels; got {_first(y, bad)} among them"
            )
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(
            f"y must hold class labels in [0, {num_classes}); got {_first(y, bad)} "
            "among them"
        )
    return y


def binary(name: str, array: NDArray, holds: str) -> None:
    """A binary problem's ``array`` has shape ``(n,)``: ``holds`` says what each entry
    is ("the probability of class 1").
    """
    if array.ndim != 1:
        raise ValueError(
            f"{name} must have shape (n,), {holds} (binary); got shape {array.shape}"
        )


def ids(
    name: str, value: ArrayLike, vocab_size: int, *, min_length: int = 2
) -> NDArray[np.int64]:
    """A text as class indices: 1-D, integer, at least ``min_length`` long (2: one
    prediction), in ``[0, vocab_size)``; as int64. An empty list is an empty text.
    """
    array = np.asarray(value)
    if array.size == 0 and array.ndim == 1:
        array = array.astype(np.int64)
    if array.ndim != 1 or array.size < min_length or array.dtype.kind not in "iu":
        wanted = "a 1-D integer array" + (
            f" of at least {min_length} characters" if min_length > 0 else ""
        )
        raise ValueError(
            f"{name} must be {wanted}; got shape {array.shape}, dtype {array.dtype}"
        )
    bad = (array < 0) | (array >= vocab_size)
    if bad.any():
        raise ValueError(
            f"{name} must hold class indices in [0, {vocab_size}); got "
            f"{_first(array, bad)} among them"
        )
    return array.astype(np.int64)


def joint(value: ArrayLike, *, atol: float = 1e-6) -> Floats:
    """A joint table ``P(X = a, Y = b)``: 2-D, non-empty, entries in [0, 1], summing
    to 1 (to ``atol``); as float64.
    """
    table = np.asarray(value, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(
            f"joint must be a 2-D table P(X = a, Y = b); got shape {table.shape}"
        )
    if table.size == 0:
        raise ValueError(f"joint must have at least one entry; got shape {table.shape}")
    unit_interval("joint", table)
    total = table.sum()
    if abs(total - 1.0) > atol:
        raise ValueError(f"joint must sum to 1; got {total:.6g}")
    return table

"""Information measures of discrete distributions (NumPy only).

:func:`entropy` and :func:`kl_divergence` take probability vectors along the last axis
(``xent.numpy`` re-exports both; their docstrings live in ``xent._docs``). The measures
of two random variables take their joint table: a table ``joint`` of shape ``(A, B)``
holds ``P(X = a, Y = b)`` in row ``a`` and column ``b``, so rows are the values of
``X``, columns the values of ``Y``. Entropies are in nats unless a ``base`` is given
(``base=2`` gives bits). Derived in the chapter "Information" (entropy, the
divergence, and the sections on joint and conditional entropy and on mutual
information).
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks, _docs
from xent._checks import numpy as array_checks

__all__ = [
    "entropy",
    "kl_divergence",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
]

Array: TypeAlias = NDArray[Any]
shared = _docs.shared("numpy")


def _base(base: float | None) -> float:
    """The divisor that turns nats into units of ``base``."""
    checked = _checks.base(base)
    return 1.0 if checked is None else math.log(checked)


# --------------------------------------------------------------------------------------
# One distribution, two distributions
# --------------------------------------------------------------------------------------


def _distribution(name: str, p: ArrayLike) -> Array:
    """``p`` as a floating-point array with every entry in [0, 1] (a scalar is a
    distribution over one outcome, as a scalar of logits is one class)."""
    p = np.atleast_1d(np.asarray(p))
    _checks.floating(name, p.dtype.kind, p.dtype)
    outside = (p < 0) | (p > 1)
    if np.any(outside):
        raise _checks.unit_interval_error(name, p[outside][0])
    return p


@shared
def entropy(p: ArrayLike, *, axis: int = -1, base: float | None = None) -> Array:
    p = _distribution("p", p)
    axis = _checks.axis(axis, p.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return (terms.sum(axis=axis) / _base(base)).astype(p.dtype)


@shared
def kl_divergence(
    p: ArrayLike, q: ArrayLike, *, axis: int = -1, base: float | None = None
) -> Array:
    p = _distribution("p", p)
    q = _distribution("q", q)
    _checks.same_shape("q", q.shape, "p", p.shape)
    axis = _checks.axis(axis, p.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return (terms.sum(axis=axis) / _base(base)).astype(p.dtype)


# --------------------------------------------------------------------------------------
# Two random variables, from their joint table
# --------------------------------------------------------------------------------------


def joint_entropy(joint: ArrayLike, *, base: float | None = None) -> float:
    r"""Joint entropy :math:`H(X, Y) = -\sum_{a, b} P(a, b) \log P(a, b)`.

    The entropy of the table read as one distribution over the pairs ``(a, b)``.
    Shapes: ``joint: (A, B)``. Raises ``ValueError`` for a table that is not 2-D, has
    entries outside ``[0, 1]`` or does not sum to 1, or a bad ``base``.

    >>> joint_entropy(np.full((2, 2), 0.25), base=2)
    2.0
    """
    table, unit = array_checks.joint(joint), _base(base)
    return float(entropy(table.reshape(-1))) / unit


def conditional_entropy(joint: ArrayLike, *, base: float | None = None) -> float:
    r"""Conditional entropy :math:`H(Y \mid X) = \sum_a P(a)\, H(P(\cdot \mid a))`.

    The entropy of each row's conditional distribution :math:`P(b \mid a) = P(a, b) /
    P(a)`, averaged with the row's probability :math:`P(a)`; rows of probability zero
    contribute nothing. For :math:`H(X \mid Y)`, pass ``joint.T``. Shapes and errors as
    :func:`joint_entropy`.

    >>> conditional_entropy(np.array([[0.5, 0.0], [0.0, 0.5]]))
    0.0
    """
    table, unit = array_checks.joint(joint), _base(base)
    rows = table.sum(axis=1)  # P(a), shape (A,)
    kept = rows > 0
    given = table[kept] / rows[kept, None]  # P(b | a), shape (A', B)
    return float(rows[kept] @ entropy(given)) / unit


def mutual_information(joint: ArrayLike, *, base: float | None = None) -> float:
    r"""Mutual information :math:`I(X; Y) = D_{\mathrm{KL}}(P_{XY} \,\|\, P_X P_Y)`.

    The divergence of the joint table from the product of its marginals, the table
    :math:`X` and :math:`Y` would have if they were independent. Never negative; zero
    only for independent variables; equal to :math:`H(Y) - H(Y \mid X)`. Shapes and
    errors as :func:`joint_entropy`.

    >>> mutual_information(np.array([[0.5, 0.0], [0.0, 0.5]]), base=2)
    1.0
    """
    table, unit = array_checks.joint(joint), _base(base)
    independent = np.outer(table.sum(axis=1), table.sum(axis=0))  # P(a) P(b)
    kl = kl_divergence(table.reshape(-1), independent.reshape(-1))
    return max(float(kl), 0.0) / unit

"""Recalibration maps for binary classifiers, fitted on validation data: Platt
scaling (an affine map of the logit) and isotonic regression (a monotone step map of
the probability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent._checks import numpy as array_checks
from xent.calibration._measures import _probs_and_labels
from xent.calibration._temperature import _logits_and_labels, probabilities

__all__ = ["fit_platt", "apply_platt", "IsotonicMap", "fit_isotonic", "apply_isotonic"]


def fit_platt(
    logits: ArrayLike, y: ArrayLike, *, platt_targets: bool = True
) -> tuple[float, float]:
    r"""Platt scaling (Platt, 1999): the slope and intercept of a logistic fit.

    Fits :math:`q_i = \sigma(a z_i + b)` to binary labels by minimising the mean binary
    cross-entropy, with Newton's method (the loss is convex in :math:`(a, b)`). With
    ``platt_targets`` (the default, as Platt and scikit-learn's
    ``CalibratedClassifierCV(method="sigmoid")``), the labels are replaced by the
    targets :math:`(N_+ + 1)/(N_+ + 2)` and :math:`1/(N_- + 2)`, so that
    the optimum is finite even when the logits separate the classes; without them it is
    the unpenalised logistic regression on the one feature :math:`z`. Temperature
    scaling is the special case :math:`a = 1/T`, :math:`b = 0`. scikit-learn writes
    :math:`1/(1 + e^{Az + B})`, so its ``A, B`` are ``-a, -b``.

    Shapes: ``logits: (n,)`` (any real score: a logit, an SVM margin), ``y: (n,)`` in
    {0, 1}. Raises ``ValueError`` as :func:`negative_log_likelihood` does, for logits of
    another shape, and, with ``platt_targets=False``, for labels that the logits
    separate (no finite optimum).

    >>> # two logits: the fit matches both rates, sigmoid(b) = 1/2, sigmoid(a+b) = 3/4
    >>> z, y = np.array([0.0, 0, 1, 1, 1, 1]), np.array([0, 1, 0, 1, 1, 1])
    >>> a, b = fit_platt(z, y, platt_targets=False)
    >>> round(a, 6), round(b, 6), round(math.log(3), 6)
    (1.098612, 0.0, 1.098612)
    """
    logits, y = _logits_and_labels(logits, y)
    array_checks.binary("logits", logits, "one score per example")
    platt_targets = _checks.flag("platt_targets", platt_targets)
    num_pos = int(y.sum())
    num_neg = y.size - num_pos
    if platt_targets:
        target = np.where(y == 1, (num_pos + 1) / (num_pos + 2), 1 / (num_neg + 2))
    else:
        pos, neg = logits[y == 1], logits[y == 0]
        if (
            pos.size == 0
            or neg.size == 0
            or pos.min() >= neg.max()
            or (neg.min() >= pos.max())
        ):
            raise ValueError(
                "y must not be separated by the logits when platt_targets=False (the "
                "maximum-likelihood fit has no finite optimum); use platt_targets=True"
            )
        target = y.astype(np.float64)
    features = np.stack([logits, np.ones_like(logits)], axis=1)  # (n, 2): z and 1

    def loss(params: NDArray) -> float:
        u = features @ params
        return float(np.mean(np.logaddexp(0.0, u) - target * u))

    # Start where Platt does: a = 0 and b the log-odds of the smoothed base rate.
    params = np.array([0.0, math.log((num_pos + 1) / (num_neg + 1))])
    current = loss(params)
    for _ in range(100):
        q = probabilities(features @ params)
        grad = features.T @ (q - target) / y.size  # (2,)
        if np.max(np.abs(grad)) < 1e-13:
            break
        hess = (features * (q * (1 - q))[:, None]).T @ features / y.size  # (2, 2)
        # least squares: a step even when every logit is equal (singular Hessian)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrease = float(grad @ step)  # the decrease Newton's model predicts, x 2
        size = 1.0
        while size > 1e-10:  # backtracking line search (Lin, Lin and Weng, 2007)
            candidate = params - size * step
            value = loss(candidate)
            # Near the optimum the loss cannot resolve the decrease: take the step.
            if value <= current - 1e-4 * size * decrease or decrease < 1e-15 * max(
                1.0, current
            ):
                break
            size /= 2
        else:
            break  # no step lowers the loss: at the optimum to rounding
        params, current = candidate, value
    return float(params[0]), float(params[1])


def apply_platt(logits: ArrayLike, a: float, b: float) -> NDArray:
    r"""The Platt-scaled probabilities :math:`\sigma(a z + b)` of ``logits: (n,)``.

    Computed stably. Raises ``ValueError`` for logits that are not finite or not of
    shape ``(n,)``, and for ``a`` or ``b`` that are not finite numbers.

    >>> apply_platt(np.array([-1.0, 0.0, 1.0]), 2.0, 0.0).round(4).tolist()
    [0.1192, 0.5, 0.8808]
    """
    checked = array_checks.logits("logits", logits)
    array_checks.binary("logits", checked, "one score per example")
    slope = _checks.finite_number("a", a)
    intercept = _checks.finite_number("b", b)
    return probabilities(slope * checked + intercept)


@dataclass(frozen=True)
class IsotonicMap:
    """The step map of :func:`fit_isotonic`: block ``k`` covers ``[lower[k],
    upper[k]]`` of the fitted probabilities and maps them to ``values[k]``.

    ``lower (K,)``, ``upper (K,)``, ``values (K,)``; the values increase strictly.
    """

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    values: NDArray[np.float64]


def fit_isotonic(probs: ArrayLike, y: ArrayLike) -> IsotonicMap:
    r"""Isotonic regression (Zadrozny and Elkan, 2002): the best monotone step map.

    Among all non-decreasing maps :math:`g`, the one minimising
    :math:`\sum_i (g(q_i) - y_i)^2`, found by pool-adjacent-violators: sort by
    :math:`q`, average tied values, then merge neighbouring blocks while a block's mean
    label is not below the next one's; each block's value is its mean label. It is
    binary: ``probs: (n,)`` in [0, 1] (the probability of class 1), ``y: (n,)`` in
    {0, 1}. Errors as :func:`reliability_bins`. Apply the map with
    :func:`apply_isotonic`.

    >>> fitted = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    >>> fitted.values.tolist(), fitted.lower.tolist(), fitted.upper.tolist()
    ([0.0, 0.5, 1.0], [0.1, 0.2, 0.4], [0.1, 0.3, 0.4])
    """
    probs, y = _probs_and_labels(probs, y)
    array_checks.binary("probs", probs, "the probability of class 1")
    # Tied probabilities must share one value: pool them first.
    unique, inverse, counts = np.unique(probs, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y.astype(np.float64)) / counts
    # Each block: [mean label, weight, index of its first and last unique probability]
    blocks: list[list[float]] = []
    for index, (mean, weight) in enumerate(zip(means, counts, strict=True)):
        blocks.append([float(mean), float(weight), index, index])
        while len(blocks) > 1 and blocks[-2][0] >= blocks[-1][0]:
            last = blocks.pop()
            merged = blocks[-1]
            total = merged[1] + last[1]
            merged[0] = (merged[0] * merged[1] + last[0] * last[1]) / total
            merged[1], merged[3] = total, last[3]
    starts = np.array([int(block[2]) for block in blocks])
    ends = np.array([int(block[3]) for block in blocks])
    values = np.array([block[0] for block in blocks])
    return IsotonicMap(unique[starts], unique[ends], values)


def apply_isotonic(isotonic_map: IsotonicMap, probs: ArrayLike) -> NDArray:
    """The calibrated probabilities of ``probs: (n,)`` under ``isotonic_map``.

    A probability takes the value of the last block that starts at or below it, and
    of the first block if it lies below them all: a right-continuous step function.
    (scikit-learn's ``IsotonicRegression`` interpolates linearly between the blocks
    instead; both agree inside every block.) Raises ``ValueError`` for probabilities
    outside [0, 1] or of another shape, or a map that is not an :class:`IsotonicMap`.

    >>> fitted = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    >>> apply_isotonic(fitted, np.array([0.0, 0.25, 0.35, 0.9])).tolist()
    [0.0, 0.5, 0.5, 1.0]
    """
    isotonic_map = _checks.instance(
        "isotonic_map", isotonic_map, IsotonicMap, "an IsotonicMap from fit_isotonic"
    )
    checked = np.asarray(probs, dtype=np.float64)
    array_checks.binary("probs", checked, "the probability of class 1")
    array_checks.unit_interval("probs", checked)
    block = np.searchsorted(isotonic_map.lower, checked, side="right") - 1
    return isotonic_map.values[np.clip(block, 0, isotonic_map.values.size - 1)]

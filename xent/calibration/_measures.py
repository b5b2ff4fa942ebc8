"""The measures of calibration: reliability bins, the ECE, the Brier score and its
decomposition (the package docstring says which kind, binary or multi-class, each
shape of ``probs`` gives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent._checks import numpy as array_checks

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "brier_score",
    "BrierDecomposition",
    "brier_decomposition",
]


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of :func:`reliability_bins`.

    ``edges (B+1,)``, and ``confidence (B,)``, ``accuracy (B,)``, ``counts (B,)`` per
    bin; ``confidence`` and ``accuracy`` are NaN in empty bins.
    """

    edges: NDArray[np.float64]
    confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    counts: NDArray[np.int64]


def _probs_and_labels(
    probs: ArrayLike, y: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Checked ``probs`` (float64) and int64 class labels ``y``, one per row."""
    checked = array_checks.probabilities("probs", probs)
    num_classes = 2 if checked.ndim == 1 else checked.shape[1]
    return checked, array_checks.labels(y, checked.shape[0], num_classes, "probs")


def _confidence_and_outcome(probs: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """Binary: (p, y). Multi-class: (top probability, 1 where the top class is y)."""
    if probs.ndim == 1:
        return probs, y.astype(np.float64)
    return probs.max(axis=1), (probs.argmax(axis=1) == y).astype(np.float64)


def reliability_bins(
    probs: ArrayLike, y: ArrayLike, n_bins: int = 10
) -> ReliabilityBins:
    """Mean confidence, accuracy and count in each of ``n_bins`` equal-width bins.

    Shapes: ``probs: (n,)`` with ``y: (n,)`` in {0, 1} (binary), or ``probs: (n, C)``
    with ``y: (n,)`` class indices (top label). Raises ``ValueError`` for probabilities
    outside [0, 1], rows that do not sum to one, labels that do not fit, or
    ``n_bins < 1``.

    >>> probs, y = np.array([0.1, 0.3, 0.35, 0.9]), np.array([0, 1, 0, 1])
    >>> bins = reliability_bins(probs, y, 2)
    >>> bins.counts.tolist(), bins.confidence.tolist(), bins.accuracy.tolist()
    ([3, 1], [0.25, 0.9], [0.3333333333333333, 1.0])
    """
    probs, y = _probs_and_labels(probs, y)
    n_bins = _checks.positive_int("n_bins", n_bins)
    confidence, outcome = _confidence_and_outcome(probs, y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin b holds (edges[b], edges[b+1]]; a confidence of exactly 0 goes to the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bins: 0 / 0 = NaN
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=outcome, minlength=n_bins) / counts
    return ReliabilityBins(edges, mean_conf, accuracy, counts.astype(np.int64))


def expected_calibration_error(
    probs: ArrayLike, y: ArrayLike, n_bins: int = 15
) -> float:
    r"""Expected calibration error, the weighted gap between accuracy and confidence.

    :math:`\mathrm{ECE} = \sum_b \frac{n_b}{n}\,|\mathrm{acc}_b - \mathrm{conf}_b|`: the
    gap in each equal-width bin, weighted by the bin's share of the points (Naeini et
    al., 2015; Guo et al., 2017), in [0, 1]. 0 is perfectly calibrated on these bins;
    the value depends on ``n_bins``. ``probs: (n,)`` gives the binary ECE (confidence
    ``probs``, accuracy the positive rate), ``probs: (n, C)`` the top-label ECE; they
    differ, even for ``C = 2``. Shapes and errors as :func:`reliability_bins`.

    >>> round(expected_calibration_error(np.full(4, 0.9), np.array([1, 1, 1, 0])), 6)
    0.15
    >>> q, y = np.array([0.2, 0.8]), np.array([1, 1])  # binary, then top-label
    >>> round(expected_calibration_error(q, y, 5), 6)
    0.5
    >>> round(expected_calibration_error(np.stack([1 - q, q], axis=1), y, 5), 6)
    0.3
    """
    bins = reliability_bins(probs, y, n_bins)
    filled = bins.counts > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float(np.sum(bins.counts[filled] / bins.counts.sum() * gaps))


def brier_score(probs: ArrayLike, y: ArrayLike) -> float:
    r"""Brier score: mean squared distance between the prediction and the outcome.

    Binary ``probs: (n,)``: :math:`\frac1n \sum_i (q_i - y_i)^2`, in [0, 1]. Multi-class
    ``probs: (n, C)``: :math:`\frac1n \sum_i \sum_c (q_{ic} - \mathbf{1}[y_i = c])^2`,
    Brier's original sum over classes, in [0, 2] (for two classes, twice the binary
    value of ``probs[:, 1]``). Errors as :func:`reliability_bins`.

    >>> # (0.2^2 + 0.4^2) / 2
    >>> round(brier_score(np.array([0.8, 0.4]), np.array([1, 0])), 6)
    0.1
    """
    probs, y = _probs_and_labels(probs, y)
    if probs.ndim == 1:
        return float(np.mean((probs - y) ** 2))
    onehot = np.eye(probs.shape[1])[y]  # (n, C)
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


# --------------------------------------------------------------------------------------
# The Brier score's decomposition (binary)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrierDecomposition:
    r"""The terms of :func:`brier_decomposition`, each a mean over the ``n`` examples.

    ``brier = reliability - resolution + uncertainty + within_bin_variance
    - 2 * within_bin_covariance``; the first three alone give ``binned_brier``, the
    Brier score of the forecast that replaces each probability by its bin's mean.
    """

    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float
    brier: float

    @property
    def binned_brier(self) -> float:
        """Reliability - resolution + uncertainty: the binned forecast's Brier score."""
        return self.reliability - self.resolution + self.uncertainty


def brier_decomposition(
    probs: ArrayLike, y: ArrayLike, n_bins: int = 10
) -> BrierDecomposition:
    r"""Murphy's (1973) reliability-resolution-uncertainty split of the Brier score.

    With the equal-width bins of :func:`reliability_bins`, :math:`n_b` points in bin
    :math:`b`, mean probability :math:`\bar q_b`, positive rate :math:`\bar y_b` and
    overall rate :math:`\bar y`: reliability :math:`\frac1n \sum_b n_b (\bar q_b -
    \bar y_b)^2` (0 is calibrated), resolution :math:`\frac1n \sum_b n_b (\bar y_b -
    \bar y)^2` (larger is better), uncertainty :math:`\bar y (1 - \bar y)` (the data's
    alone). Reliability minus resolution plus uncertainty is exactly the Brier score of
    the binned forecast :math:`\bar q_b`; for the raw probabilities, two within-bin
    terms make up the rest: the variance of :math:`q` about :math:`\bar q_b` and minus
    twice its covariance with :math:`y` (Stephenson et al., 2008). The function checks
    that the terms add up to :func:`brier_score`. Binary: ``probs: (n,)``, ``y: (n,)``
    in {0, 1}; errors as :func:`reliability_bins`.

    >>> parts = brier_decomposition(np.array([0.2, 0.2, 0.8, 0.8]),
    ...                             np.array([0, 1, 1, 1]), n_bins=2)
    >>> [round(v, 6) for v in (parts.reliability, parts.resolution, parts.uncertainty)]
    [0.065, 0.0625, 0.1875]
    """
    probs, y = _probs_and_labels(probs, y)
    array_checks.binary("probs", probs, "the probability of class 1")
    bins = reliability_bins(probs, y, n_bins)
    index = np.clip(
        np.searchsorted(bins.edges, probs, side="left") - 1, 0, bins.counts.size - 1
    )
    filled = bins.counts > 0
    share = bins.counts[filled] / y.size  # n_b / n
    conf, rate = bins.confidence[filled], bins.accuracy[filled]
    base_rate = float(y.mean())
    spread = probs - bins.confidence[index]  # q_i minus its bin's mean
    surprise = y - bins.accuracy[index]  # y_i minus its bin's positive rate
    parts = BrierDecomposition(
        reliability=float(np.sum(share * (conf - rate) ** 2)),
        resolution=float(np.sum(share * (rate - base_rate) ** 2)),
        uncertainty=base_rate * (1 - base_rate),
        within_bin_variance=float(np.mean(spread**2)),
        within_bin_covariance=float(np.mean(spread * surprise)),
        brier=brier_score(probs, y),
    )
    total = (
        parts.binned_brier + parts.within_bin_variance - 2 * parts.within_bin_covariance
    )
    if not math.isclose(total, parts.brier, rel_tol=1e-9, abs_tol=1e-12):
        raise ArithmeticError(f"Brier terms add up to {total}, not {parts.brier}")
    return parts

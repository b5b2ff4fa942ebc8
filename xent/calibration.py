r"""Is a predicted probability of 0.8 right 80% of the time? Measures and a fix.

The shape of ``probs`` chooses between the two reliability diagrams of the chapter
"Evaluating probabilities", so pass the kind you mean:

* **binary**: ``probs`` of shape ``(n,)``, the probability of class 1, with ``y`` in
  {0, 1}; a bin's confidence is the mean of ``probs`` and its accuracy the fraction of
  ``y == 1`` (the classic reliability diagram of a probability forecast). For a model
  with two outputs, pass ``probs[:, 1]`` to get this one.
* **multi-class** (top-label): ``probs`` of shape ``(n, C)``, rows summing to one, with
  ``y`` class indices; a bin's confidence is the mean top probability
  :math:`\max_c q_c` and its accuracy the fraction of rows whose top class is ``y``
  (Guo et al., 2017). For ``C = 2`` the confidences lie in [1/2, 1], and the value is in
  general not the binary one: never compare the two kinds.

Bins are of equal width on [0, 1]: bin :math:`b` holds the confidences in
:math:`((b-1)/B, b/B]`, the first bin also 0. Both ECEs lie in [0, 1]; the binary Brier
score in [0, 1], the multi-class one (Brier's sum over classes) in [0, 2].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import numpy as xn

__all__ = [
    "ReliabilityBins",
    "reliability_bins",
    "expected_calibration_error",
    "brier_score",
    "negative_log_likelihood",
    "probabilities",
    "fit_temperature",
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


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def _probs_and_labels(probs: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray]:
    """Checked ``probs`` (float64) and integer ``y`` of matching length."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if probs.ndim not in (1, 2) or probs.shape[0] == 0:
        raise ValueError(
            f"probs must have shape (n,) (binary) or (n, C) (multi-class) with n > 0; "
            f"got shape {probs.shape}"
        )
    if not np.all((probs >= 0) & (probs <= 1)):  # also catches NaN
        raise ValueError("probs must hold probabilities in [0, 1]")
    if probs.ndim == 2 and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs of shape (n, C) must have rows that sum to 1")
    if y.shape != probs.shape[:1]:
        raise ValueError(
            f"y must have shape {probs.shape[:1]}, one label per row of probs; "
            f"got {y.shape}"
        )
    num_classes = 2 if probs.ndim == 1 else probs.shape[1]
    if y.dtype.kind not in "iub" and not np.all(y == np.round(y)):
        raise ValueError("y must hold integer class labels")
    y = y.astype(np.int64)
    if np.any((y < 0) | (y >= num_classes)):
        raise ValueError(f"y must hold class labels in [0, {num_classes})")
    return probs, y


def _check_bins(n_bins: object) -> int:
    if (
        isinstance(n_bins, bool)
        or not isinstance(n_bins, int | np.integer)
        or n_bins < 1
    ):
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    return int(n_bins)


def _confidence_and_outcome(probs: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """Binary: (p, y). Multi-class: (top probability, 1 where the top class is y)."""
    if probs.ndim == 1:
        return probs, y.astype(np.float64)
    return probs.max(axis=1), (probs.argmax(axis=1) == y).astype(np.float64)


# --------------------------------------------------------------------------------------
# Measures
# --------------------------------------------------------------------------------------


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
    n_bins = _check_bins(n_bins)
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


def _logits_and_labels(logits: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray]:
    logits = np.asarray(logits, dtype=np.float64)
    if (
        logits.ndim not in (1, 2)
        or logits.shape[0] == 0
        or not np.all(np.isfinite(logits))
    ):
        raise ValueError(
            f"logits must be finite, of shape (n,) (binary) or (n, C) (multi-class); "
            f"got shape {logits.shape}"
        )
    num_classes = 2 if logits.ndim == 1 else logits.shape[1]
    y = np.asarray(y)
    if y.shape != logits.shape[:1] or np.any(
        (y < 0) | (y >= num_classes) | (y != np.round(y))
    ):
        raise ValueError(
            f"y must hold {logits.shape[0]} class labels in [0, {num_classes})"
        )
    return logits, y.astype(np.int64)


def negative_log_likelihood(
    logits: ArrayLike, y: ArrayLike, temperature: float = 1.0
) -> float:
    """Mean negative log-likelihood of ``y`` under ``logits / temperature``.

    Binary ``logits: (n,)`` use :func:`xent.numpy.binary_cross_entropy_with_logits`,
    multi-class ``logits: (n, C)`` :func:`xent.numpy.cross_entropy`. Raises
    ``ValueError`` for non-finite logits, labels that do not fit, or a temperature that
    is not positive.

    >>> # log 2
    >>> round(negative_log_likelihood(np.array([[0.0, 0.0]]), np.array([1])), 4)
    0.6931
    """
    logits, y = _logits_and_labels(logits, y)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (temperature > 0)
    ):
        raise ValueError(f"temperature must be a positive number; got {temperature!r}")
    if logits.ndim == 1:
        return float(
            xn.binary_cross_entropy_with_logits(logits / temperature, y.astype(float))
        )
    return float(xn.cross_entropy(logits / temperature, y))


def probabilities(logits: ArrayLike, temperature: float = 1.0) -> NDArray:
    """Probabilities of ``logits / temperature``: sigmoid for ``(n,)``, else softmax.

    Computed stably (no overflow for large logits). Raises ``ValueError`` as
    :func:`negative_log_likelihood` does.

    >>> probabilities(np.array([0.0, 1000.0, -1000.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim not in (1, 2) or not np.all(np.isfinite(logits)):
        raise ValueError(
            f"logits must be finite, of shape (n,) or (n, C); got {logits.shape}"
        )
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (temperature > 0)
    ):
        raise ValueError(f"temperature must be a positive number; got {temperature!r}")
    if logits.ndim == 1:  # sigmoid(z) = softmax([0, z])[1]
        return xn.softmax(
            np.stack([np.zeros_like(logits), logits / temperature], axis=1)
        )[:, 1]
    return xn.softmax(logits / temperature)


def fit_temperature(
    logits: ArrayLike, y: ArrayLike, *, bounds: tuple[float, float] = (0.01, 100.0)
) -> float:
    r"""Temperature scaling (Guo et al., 2017): the :math:`T > 0` minimising the NLL.

    Dividing every logit by one scalar :math:`T` never changes the predicted class, only
    how confident the probabilities are. Fit it on validation data, never on the
    training set. The NLL is convex in :math:`1/T`, so it has one minimum along
    :math:`\log T`, which a golden-section search on ``[log bounds[0], log bounds[1]]``
    finds (to about 1e-6 in :math:`\log T`); the result may sit on a bound when the
    optimum lies outside.

    Shapes: ``logits: (n,)`` binary (with ``y`` in {0, 1}) or ``(n, C)`` (with class
    indices). Raises ``ValueError`` as :func:`negative_log_likelihood` does and for
    ``bounds`` that are not ``0 < low < high``.

    >>> # logit 4 for class 1, right 3 times in 4: sigmoid(4 / T) = 3/4, T = 4 / log 3
    >>> round(fit_temperature(np.full(4, 4.0), np.array([1, 1, 1, 0])), 4)
    3.641
    """
    logits, y = _logits_and_labels(logits, y)
    low, high = bounds
    if not 0 < low < high < math.inf:
        raise ValueError(f"bounds must satisfy 0 < low < high < inf; got {bounds!r}")

    def nll(log_t: float) -> float:
        return negative_log_likelihood(logits, y, math.exp(log_t))

    # Golden-section search: shrink [a, b] by 1/phi per step, keeping the minimum in it.
    inv_phi = (math.sqrt(5) - 1) / 2
    a, b = math.log(low), math.log(high)
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > 1e-6:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - inv_phi * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + inv_phi * (b - a)
            fd = nll(d)
    return float(math.exp((a + b) / 2))

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

Three fixes are fitted on validation data: temperature scaling (binary or multi-class),
and, for binary classifiers only, Platt scaling (an affine map of the logit) and
isotonic regression (a monotone step map of the probability). The Brier score's
reliability-resolution-uncertainty decomposition (Murphy, 1973) is binary too.
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
    "fit_platt",
    "apply_platt",
    "IsotonicMap",
    "fit_isotonic",
    "apply_isotonic",
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


# --------------------------------------------------------------------------------------
# Platt scaling and isotonic regression (binary)
# --------------------------------------------------------------------------------------


def _binary_logits(logits: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray]:
    if np.ndim(logits) != 1:
        raise ValueError(
            f"logits must have shape (n,), one score per example (binary); "
            f"got shape {np.shape(logits)}"
        )
    return _logits_and_labels(logits, y)


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
    logits, y = _binary_logits(logits, y)
    if not isinstance(platt_targets, bool):
        raise ValueError(f"platt_targets must be True or False; got {platt_targets!r}")
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
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or not np.all(np.isfinite(logits)):
        raise ValueError(f"logits must be finite, of shape (n,); got {logits.shape}")
    for name, value in (("a", a), ("b", b)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | np.floating)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number; got {value!r}")
    return probabilities(a * logits + b)


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
    if probs.ndim != 1:
        raise ValueError(
            f"probs must have shape (n,), the probability of class 1 (binary); "
            f"got shape {probs.shape}"
        )
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
    first = np.array([int(block[2]) for block in blocks])
    last = np.array([int(block[3]) for block in blocks])
    values = np.array([block[0] for block in blocks])
    return IsotonicMap(unique[first], unique[last], values)


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
    if not isinstance(isotonic_map, IsotonicMap):
        raise ValueError(
            f"isotonic_map must be an IsotonicMap from fit_isotonic; "
            f"got {type(isotonic_map).__name__}"
        )
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError(
            f"probs must hold probabilities in [0, 1], of shape (n,); "
            f"got shape {probs.shape}"
        )
    block = np.searchsorted(isotonic_map.lower, probs, side="right") - 1
    return isotonic_map.values[np.clip(block, 0, isotonic_map.values.size - 1)]


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
    if probs.ndim != 1:
        raise ValueError(
            f"probs must have shape (n,), the probability of class 1 (binary); "
            f"got shape {probs.shape}"
        )
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

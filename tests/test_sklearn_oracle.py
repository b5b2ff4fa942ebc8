"""scikit-learn as a third oracle, beside PyTorch and TensorFlow.

scikit-learn scores probabilities (``predict_proba``), not logits, and has its own
rules for weights, bins and clipping. Each test feeds the same numbers to scikit-learn
and to ``xent.numpy`` or ``xent.calibration`` and checks that they agree where the
definitions coincide, and that they differ exactly as the chapter "Numerical stability"
says where they do not (the clipping of ``log_loss``, the weighted mean). The last tests
run ``log_loss`` and check the numbers that chapter prints for scikit-learn.

The three calibration maps are compared too: temperature scaling against
scikit-learn's logistic fit and its ``method="temperature"``, Platt scaling against
``CalibratedClassifierCV(method="sigmoid")`` (Platt's targets) and an unpenalised
``LogisticRegression`` (without them), isotonic regression against
``IsotonicRegression``; Murphy's Brier decomposition against ``brier_score_loss``.
"""

from __future__ import annotations

import functools
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from xent import calibration as cal
from xent import numpy as xn

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is a test dependency")
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, log_loss  # noqa: E402

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
STABILITY = "05-numerical-stability.md"
SEEDS = range(5)


@functools.cache
def _text(name: str) -> str:
    return " ".join((CHAPTERS / name).read_text(encoding="utf-8").split())


def printed(name: str, snippet: str) -> None:
    """Assert that chapter ``name`` contains ``snippet`` (whitespace-insensitive)."""
    snippet = " ".join(snippet.split())
    assert snippet in _text(name), f"{name} does not print {snippet!r}"


def miscalibrated(seed: int, n: int = 400, num_classes: int = 4):
    """Over-confident logits ``(n, C)`` (three times the true ones) and labels drawn
    from the true softmax: a model that temperature scaling can fix."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(scale=1.5, size=(n, num_classes))
    true_probs = xn.softmax(true_logits)
    y = np.array([rng.choice(num_classes, p=row) for row in true_probs])
    return 3.0 * true_logits, y


def binary_logits(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(scale=2.0, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logits))).astype(np.int64)
    return 2.5 * true_logits, y


# --------------------------------------------------------------------------------------
# log_loss against the cross-entropy losses
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_log_loss_is_cross_entropy_of_the_softmax(seed):
    logits, y = miscalibrated(seed)
    num_classes = logits.shape[1]
    probs = xn.softmax(logits)
    theirs = log_loss(y, probs, labels=range(num_classes))
    assert xn.cross_entropy(logits, y) == pytest.approx(theirs, rel=1e-12)
    assert cal.negative_log_likelihood(logits, y) == pytest.approx(theirs, rel=1e-12)
    total = log_loss(y, probs, labels=range(num_classes), normalize=False)
    assert xn.cross_entropy(logits, y, reduction="sum") == pytest.approx(
        total, rel=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_log_loss_with_sample_weight_is_cross_entropy_with_class_weight(seed):
    # PyTorch's class weight divides by the sum of the targets' weights; scikit-learn's
    # sample_weight divides by the sum of the sample weights: the same number when each
    # example's sample weight is its class's weight.
    logits, y = miscalibrated(seed)
    weight = np.random.default_rng(seed + 100).uniform(0.2, 5.0, logits.shape[1])
    theirs = log_loss(
        y, xn.softmax(logits), labels=range(logits.shape[1]), sample_weight=weight[y]
    )
    ours = xn.cross_entropy(logits, y, weight=weight)
    assert ours == pytest.approx(theirs, rel=1e-12)
    # ... and not the unweighted loss, so the test can tell the two apart.
    assert abs(float(xn.cross_entropy(logits, y)) - theirs) > 1e-3


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_log_loss_is_binary_cross_entropy(seed):
    logits, y = binary_logits(seed)
    probs = 1 / (1 + np.exp(-logits))
    theirs = log_loss(y, probs, labels=[0, 1])
    target = y.astype(np.float64)
    assert xn.binary_cross_entropy_with_logits(logits, target) == pytest.approx(
        theirs, rel=1e-10
    )
    assert xn.binary_cross_entropy(probs, target) == pytest.approx(theirs, rel=1e-10)
    assert cal.negative_log_likelihood(logits, y) == pytest.approx(theirs, rel=1e-10)
    # PyTorch's element weight rescales each loss and the mean divides by N;
    # scikit-learn divides by the sum of the weights.
    w = np.random.default_rng(seed + 200).uniform(0.1, 3.0, y.shape)
    weighted = log_loss(y, probs, labels=[0, 1], sample_weight=w)
    ours = xn.binary_cross_entropy_with_logits(logits, target, weight=w)
    assert ours == pytest.approx(weighted * w.sum() / w.size, rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_clips_at_the_dtypes_machine_epsilon_and_pytorch_at_100(dtype):
    # A probability 0 on the true class: scikit-learn clips it to
    # eps = finfo(dtype).eps, for a loss of -log(eps); PyTorch's binary_cross_entropy
    # clamps the log at -100.
    eps = float(np.finfo(dtype).eps)
    missed_positive = log_loss([1], np.array([0.0], dtype), labels=[0, 1])
    missed_negative = log_loss([0], np.array([1.0], dtype), labels=[0, 1])
    missed_class = log_loss([0], np.array([[0.0, 1.0, 0.0]], dtype), labels=[0, 1, 2])
    for loss in (missed_positive, missed_negative, missed_class):
        assert loss == pytest.approx(-math.log(eps), rel=1e-6)
    ours = xn.binary_cross_entropy(np.array([0.0], dtype), np.array([1.0], dtype))
    assert float(ours) == 100.0


# --------------------------------------------------------------------------------------
# Brier score and reliability bins
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_score_binary(seed):
    logits, y = binary_logits(seed)
    probs = cal.probabilities(logits)
    assert cal.brier_score(probs, y) == pytest.approx(
        brier_score_loss(y, probs), rel=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_brier_score_multiclass_sums_over_classes(seed):
    if "scale_by_half" not in inspect.signature(brier_score_loss).parameters:
        pytest.skip("brier_score_loss is multi-class from scikit-learn 1.7 on")
    logits, y = miscalibrated(seed)
    probs = cal.probabilities(logits)
    theirs = brier_score_loss(y, probs, labels=range(logits.shape[1]))
    assert cal.brier_score(probs, y) == pytest.approx(theirs, rel=1e-12)
    # Two classes: Brier's sum over classes is twice the binary score.
    two = np.stack([1 - probs[:, 0], probs[:, 0]], axis=1)
    y0 = (y == 0).astype(np.int64)
    assert cal.brier_score(two, y0) == pytest.approx(
        2 * brier_score_loss(y0, probs[:, 0]), rel=1e-12
    )


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
@pytest.mark.parametrize("seed", SEEDS)
def test_reliability_bins_match_calibration_curve(seed, n_bins):
    logits, y = binary_logits(seed)
    probs = cal.probabilities(logits)
    # Values on the bin edges: both put an edge into the bin below it, and 0 into the
    # first.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    probs = np.concatenate([probs, edges])
    y = np.concatenate([y, np.arange(edges.size) % 2])
    bins = cal.reliability_bins(probs, y, n_bins)
    filled = bins.counts > 0
    accuracy, confidence = calibration_curve(y, probs, n_bins=n_bins)
    np.testing.assert_allclose(bins.accuracy[filled], accuracy, rtol=1e-12)
    np.testing.assert_allclose(bins.confidence[filled], confidence, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_bins_are_the_curve_of_top_class_correctness(seed):
    # Guo et al.'s reliability diagram: the top probability against "the top class is
    # y".
    logits, y = miscalibrated(seed)
    probs = cal.probabilities(logits)
    bins = cal.reliability_bins(probs, y, 10)
    correct = (probs.argmax(axis=1) == y).astype(np.int64)
    accuracy, confidence = calibration_curve(correct, probs.max(axis=1), n_bins=10)
    filled = bins.counts > 0
    np.testing.assert_allclose(bins.accuracy[filled], accuracy, rtol=1e-12)
    np.testing.assert_allclose(bins.confidence[filled], confidence, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_temperature_is_the_inverse_slope_of_a_logistic_fit(seed):
    # sigmoid(z / T) is a logistic regression on the one feature z, with slope 1 / T
    # and no intercept; C = 1e12 makes the L2 penalty negligible.
    logits, y = binary_logits(seed)
    fit = LogisticRegression(C=1e12, fit_intercept=False, tol=1e-12, max_iter=1000)
    fit.fit(logits[:, None], y)
    temperature = cal.fit_temperature(logits, y)
    assert temperature == pytest.approx(1 / fit.coef_[0, 0], rel=1e-5)
    assert temperature > 1.5  # over-confident logits need T > 1: the test can fail


class _Logits(sklearn.base.ClassifierMixin, sklearn.base.BaseEstimator):
    """A classifier whose decision function is its input: logits in, logits out."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return np.asarray(X)

    def predict(self, X):
        return self.classes_[np.argmax(X, axis=1)]


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_temperature_matches_calibrated_classifier_cv(seed):
    from sklearn.calibration import CalibratedClassifierCV

    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 8):
        pytest.skip("CalibratedClassifierCV(method='temperature') is new in 1.8")
    from sklearn.frozen import FrozenEstimator

    logits, y = miscalibrated(seed)
    model = _Logits().fit(logits, y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    calibrated.fit(logits, y)
    beta = float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
    temperature = cal.fit_temperature(logits, y)
    assert temperature == pytest.approx(1 / beta, rel=1e-5)
    assert temperature > 1.5
    np.testing.assert_allclose(
        cal.probabilities(logits, temperature),
        calibrated.predict_proba(logits),
        atol=1e-5,
    )


# --------------------------------------------------------------------------------------
# Platt scaling, isotonic regression and the Brier decomposition
# --------------------------------------------------------------------------------------


class _Score(sklearn.base.ClassifierMixin, sklearn.base.BaseEstimator):
    """A binary classifier whose decision function is its one input column."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return np.asarray(X)[:, 0]

    def predict(self, X):
        return self.classes_[(np.asarray(X)[:, 0] > 0).astype(int)]


def shifted_logits(seed: int, n: int = 400):
    """Binary logits that are too large and shifted: labels drawn from
    sigmoid(0.4 z - 1), which a temperature alone cannot reach."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=4.0, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.4 * logits - 1.0)))).astype(np.int64)
    return logits, y


@pytest.mark.parametrize("seed", SEEDS)
def test_platt_matches_calibrated_classifier_cv_sigmoid(seed):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    logits, y = shifted_logits(seed)
    X = logits[:, None]
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(_Score().fit(X, y)), method="sigmoid"
    ).fit(X, y)
    sigmoid = calibrated.calibrated_classifiers_[0].calibrators[0]
    a, b = cal.fit_platt(logits, y)
    # scikit-learn's sigmoid is 1 / (1 + exp(A z + B)), stopped by L-BFGS at
    # gtol 1e-6; ours is sigmoid(a z + b), from Newton's method.
    assert a == pytest.approx(-sigmoid.a_, rel=1e-4)
    assert b == pytest.approx(-sigmoid.b_, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(
        cal.apply_platt(logits, a, b), calibrated.predict_proba(X)[:, 1], atol=1e-5
    )
    assert b < -0.5  # a shift the temperature cannot make: the test can fail


@pytest.mark.parametrize("seed", SEEDS)
def test_platt_without_targets_is_an_unpenalised_logistic_regression(seed):
    logits, y = shifted_logits(seed)
    fit = LogisticRegression(C=1e12, tol=1e-12, max_iter=1000).fit(logits[:, None], y)
    a, b = cal.fit_platt(logits, y, platt_targets=False)
    assert a == pytest.approx(fit.coef_[0, 0], rel=1e-6)
    assert b == pytest.approx(fit.intercept_[0], rel=1e-6)
    # Platt's targets move the fit, by more than the tolerance above.
    smoothed = cal.fit_platt(logits, y)
    assert abs(smoothed[0] - a) > 1e-4 * abs(a)


@pytest.mark.parametrize("seed", SEEDS)
def test_isotonic_matches_isotonic_regression(seed):
    logits, y = binary_logits(seed)
    probs = cal.probabilities(logits)
    probs[:40] = probs[40:80]  # ties, which both pool before fitting
    ours = cal.fit_isotonic(probs, y)
    theirs = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(probs, y)
    np.testing.assert_allclose(
        cal.apply_isotonic(ours, probs), theirs.predict(probs), atol=1e-12
    )
    # scikit-learn keeps each block's two ends: the same blocks and values.
    ends = np.unique(np.concatenate([ours.lower, ours.upper]))
    np.testing.assert_allclose(theirs.X_thresholds_, ends, atol=0)
    # New points inside a block agree; between two blocks scikit-learn interpolates
    # linearly and the step map keeps the lower block's value.
    inside = (ours.lower + ours.upper) / 2
    np.testing.assert_allclose(
        cal.apply_isotonic(ours, inside), theirs.predict(inside), atol=1e-12
    )
    gaps = (ours.upper[:-1] + ours.lower[1:]) / 2
    np.testing.assert_allclose(cal.apply_isotonic(ours, gaps), ours.values[:-1])
    assert np.all(theirs.predict(gaps) > ours.values[:-1])


@pytest.mark.parametrize("n_bins", [1, 5, 10])
@pytest.mark.parametrize("seed", SEEDS)
def test_brier_decomposition_against_brier_score_loss(seed, n_bins):
    logits, y = binary_logits(seed)
    probs = cal.probabilities(logits)
    parts = cal.brier_decomposition(probs, y, n_bins)
    assert parts.brier == pytest.approx(brier_score_loss(y, probs), rel=1e-12)
    # The binned forecast, each probability replaced by its bin's mean, scores exactly
    # reliability - resolution + uncertainty.
    bins = cal.reliability_bins(probs, y, n_bins)
    index = np.clip(np.searchsorted(bins.edges, probs) - 1, 0, n_bins - 1)
    binned = brier_score_loss(y, bins.confidence[index])
    assert parts.binned_brier == pytest.approx(binned, rel=1e-12)
    # The reliability term is the squared gap of calibration_curve's pairs.
    accuracy, confidence = calibration_curve(y, probs, n_bins=n_bins)
    share = bins.counts[bins.counts > 0] / y.size
    assert parts.reliability == pytest.approx(
        np.sum(share * (accuracy - confidence) ** 2), rel=1e-12
    )


# --------------------------------------------------------------------------------------
# What chapter 5 says about scikit-learn, from running it
# --------------------------------------------------------------------------------------


def test_chapter5_sklearn_ceiling_by_running_log_loss():
    # "For float64 predictions that is 2.22e-16, a ceiling of -log(2.22e-16) ~ 36.04."
    ceiling = log_loss([1], np.array([0.0]), labels=[0, 1])
    eps = float(np.finfo(np.float64).eps)
    assert ceiling == pytest.approx(-math.log(eps), rel=1e-12)
    printed(
        STABILITY,
        rf"$2.22 \times 10^{{-16}}$, a ceiling of $-\log(2.22 \times 10^{{-16}}) "
        rf"\approx {ceiling:.2f}$ per example",
    )
    assert f"{eps:.2e}" == "2.22e-16"
    # The clip is to [eps, 1 - eps] on both sides, as the chapter's table says.
    assert log_loss([0], np.array([1.0]), labels=[0, 1]) == pytest.approx(ceiling)
    printed(STABILITY, r"clip to $[\epsilon, 1 - \epsilon]$ |")


def test_chapter5_batch_of_1000_by_running_log_loss():
    # One probability 0 on the true class among 1000 perfect float64 predictions.
    probs = np.ones(1000)
    probs[0] = 0.0
    mean = log_loss(np.ones(1000, np.int64), probs, labels=[0, 1])
    printed(STABILITY, f"${mean:.4f}$ in scikit-learn")
    # The same batch in float32, the dtype PyTorch and Keras score it in, is clipped at
    # float32's epsilon instead: scikit-learn keeps the predictions' dtype.
    mean32 = log_loss(np.ones(1000, np.int64), probs.astype(np.float32), labels=[0, 1])
    assert mean32 == pytest.approx(-math.log(np.finfo(np.float32).eps) / 1000, rel=1e-5)
    assert f"{mean32:.4f}" != f"{mean:.4f}"


def test_chapter5_sklearn_weighted_mean_and_normalize():
    # "scikit-learn's normalize=True" is a mean, and "sample_weight gives a weighted
    # average, divided by the sum of the weights".
    logits, y = miscalibrated(0, n=30, num_classes=3)
    probs = xn.softmax(logits)
    losses = xn.cross_entropy(logits, y, reduction="none")
    w = np.linspace(0.5, 2.0, y.size)
    assert log_loss(y, probs) == pytest.approx(losses.mean(), rel=1e-12)
    assert log_loss(y, probs, sample_weight=w) == pytest.approx(
        np.sum(w * losses) / w.sum(), rel=1e-12
    )
    printed(STABILITY, "scikit-learn's `normalize=True`, all means")
    printed(STABILITY, "a weighted average, divided by the sum of the weights")

"""xent.calibration against values computed by hand."""

import math
import re

import numpy as np
import pytest

from xent import calibration as cal


def test_reliability_bins_binary_by_hand():
    probs = np.array([0.05, 0.15, 0.2, 0.55, 0.95, 1.0, 0.0])
    y = np.array([0, 0, 1, 1, 1, 1, 0])
    bins = cal.reliability_bins(probs, y, n_bins=4)  # edges 0, .25, .5, .75, 1
    np.testing.assert_array_equal(bins.counts, [4, 0, 1, 2])
    np.testing.assert_allclose(bins.confidence[[0, 2, 3]], [0.1, 0.55, 0.975])
    np.testing.assert_allclose(bins.accuracy[[0, 2, 3]], [0.25, 1.0, 1.0])
    assert np.isnan(bins.confidence[1]) and np.isnan(bins.accuracy[1])


def test_bin_edges_are_right_closed():
    # 0.5 belongs to (0.25, 0.5], not to (0.5, 0.75]
    bins = cal.reliability_bins(np.array([0.5]), np.array([1]), n_bins=4)
    np.testing.assert_array_equal(bins.counts, [0, 1, 0, 0])


def test_ece_multiclass_uses_top_probability():
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]
    )
    y = np.array([0, 1, 2, 0])
    # bins of width 0.5: (0, .5] holds row 4 (conf .4, wrong); (.5, 1] rows 1-3
    # (mean conf .7, accuracy 2/3). ECE = 1/4 * .4 + 3/4 * |2/3 - .7|
    expected = 0.25 * 0.4 + 0.75 * abs(2 / 3 - 0.7)
    assert cal.expected_calibration_error(probs, y, n_bins=2) == pytest.approx(expected)


def test_ece_is_zero_when_frequencies_match():
    probs = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert cal.expected_calibration_error(probs, y, n_bins=10) == pytest.approx(0.0)


def test_binary_ece_is_not_the_top_label_ece_of_two_columns():
    # The example of the chapter: two positives predicted 0.2 and 0.8, five bins.
    q, y = np.array([0.2, 0.8]), np.array([1, 1])
    two_columns = np.stack([1 - q, q], axis=1)
    # Binary: bins of mean 0.2 and 0.8, both with positive rate 1.
    assert cal.expected_calibration_error(q, y, n_bins=5) == pytest.approx(
        0.5 * 0.8 + 0.5 * 0.2
    )
    # Top label: both confidences are 0.8, one of the two predictions is right.
    assert cal.expected_calibration_error(two_columns, y, n_bins=5) == pytest.approx(
        abs(0.8 - 0.5)
    )


def test_binary_ece_is_the_positive_class_column_of_a_two_output_model():
    # Notebook 8 passes probs[:, 1] of a two-output model: the same bins as a 1-D model.
    rng = np.random.default_rng(3)
    q = rng.uniform(size=200)
    y = (rng.uniform(size=200) < q**2).astype(int)
    two_columns = np.stack([1 - q, q], axis=1)
    bins = cal.reliability_bins(two_columns[:, 1], y, n_bins=10)
    by_hand = 0.0
    for b in range(10):
        inside = (q > b / 10) & (q <= (b + 1) / 10)
        if inside.any():
            np.testing.assert_allclose(bins.confidence[b], q[inside].mean())
            np.testing.assert_allclose(bins.accuracy[b], y[inside].mean())
            by_hand += inside.mean() * abs(y[inside].mean() - q[inside].mean())
    assert cal.expected_calibration_error(
        two_columns[:, 1], y, n_bins=10
    ) == pytest.approx(by_hand)


def test_ece_and_brier_ranges():
    y = np.array([1, 0, 1, 0])
    worst = np.array([0.0, 1.0, 0.0, 1.0])  # certain and always wrong
    assert cal.expected_calibration_error(worst, y) == pytest.approx(1.0)
    assert cal.brier_score(worst, y) == pytest.approx(1.0)  # binary: at most 1
    two_columns = np.stack([1 - worst, worst], axis=1)
    assert cal.brier_score(two_columns, y) == pytest.approx(2.0)  # sum over classes: 2
    assert cal.expected_calibration_error(two_columns, y) == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    for _ in range(20):
        q = rng.uniform(size=30)
        labels = rng.integers(0, 2, size=30)
        assert 0 <= cal.expected_calibration_error(q, labels) <= 1
        assert 0 <= cal.brier_score(q, labels) <= 1
        # The two-class sum counts each error twice.
        assert cal.brier_score(np.stack([1 - q, q], axis=1), labels) == pytest.approx(
            2 * cal.brier_score(q, labels)
        )


def test_brier_binary_and_multiclass():
    assert cal.brier_score(
        np.array([1.0, 0.0, 0.5]), np.array([1, 0, 1])
    ) == pytest.approx(0.25 / 3)
    probs = np.array([[0.5, 0.5], [1.0, 0.0]])
    # row 1: (0.5-0)^2 + (0.5-1)^2 = 0.5; row 2: 0
    assert cal.brier_score(probs, np.array([1, 0])) == pytest.approx(0.25)


def test_fit_temperature_binary_closed_form():
    # sigmoid(a / T) must equal the frequency q of class 1: T = a / logit(q)
    a, q = 3.0, 0.8
    logits = np.full(10, a)
    y = np.array([1] * 8 + [0] * 2)
    assert cal.fit_temperature(logits, y) == pytest.approx(
        a / math.log(q / (1 - q)), rel=1e-5
    )


def test_fit_temperature_multiclass_closed_form():
    # logits (a, 0, 0), true class 0 half the time, else 1 or 2:
    # e^{a/T} / (e^{a/T} + 2) = 1/2
    a = 5.0
    logits = np.tile([a, 0.0, 0.0], (4, 1))
    y = np.array([0, 0, 1, 2])
    assert cal.fit_temperature(logits, y) == pytest.approx(a / math.log(2), rel=1e-5)


def test_fit_temperature_recovers_the_true_temperature():
    # labels drawn from softmax(logits / 2): the model is over-confident by a factor 2
    rng = np.random.default_rng(0)
    logits = 3 * rng.standard_normal((4000, 4))
    probs = cal.probabilities(logits, 2.0)
    y = np.array([rng.choice(4, p=row) for row in probs])
    t = cal.fit_temperature(logits, y)
    assert t == pytest.approx(2.0, rel=0.1)
    best = cal.negative_log_likelihood(logits, y, t)
    for other in (t * 0.9, t * 1.1, 1.0):
        assert best <= cal.negative_log_likelihood(logits, y, other)


def test_temperature_never_changes_the_decision():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((50, 3))
    for t in (0.3, 1.0, 4.0):
        np.testing.assert_array_equal(
            cal.probabilities(logits, t).argmax(axis=1), logits.argmax(axis=1)
        )


def test_probabilities_match_sigmoid_and_stay_finite():
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(cal.probabilities(z, 2.0), 1 / (1 + np.exp(-z / 2)))
    assert np.all(np.isfinite(cal.probabilities(np.array([-1e4, 1e4]))))


def test_negative_log_likelihood_by_hand():
    assert cal.negative_log_likelihood(np.array([0.0]), np.array([1])) == pytest.approx(
        math.log(2)
    )
    logits = np.array([[math.log(3), 0.0]])  # softmax (3/4, 1/4)
    assert cal.negative_log_likelihood(logits, np.array([1])) == pytest.approx(
        math.log(4)
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cal.expected_calibration_error(np.array([1.2]), np.array([1])),
            "probs must hold probabilities in [0, 1]; got 1.2 among them",
        ),
        (
            lambda: cal.expected_calibration_error(
                np.array([[0.5, 0.6]]), np.array([0])
            ),
            "probs of shape (n, C) must have rows that sum to 1; "
            "got a row sum of 1.1 among them",
        ),
        (
            lambda: cal.brier_score(np.array([0.5, 0.5]), np.array([1])),
            "y must have shape (2,), one label per row of probs; got shape (1,)",
        ),
        (
            lambda: cal.reliability_bins(np.array([0.5]), np.array([2])),
            "y must hold class labels in [0, 2); got 2 among them",
        ),
        (
            lambda: cal.reliability_bins(np.array([0.5]), np.array([1]), n_bins=0),
            "n_bins must be a positive integer; got 0",
        ),
        (
            lambda: cal.fit_temperature(np.array([1.0]), np.array([1]), bounds=(2, 1)),
            "bounds must be a pair (low, high) of finite numbers with 0 < low < high; "
            "got (2, 1)",
        ),
        (
            lambda: cal.negative_log_likelihood(np.array([1.0]), np.array([1]), 0),
            "temperature must be a finite number > 0; got 0",
        ),
        (
            lambda: cal.fit_temperature(np.array([np.inf]), np.array([1])),
            "logits must hold finite numbers; got inf among them",
        ),
    ],
)
def test_bad_arguments_name_the_argument(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cal.brier_score(np.array([0.5]), np.array([0.5])),
            "y must hold integer class labels; got 0.5 among them",
        ),
        (
            lambda: cal.brier_score(np.array([0.5]), np.array(["1"])),
            "y must hold integer class labels; got dtype <U1",
        ),
        (
            lambda: cal.probabilities(np.array([0.0]), temperature=math.nan),
            "temperature must be a finite number > 0; got nan",
        ),
        (
            lambda: cal.probabilities(np.array([0.0]), temperature=True),
            "temperature must be a finite number > 0; got True",
        ),
        (
            lambda: cal.probabilities(np.array([[np.nan, 0.0]])),
            "logits must hold finite numbers; got nan among them",
        ),
        (
            lambda: cal.fit_temperature(np.array([1.0]), np.array([1]), bounds=1.0),
            "bounds must be a pair (low, high) of finite numbers with 0 < low < high; "
            "got 1.0",
        ),
        (
            lambda: cal.fit_temperature(
                np.array([1.0]), np.array([1]), bounds=(0.1, math.inf)
            ),
            "bounds must be a pair (low, high) of finite numbers with 0 < low < high; "
            "got (0.1, inf)",
        ),
    ],
)
def test_labels_temperature_and_bounds_are_checked(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_integer_valued_float_labels_are_labels():
    probs = np.array([0.8, 0.4])
    assert cal.brier_score(probs, np.array([1.0, 0.0])) == cal.brier_score(
        probs, np.array([1, 0])
    )
    assert cal.fit_temperature(np.full(4, 4.0), [1, 1, 1, 0], bounds=[0.5, 20]) > 0


# --------------------------------------------------------------------------------------
# Platt scaling
# --------------------------------------------------------------------------------------


def _logit(r: float) -> float:
    return math.log(r / (1 - r))


@pytest.mark.parametrize("platt_targets", [False, True])
def test_platt_with_two_logit_values_matches_both_rates(platt_targets):
    # Two distinct logits and two parameters: the fit reproduces the (smoothed) rate of
    # each group, sigmoid(b) at z = -1 and sigmoid(a + b) at z = 2.
    z = np.array([-1.0] * 5 + [2.0] * 6)
    y = np.array([0, 0, 0, 1, 1] + [0, 1, 1, 1, 1, 1])
    if platt_targets:
        num_pos, num_neg = y.sum(), y.size - y.sum()
        target = np.where(y == 1, (num_pos + 1) / (num_pos + 2), 1 / (num_neg + 2))
    else:
        target = y.astype(float)
    low, high = target[:5].mean(), target[5:].mean()
    a, b = cal.fit_platt(z, y, platt_targets=platt_targets)
    assert -a + b == pytest.approx(_logit(low), abs=1e-7)
    assert 2 * a + b == pytest.approx(_logit(high), abs=1e-7)
    np.testing.assert_allclose(cal.apply_platt(z, a, b)[[0, -1]], [low, high])


def test_platt_recovers_slope_and_intercept():
    rng = np.random.default_rng(5)
    z = 3 * rng.standard_normal(20000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-(0.4 * z - 1.0)))).astype(int)
    a, b = cal.fit_platt(z, y, platt_targets=False)
    assert a == pytest.approx(0.4, abs=0.03) and b == pytest.approx(-1.0, abs=0.06)

    # The fitted (a, b) is the minimum of the mean binary cross-entropy.
    def nll(a, b):
        return cal.negative_log_likelihood(a * z + b, y)

    for da, db in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
        assert nll(a, b) < nll(a + da, b + db)


def test_platt_is_invariant_to_an_affine_map_of_the_logits():
    rng = np.random.default_rng(6)
    z = rng.standard_normal(300)
    y = (rng.uniform(size=300) < 1 / (1 + np.exp(-2 * z))).astype(int)
    a, b = cal.fit_platt(z, y)
    a2, b2 = cal.fit_platt(5 * z - 3, y)
    np.testing.assert_allclose(
        cal.apply_platt(z, a, b), cal.apply_platt(5 * z - 3, a2, b2), atol=1e-8
    )


def test_platt_targets_keep_a_separated_fit_finite():
    z = np.array([-2.0, -1.0, 1.0, 2.0])
    y = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="y must not be separated"):
        cal.fit_platt(z, y, platt_targets=False)
    a, b = cal.fit_platt(z, y)
    assert math.isfinite(a) and math.isfinite(b) and a > 0
    # Constant logits: only the intercept matters, and it gives the smoothed rate.
    a, b = cal.fit_platt(np.zeros(5), np.array([1, 0, 0, 0, 0]))
    expected = (1 * 2 / 3 + 4 * 1 / 6) / 5  # mean of Platt's targets
    assert cal.apply_platt(np.zeros(1), a, b)[0] == pytest.approx(expected)


def test_temperature_scaling_is_platt_without_intercept():
    # A Platt fit can only do better than a temperature, on the data it is fitted to.
    rng = np.random.default_rng(7)
    z = 4 * rng.standard_normal(500)
    y = (rng.uniform(size=500) < 1 / (1 + np.exp(-(z / 4 + 0.8)))).astype(int)
    t = cal.fit_temperature(z, y)
    a, b = cal.fit_platt(z, y, platt_targets=False)
    assert cal.negative_log_likelihood(a * z + b, y) < cal.negative_log_likelihood(
        z, y, t
    )
    assert b == pytest.approx(0.8, abs=0.35)  # the shift a temperature cannot make


# --------------------------------------------------------------------------------------
# Isotonic regression
# --------------------------------------------------------------------------------------


def test_isotonic_by_hand():
    # labels 0 1 0 0 1 1 at increasing probabilities: the 1, 0, 0 violate and pool to
    # 1/3; the map is 0, 1/3, 1.
    probs = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    y = np.array([0, 1, 0, 0, 1, 1])
    fitted = cal.fit_isotonic(probs, y)
    np.testing.assert_allclose(fitted.values, [0, 1 / 3, 1])
    np.testing.assert_allclose(fitted.lower, [0.1, 0.2, 0.6])
    np.testing.assert_allclose(fitted.upper, [0.1, 0.4, 0.9])
    np.testing.assert_allclose(
        cal.apply_isotonic(fitted, probs), [0, 1 / 3, 1 / 3, 1 / 3, 1, 1]
    )
    # outside and between the blocks: right-continuous steps, clipped below
    np.testing.assert_allclose(
        cal.apply_isotonic(fitted, np.array([0.0, 0.15, 0.5, 1.0])), [0, 0, 1 / 3, 1]
    )


def test_isotonic_pools_ties_and_reversed_labels():
    # Tied probabilities share one value; labels falling with q pool into one block.
    fitted = cal.fit_isotonic(np.array([0.5, 0.5, 0.5]), np.array([1, 0, 1]))
    np.testing.assert_allclose(fitted.values, [2 / 3])
    fitted = cal.fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 1, 0, 0]))
    np.testing.assert_allclose(fitted.values, [0.5])
    fitted = cal.fit_isotonic(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 1]))
    np.testing.assert_allclose(fitted.values, [0, 1])


def _brute_force_isotonic(y: np.ndarray) -> np.ndarray:
    """The least-squares monotone fit by the min-max formula of isotonic regression:
    g_j = max over i <= j of min over k >= j of the mean of y[i..k]."""
    n = y.size
    fit = np.empty(n)
    for j in range(n):
        fit[j] = max(
            min(y[i : k + 1].mean() for k in range(j, n)) for i in range(j + 1)
        )
    return fit


def test_isotonic_is_the_min_max_least_squares_fit():
    rng = np.random.default_rng(8)
    for _ in range(10):
        probs = np.sort(rng.uniform(size=25))
        y = (rng.uniform(size=25) < probs).astype(int)
        fitted = cal.apply_isotonic(cal.fit_isotonic(probs, y), probs)
        np.testing.assert_allclose(fitted, _brute_force_isotonic(y.astype(float)))
        assert np.all(np.diff(fitted) >= 0)
        assert fitted.mean() == pytest.approx(y.mean())  # pooling keeps the sum


def test_isotonic_depends_on_the_ranking_only():
    rng = np.random.default_rng(9)
    z = rng.standard_normal(200)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-z))).astype(int)
    one = cal.fit_isotonic(cal.probabilities(z), y)
    other = cal.fit_isotonic(cal.probabilities(3 * z + 1), y)
    np.testing.assert_allclose(
        cal.apply_isotonic(one, cal.probabilities(z)),
        cal.apply_isotonic(other, cal.probabilities(3 * z + 1)),
    )


# --------------------------------------------------------------------------------------
# The Brier score's decomposition
# --------------------------------------------------------------------------------------


def test_brier_decomposition_by_hand():
    probs = np.array([0.1, 0.3, 0.7, 0.9])
    y = np.array([0, 1, 1, 1])
    parts = cal.brier_decomposition(probs, y, n_bins=2)
    # bins (0, .5]: mean q .2, rate .5; (.5, 1]: mean q .8, rate 1; base rate .75
    assert parts.reliability == pytest.approx(0.5 * 0.3**2 + 0.5 * 0.2**2)
    assert parts.resolution == pytest.approx(0.5 * 0.25**2 + 0.5 * 0.25**2)
    assert parts.uncertainty == pytest.approx(0.75 * 0.25)
    assert parts.within_bin_variance == pytest.approx(0.01)
    # bin 1: (-.1)(-.5) + (.1)(.5); bin 2: y has no spread
    assert parts.within_bin_covariance == pytest.approx((0.05 + 0.05) / 4)
    assert parts.brier == pytest.approx(np.mean((probs - y) ** 2))
    assert parts.binned_brier == pytest.approx(
        cal.brier_score(np.array([0.2, 0.2, 0.8, 0.8]), y)
    )


def test_brier_decomposition_adds_up_and_is_exact_for_binned_forecasts():
    rng = np.random.default_rng(10)
    for n_bins in (1, 3, 10, 15):
        q = rng.uniform(size=300)
        y = (rng.uniform(size=300) < q**1.5).astype(int)
        parts = cal.brier_decomposition(q, y, n_bins)
        assert parts.brier == pytest.approx(
            parts.reliability
            - parts.resolution
            + parts.uncertainty
            + parts.within_bin_variance
            - 2 * parts.within_bin_covariance,
            abs=1e-14,
        )
        assert parts.binned_brier != pytest.approx(parts.brier, abs=1e-6)
        # A forecast that takes one value per bin has no within-bin terms.
        bins = cal.reliability_bins(q, y, n_bins)
        index = np.clip(np.searchsorted(bins.edges, q) - 1, 0, n_bins - 1)
        binned = cal.brier_decomposition(bins.confidence[index], y, n_bins)
        assert binned.within_bin_variance == pytest.approx(0, abs=1e-15)
        assert binned.brier == pytest.approx(parts.binned_brier, abs=1e-14)
        assert binned.reliability == pytest.approx(parts.reliability, abs=1e-14)


def test_brier_decomposition_limits():
    # One bin: resolution 0 and reliability the squared gap of the means.
    q = np.array([0.2, 0.4, 0.9])
    y = np.array([0, 1, 1])
    parts = cal.brier_decomposition(q, y, n_bins=1)
    assert parts.resolution == 0
    assert parts.reliability == pytest.approx((q.mean() - y.mean()) ** 2)
    # A perfect, certain forecast: resolution equals uncertainty, the rest is 0.
    parts = cal.brier_decomposition(np.array([0.0, 1.0, 1.0]), np.array([0, 1, 1]))
    assert parts.brier == 0 and parts.reliability == 0
    assert parts.resolution == pytest.approx(parts.uncertainty)
    # Reliability is the squared version of the ECE's gaps: never above ECE.
    rng = np.random.default_rng(11)
    q = rng.uniform(size=100)
    y = rng.integers(0, 2, size=100)
    ece = cal.expected_calibration_error(q, y, n_bins=10)
    assert cal.brier_decomposition(q, y, 10).reliability <= ece


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cal.fit_platt(np.zeros((2, 2)), np.array([0, 1])),
            "logits must have shape (n,), one score per example (binary); "
            "got shape (2, 2)",
        ),
        (
            lambda: cal.fit_platt(np.array([0.0, np.nan]), np.array([0, 1])),
            "logits must hold finite numbers; got nan among them",
        ),
        (
            lambda: cal.fit_platt(np.array([0.0, 1.0]), np.array([0, 2])),
            "y must hold class labels in [0, 2); got 2 among them",
        ),
        (
            lambda: cal.fit_platt(
                np.array([0.0, 1.0]), np.array([0, 1]), platt_targets=1
            ),
            "platt_targets must be True or False; got 1",
        ),
        (
            lambda: cal.apply_platt(np.array([0.0]), math.inf, 0.0),
            "a must be a finite number; got inf",
        ),
        (
            lambda: cal.apply_platt(np.array([0.0]), 1.0, "0"),
            "b must be a finite number; got '0'",
        ),
        (
            lambda: cal.apply_platt(np.zeros((1, 2)), 1.0, 0.0),
            "logits must have shape (n,), one score per example (binary); "
            "got shape (1, 2)",
        ),
        (
            lambda: cal.fit_isotonic(np.array([[0.5, 0.5]]), np.array([0])),
            "probs must have shape (n,), the probability of class 1 (binary); "
            "got shape (1, 2)",
        ),
        (
            lambda: cal.fit_isotonic(np.array([1.5]), np.array([0])),
            "probs must hold probabilities in [0, 1]; got 1.5 among them",
        ),
        (
            lambda: cal.fit_isotonic(np.array([0.5]), np.array([0, 1])),
            "y must have shape (1,), one label per row of probs; got shape (2,)",
        ),
        (
            lambda: cal.apply_isotonic((0.5,), np.array([0.5])),
            "isotonic_map must be an IsotonicMap from fit_isotonic; got tuple",
        ),
        (
            lambda: cal.apply_isotonic(
                cal.fit_isotonic(np.array([0.5]), np.array([1])), np.array([-0.1])
            ),
            "probs must hold probabilities in [0, 1]; got -0.1 among them",
        ),
        (
            lambda: cal.brier_decomposition(np.array([[0.5, 0.5]]), np.array([0])),
            "probs must have shape (n,), the probability of class 1 (binary); "
            "got shape (1, 2)",
        ),
        (
            lambda: cal.brier_decomposition(np.array([0.5]), np.array([3])),
            "y must hold class labels in [0, 2); got 3 among them",
        ),
        (
            lambda: cal.brier_decomposition(np.array([0.5]), np.array([1]), 0),
            "n_bins must be a positive integer; got 0",
        ),
    ],
)
def test_new_functions_name_the_bad_argument(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()

"""xent.calibration against values computed by hand."""

import math

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
    ("call", "argument"),
    [
        (
            lambda: cal.expected_calibration_error(np.array([1.2]), np.array([1])),
            "probs",
        ),
        (
            lambda: cal.expected_calibration_error(
                np.array([[0.5, 0.6]]), np.array([0])
            ),
            "probs",
        ),
        (lambda: cal.brier_score(np.array([0.5, 0.5]), np.array([1])), "y"),
        (lambda: cal.reliability_bins(np.array([0.5]), np.array([2])), "y"),
        (
            lambda: cal.reliability_bins(np.array([0.5]), np.array([1]), n_bins=0),
            "n_bins",
        ),
        (
            lambda: cal.fit_temperature(np.array([1.0]), np.array([1]), bounds=(2, 1)),
            "bounds",
        ),
        (
            lambda: cal.negative_log_likelihood(np.array([1.0]), np.array([1]), 0),
            "temperature",
        ),
        (lambda: cal.fit_temperature(np.array([np.inf]), np.array([1])), "logits"),
    ],
)
def test_bad_arguments_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()

"""xent.information against scipy, scikit-learn and the identities of chapter 2."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from xent import information as xi
from xent import numpy as xn

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn missing")


def tables(seed: int = 0, count: int = 20) -> list[np.ndarray]:
    """Random joint tables of several shapes, some with zero entries and rows."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        shape = (1 + k % 4, 1 + (k * 7) % 5)
        table = rng.random(shape) * (rng.random(shape) > 0.3)
        if table.sum() == 0:
            table[0, 0] = 1.0
        out.append(table / table.sum())
    return out


@pytest.mark.parametrize("table", tables(), ids=lambda t: f"{t.shape}")
def test_against_scipy_and_the_identities(table):
    px, py = table.sum(axis=1), table.sum(axis=0)
    h_xy = xi.joint_entropy(table)
    assert h_xy == pytest.approx(stats.entropy(table.reshape(-1)), abs=1e-12)
    h_y_x = xi.conditional_entropy(table)
    h_x_y = xi.conditional_entropy(table.T)
    # Definition: the rows' entropies weighted by P(a), through scipy.
    rows = [px[a] * stats.entropy(table[a]) for a in range(len(px)) if px[a] > 0]
    assert h_y_x == pytest.approx(sum(rows), abs=1e-12)
    # Chain rule, both ways.
    assert h_xy == pytest.approx(xn.entropy(px) + h_y_x, abs=1e-12)
    assert h_xy == pytest.approx(xn.entropy(py) + h_x_y, abs=1e-12)
    # Mutual information: four expressions agree, and it is symmetric.
    mi = xi.mutual_information(table)
    assert mi == pytest.approx(xn.entropy(py) - h_y_x, abs=1e-12)
    assert mi == pytest.approx(xn.entropy(px) - h_x_y, abs=1e-12)
    assert mi == pytest.approx(xn.entropy(px) + xn.entropy(py) - h_xy, abs=1e-12)
    assert mi == pytest.approx(xi.mutual_information(table.T), abs=1e-12)
    # The expected divergence of each row's conditional from the marginal of Y.
    kept = px > 0
    rows_kl = xn.kl_divergence(
        table[kept] / px[kept, None], np.tile(py, (kept.sum(), 1))
    )
    assert mi == pytest.approx(px[kept] @ rows_kl, abs=1e-12)
    # Bounds: 0 <= I <= min(H(X), H(Y)); conditioning does not raise the entropy.
    assert 0 <= mi <= min(xn.entropy(px), xn.entropy(py)) + 1e-12
    assert h_y_x <= xn.entropy(py) + 1e-12


def test_against_scikit_learn_mutual_info_score():
    table = tables(seed=1, count=1)[0]
    counts = np.round(table * 1000)
    mi = sklearn_metrics.mutual_info_score(None, None, contingency=counts)
    assert xi.mutual_information(counts / counts.sum()) == pytest.approx(mi, abs=1e-12)


def test_independent_and_deterministic_variables():
    px, py = np.array([0.2, 0.8]), np.array([0.1, 0.3, 0.6])
    independent = np.outer(px, py)
    assert xi.mutual_information(independent) == pytest.approx(0.0, abs=1e-15)
    assert xi.conditional_entropy(independent) == pytest.approx(xn.entropy(py))
    assert xi.joint_entropy(independent) == pytest.approx(
        xn.entropy(px) + xn.entropy(py)
    )
    # Y a function of X: no uncertainty left, and I(X; Y) = H(Y).
    function = np.array([[0.25, 0.0], [0.0, 0.5], [0.25, 0.0]])
    assert xi.conditional_entropy(function) == 0.0
    assert xi.mutual_information(function) == pytest.approx(xn.entropy([0.5, 0.5]))
    assert xi.conditional_entropy(function.T) > 0


def test_bits():
    table = tables(seed=2, count=1)[0]
    for f in (xi.joint_entropy, xi.conditional_entropy, xi.mutual_information):
        assert f(table, base=2) == pytest.approx(f(table) / math.log(2))


@pytest.mark.parametrize(
    ("joint", "kwargs", "message"),
    [
        (
            np.full(4, 0.25),
            {},
            "joint must be a 2-D table P(X = a, Y = b); got shape (4,)",
        ),
        (np.zeros((0, 3)), {}, "joint must have at least one entry; got shape (0, 3)"),
        (
            np.array([[0.5, 0.6], [-0.1, 0.0]]),
            {},
            "joint must hold probabilities in [0, 1]; got -0.1 among them",
        ),
        (
            np.array([[0.5, np.nan], [0.5, 0.0]]),
            {},
            "joint must hold probabilities in [0, 1]; got nan among them",
        ),
        (np.full((2, 2), 0.3), {}, "joint must sum to 1; got 1.2"),
        (
            np.full((2, 2), 0.25),
            {"base": 1},
            "base must be None or a finite number > 0 other than 1; got 1",
        ),
        (
            np.full((2, 2), 0.25),
            {"base": -2.0},
            "base must be None or a finite number > 0 other than 1; got -2.0",
        ),
        (
            np.full((2, 2), 0.25),
            {"base": "2"},
            "base must be None or a finite number > 0 other than 1; got '2'",
        ),
        (
            np.full((2, 2), 0.25),
            {"base": True},
            "base must be None or a finite number > 0 other than 1; got True",
        ),
    ],
)
def test_bad_input(joint, kwargs, message):
    for f in (xi.joint_entropy, xi.conditional_entropy, xi.mutual_information):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            f(joint, **kwargs)

"""xent.likelihood against PyTorch's Gaussian NLL loss and Laplace distribution."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from xent import likelihood as xl

torch = pytest.importorskip("torch", reason="PyTorch missing")
F = torch.nn.functional

RNG = np.random.default_rng(0)
MEAN, TARGET = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))
VAR = RNG.random((6, 3)) + 0.05


def t(x):
    return torch.as_tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("eps", [1e-6, 0.3])
def test_gaussian_matches_torch(reduction, full, eps):
    var = VAR.copy()
    var[0, 0] = 0.0  # clamped at eps
    ours = xl.gaussian_nll(MEAN, TARGET, var, full=full, eps=eps, reduction=reduction)
    theirs = F.gaussian_nll_loss(
        t(MEAN), t(TARGET), t(var), full=full, eps=eps, reduction=reduction
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_gaussian_broadcasts_a_fixed_variance_and_is_the_squared_error():
    # One variance for all: torch's homoscedastic form, (N, 1) against (N, D).
    ours = xl.gaussian_nll(MEAN, TARGET, VAR[:, :1], reduction="none")
    theirs = F.gaussian_nll_loss(t(MEAN), t(TARGET), t(VAR[:, :1]), reduction="none")
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    # With var = 1 it is half the squared error; with full, plus half of log(2 pi),
    # which is minus the log-density of torch's Normal.
    half_mse = 0.5 * np.mean((MEAN - TARGET) ** 2)
    assert xl.gaussian_nll(MEAN, TARGET, 1.0) == pytest.approx(half_mse)
    normal = torch.distributions.Normal(t(MEAN), t(np.sqrt(VAR)))
    np.testing.assert_allclose(
        xl.gaussian_nll(MEAN, TARGET, VAR, full=True, reduction="none"),
        -normal.log_prob(t(TARGET)).numpy(),
        rtol=1e-12,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_laplace_matches_torch(reduction):
    scale = np.sqrt(VAR)
    losses = -torch.distributions.Laplace(t(MEAN), t(scale)).log_prob(t(TARGET))
    expected = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    ours = xl.laplace_nll(MEAN, TARGET, scale, reduction=reduction)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-12)
    # A fixed scale b = 1 makes it the absolute error plus log 2.
    mae = np.mean(np.abs(MEAN - TARGET))
    assert xl.laplace_nll(MEAN, TARGET, 1.0) == pytest.approx(mae + math.log(2))


def test_minimisers_are_the_mean_the_median_and_the_mean_squared_residual():
    y = np.array([1.0, 1.2, 1.4, 1.6, 9.0])
    grid = np.linspace(0, 10, 100_001)
    gauss = [xl.gaussian_nll(m, y, 1.0) for m in grid[::100]]
    assert grid[::100][np.argmin(gauss)] == pytest.approx(y.mean(), abs=0.01)
    laplace = [xl.laplace_nll(m, y, 1.0) for m in grid[::100]]
    assert grid[::100][np.argmin(laplace)] == pytest.approx(np.median(y), abs=0.01)
    variances = np.linspace(0.5, 20, 3901)
    best = variances[np.argmin([xl.gaussian_nll(y.mean(), y, v) for v in variances])]
    assert best == pytest.approx(np.mean((y - y.mean()) ** 2), abs=0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: xl.gaussian_nll(MEAN, TARGET, [[0.5, -2.0, 1.0]]),
            "var must hold numbers >= 0; got -2.0 among them",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, TARGET, VAR, eps=0.0),
            "eps must be a finite number > 0; got 0.0",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, TARGET, VAR, eps="1"),
            "eps must be a finite number > 0; got '1'",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, TARGET, VAR, full=1),
            "full must be True or False; got 1",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, TARGET[:2], VAR),
            "mean, target, var must broadcast to one shape; got (6, 3), (2, 3), (6, 3)",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, np.nan, VAR),
            "target must hold finite numbers; got nan among them",
        ),
        (
            lambda: xl.gaussian_nll(MEAN, TARGET, VAR, reduction="avg"),
            "reduction must be one of 'none', 'mean' or 'sum'; got 'avg'",
        ),
        (
            lambda: xl.laplace_nll(MEAN, TARGET, 0.0),
            "scale must hold numbers > 0; got 0.0 among them",
        ),
        (
            lambda: xl.laplace_nll(MEAN[:, :2], TARGET, 1.0),
            "loc, target, scale must broadcast to one shape; got (6, 2), (6, 3), ()",
        ),
        (
            lambda: xl.laplace_nll(np.inf, TARGET, 1.0),
            "loc must hold finite numbers; got inf among them",
        ),
        (
            lambda: xl.laplace_nll(MEAN, TARGET, 1.0, reduction=None),
            "reduction must be one of 'none', 'mean' or 'sum'; got None",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()

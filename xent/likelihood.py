"""Negative log-likelihoods of real-valued targets: the Gaussian and the Laplace.

Maximum likelihood as a recipe (chapter "From maximum likelihood to cross-entropy"):
pick the distribution of the target given the input, let the model output its
parameters, and minimise the negative log-likelihood. For class labels that is the
Bernoulli or categorical distribution and the loss is cross-entropy; for real targets
the Gaussian gives the squared error and the Laplace the absolute error. Shapes:
``mean``/``loc``, ``target`` and ``var``/``scale`` broadcast to one shape ``(...)``;
``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``, as in ``torch.nn.functional``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent._checks import numpy as array_checks

__all__ = ["gaussian_nll", "laplace_nll"]


def _arrays(**named: ArrayLike) -> list[NDArray[np.float64]]:
    """The arguments as float64 arrays, checked to be finite and to broadcast."""
    arrays = {name: array_checks.finite(name, value) for name, value in named.items()}
    array_checks.same_shape_after_broadcast(arrays)
    return list(arrays.values())


def _reduce(losses: NDArray[np.float64], reduction: str) -> NDArray[np.float64]:
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def gaussian_nll(
    mean: ArrayLike,
    target: ArrayLike,
    var: ArrayLike,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> np.ndarray:
    r"""Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

    Per element :math:`\tfrac12 \big(\log v + (y - \mu)^2 / v\big)` with
    :math:`v = \max(\sigma^2, \varepsilon_{\mathrm{var}})`, plus
    :math:`\tfrac12 \log 2\pi` when ``full``. With a fixed variance it is the squared
    error scaled and shifted; a learned ``var`` makes it heteroscedastic. Raises
    ``ValueError`` for a negative ``var``, a non-positive ``eps``, arguments that do not
    broadcast or a bad ``reduction``.

    >>> float(gaussian_nll(np.array([0.0]), np.array([2.0]), np.array([1.0])))
    2.0
    """
    reduction = _checks.reduction(reduction)
    full = _checks.flag("full", full)
    eps = _checks.positive_number("eps", eps)
    mu, y, var = _arrays(mean=mean, target=target, var=var)
    array_checks.at_least("var", var, 0)
    var = np.maximum(var, eps)
    losses = 0.5 * (np.log(var) + (y - mu) ** 2 / var)
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return _reduce(losses, reduction)


def laplace_nll(
    loc: ArrayLike, target: ArrayLike, scale: ArrayLike, *, reduction: str = "mean"
) -> np.ndarray:
    r"""Laplace negative log-likelihood :math:`|y - \mu| / \beta + \log 2\beta`.

    Minus the log of the density :math:`e^{-|y - \mu| / \beta} / (2\beta)`, as
    ``-torch.distributions.Laplace(loc, scale).log_prob(target)``. With a fixed scale
    :math:`\beta` it is the absolute error scaled and shifted. Raises ``ValueError``
    for a ``scale`` that is not positive, arguments that do not broadcast or a bad
    ``reduction``.

    >>> float(laplace_nll(np.array([0.0]), np.array([2.0]), np.array([0.5])))
    4.0
    """
    reduction = _checks.reduction(reduction)
    mu, y, beta = _arrays(loc=loc, target=target, scale=scale)
    array_checks.at_least("scale", beta, 0, strict=True)
    losses = np.abs(y - mu) / beta + np.log(2 * beta)
    return _reduce(losses, reduction)

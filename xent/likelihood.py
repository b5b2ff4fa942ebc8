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
from numpy.typing import ArrayLike

from xent import _checks

__all__ = ["gaussian_nll", "laplace_nll"]


def _arrays(**named: ArrayLike) -> list[np.ndarray]:
    """The arguments as float64 arrays, checked to be finite and to broadcast."""
    arrays = [np.asarray(value, dtype=np.float64) for value in named.values()]
    for name, array in zip(named, arrays, strict=True):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must hold finite numbers")
    try:
        np.broadcast_shapes(*(array.shape for array in arrays))
    except ValueError:
        names = ", ".join(named)
        shapes = ", ".join(str(array.shape) for array in arrays)
        raise ValueError(f"{names} must broadcast to one shape; got {shapes}") from None
    return arrays


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
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
    if not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"eps must be positive; got {eps!r}")
    mean, target, var = _arrays(mean=mean, target=target, var=var)
    if np.any(var < 0):
        raise ValueError("var must be non-negative")
    var = np.maximum(var, eps)
    losses = 0.5 * (np.log(var) + (target - mean) ** 2 / var)
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return _reduce(losses, reduction)


def laplace_nll(
    loc: ArrayLike, target: ArrayLike, scale: ArrayLike, *, reduction: str = "mean"
) -> np.ndarray:
    r"""Laplace negative log-likelihood, :math:`|y - \mu| / b + \log 2b` per element.

    Minus the log of the density :math:`e^{-|y - \mu| / b} / (2b)`, as
    ``-torch.distributions.Laplace(loc, scale).log_prob(target)``. With a fixed scale
    :math:`b` it is the absolute error scaled and shifted. Raises ``ValueError`` for a
    ``scale`` that is not positive, arguments that do not broadcast or a bad
    ``reduction``.

    >>> float(laplace_nll(np.array([0.0]), np.array([2.0]), np.array([0.5])))
    4.0
    """
    reduction = _checks.reduction(reduction)
    loc, target, scale = _arrays(loc=loc, target=target, scale=scale)
    if np.any(scale <= 0):
        raise ValueError("scale must be positive")
    losses = np.abs(target - loc) / scale + np.log(2 * scale)
    return _reduce(losses, reduction)

"""Temperature scaling (Guo et al., 2017): the likelihood of labels under
``logits / T``, the probabilities, and the fit of ``T`` on validation data.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent import numpy as xn
from xent._checks import numpy as array_checks

__all__ = ["negative_log_likelihood", "probabilities", "fit_temperature"]


def _logits_and_labels(
    logits: ArrayLike, y: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Checked finite ``logits`` (float64) and int64 class labels ``y``, one per row."""
    checked = array_checks.logits("logits", logits)
    num_classes = 2 if checked.ndim == 1 else checked.shape[1]
    return checked, array_checks.labels(y, checked.shape[0], num_classes, "logits")


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
    temperature = _checks.temperature(temperature)
    if logits.ndim == 1:
        return float(
            xn.binary_cross_entropy_with_logits(logits / temperature, y.astype(float))
        )
    loss = xn.cross_entropy(logits / temperature, y)
    assert not isinstance(loss, tuple)  # one array: return_z_loss is off
    return float(loss)


def probabilities(logits: ArrayLike, temperature: float = 1.0) -> NDArray:
    """Probabilities of ``logits / temperature``: sigmoid for ``(n,)``, else softmax.

    Computed stably (no overflow for large logits). Raises ``ValueError`` as
    :func:`negative_log_likelihood` does.

    >>> probabilities(np.array([0.0, 1000.0, -1000.0])).tolist()
    [0.5, 1.0, 0.0]
    """
    logits = array_checks.logits("logits", logits)
    temperature = _checks.temperature(temperature)
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
    low, high = _checks.pair("bounds", bounds)

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

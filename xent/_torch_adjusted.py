"""Logit adjustment and the two-level softmax in PyTorch (chapter "Large output
spaces").

:func:`logit_adjusted_cross_entropy` (public as
``xent.torch.logit_adjusted_cross_entropy``) is ``xent.torch.cross_entropy`` of logits
shifted by the log class prior; ``tests/test_large_output.py`` holds it to
``F.cross_entropy`` on the shifted logits over every option.
:func:`two_level_log_softmax` is the hierarchical softmax the chapter teaches (no public
function); the same tests check that each of its rows is a distribution, that each
cluster's classes share the cluster's probability, and that one cluster is the full
softmax. The sampled losses are in ``xent._torch_sampled``.
"""

from __future__ import annotations

import math

import torch

from xent import _checks
from xent._checks import torch as torch_checks
from xent._torch_rows import TensorLike

Tensor = torch.Tensor


def logit_adjusted_cross_entropy(
    logits: TensorLike,
    target: TensorLike,
    *,
    class_prior: TensorLike,
    tau: float = 1.0,
    weight: TensorLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al. 2021) for long-tailed labels.

    :func:`xent.torch.cross_entropy` of :math:`z + \tau \log \pi`, with :math:`\pi` =
    ``class_prior`` the training frequencies of the classes (counts serve as well: a
    constant added to a row changes nothing). Trained this way, the plain logits
    :math:`z` estimate :math:`\log p(x \mid c)` up to a constant when
    :math:`\tau = 1`, so :math:`\arg\max_c z_c` aims at the balanced error; predict with
    :math:`z` itself.
    Every option is that of :func:`cross_entropy`.

    Shapes: ``logits: (..., C)``, ``target: (...)`` class indices or ``(..., C)``
    probabilities, ``class_prior: (C,)``, ``weight: (C,)``. Raises ``ValueError`` as
    :func:`cross_entropy` does, and for a ``class_prior`` not of shape ``(C,)`` or not
    positive and a ``tau`` that is not a finite real number.
    See the chapter "Large output spaces".

    >>> logits, target = torch.zeros(1, 2), torch.tensor([1])
    >>> loss = logit_adjusted_cross_entropy(logits, target, class_prior=[0.9, 0.1])
    >>> round(float(loss), 4)  # -log 0.1
    2.3026
    """
    from xent import torch as xt  # its conversions; it imports this module

    z = xt._floating("logits", logits)
    _checks.logits_shape("logits", tuple(z.shape))
    tau = _checks.finite_number("tau", tau)
    num_classes = z.shape[-1]
    prior = xt._tensor(class_prior, z)
    _checks.vector(
        "class_prior",
        tuple(prior.shape),
        xt._kind(prior),
        prior.dtype,
        num_classes,
        "positive numbers, one per class",
    )
    prior = prior.to(xt._compute(z).dtype)
    torch_checks.holds(
        ((prior > 0) & torch.isfinite(prior)).all(),
        ValueError("class_prior must hold finite positive numbers"),
    )
    # A constant added to every logit of a row leaves the softmax unchanged, so counts
    # serve as well as frequencies: log(n_c) = log(pi_c) + log(N).
    shifted = (xt._compute(z) + tau * torch.log(prior)).to(z.dtype)
    loss = xt.cross_entropy(
        shifted,
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    assert isinstance(loss, Tensor)  # one tensor: return_z_loss is off
    return loss


# --------------------------------------------------------------------------------------
# Hierarchical softmax (taught in the chapter; no public function)
# --------------------------------------------------------------------------------------


def two_level_log_softmax(
    hidden: Tensor, cluster_weight: Tensor, class_weight: Tensor, cluster_of: Tensor
) -> Tensor:
    """log q(c | x) of a two-level softmax: log q(cluster) + log q(c | cluster).

    ``hidden: (N, d)``; ``cluster_weight: (K, d)`` scores the ``K`` clusters;
    ``class_weight: (V, d)`` scores each class within its cluster; ``cluster_of: (V,)``
    the cluster of each class. Returns ``(N, V)``; each row is a distribution. Training
    needs only the target's entry: ``K`` cluster scores and the scores of the classes of
    one cluster.

    This is the book's reference for the hierarchical softmax (chapter "Large output
    spaces" quotes it, ``sec-hierarchical-softmax``), written for the whole distribution
    so that a test can check each row; it is no public function of ``xent.torch``.
    """
    log_q_cluster = torch.log_softmax(hidden @ cluster_weight.T, dim=-1)  # (N, K)
    scores = hidden @ class_weight.T  # (N, V)
    # log-sum-exp of the scores within each cluster: (N, K)
    num_clusters = cluster_weight.shape[0]
    index = cluster_of.expand_as(scores)
    empty = scores.new_full((scores.shape[0], num_clusters), -math.inf)
    m = empty.scatter_reduce(-1, index, scores.detach(), "amax")  # each cluster's max
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # (N, K)
    shifted = torch.exp(scores - torch.gather(m, -1, index))  # (N, V), at most 1
    log_total = torch.log(torch.zeros_like(m).scatter_add(-1, index, shifted)) + m
    log_q_within = scores - torch.gather(log_total, -1, index)  # (N, V)
    return torch.gather(log_q_cluster, -1, index) + log_q_within

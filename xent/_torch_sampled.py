"""Losses for large output spaces in PyTorch: sampled softmax, NCE, logit adjustment.

The chapter "Large output spaces" derives each of them. The public wrappers live at
the end of ``xent.torch``; this module holds the computations. Sampled losses score each
row against its own class and ``S`` classes drawn once for the whole batch from a
proposal distribution ``Q`` (with replacement, so class ``c`` is expected ``S Q(c)``
times), as TensorFlow's ``tf.nn.sampled_softmax_loss`` and ``tf.nn.nce_loss`` do: one
``(N, S)`` matrix product instead of the ``(N, V)`` one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from xent import _checks
from xent import torch as xt

Tensor = torch.Tensor

# --------------------------------------------------------------------------------------
# Helpers: arguments, the proposal distribution, the draw
# --------------------------------------------------------------------------------------


def _linear_args(hidden, weight, bias, target, ignore_index: int):
    """hidden (N, d) rows, weight (V, d), bias (V,) or None, target (N,) int64."""
    hidden = xt._floating("hidden", hidden)
    weight = xt._floating("weight", xt._tensor(weight, hidden))
    if hidden.ndim == 0:
        raise ValueError(
            "hidden must have a feature axis (shape (..., d)); got a scalar"
        )
    d = hidden.shape[-1]
    if weight.ndim != 2 or weight.shape[1] != d or weight.shape[0] == 0:
        raise ValueError(
            f"weight must have shape (V, {d}), one row of d = {d} features per class "
            f"as hidden (..., d); got shape {_checks._fmt(weight.shape)}"
        )
    num_classes = weight.shape[0]
    if bias is not None:
        bias = xt._floating("bias", xt._tensor(bias, hidden))
        if tuple(bias.shape) != (num_classes,):
            raise ValueError(
                f"bias must have shape ({num_classes},), one entry per row of weight; "
                f"got shape {_checks._fmt(bias.shape)}"
            )
    ignore_index = _checks.ignore_index(ignore_index)
    target = xt._index_target("hidden", target, hidden.shape[:-1], hidden)
    return hidden, weight, bias, target, ignore_index


def _num_sampled(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"num_sampled must be a positive integer (classes drawn per batch); "
            f"got {value!r}"
        )
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return value


def _check_values(ok: Tensor, error: ValueError) -> None:
    """Raise ``error`` unless the 0-d ``ok`` holds (on the CPU now, else on device)."""
    if xt._on_host(ok):
        if not bool(ok):
            raise error
    else:
        xt._assert(ok, error)


def sampler_log_probs(sampler, num_classes: int, like: Tensor) -> Tensor:
    r"""``log Q``, shape ``(V,)``, of a proposal ``sampler`` over ``V = num_classes``.

    ``"uniform"``: :math:`Q(c) = 1/V`. ``"log_uniform"`` (Zipf's law, TensorFlow's
    ``log_uniform_candidate_sampler``, for classes sorted by decreasing frequency):
    :math:`Q(c) = \log\frac{c + 2}{c + 1} / \log(V + 1)`. A tensor of ``V`` non-negative
    numbers (counts, or counts to the power 3/4 as in word2vec) is normalised to sum to
    one.
    """
    dtype = (
        like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    )
    if isinstance(sampler, str):
        if sampler == "uniform":
            return torch.full(
                (num_classes,), -math.log(num_classes), dtype=dtype, device=like.device
            )
        if sampler == "log_uniform":
            c = torch.arange(num_classes, dtype=dtype, device=like.device)
            return torch.log(torch.log1p(1 / (c + 1))) - math.log(
                math.log(num_classes + 1)
            )
        raise ValueError(
            "sampler must be 'uniform', 'log_uniform' or a tensor of V non-negative "
            f"numbers; got {sampler!r}"
        )
    q = xt._tensor(sampler, like)
    if xt._kind(q) not in "fiu" or tuple(q.shape) != (num_classes,):
        raise ValueError(
            f"sampler must hold ({num_classes},) non-negative numbers, one per class; "
            f"got shape {_checks._fmt(q.shape)} and dtype {q.dtype}"
        )
    q = q.to(dtype)
    _check_values(
        (q >= 0).all() & torch.isfinite(q).all() & (q.sum() > 0),
        ValueError("sampler must hold finite non-negative numbers with a positive sum"),
    )
    return torch.log(q) - torch.log(q.sum())


def _draw(log_q: Tensor, num_sampled: int, sampled, generator) -> Tensor:
    """``S = num_sampled`` class indices drawn from ``Q`` with replacement (or
    ``sampled``, checked)."""
    num_classes = log_q.shape[0]
    if sampled is None:
        # multinomial takes unnormalised weights; exp(log Q) is Q itself.
        return torch.multinomial(
            torch.exp(log_q), num_sampled, replacement=True, generator=generator
        )
    sampled = xt._tensor(sampled, log_q)
    if xt._kind(sampled) not in "iu" or tuple(sampled.shape) != (num_sampled,):
        raise ValueError(
            f"sampled must hold ({num_sampled},) integer class indices, one per draw; "
            f"got shape {_checks._fmt(sampled.shape)} and dtype {sampled.dtype}"
        )
    sampled = sampled.long()
    _check_values(
        ((sampled >= 0) & (sampled < num_classes)).all(),
        ValueError(f"sampled must hold class indices in [0, {num_classes})"),
    )
    return sampled


def _candidate_logits(hidden, weight, bias, target, safe, sampled, log_q, correct_true):
    """The true logit (N,) and the sampled logits (N, S), log-Q corrected, and the hits.

    A hit is a draw equal to the row's own class (an "accidental hit").
    """
    num_sampled = sampled.shape[0]
    true_logit = (hidden * weight[safe]).sum(-1)  # (N,)
    sampled_logits = hidden @ weight[sampled].T  # (N, S)
    if bias is not None:
        true_logit = true_logit + bias[safe]
        sampled_logits = sampled_logits + bias[sampled]
    if log_q is not None:
        # log of the expected count S Q(c) of each class among the S draws
        log_count = log_q.to(hidden.dtype) + math.log(num_sampled)
        sampled_logits = sampled_logits - log_count[sampled]
        if correct_true:
            true_logit = true_logit - log_count[safe]
    hits = sampled.unsqueeze(0) == target.unsqueeze(1)  # (N, S)
    return true_logit, sampled_logits, hits


def _finish(loss: Tensor, keep: Tensor, reduction: str, shape) -> Tensor:
    """Zero ignored rows, restore the batch shape, reduce (mean over the kept rows)."""
    loss = torch.where(keep, loss, torch.zeros_like(loss)).reshape(shape)
    return xt._reduce(loss, reduction, keep.sum())


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


class _Candidates(NamedTuple):
    true_logit: Tensor  # (N,): each row's own class
    sampled_logits: Tensor  # (N, S): the drawn classes
    hits: Tensor  # (N, S): where a draw is the row's own class
    keep: Tensor  # (N,): rows whose target is not ignore_index
    remove_accidental_hits: bool
    reduction: str
    shape: torch.Size  # the target's, to restore the batch shape
    dtype: torch.dtype  # the input's, for the result


def _checked_candidates(
    hidden,
    weight,
    target,
    bias,
    num_sampled,
    sampler,
    sampled,
    generator,
    subtract_log_q,
    remove_accidental_hits,
    ignore_index,
    reduction,
    *,
    correct_true: bool,
):
    """The checks and candidate logits that sampled softmax and NCE share."""
    hidden, weight, bias, target, ignore_index = _linear_args(
        hidden, weight, bias, target, ignore_index
    )
    num_sampled = _num_sampled(num_sampled)
    subtract_log_q = _flag("subtract_log_q", subtract_log_q)
    remove_accidental_hits = _flag("remove_accidental_hits", remove_accidental_hits)
    reduction = _checks.reduction(reduction)
    num_classes = weight.shape[0]
    xt._check_indices(target, num_classes, ignore_index)
    log_q = sampler_log_probs(sampler, num_classes, hidden)
    sampled = _draw(log_q, num_sampled, sampled, generator)

    h = xt._compute(hidden.reshape(-1, hidden.shape[-1]))  # (N, d)
    keep, safe = xt._index_parts(target.reshape(-1), ignore_index)  # (N,), (N,)
    true_logit, sampled_logits, hits = _candidate_logits(
        h,
        xt._compute(weight),
        None if bias is None else xt._compute(bias),
        target.reshape(-1),
        safe,
        sampled,
        log_q if subtract_log_q else None,
        correct_true=correct_true,
    )
    return _Candidates(
        true_logit,
        sampled_logits,
        hits,
        keep,
        remove_accidental_hits,
        reduction,
        target.shape,
        hidden.dtype,
    )


def sampled_softmax_cross_entropy(
    hidden,
    weight,
    target,
    *,
    num_sampled: int,
    bias=None,
    sampler="log_uniform",
    sampled=None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """See ``xent.torch.sampled_softmax_cross_entropy``."""
    c = _checked_candidates(
        hidden,
        weight,
        target,
        bias,
        num_sampled,
        sampler,
        sampled,
        generator,
        subtract_log_q,
        remove_accidental_hits,
        ignore_index,
        reduction,
        correct_true=False,
    )
    sampled_logits = c.sampled_logits
    if c.remove_accidental_hits:
        sampled_logits = sampled_logits.masked_fill(c.hits, -math.inf)
    # Row i is a softmax over 1 + S candidates whose first is its own class.
    logits = torch.cat([c.true_logit.unsqueeze(1), sampled_logits], dim=1)  # (N, 1 + S)
    loss = torch.logsumexp(logits, dim=1) - c.true_logit  # (N,)
    return _finish(loss.to(c.dtype), c.keep, c.reduction, c.shape)


def nce_loss(
    hidden,
    weight,
    target,
    *,
    num_sampled: int,
    bias=None,
    sampler="log_uniform",
    sampled=None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """See ``xent.torch.nce_loss``."""
    c = _checked_candidates(
        hidden,
        weight,
        target,
        bias,
        num_sampled,
        sampler,
        sampled,
        generator,
        subtract_log_q,
        remove_accidental_hits,
        ignore_index,
        reduction,
        correct_true=True,
    )
    # Binary cross-entropy: the data class is "real" (-log sigmoid(s)), each draw
    # "noise" (-log sigmoid(-s)); an accidental hit's term is dropped.
    noise = -F.logsigmoid(-c.sampled_logits)  # (N, S)
    if c.remove_accidental_hits:
        noise = torch.where(c.hits, torch.zeros_like(noise), noise)
    loss = -F.logsigmoid(c.true_logit) + noise.sum(dim=1)  # (N,)
    return _finish(loss.to(c.dtype), c.keep, c.reduction, c.shape)


def logit_adjusted_cross_entropy(
    logits,
    target,
    *,
    class_prior,
    tau: float = 1.0,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """See ``xent.torch.logit_adjusted_cross_entropy``."""
    logits = xt._floating("logits", logits)
    _checks.logits_shape("logits", tuple(logits.shape))
    tau = _checks.real_number("tau", tau)
    if not math.isfinite(tau):
        raise ValueError(f"tau must be a finite real number; got {tau!r}")
    num_classes = logits.shape[-1]
    prior = xt._tensor(class_prior, logits)
    if xt._kind(prior) not in "fiu" or tuple(prior.shape) != (num_classes,):
        raise ValueError(
            f"class_prior must hold ({num_classes},) positive numbers, one per class; "
            f"got shape {_checks._fmt(prior.shape)} and dtype {prior.dtype}"
        )
    prior = prior.to(xt._compute(logits).dtype)
    _check_values(
        ((prior > 0) & torch.isfinite(prior)).all(),
        ValueError("class_prior must hold finite positive numbers"),
    )
    # A constant added to every logit of a row leaves the softmax unchanged, so counts
    # serve as well as frequencies: log(n_c) = log(pi_c) + log(N).
    shifted = (xt._compute(logits) + tau * torch.log(prior)).to(logits.dtype)
    return xt.cross_entropy(
        shifted,
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


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

"""Sampled losses for large output spaces in PyTorch: sampled softmax and NCE.

The chapter "Large output spaces" derives both; ``xent.torch`` re-exports
:func:`sampled_softmax_cross_entropy` and :func:`nce_loss`, and
``tests/test_large_output.py`` holds them to TensorFlow's losses and to the full
softmax. Each row is scored against its own class and ``S`` classes drawn once for the
whole batch from a proposal distribution ``Q`` (with replacement, so class ``c`` is
expected ``S Q(c)`` times), as TensorFlow's ``tf.nn.sampled_softmax_loss`` and
``tf.nn.nce_loss`` do: one ``(N, S)`` matrix product instead of the ``(N, V)`` one.
Logit adjustment and the two-level softmax are in ``xent._torch_adjusted``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from xent import _checks
from xent._checks import torch as torch_checks
from xent._torch_rows import TensorLike, _index_parts

Tensor = torch.Tensor

# xent.torch imports this module: its conversions are imported inside the functions.

# --------------------------------------------------------------------------------------
# Helpers: arguments, the proposal distribution, the draw
# --------------------------------------------------------------------------------------


def _linear_args(
    hidden: TensorLike,
    weight: TensorLike,
    bias: TensorLike | None,
    target: TensorLike,
    ignore_index: object,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor, int]:
    """hidden (N, d) rows, weight (V, d), bias (V,) or None, target (N,) int64."""
    from xent import torch as xt

    h = xt._floating("hidden", hidden)
    w = xt._floating("weight", xt._tensor(weight, h))
    b = None if bias is None else xt._floating("bias", xt._tensor(bias, h))
    torch_checks.linear_layer(
        tuple(h.shape), tuple(w.shape), None if b is None else tuple(b.shape)
    )
    index = _checks.ignore_index(ignore_index)
    y = xt._index_target("hidden", target, tuple(h.shape[:-1]), h)
    return h, w, b, y, index


def sampler_log_probs(
    sampler: str | TensorLike, num_classes: int, like: Tensor
) -> Tensor:
    r"""``log Q``, shape ``(V,)``, of a proposal ``sampler`` over ``V = num_classes``.

    ``"uniform"``: :math:`Q(c) = 1/V`. ``"log_uniform"`` (Zipf's law, TensorFlow's
    ``log_uniform_candidate_sampler``, for classes sorted by decreasing frequency):
    :math:`Q(c) = \log\frac{c + 2}{c + 1} / \log(V + 1)`. A tensor of ``V`` non-negative
    numbers (counts, or counts to the power 3/4 as in word2vec) is normalised to sum to
    one.
    """
    from xent import torch as xt

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
    _checks.vector(
        "sampler",
        tuple(q.shape),
        xt._kind(q),
        q.dtype,
        num_classes,
        "non-negative numbers, one per class",
    )
    q = q.to(dtype)
    torch_checks.holds(
        (q >= 0).all() & torch.isfinite(q).all() & (q.sum() > 0),
        ValueError("sampler must hold finite non-negative numbers with a positive sum"),
    )
    return torch.log(q) - torch.log(q.sum())


def _draw(
    log_q: Tensor,
    num_sampled: int,
    sampled: TensorLike | None,
    generator: torch.Generator | None,
) -> Tensor:
    """``S = num_sampled`` class indices drawn from ``Q`` with replacement (or
    ``sampled``, checked).
    """
    from xent import torch as xt

    num_classes = log_q.shape[0]
    if sampled is None:
        # multinomial takes unnormalised weights; exp(log Q) is Q itself.
        return torch.multinomial(
            torch.exp(log_q), num_sampled, replacement=True, generator=generator
        )
    drawn = xt._tensor(sampled, log_q)
    _checks.vector(
        "sampled",
        tuple(drawn.shape),
        xt._kind(drawn),
        drawn.dtype,
        num_sampled,
        "integer class indices, one per draw",
        kinds="iu",
    )
    drawn = drawn.long()
    torch_checks.holds(
        ((drawn >= 0) & (drawn < num_classes)).all(),
        ValueError(f"sampled must hold class indices in [0, {num_classes})"),
    )
    return drawn


def _candidate_logits(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    target: Tensor,
    safe: Tensor,
    sampled: Tensor,
    log_q: Tensor | None,
    correct_true: bool,
) -> tuple[Tensor, Tensor, Tensor]:
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


def _finish(loss: Tensor, keep: Tensor, reduction: str, shape: torch.Size) -> Tensor:
    """Zero ignored rows, restore the batch shape, reduce (mean over the kept rows)."""
    from xent import torch as xt

    loss = torch.where(keep, loss, torch.zeros_like(loss)).reshape(shape)
    return xt._reduce(loss, reduction, keep.sum())


# --------------------------------------------------------------------------------------
# The losses (public in xent.torch)
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
    hidden: TensorLike,
    weight: TensorLike,
    target: TensorLike,
    bias: TensorLike | None,
    num_sampled: object,
    sampler: str | TensorLike,
    sampled: TensorLike | None,
    generator: torch.Generator | None,
    subtract_log_q: object,
    remove_accidental_hits: object,
    ignore_index: object,
    reduction: object,
    *,
    correct_true: bool,
) -> _Candidates:
    """The checks and candidate logits that sampled softmax and NCE share."""
    from xent import torch as xt

    h, w, b, y, index = _linear_args(hidden, weight, bias, target, ignore_index)
    draws = _checks.positive_int("num_sampled", num_sampled)
    correct = _checks.flag("subtract_log_q", subtract_log_q)
    remove = _checks.flag("remove_accidental_hits", remove_accidental_hits)
    how = _checks.reduction(reduction)
    num_classes = w.shape[0]
    torch_checks.indices(y, num_classes, index)
    log_q = sampler_log_probs(sampler, num_classes, h)
    drawn = _draw(log_q, draws, sampled, generator)

    rows = xt._compute(h.reshape(-1, h.shape[-1]))  # (N, d)
    keep, safe = _index_parts(y.reshape(-1), index)  # (N,), (N,)
    true_logit, sampled_logits, hits = _candidate_logits(
        rows,
        xt._compute(w),
        None if b is None else xt._compute(b),
        y.reshape(-1),
        safe,
        drawn,
        log_q if correct else None,
        correct_true=correct_true,
    )
    return _Candidates(
        true_logit, sampled_logits, hits, keep, remove, how, y.shape, h.dtype
    )


def sampled_softmax_cross_entropy(
    hidden: TensorLike,
    weight: TensorLike,
    target: TensorLike,
    *,
    num_sampled: int,
    bias: TensorLike | None = None,
    sampler: str | TensorLike = "log_uniform",
    sampled: TensorLike | None = None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Sampled softmax: cross-entropy over the row's class and ``S`` drawn classes.

    Draws ``S = num_sampled`` classes :math:`c_1, \dots, c_S` from the proposal
    :math:`Q` (with replacement, once for the whole batch; or takes them from
    ``sampled``) and computes each row's logits :math:`z = W h + b` only there. With the
    log-Q correction the loss of a row is
    :math:`-z_y + \log\big(e^{z_y} + \sum_{s} e^{z_{c_s} - \log(S Q(c_s))}\big)`,
    where draws equal to :math:`y` (accidental hits) are left out: the sum estimates
    :math:`\sum_{c \ne y} e^{z_c}` without bias, so the loss and its gradient tend to
    those of the full softmax as :math:`S` grows. ``subtract_log_q=False`` drops the
    correction (biased towards frequent classes). Unlike ``tf.nn.sampled_softmax_loss``,
    the row's own logit is not corrected; passing ``true_expected_count = 1`` to
    TensorFlow gives the same numbers. Evaluate with the full loss
    (:func:`xent.torch.linear_cross_entropy`).

    ``sampler``: ``"log_uniform"`` (Zipf, for classes sorted by decreasing frequency),
    ``"uniform"``, or ``(V,)`` non-negative numbers (e.g. counts), normalised.
    ``"mean"`` averages over the rows whose target is not ``ignore_index``.

    Shapes: ``hidden: (..., d)``, ``weight: (V, d)``, ``bias: (V,)``, ``target: (...)``
    class indices, ``sampled: (S,)``. Returns ``(...)`` for ``reduction="none"``, else a
    scalar. Raises ``ValueError`` for mismatched shapes, class indices outside
    ``[0, V)`` that are not ``ignore_index``, a ``num_sampled`` that is not a positive
    integer, a bad ``sampler`` or ``sampled`` and an unknown ``reduction``.
    See the chapter "Large output spaces".

    >>> hidden, weight = torch.randn(4, 8), torch.randn(50, 8)
    >>> target = torch.tensor([0, 1, 2, 3])
    >>> every = torch.arange(50).repeat(2)  # each class drawn twice, Q uniform
    >>> loss = sampled_softmax_cross_entropy(
    ...     hidden, weight, target, num_sampled=100, sampled=every, sampler="uniform"
    ... )
    >>> from xent import torch as xt
    >>> bool(torch.allclose(loss, xt.cross_entropy(hidden @ weight.T, target)))
    True
    """
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
    hidden: TensorLike,
    weight: TensorLike,
    target: TensorLike,
    *,
    num_sampled: int,
    bias: TensorLike | None = None,
    sampler: str | TensorLike = "log_uniform",
    sampled: TensorLike | None = None,
    generator: torch.Generator | None = None,
    subtract_log_q: bool = True,
    remove_accidental_hits: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Noise-contrastive estimation; ``subtract_log_q=False`` is word2vec's negative
    sampling.

    Each row's class is a "data" example and each of the ``S`` classes drawn from
    :math:`Q` (as in :func:`sampled_softmax_cross_entropy`) a "noise" example of a
    binary classifier with logit :math:`s_c = z_c - \log(S Q(c))`; the loss of a row is
    :math:`-\log\sigma(s_y) - \sum_{s=1}^{S} \log\sigma(-s_{c_s})`, the numbers of
    ``tf.nn.nce_loss`` given the same draws. Without the correction,
    :math:`-\log\sigma(z_y) - \sum_s \log\sigma(-z_{c_s})` is the skip-gram
    negative-sampling objective (Mikolov et al. 2013), whose optimum is not the
    softmax's. ``remove_accidental_hits=True`` drops the noise terms of draws equal to
    the row's class.

    Shapes, ``sampler``, ``reduction`` and the ``ValueError``\ s: as for
    :func:`sampled_softmax_cross_entropy`. See the chapter "Large output spaces".

    >>> hidden, weight = torch.zeros(2, 3), torch.zeros(10, 3)  # every logit 0
    >>> loss = nce_loss(hidden, weight, torch.tensor([0, 1]), num_sampled=4,
    ...                 subtract_log_q=False)
    >>> round(float(loss), 4)  # 5 log 2
    3.4657
    """
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

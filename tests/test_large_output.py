"""The losses for large output spaces (``xent.torch``, computed in ``_torch_sampled``
and ``_torch_adjusted``).

Sampled softmax and NCE are held to TensorFlow's ``tf.nn.sampled_softmax_loss`` and
``tf.nn.nce_loss`` given the same draws, and to the full softmax when the draws cover
every class; the log-Q correction is shown to make the expected gradient approach the
full one (and its absence to leave a bias); NCE and negative sampling reach their closed
form optima; logit adjustment is ``F.cross_entropy`` on shifted logits in every option.
"""

from __future__ import annotations

import functools
import math
import re

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from xent import _torch_adjusted as ta  # noqa: E402
from xent import _torch_sampled as ts  # noqa: E402
from xent import torch as xt  # noqa: E402


def _data(rows=6, d=4, classes=30, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, d, generator=gen, dtype=dtype)
    weight = torch.randn(classes, d, generator=gen, dtype=dtype)
    bias = torch.randn(classes, generator=gen, dtype=dtype)
    target = torch.randint(0, classes, (rows,), generator=gen)
    return hidden, weight, bias, target


def _reference_sampled(h, W, b, y, sampled, log_q, correct, remove_hits):
    """Plain per-row loops: the sampled softmax of the chapter, one row at a time."""
    S = len(sampled)
    out = []
    for i in range(len(y)):
        z = W @ h[i] + b  # (V,)
        terms = [z[y[i]]]
        for c in sampled.tolist():
            if remove_hits and c == int(y[i]):
                continue
            terms.append(z[c] - (log_q[c] + math.log(S) if correct else 0))
        out.append(torch.logsumexp(torch.stack(terms), 0) - z[y[i]])
    return torch.stack(out)


# --------------------------------------------------------------------------------------
# Sampled softmax
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("correct", [True, False])
@pytest.mark.parametrize("remove_hits", [True, False])
@pytest.mark.parametrize("sampler", ["log_uniform", "uniform", "counts"])
def test_sampled_softmax_matches_the_row_by_row_formula(correct, remove_hits, sampler):
    h, W, b, y = _data()
    if sampler == "counts":
        sampler = torch.arange(1, 31, dtype=torch.float64) ** 0.75
    gen = torch.Generator().manual_seed(1)
    sampled = torch.randint(0, 30, (12,), generator=gen)
    sampled[:3] = y[0]  # hits, repeated ones included
    log_q = ts.sampler_log_probs(sampler, 30, h)
    got = xt.sampled_softmax_cross_entropy(
        h,
        W,
        y,
        num_sampled=12,
        bias=b,
        sampler=sampler,
        sampled=sampled,
        subtract_log_q=correct,
        remove_accidental_hits=remove_hits,
        reduction="none",
    )
    want = _reference_sampled(h, W, b, y, sampled, log_q, correct, remove_hits)
    torch.testing.assert_close(got, want)


def test_log_uniform_is_tensorflows_zipf_distribution():
    log_q = ts.sampler_log_probs("log_uniform", 1000, torch.zeros(1))
    c = torch.arange(1000, dtype=torch.float64)
    want = (torch.log(c + 2) - torch.log(c + 1)) / math.log(1001)
    torch.testing.assert_close(log_q.double().exp(), want, rtol=1e-5, atol=0)
    assert abs(float(log_q.exp().sum()) - 1) < 1e-5


def _distinct_with_hit(num_sampled, hit, seed, classes=30):
    """Distinct draws, one of them ``hit``: TensorFlow's search for accidental hits
    finds one position per class, so it assumes no class is drawn twice."""
    order = torch.randperm(classes, generator=torch.Generator().manual_seed(seed))
    return torch.cat([torch.tensor([hit]), order[order != hit][: num_sampled - 1]])


def _tf():
    tf = pytest.importorskip("tensorflow")
    return tf


@pytest.mark.parametrize("correct", [True, False])
def test_sampled_softmax_matches_tensorflow_given_the_same_draws(correct):
    tf = _tf()
    h, W, b, y = _data(dtype=torch.float32)
    sampled = _distinct_with_hit(10, int(y[0]), seed=2)
    log_q = ts.sampler_log_probs("log_uniform", 30, h)
    count = (10 * log_q.exp()).numpy() if correct else torch.ones(30).numpy()
    values = (
        tf.constant(sampled.numpy()),
        tf.ones((6, 1)),  # the row's own logit is not corrected
        tf.constant(count[sampled.numpy()]),
    )
    want = tf.nn.sampled_softmax_loss(
        W.numpy(),
        b.numpy(),
        y.numpy()[:, None],
        h.numpy(),
        10,
        30,
        sampled_values=values,
    )
    got = xt.sampled_softmax_cross_entropy(
        h,
        W,
        y,
        num_sampled=10,
        bias=b,
        sampled=sampled,
        subtract_log_q=correct,
        reduction="none",
    )
    torch.testing.assert_close(
        got, torch.from_numpy(want.numpy()), atol=1e-5, rtol=1e-5
    )


def test_every_class_drawn_once_from_uniform_is_the_full_softmax():
    """S = V distinct draws under a uniform Q: log(S Q) = 0 and the hit leaves the row's
    own class once, so loss and gradients are those of the full cross-entropy."""
    h, W, b, y = _data()
    params = [x.clone().requires_grad_() for x in (h, W, b)]
    loss = xt.sampled_softmax_cross_entropy(
        *params[:2],
        y,
        num_sampled=30,
        bias=params[2],
        sampler="uniform",
        sampled=torch.randperm(30),
    )
    loss.backward()
    ref = [x.clone().requires_grad_() for x in (h, W, b)]
    want = F.cross_entropy(F.linear(ref[0], ref[1], ref[2]), y)
    want.backward()
    torch.testing.assert_close(loss, want)
    for p, r in zip(params, ref, strict=True):
        torch.testing.assert_close(p.grad, r.grad)


@functools.cache  # shared with the chapter's numbers test
def expected_gradient_gap(num_sampled, correct, draws=300, classes=20, seed=0):
    """Total-variation distance between the mean sampled-softmax weights and q.

    The gradient with respect to the logits is (softmax weights over the candidates)
    minus the one-hot target, so the mean gradient over many seeded draws differs from
    the full gradient q - p by (mean weights - q); half its L1 norm is returned.
    """
    gen = torch.Generator().manual_seed(seed)
    z = 0.5 * torch.randn(1, classes, generator=gen, dtype=torch.float64)
    y = torch.tensor([5])
    eye = torch.eye(classes, dtype=torch.float64)  # weight = I: the logits are hidden
    total = torch.zeros(classes, dtype=torch.float64)
    for _ in range(draws):
        logits = z.clone().requires_grad_()
        xt.sampled_softmax_cross_entropy(
            logits,
            eye,
            y,
            num_sampled=num_sampled,
            generator=gen,
            subtract_log_q=correct,
        ).backward()
        total += logits.grad[0]
    full = torch.softmax(z[0], -1) - F.one_hot(y[0], classes)
    return 0.5 * float((total / draws - full).abs().sum())


def test_the_log_q_correction_makes_the_expected_gradient_the_full_one():
    # 300 draws over 20 classes, the sizes the chapter quotes
    small, large, biased = (
        expected_gradient_gap(s, c, draws=300, classes=20)
        for s, c in ((5, True), (50, True), (50, False))
    )
    assert large < small / 4  # the gap of the corrected estimate shrinks as S grows
    assert large < 0.03
    assert biased > 0.2  # without the correction a bias remains at any S
    assert biased > 8 * large


# --------------------------------------------------------------------------------------
# NCE and negative sampling
# --------------------------------------------------------------------------------------


def test_nce_matches_tensorflow_given_the_same_draws():
    tf = _tf()
    h, W, b, y = _data(dtype=torch.float32)
    sampled = _distinct_with_hit(8, int(y[2]), seed=3)
    count = (8 * ts.sampler_log_probs("log_uniform", 30, h).exp()).numpy()
    values = (
        tf.constant(sampled.numpy()),
        tf.constant(count[y.numpy()][:, None]),
        tf.constant(count[sampled.numpy()]),
    )
    for hits in (False, True):
        want = tf.nn.nce_loss(
            W.numpy(),
            b.numpy(),
            y.numpy()[:, None],
            h.numpy(),
            8,
            30,
            sampled_values=values,
            remove_accidental_hits=hits,
        )
        got = xt.nce_loss(
            h,
            W,
            y,
            num_sampled=8,
            bias=b,
            sampled=sampled,
            reduction="none",
            remove_accidental_hits=hits,
        )
        torch.testing.assert_close(
            got, torch.from_numpy(want.numpy()), atol=1e-5, rtol=1e-5
        )


def nce_optimum(p, counts, k, correct):
    """The logits that minimise NCE's expected loss (data from p, k draws from Q each),
    found by L-BFGS on the expectation written with ``nce_loss`` itself."""
    classes = len(p)
    log_q = ts.sampler_log_probs(counts, classes, p)
    ones = torch.ones(classes, 1, dtype=torch.float64)  # weight (V, 1) holds the logits
    z = torch.zeros(classes, 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z], max_iter=100, line_search_fn="strong_wolfe")

    def expected_loss():
        opt.zero_grad()
        total = 0
        for c in range(classes):  # noise class c, drawn k times, with probability Q(c)
            rows = xt.nce_loss(
                ones,
                z,
                torch.arange(classes),
                num_sampled=k,
                sampler=counts,
                sampled=torch.full((k,), c),
                subtract_log_q=correct,
                reduction="none",
            )
            total = total + log_q[c].exp() * (p * rows).sum()
        total.backward()
        return total

    opt.step(expected_loss)
    return z.detach()[:, 0], log_q


def test_nce_learns_log_p_and_negative_sampling_a_shifted_pmi():
    p = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05], dtype=torch.float64)
    counts = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    k = 3
    z, _ = nce_optimum(p, counts, k, correct=True)
    torch.testing.assert_close(z, torch.log(p), atol=1e-4, rtol=0)  # self-normalised
    z, log_q = nce_optimum(p, counts, k, correct=False)
    torch.testing.assert_close(z, torch.log(p) - log_q - math.log(k), atol=1e-4, rtol=0)


def test_negative_sampling_is_the_skip_gram_objective():
    h, W, _, y = _data()
    sampled = torch.tensor([1, 7, 7, 29])
    got = xt.nce_loss(
        h,
        W,
        y,
        num_sampled=4,
        sampled=sampled,
        subtract_log_q=False,
        reduction="sum",
    )
    z = h @ W.T
    want = (
        -F.logsigmoid(z.gather(1, y[:, None])).sum()
        - F.logsigmoid(-z[:, sampled]).sum()
    )
    torch.testing.assert_close(got, want)


# --------------------------------------------------------------------------------------
# Options shared by the sampled losses
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss", [xt.sampled_softmax_cross_entropy, xt.nce_loss], ids=["sampled", "nce"]
)
def test_ignore_index_and_reductions_and_batch_shape(loss):
    h, W, b, y = _data(rows=6)
    y = y.clone()
    y[[1, 4]] = -1
    sampled = torch.tensor([0, 3, 3, 9, 20])
    kwargs = dict(num_sampled=5, bias=b, sampled=sampled, ignore_index=-1)
    each = loss(h, W, y, reduction="none", **kwargs)
    assert each.shape == (6,) and each[1] == 0 and each[4] == 0
    kept = loss(h[y >= 0], W, y[y >= 0], reduction="none", **kwargs)
    torch.testing.assert_close(each[y >= 0], kept)
    torch.testing.assert_close(loss(h, W, y, reduction="sum", **kwargs), kept.sum())
    torch.testing.assert_close(loss(h, W, y, **kwargs), kept.mean())
    grid = loss(h.reshape(2, 3, 4), W, y.reshape(2, 3), reduction="none", **kwargs)
    torch.testing.assert_close(grid, each.reshape(2, 3))


@pytest.mark.parametrize(
    "loss", [xt.sampled_softmax_cross_entropy, xt.nce_loss], ids=["sampled", "nce"]
)
def test_seeded_draws_repeat_and_keep_float32(loss):
    h, W, b, y = _data(dtype=torch.float32)
    a, c = (
        loss(h, W, y, num_sampled=7, generator=torch.Generator().manual_seed(s))
        for s in (4, 4)
    )
    assert a.dtype == torch.float32 and torch.equal(a, c)
    low = loss(h.half(), W.half(), y, num_sampled=7, sampler="uniform")
    assert low.dtype == torch.float16 and torch.isfinite(low)


@pytest.mark.parametrize(
    "loss", [xt.sampled_softmax_cross_entropy, xt.nce_loss], ids=["sampled", "nce"]
)
def test_compiled_and_meta_agree_with_eager(loss):
    h, W, b, y = _data(dtype=torch.float32)
    sampled = torch.tensor([0, 3, 3, 9, 20, int(y[0])])
    kwargs = dict(num_sampled=6, bias=b, sampled=sampled)
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(h, W, y, **kwargs), loss(h, W, y, **kwargs))
    drawn = torch.compile(
        lambda h, W, y: loss(h, W, y, num_sampled=6), fullgraph=True, backend="eager"
    )
    assert torch.isfinite(drawn(h, W, y))
    meta = loss(h.to("meta"), W.to("meta"), y.to("meta"), num_sampled=6)
    assert meta.device.type == "meta" and meta.shape == ()


def test_bad_arguments_name_themselves():
    h, W, b, y = _data()
    call = xt.sampled_softmax_cross_entropy
    flag = "must be True or False; got "
    cases = [
        (dict(num_sampled=0), "num_sampled must be a positive integer; got 0"),
        (dict(num_sampled=2.0), "num_sampled must be a positive integer; got 2.0"),
        (dict(num_sampled=True), "num_sampled must be a positive integer; got True"),
        (
            dict(num_sampled=3, sampler="zipf"),
            "sampler must be 'uniform', 'log_uniform' or a tensor of V non-negative "
            "numbers; got 'zipf'",
        ),
        (
            dict(num_sampled=3, sampler=torch.ones(29)),
            "sampler must hold (30,) non-negative numbers, one per class; "
            "got shape (29,) and dtype torch.float32",
        ),
        (
            dict(num_sampled=3, sampler=-torch.ones(30)),
            "sampler must hold finite non-negative numbers with a positive sum",
        ),
        (
            dict(num_sampled=3, sampled=torch.tensor([0, 1])),
            "sampled must hold (3,) integer class indices, one per draw; "
            "got shape (2,) and dtype torch.int64",
        ),
        (
            dict(num_sampled=2, sampled=torch.tensor([0.0, 1.0])),
            "sampled must hold (2,) integer class indices, one per draw; "
            "got shape (2,) and dtype torch.float32",
        ),
        (
            dict(num_sampled=2, sampled=torch.tensor([0, 30])),
            "sampled must hold class indices in [0, 30)",
        ),
        (dict(num_sampled=3, subtract_log_q=1), "subtract_log_q " + flag + "1"),
        (
            dict(num_sampled=3, remove_accidental_hits=None),
            "remove_accidental_hits " + flag + "None",
        ),
        (
            dict(num_sampled=3, reduction="avg"),
            "reduction must be one of 'none', 'mean' or 'sum'; got 'avg'",
        ),
        (
            dict(num_sampled=3, bias=torch.ones(29)),
            "bias must have shape (30,), one entry per row of weight; got shape (29,)",
        ),
        (
            dict(num_sampled=3, ignore_index=1.5),
            "ignore_index must be an integer; got 1.5",
        ),
    ]
    for loss in (call, xt.nce_loss):
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                loss(h, W, y, **kwargs)
        with pytest.raises(ValueError, match=r"^weight must have shape \(V, 4\)"):
            loss(h, W[:, :3], y, num_sampled=3)
        with pytest.raises(ValueError, match="target"):
            loss(h, W, y[:5], num_sampled=3)
        with pytest.raises(ValueError, match=r"outside \[0, 30\)"):
            loss(h, W, torch.full((6,), 30), num_sampled=3)
        with pytest.raises(ValueError, match="hidden"):
            loss(y, W, y, num_sampled=3)


# --------------------------------------------------------------------------------------
# Logit adjustment
# --------------------------------------------------------------------------------------


def _long_tail(shape=(8,), classes=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, classes, generator=gen, dtype=torch.float64)
    target = torch.randint(0, classes, shape, generator=gen)
    prior = torch.tensor([0.5, 0.25, 0.15, 0.07, 0.03], dtype=torch.float64)
    return logits, target, prior


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("tau", [1.0, 0.5, 0.0])
def test_logit_adjustment_is_cross_entropy_of_shifted_logits(
    reduction, label_smoothing, weighted, tau
):
    logits, target, prior = _long_tail(shape=(3, 4))
    target[0, 1] = -100
    weight = torch.tensor([0.5, 1.0, 2.0, 3.0, 1.5], dtype=torch.float64)
    options = dict(
        weight=weight if weighted else None,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    a = logits.clone().requires_grad_()
    got = xt.logit_adjusted_cross_entropy(
        a, target, class_prior=prior, tau=tau, **options
    )
    b = logits.clone().requires_grad_()
    shifted = (b + tau * torch.log(prior)).movedim(-1, 1)  # PyTorch's (N, C, d)
    want = F.cross_entropy(shifted, target, **options)
    torch.testing.assert_close(got, want)
    (got.sum()).backward()
    (want.sum()).backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_logit_adjustment_with_probabilities_counts_and_ignore_index():
    logits, target, prior = _long_tail()
    probs = torch.softmax(torch.randn(8, 5, dtype=torch.float64), -1)
    got = xt.logit_adjusted_cross_entropy(logits, probs, class_prior=prior)
    want = F.cross_entropy(logits + torch.log(prior), probs)
    torch.testing.assert_close(got, want)
    counts = (prior * 1000).round().long()  # counts: the same softmax, the same loss
    torch.testing.assert_close(
        xt.logit_adjusted_cross_entropy(logits, target, class_prior=counts),
        xt.logit_adjusted_cross_entropy(logits, target, class_prior=prior),
    )
    got = xt.logit_adjusted_cross_entropy(
        logits, target, class_prior=prior, ignore_index=2
    )
    torch.testing.assert_close(
        got, F.cross_entropy(logits + torch.log(prior), target, ignore_index=2)
    )


def test_two_class_logit_adjustment_is_a_shifted_binary_cross_entropy():
    """With two classes the adjusted loss is BCE of z1 - z0 + log(pi / (1 - pi))."""
    logits, _, _ = _long_tail(classes=2)
    logits = logits[:, :2]
    target = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    prior = torch.tensor([0.9, 0.1], dtype=torch.float64)
    got = xt.logit_adjusted_cross_entropy(logits, target, class_prior=prior)
    margin = logits[:, 1] - logits[:, 0] + math.log(0.1 / 0.9)
    want = F.binary_cross_entropy_with_logits(margin, target.double())
    torch.testing.assert_close(got, want)


def test_logit_adjustment_compiles_and_runs_on_meta():
    logits, target, prior = _long_tail()
    compiled = torch.compile(
        xt.logit_adjusted_cross_entropy, fullgraph=True, backend="aot_eager"
    )
    torch.testing.assert_close(
        compiled(logits, target, class_prior=prior, tau=0.5, label_smoothing=0.1),
        xt.logit_adjusted_cross_entropy(
            logits, target, class_prior=prior, tau=0.5, label_smoothing=0.1
        ),
    )
    meta = xt.logit_adjusted_cross_entropy(
        logits.to("meta"),
        target.to("meta"),
        class_prior=prior.to("meta"),
        reduction="none",
    )
    assert meta.device.type == "meta" and meta.shape == (8,)


def test_logit_adjustment_bad_arguments_name_themselves():
    logits, target, prior = _long_tail()
    call = xt.logit_adjusted_cross_entropy
    positive = "class_prior must hold finite positive numbers"
    for kwargs, message in [
        (
            dict(class_prior=prior[:4]),
            "class_prior must hold (5,) positive numbers, one per class; "
            "got shape (4,) and dtype torch.float64",
        ),
        (dict(class_prior=torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0])), positive),
        (dict(class_prior=-prior), positive),
        (dict(class_prior=prior, tau=math.nan), "tau must be a finite number; got nan"),
        (dict(class_prior=prior, tau=math.inf), "tau must be a finite number; got inf"),
        (dict(class_prior=prior, tau="1"), "tau must be a finite number; got '1'"),
        (dict(class_prior=prior, tau=True), "tau must be a finite number; got True"),
        (
            dict(class_prior=prior, weight=torch.ones(4)),
            "weight must have shape (5,), one entry per class; got shape (4,)",
        ),
        (
            dict(class_prior=prior, label_smoothing=2.0),
            "label_smoothing must be a number in [0, 1]; got 2.0",
        ),
        (
            dict(class_prior=prior, reduction="avg"),
            "reduction must be one of 'none', 'mean' or 'sum'; got 'avg'",
        ),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call(logits, target, **kwargs)
    with pytest.raises(ValueError, match="logits"):
        call(target, target, class_prior=prior)
    with pytest.raises(ValueError, match="target"):
        call(logits, torch.full((8,), 7), class_prior=prior)


# --------------------------------------------------------------------------------------
# Hierarchical (two-level) softmax
# --------------------------------------------------------------------------------------


def test_two_level_softmax_is_a_distribution_and_one_cluster_is_the_softmax():
    h, W, _, _ = _data(rows=5, classes=40)
    gen = torch.Generator().manual_seed(5)
    clusters = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    cluster_of = torch.randint(0, 6, (40,), generator=gen)
    log_q = ta.two_level_log_softmax(50 * h, clusters, W, cluster_of)  # huge scores
    assert torch.isfinite(log_q).all()
    torch.testing.assert_close(torch.logsumexp(log_q, -1), torch.zeros(5, **_f64()))
    # each cluster's classes get q(cluster) in total
    mass = torch.zeros(5, 6, **_f64()).index_add_(1, cluster_of, log_q.exp())
    torch.testing.assert_close(mass, torch.softmax(50 * h @ clusters.T, -1))
    one = ta.two_level_log_softmax(
        h, clusters[:1], W, torch.zeros(40, dtype=torch.long)
    )
    torch.testing.assert_close(one, torch.log_softmax(h @ W.T, -1))


def _f64():
    return dict(dtype=torch.float64)

"""Every number of chapter 11 ("Large output spaces"), recomputed.

The costs are arithmetic on the sizes the chapter names; the gradient gaps are measured
by averaging the gradient of ``xent.torch.sampled_softmax_cross_entropy`` over seeded
draws (``test_large_output.expected_gradient_gap``); the logit-adjustment example is
computed from its inputs and its optimum found by minimising both losses. The guard
``test_every_decimal_is_checked`` fails when the chapter prints a decimal number that no
test binds (see ``_chapter_numbers``).
"""

from __future__ import annotations

import math

from _chapter_numbers import binds, loose, printed, torch_or_skip

LARGE = "11-large-output-spaces.md"


def test_every_decimal_is_checked():
    assert loose(LARGE, __name__, {"torch": torch_or_skip}, set()) == []


@binds(LARGE, "1.7", "32.8")
def test_cost_of_the_full_softmax():
    rows, classes, d = 8192, 10**6, 1024
    flops = 2 * rows * classes * d
    mantissa, exponent = f"{flops:.1e}".split("e")
    printed(
        LARGE,
        f"$N = {rows}$ tokens, $C = 10^{round(math.log10(classes))}$ classes and "
        f"$d = {d}$, the forward product alone is about "
        f"${mantissa} \\times 10^{{{int(exponent)}}}$ operations and the logits, if "
        f"they are held, take ${rows * classes * 4 / 1e9:.1f}$ GB in float32",
    )
    printed(LARGE, f"removes the ${rows * classes * 4 / 1e9:.1f}$ GB but none")
    sampled = 8192
    printed(
        LARGE,
        f"With $S = {sampled}$ draws and $C = 10^6$ that is "
        f"${classes // sampled}$ times less",
    )


@binds(LARGE, "0.16", "0.026", "0.40", "0.30")
def test_gradient_gaps_with_and_without_the_correction(torch):
    from test_large_output import expected_gradient_gap

    draws, classes = 300, 20
    gaps = {
        (s, c): expected_gradient_gap(s, c, draws=draws, classes=classes)
        for s in (5, 50)
        for c in (True, False)
    }
    printed(LARGE, f"on a vocabulary of ${classes}$ classes under the log-uniform")
    printed(LARGE, f"over ${draws}$ seeded draws of the sample")
    printed(
        LARGE,
        f"With the correction the distance is ${gaps[5, True]:.2f}$ at $S = 5$ and "
        f"${gaps[50, True]:.3f}$ at $S = 50$; without it, it is "
        f"${gaps[5, False]:.2f}$ and ${gaps[50, False]:.2f}$",
    )
    assert gaps[50, True] < gaps[5, True] and gaps[50, False] > 0.2


def test_hierarchical_counts():
    classes, clusters = 10**6, 1000
    scores = clusters + classes // clusters
    printed(LARGE, f"$K = {clusters}$ clusters, ${scores}$ scores instead of $10^6$")
    printed(LARGE, f"a factor of ${classes // scores}$")
    assert clusters == math.isqrt(classes)  # the best K


@binds(LARGE, "19.93")
def test_tree_depth():
    depth = math.log2(10**6)
    printed(LARGE, f"$\\log_2 10^6 \\approx {depth:.2f}$, so a balanced tree has depth")
    printed(LARGE, f"depth ${math.ceil(depth)}$: ${math.ceil(depth)}$ sigmoids")


@binds(LARGE, "0.1", "0.3", "0.8473", "2.1972", "1.3499")
def test_logit_adjustment_example(torch):
    from xent import torch as xt

    prior, eta = 0.1, 0.3
    plain = math.log(eta / (1 - eta))
    shift = math.log((1 - prior) / prior)
    printed(
        LARGE,
        f"With $\\pi = {prior}$ and an input where $\\eta = {eta}$, the plain model's "
        f"logit is $\\operatorname{{logit}}({eta}) \\approx {plain:.4f}$ "
        "and it predicts class $0$; both the adjusted loss and "
        f"`pos_weight` $= {round(1 / prior - 1)}$ "
        f"learn ${plain:.4f} + {shift:.4f} = {plain + shift:.4f}$, with "
        f"$\\log {round(1 / prior - 1)} \\approx {shift:.4f}$, and predict class $1$",
    )
    assert plain < 0 < plain + shift
    # Both optima, found by minimising the expected loss of each over the logit.
    w = torch.tensor([1.0 - eta, eta], dtype=torch.float64)  # expected target weights
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z], max_iter=100, line_search_fn="strong_wolfe")

    def adjusted():
        opt.zero_grad()
        two = torch.stack([torch.zeros_like(z[0]), z[0]]).expand(2, 2)
        each = xt.logit_adjusted_cross_entropy(
            two, torch.tensor([0, 1]), class_prior=[1 - prior, prior], reduction="none"
        )
        loss = (w * each).sum()
        loss.backward()
        return loss

    opt.step(adjusted)
    assert abs(float(z.detach()) - (plain + shift)) < 1e-6
    # pos_weight = (1 - pi) / pi: one logit, a negative and a positive weighted by eta.
    z2 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z2], max_iter=100, line_search_fn="strong_wolfe")

    def weighted_one():
        opt.zero_grad()
        loss = xt.binary_cross_entropy_with_logits(
            z2.expand(2),
            w.new_tensor([0.0, 1.0]),
            weight=w,
            pos_weight=1 / prior - 1,
            reduction="sum",
        )
        loss.backward()
        return loss

    opt.step(weighted_one)
    assert abs(float(z2.detach()) - (plain + shift)) < 1e-6
    # Exercise: the post-hoc threshold on eta is the prior itself.
    printed(
        LARGE,
        f"In the text $\\pi = {prior}$, so the threshold moves from $\\frac12$ to "
        f"${prior}$, and the input",
    )
    printed(LARGE, f"with $\\eta = {eta}$ is predicted as class $1$")
    assert (plain - math.log(prior / (1 - prior)) > 0) == (eta > prior)

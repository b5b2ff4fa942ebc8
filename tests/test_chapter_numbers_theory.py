"""Every number printed in the theory chapters 1 to 4, recomputed with ``xent.numpy``.

Each check names a chapter, a snippet of its text that contains the number (so that a check
fails when the prose changes), the number as printed, and the value it stands for, computed
here. The printed number must be the computed value rounded to as many decimals as are
printed. ``test_every_decimal_is_checked`` then scans the chapters for decimal numbers and
requires each one to be checked here or listed as an input: a number the text chooses (a
probability in an example, a section of a cited book) rather than one it computes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from xent import numpy as xn

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
LOSSES = "01-losses-and-learning"
INFORMATION = "02-information"
LIKELIHOOD = "03-maximum-likelihood"
GRADIENT = "04-logits-softmax-gradient"


def text(chapter: str) -> str:
    """The chapter's Markdown with every run of whitespace collapsed to one space."""
    return " ".join((CHAPTERS / f"{chapter}.md").read_text(encoding="utf-8").split())


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def temperature(t: float) -> np.ndarray:
    return xn.softmax(a(2.0, 1.0, 0.0) / t)


LN = math.log
DYADIC = a(0.5, 0.25, 0.125, 0.125)
UNIFORM4 = a(0.25, 0.25, 0.25, 0.25)
FAIR, BIASED = a(0.5, 0.5), a(0.9, 0.1)
COIN = a(0.7, 0.3)  # 7 heads in 10 flips
MODEL_A = a(0.9, 0.8, 0.7, 0.4)  # chapter 1: probability each model gave the true label
MODEL_B = a(0.55, 0.55, 0.55, 0.05)
ROW_LOSSES = xn.cross_entropy(
    a(2, 0, -1, 0, 0, 0).reshape(2, 3), np.array([0, 2]), reduction="none"
)
GRAD = xn.cross_entropy_grad(a(2.0, 0.0, -1.0)[None], np.array([0]), reduction="sum")[0]
Q = xn.softmax(a(2.0, 0.0, -1.0))


def mse_grad(z: float) -> float:
    """d/dz (sigmoid(z) - 1)^2, the squared-error gradient for the label y = 1."""
    p = sigmoid(z)
    return 2 * (p - 1) * p * (1 - p)


# (chapter, snippet of the chapter's text, number as printed, value computed here)
CHECKS = [
    # Chapter 1: losses and learning
    (
        LOSSES,
        "| average log loss (nats) | 0.4004 | 1.1973 |",
        "0.4004",
        -np.log(MODEL_A).mean(),
    ),
    (
        LOSSES,
        "| average log loss (nats) | 0.4004 | 1.1973 |",
        "1.1973",
        -np.log(MODEL_B).mean(),
    ),
    (LOSSES, r"$-\log 0.05 \approx 3.00$", "3.00", -LN(0.05)),
    (LOSSES, r"$-\log 10^{-3} \approx 6.91$", "6.91", -LN(1e-3)),
    (LOSSES, "average log loss is $0.5776$ bits", "0.5776", -np.log2(MODEL_A).mean()),
    (LOSSES, "model B's is $1.7274$ bits", "1.7274", -np.log2(MODEL_B).mean()),
    (LOSSES, "at most about 58%", "58", 100 * -np.log2(MODEL_A).mean()),
    (
        LOSSES,
        "both are consistent with the true 25%",
        "25",
        100 * np.mean(MODEL_A <= 0.5),
    ),
    (LOSSES, "$1 - (0.49 + 0.09) = 0.42$", "0.49", 0.7**2),
    (LOSSES, "$1 - (0.49 + 0.09) = 0.42$", "0.09", 0.3**2),
    (LOSSES, "$1 - (0.49 + 0.09) = 0.42$", "0.42", 1 - COIN @ COIN),
    (LOSSES, "$1 - 0.7 = 0.30$", "0.30", 1 - COIN @ a(1.0, 0.0)),
    (LOSSES, r"$-\ln 0.9 - \ln 0.8 \approx 0.1054 + 0.2231", "0.1054", -LN(0.9)),
    (LOSSES, r"$-\ln 0.9 - \ln 0.8 \approx 0.1054 + 0.2231", "0.2231", -LN(0.8)),
    (LOSSES, "0.1054 + 0.2231 = 0.3285$", "0.3285", -LN(0.9) - LN(0.8)),
    (LOSSES, "$0.9 \\times 0.8 = 0.72$", "0.72", 0.9 * 0.8),
    (LOSSES, r"$-\ln 0.72 \approx 0.3285$", "0.3285", -LN(0.72)),
    (LOSSES, r"$-\ln \tfrac12 = \ln 2 \approx 0.6931 < 1$", "0.6931", -LN(0.5)),
    # Chapter 2: information
    (
        INFORMATION,
        r"$\log_2 6 \approx 2.585$ bits",
        "2.585",
        xn.entropy(np.full(6, 1 / 6), base=2),
    ),
    (
        INFORMATION,
        r"1\ \text{bit} = \ln 2 \approx 0.6931\ \text{nats}",
        "0.6931",
        LN(2),
    ),
    (INFORMATION, r"\frac{1}{\ln 2} \approx 1.4427\ \text{bits}", "1.4427", 1 / LN(2)),
    (INFORMATION, r"a loss of $\ln 2 \approx 0.6931$ per example", "0.6931", LN(2)),
    (
        INFORMATION,
        r"0.1 \log_2 0.1 \approx 0.4690$ bits",
        "0.4690",
        xn.entropy(BIASED, base=2),
    ),
    (INFORMATION, "($0.3251$ nats)", "0.3251", xn.entropy(BIASED)),
    (INFORMATION, r"\tfrac18 \cdot 3 = 1.75$ bits", "1.75", xn.entropy(DYADIC, base=2)),
    (
        INFORMATION,
        r"$H = \log_2 10 \approx 3.3219$ bits",
        "3.3219",
        xn.entropy(np.full(10, 0.1), base=2),
    ),
    (
        INFORMATION,
        r"or $\ln 10 \approx 2.3026$ nats",
        "2.3026",
        xn.entropy(np.full(10, 0.1)),
    ),
    (
        INFORMATION,
        r"$2^{1.75} \approx 3.3636$",
        "3.3636",
        2 ** xn.entropy(DYADIC, base=2),
    ),
    (
        INFORMATION,
        r"\tfrac18 \cdot 3 + \tfrac18 \cdot 3 = 1.75$ bits, exactly the entropy",
        "1.75",
        DYADIC @ a(1, 2, 3, 3),
    ),
    (
        INFORMATION,
        "so $H(p, q) = 2$ bits, a quarter",
        "2",
        xn.cross_entropy(np.log(UNIFORM4), DYADIC) / LN(2),
    ),
    (
        INFORMATION,
        r"$\mathrm{KL}(p \,\|\, q) = 2 - 1.75 = 0.25$ bits",
        "0.25",
        xn.kl_divergence(DYADIC, UNIFORM4, base=2),
    ),
    (
        INFORMATION,
        r"\ln \frac{0.5}{0.1} \approx 0.5108",
        "0.5108",
        xn.kl_divergence(FAIR, BIASED),
    ),
    (
        INFORMATION,
        r"\ln \frac{0.1}{0.5} \approx 0.3681",
        "0.3681",
        xn.kl_divergence(BIASED, FAIR),
    ),
    (
        INFORMATION,
        "(In bits: $0.7370$ and $0.5310$.)",
        "0.7370",
        xn.kl_divergence(FAIR, BIASED, base=2),
    ),
    (
        INFORMATION,
        "(In bits: $0.7370$ and $0.5310$.)",
        "0.5310",
        xn.kl_divergence(BIASED, FAIR, base=2),
    ),
    (INFORMATION, r"$H(p) = \ln 2 \approx 0.6931$ and", "0.6931", xn.entropy(FAIR)),
    (
        INFORMATION,
        r"0.5 \ln 0.1 \approx 1.2040$",
        "1.2040",
        xn.cross_entropy(np.log(BIASED), FAIR),
    ),
    (
        INFORMATION,
        "indeed $0.6931 + 0.5108 = 1.2039$ up to rounding",
        "1.2039",
        0.6931 + 0.5108,
    ),
    (
        INFORMATION,
        r"1 \cdot \ln 2 \approx 0.6931$",
        "0.6931",
        xn.kl_divergence(a(1.0, 0.0), FAIR),
    ),
    (INFORMATION, r"$\ln 10 \approx 2.3026$ nats.", "2.3026", LN(10)),
    (
        INFORMATION,
        r"$\ln 6 \approx 1.7918$ nats",
        "1.7918",
        xn.entropy(np.full(6, 1 / 6)),
    ),
    (INFORMATION, r"= 1 / \ln 2 \approx 1.4427$", "1.4427", np.log2(6) / LN(6)),
    (
        INFORMATION,
        r"\tfrac14 (1 + 2 + 3 + 3) = 2.25$ bits",
        "2.25",
        UNIFORM4 @ a(1, 2, 3, 3),
    ),
    (
        INFORMATION,
        r"$\mathrm{KL}(u \,\|\, p) = 2.25 - 2 = 0.25$ bits",
        "0.25",
        xn.kl_divergence(UNIFORM4, DYADIC, base=2),
    ),
    (
        INFORMATION,
        "it is the $0.5108$ nats of",
        "0.5108",
        xn.kl_divergence(FAIR, BIASED),
    ),
    (INFORMATION, r"$2.0 / \ln 2 \approx 2.885$ bits per token", "2.885", 2.0 / LN(2)),
    (INFORMATION, r"$e^{2.0} \approx 7.389$", "7.389", math.exp(2.0)),
    (INFORMATION, "(equivalently $2^{2.885}$)", "2.885", 2.0 / LN(2)),
    # Chapter 3: maximum likelihood (the lead's Bernoulli sections, then the rest)
    (LIKELIHOOD, r"$-\log 10^{-3} \approx 6.9$", "6.9", -LN(1e-3)),
    (LIKELIHOOD, r"$-\log 10^{-10} \approx 23.0$", "23.0", -LN(1e-10)),
    (
        LIKELIHOOD,
        r"for $y = 1/2$ it is $\log 2 \approx 0.6931$",
        "0.6931",
        xn.entropy(FAIR),
    ),
    (
        LIKELIHOOD,
        r"$2^{-1000} \approx 9.33 \times 10^{-302}$",
        "9.33",
        0.5**1000 / 1e-302,
    ),
    (
        LIKELIHOOD,
        r"about $2.2 \times 10^{-308}$",
        "2.2",
        np.finfo(np.float64).tiny / 1e-308,
    ),
    (
        LIKELIHOOD,
        r"of the same predictions is $\ln 2 \approx 0.6931$",
        "0.6931",
        xn.cross_entropy(np.zeros((1100, 2)), np.zeros(1100, dtype=int)),
    ),
    (
        LIKELIHOOD,
        r"log-likelihood is $H(\hat p) \approx 0.6109$ nats",
        "0.6109",
        xn.entropy(COIN),
    ),
    (
        LIKELIHOOD,
        r"The fair coin scores $\ln 2 \approx 0.6931$",
        "0.6931",
        -COIN @ np.log(FAIR),
    ),
    (
        LIKELIHOOD,
        "the difference, $0.0823$ nats",
        "0.0823",
        xn.kl_divergence(COIN, FAIR),
    ),
    (
        LIKELIHOOD,
        "flattens at, say, $0.61$ may already be optimal",
        "0.61",
        xn.entropy(COIN),
    ),
    (LIKELIHOOD, r"\log(1 + e^{-2} + e^{-3}) \approx 0.1698$", "0.1698", ROW_LOSSES[0]),
    (
        LIKELIHOOD,
        r"true class $2$ cost $\log 3 \approx 1.0986$",
        "1.0986",
        ROW_LOSSES[1],
    ),
    (
        LIKELIHOOD,
        "loss of the batch, is $0.6342$",
        "0.6342",
        xn.cross_entropy(a(2, 0, -1, 0, 0, 0).reshape(2, 3), np.array([0, 2])),
    ),
    (
        LIKELIHOOD,
        r"Forecasting $0.7$ has expected log loss $H(0.7) \approx 0.6109$",
        "0.6109",
        xn.cross_entropy(np.log(COIN), COIN),
    ),
    (
        LIKELIHOOD,
        r"the timid forecast $0.5$ costs $\ln 2 \approx 0.6931$",
        "0.6931",
        xn.cross_entropy(np.log(FAIR), COIN),
    ),
    (
        LIKELIHOOD,
        r"0.3 \ln 0.1 \approx 0.7645$",
        "0.7645",
        xn.cross_entropy(np.log(BIASED), COIN),
    ),
    (
        LIKELIHOOD,
        "target class, here $-0.9$, a negative",
        "-0.9",
        xn.nll_loss(BIASED[None], np.array([0])),
    ),
    (
        LIKELIHOOD,
        "about $0.6931$ for $b = 0.5$",
        "0.6931",
        xn.cross_entropy(np.log(FAIR), COIN),
    ),
    (
        LIKELIHOOD,
        "$0.6109$ for $b = 0.7$",
        "0.6109",
        xn.cross_entropy(np.log(COIN), COIN),
    ),
    (
        LIKELIHOOD,
        "and $0.7645$ for $b = 0.9$",
        "0.7645",
        xn.cross_entropy(np.log(BIASED), COIN),
    ),
    (
        LIKELIHOOD,
        "are $0.0823$ and $0.1537$ nats",
        "0.0823",
        xn.kl_divergence(COIN, FAIR),
    ),
    (
        LIKELIHOOD,
        "are $0.0823$ and $0.1537$ nats",
        "0.1537",
        xn.kl_divergence(COIN, BIASED),
    ),
    # Chapter 4: logits, softmax and the gradient
    (GRADIENT, r"about $1.8 \times 10^{308}$", "1.8", np.finfo(np.float64).max / 1e308),
    (
        GRADIENT,
        r"$1000 + \log 2 \approx 1000.6931$",
        "1000.6931",
        xn.logsumexp(a(1000.0, 1000.0)),
    ),
    (GRADIENT, r"$q \approx (0.8438, 0.1142, 0.0420)$", "0.8438", Q[0]),
    (GRADIENT, r"$q \approx (0.8438, 0.1142, 0.0420)$", "0.1142", Q[1]),
    (GRADIENT, r"$q \approx (0.8438, 0.1142, 0.0420)$", "0.0420", Q[2]),
    (GRADIENT, "gradient $(-0.1562, 0.1142, 0.0420)$", "-0.1562", GRAD[0]),
    (GRADIENT, "gradient $(-0.1562, 0.1142, 0.0420)$", "0.1142", GRAD[1]),
    (GRADIENT, "gradient $(-0.1562, 0.1142, 0.0420)$", "0.0420", GRAD[2]),
    (
        GRADIENT,
        "with true class $1$ gives $(0.5, -0.5)$",
        "0.5",
        xn.cross_entropy_grad(a(0, 0)[None], np.array([1]))[0, 0],
    ),
    (
        GRADIENT,
        "with true class $1$ gives $(0.5, -0.5)$",
        "-0.5",
        xn.cross_entropy_grad(a(0, 0)[None], np.array([1]))[0, 1],
    ),
    (
        GRADIENT,
        r"$\ln 10 \approx 2.3026$; for two",
        "2.3026",
        xn.cross_entropy(np.zeros((1, 10)), np.array([3])),
    ),
    (
        GRADIENT,
        r"for two, $\ln 2 \approx 0.6931$",
        "0.6931",
        xn.cross_entropy(np.zeros((1, 2)), np.array([1])),
    ),
    (
        GRADIENT,
        r"$\ln 1000 \approx 6.9078$",
        "6.9078",
        xn.cross_entropy(np.zeros((1, 1000)), np.array([7])),
    ),
    (
        GRADIENT,
        r"$\ln 50000 \approx 10.8198$",
        "10.8198",
        xn.logsumexp(np.zeros(50000)),
    ),
    (GRADIENT, "| $0$ | $0.5$ | $-0.5$ | $-0.25$ |", "0.5", sigmoid(0)),
    (GRADIENT, "| $0$ | $0.5$ | $-0.5$ | $-0.25$ |", "-0.5", sigmoid(0) - 1),
    (GRADIENT, "| $0$ | $0.5$ | $-0.5$ | $-0.25$ |", "-0.25", mse_grad(0)),
    (GRADIENT, "| $-2$ | $0.1192$ | $-0.8808$ | $-0.1850$ |", "0.1192", sigmoid(-2)),
    (
        GRADIENT,
        "| $-2$ | $0.1192$ | $-0.8808$ | $-0.1850$ |",
        "-0.8808",
        sigmoid(-2) - 1,
    ),
    (GRADIENT, "| $-2$ | $0.1192$ | $-0.8808$ | $-0.1850$ |", "-0.1850", mse_grad(-2)),
    (GRADIENT, "| $-5$ | $0.0067$ | $-0.9933$ | $-0.0132$ |", "0.0067", sigmoid(-5)),
    (
        GRADIENT,
        "| $-5$ | $0.0067$ | $-0.9933$ | $-0.0132$ |",
        "-0.9933",
        sigmoid(-5) - 1,
    ),
    (GRADIENT, "| $-5$ | $0.0067$ | $-0.9933$ | $-0.0132$ |", "-0.0132", mse_grad(-5)),
    (GRADIENT, r"| $-10$ | $4.54 \times 10^{-5}$ |", "4.54", sigmoid(-10) / 1e-5),
    (
        GRADIENT,
        r"| $-0.99995$ | $-9.08 \times 10^{-5}$ |",
        "-0.99995",
        sigmoid(-10) - 1,
    ),
    (
        GRADIENT,
        r"| $-0.99995$ | $-9.08 \times 10^{-5}$ |",
        "-9.08",
        mse_grad(-10) / 1e-5,
    ),
    (
        GRADIENT,
        "| $0.5$ | $(0.8668, 0.1173, 0.0159)$ | $0.4411$ |",
        "0.8668",
        temperature(0.5)[0],
    ),
    (
        GRADIENT,
        "| $0.5$ | $(0.8668, 0.1173, 0.0159)$ | $0.4411$ |",
        "0.1173",
        temperature(0.5)[1],
    ),
    (
        GRADIENT,
        "| $0.5$ | $(0.8668, 0.1173, 0.0159)$ | $0.4411$ |",
        "0.0159",
        temperature(0.5)[2],
    ),
    (
        GRADIENT,
        "| $0.5$ | $(0.8668, 0.1173, 0.0159)$ | $0.4411$ |",
        "0.4411",
        xn.entropy(temperature(0.5)),
    ),
    (
        GRADIENT,
        "| $1$ | $(0.6652, 0.2447, 0.0900)$ | $0.8324$ |",
        "0.6652",
        temperature(1)[0],
    ),
    (
        GRADIENT,
        "| $1$ | $(0.6652, 0.2447, 0.0900)$ | $0.8324$ |",
        "0.2447",
        temperature(1)[1],
    ),
    (
        GRADIENT,
        "| $1$ | $(0.6652, 0.2447, 0.0900)$ | $0.8324$ |",
        "0.0900",
        temperature(1)[2],
    ),
    (
        GRADIENT,
        "| $1$ | $(0.6652, 0.2447, 0.0900)$ | $0.8324$ |",
        "0.8324",
        xn.entropy(temperature(1)),
    ),
    (
        GRADIENT,
        "| $5$ | $(0.4018, 0.3289, 0.2693)$ | $1.0854$ |",
        "0.4018",
        temperature(5)[0],
    ),
    (
        GRADIENT,
        "| $5$ | $(0.4018, 0.3289, 0.2693)$ | $1.0854$ |",
        "0.3289",
        temperature(5)[1],
    ),
    (
        GRADIENT,
        "| $5$ | $(0.4018, 0.3289, 0.2693)$ | $1.0854$ |",
        "0.2693",
        temperature(5)[2],
    ),
    (
        GRADIENT,
        "| $5$ | $(0.4018, 0.3289, 0.2693)$ | $1.0854$ |",
        "1.0854",
        xn.entropy(temperature(5)),
    ),
    (
        GRADIENT,
        r"three classes is $\ln 3 \approx 1.0986$",
        "1.0986",
        xn.entropy(np.full(3, 1 / 3)),
    ),
    (GRADIENT, r"= 8/27 \approx 0.2963$", "0.2963", -mse_grad(-LN(2))),
    (GRADIENT, r"= -\ln 2 \approx -0.6931$", "-0.6931", LN(1 / 3 / (1 - 1 / 3))),
    (
        GRADIENT,
        r"costs $\ln 100 \approx 4.6052$",
        "4.6052",
        xn.cross_entropy(np.zeros((1, 100)), np.array([0])),
    ),
]

# Decimal numbers the chapters choose rather than compute: example probabilities and
# logits, the inputs of exercises, and section numbers of cited books.
INPUTS = {
    LOSSES: {
        "0.01",
        "0.05",
        "0.3",
        "0.4",
        "0.49",
        "0.5",
        "0.51",
        "0.55",
        "0.7",
        "0.8",
        "0.9",
        "0.99",
    },
    INFORMATION: {"0.1", "0.25", "0.5", "0.9", "1.6", "2.0"},
    LIKELIHOOD: {"0.1", "0.3", "0.5", "0.7", "0.9", "5.5", "6.2"},
    GRADIENT: {"0.5", "4.61", "25.3"},
}


@pytest.mark.parametrize(
    ("chapter", "snippet", "printed", "value"),
    CHECKS,
    ids=[
        f"{chapter[:2]}:{printed}:{i}"
        for i, (chapter, _, printed, _) in enumerate(CHECKS)
    ],
)
def test_printed_number_is_the_computed_value_rounded(chapter, snippet, printed, value):
    assert snippet in text(chapter), f"chapter {chapter} no longer says {snippet!r}"
    assert printed in snippet
    decimals = len(printed.partition(".")[2])
    assert np.isfinite(value)
    assert f"{float(value):.{decimals}f}" == printed, (
        f"{printed} printed, {float(value)!r} computed"
    )


@pytest.mark.parametrize("chapter", [LOSSES, INFORMATION, LIKELIHOOD, GRADIENT])
def test_every_decimal_is_checked(chapter):
    printed = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\d.])", text(chapter)))
    checked = {number.lstrip("-") for name, _, number, _ in CHECKS if name == chapter}
    assert printed - checked - INPUTS[chapter] == set()
    assert INPUTS[chapter] <= printed, (
        "an input is listed that the chapter no longer prints"
    )


def test_chapter_1_claims():
    # Model B's one mistake costs more than all four of model A's terms together.
    assert -np.log(0.05) > -np.log(MODEL_A).sum()
    # Both models have accuracy 3/4; the error rate is below the log loss in bits.
    for model in (MODEL_A, MODEL_B):
        assert np.mean(model > 0.5) == 0.75
    assert np.mean(MODEL_A <= 0.5) <= -np.log2(MODEL_A).mean()
    # Exercise 1.1: the empirical 0-1 risk of "predict 1 when x > b" on each interval.
    x, y = a(-1.0, 0.5, 2.0), np.array([0, 0, 1])
    for b, risk in [
        (-3.0, 2 / 3),
        (0.0, 1 / 3),
        (1.0, 0.0),
        (2.0, 1 / 3),
        (5.0, 1 / 3),
    ]:
        assert np.mean((x > b).astype(int) != y) == pytest.approx(risk)


def test_chapter_2_claims():
    # The code 0, 10, 110, 111 meets Kraft's inequality with equality.
    assert sum(2.0 ** -np.array([1, 2, 3, 3])) == 1.0
    # KL is infinite when q has a zero where p does not.
    assert xn.kl_divergence(FAIR, a(1.0, 0.0)) == np.inf
    # H(p, q) = H(p) + KL(p || q) and Gibbs' inequality, on the chapter's examples.
    for p, q in [
        (FAIR, BIASED),
        (BIASED, FAIR),
        (DYADIC, UNIFORM4),
        (UNIFORM4, DYADIC),
    ]:
        cross = xn.cross_entropy(np.log(q), p)
        assert cross == pytest.approx(xn.entropy(p) + xn.kl_divergence(p, q))
        assert cross >= xn.entropy(p)


def test_chapter_3_claims():
    # The product of 1100 probabilities 1/2 underflows to zero in float64; 1000 do not.
    assert np.prod(np.full(1100, 0.5)) == 0.0
    assert np.prod(np.full(1000, 0.5)) > 0.0
    # In float32 it happens after 150.
    assert np.prod(np.full(150, 0.5, dtype=np.float32)) == 0.0
    assert np.prod(np.full(149, 0.5, dtype=np.float32)) > 0.0
    # Two-class softmax is the sigmoid of the logit difference, and the losses agree.
    z = a(0.3, -1.2)
    assert xn.softmax(z)[1] == pytest.approx(sigmoid(z[1] - z[0]))
    for label in (0, 1):
        assert xn.cross_entropy(z[None], np.array([label])) == pytest.approx(
            xn.binary_cross_entropy_with_logits(a(z[1] - z[0]), a(label))
        )
    # cross_entropy(z, t) equals nll_loss(log_softmax(z), t).
    logits = a(2, 0, -1, 0, 0, 0).reshape(2, 3)
    target = np.array([0, 2])
    assert xn.cross_entropy(logits, target) == xn.nll_loss(
        xn.log_softmax(logits), target
    )


def test_chapter_4_claims():
    # exp(1000) overflows, log(softmax) of a very negative logit is -inf, log_softmax is not.
    with np.errstate(over="ignore", divide="ignore"):
        assert np.exp(1000.0) == np.inf
        assert np.log(xn.softmax(a(0.0, -1000.0)))[1] == -np.inf
    assert xn.log_softmax(a(0.0, -1000.0))[1] == -1000.0
    # The gradient sums to zero; the Hessian diag(q) - q q^T has v^T H v = Var_q(v) >= 0.
    assert GRAD.sum() == pytest.approx(0.0, abs=1e-15)
    hessian = np.diag(Q) - np.outer(Q, Q)
    v = a(0.7, -1.3, 2.0)
    assert v @ hessian @ v == pytest.approx(Q @ v**2 - (Q @ v) ** 2)
    assert np.linalg.eigvalsh(hessian).min() > -1e-15
    assert hessian @ np.ones(3) == pytest.approx(np.zeros(3), abs=1e-15)
    # Shift invariance.
    assert xn.softmax(a(2.0, 0.0, -1.0) + 5.0) == pytest.approx(Q)
    # At z = -10 the squared error pushes more than ten thousand times less.
    assert (1 - sigmoid(-10)) / -mse_grad(-10) > 1e4
    # The entropy of softmax(z / T) rises with T.
    entropies = [xn.entropy(temperature(t)) for t in (0.25, 0.5, 1, 2, 5, 50)]
    assert np.all(np.diff(entropies) > 0)
    # The gradient with temperature is (softmax(z / T) - t) / T.
    t = 2.5
    assert xn.cross_entropy_grad(a(2.0, 1.0, 0.0)[None] / t, np.array([1]))[0] / t == (
        pytest.approx((temperature(t) - a(0, 1, 0)) / t)
    )

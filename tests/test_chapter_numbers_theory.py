"""Every decimal number in the notation page, the landing page and chapters 1 to 4.

Each check names a page, a snippet of its text, and the values of the decimal numbers
the snippet prints, in order: values computed here with ``xent.numpy`` (results), or the
constants of this file from which those results are computed (chosen inputs, such as
the probability a model gives the truth). A printed number must be its value rounded to
as many decimals as are printed, sign included where a minus sign touches the digits.

``test_every_decimal_is_bound`` then requires every occurrence of a decimal number on
a page to lie inside a checked snippet. So changing a result, or an input without its
results, or writing a new number anywhere on these pages, fails a test. Whole numbers
that the pages compute are checked by ``WHOLE`` below and by the claims tests at the
end.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from xent import information as xi
from xent import likelihood as xl
from xent import numpy as xn

ROOT = Path(__file__).resolve().parent.parent
NOTATION, INTRO = "notation", "intro"
LOSSES = "chapters/01-losses-and-learning"
INFORMATION = "chapters/02-information"
LIKELIHOOD = "chapters/03-maximum-likelihood"
GRADIENT = "chapters/04-logits-softmax-gradient"
PAGES = [NOTATION, INTRO, LOSSES, INFORMATION, LIKELIHOOD, GRADIENT]

# A decimal number, with its sign when a minus sign touches the digits ("$-0.5$", but
# not the subtraction in "2 - 1.75"); not part of a longer dotted number ("6.2.2").
DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\d.])")


def text(page: str) -> str:
    """The page's Markdown with every run of whitespace collapsed to one space."""
    return " ".join((ROOT / f"{page}.md").read_text(encoding="utf-8").split())


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def mse_grad(z: float) -> float:
    """d/dz (sigmoid(z) - 1)^2, the squared-error gradient for the label y = 1."""
    q = sigmoid(z)
    return 2 * (q - 1) * q * (1 - q)


def coin(heads: float) -> np.ndarray:
    """The distribution (tails, heads) of a coin, as the notation page writes it."""
    return a(1 - heads, heads)


def bisect(f, lo: float, hi: float) -> float:
    """The root of ``f`` between ``lo`` and ``hi``, where ``f`` changes sign."""
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (f(lo) > 0) == (f(mid) > 0) else (lo, mid)
    return (lo + hi) / 2


LN = math.log
LN2 = LN(2)

# Chapter 1
MODEL_A = a(0.9, 0.8, 0.7, 0.4)  # probability each model gave the true label
MODEL_B = a(0.55, 0.55, 0.55, 0.05)
RIGHT = a(0.51, 0.99)  # the truth's probability: right, and 0-1 loss 0
WRONG = a(0.49, 0.01)  # wrong, and 0-1 loss 1
NOT_A_RATE = 0.4  # "a cross-entropy of 0.4 does not mean 40%"
STEP_X, STEP_Y = a(-1.0, 0.5, 2.0), np.array([0, 0, 1])  # exercise 1.1
COIN = a(0.7, 0.3)  # p = (0.7, 0.3) of the linear-score exercise; 7 heads in 10 flips

# Chapter 2
FAIR, BIASED = a(0.5, 0.5), a(0.9, 0.1)
DYADIC, LENGTHS = a(0.5, 0.25, 0.125, 0.125), a(1, 2, 3, 3)
UNIFORM4, UNIFORM6, UNIFORM10 = np.full(4, 1 / 4), np.full(6, 1 / 6), np.full(10, 0.1)
LOADED = a(0.1, 0.1, 0.1, 0.1, 0.1, 0.5)  # a die that shows six half the time
LOADED_LENGTHS = a(4, 4, 4, 4, 4, 1)
NEAR_A, NEAR_B, FAR_B = 0.5, 0.6, 0.9  # the coins of the Bernoulli-KL exercise
LM_LOSS, VOCAB, TEXT = 2.0, 50_000, 1000  # nats per token, tokens, tokens


def kl_approx(a_: float, b_: float) -> float:
    """The second-order approximation (b - a)^2 / (2 a (1 - a)) of KL(a || b)."""
    return (b_ - a_) ** 2 / (2 * a_ * (1 - a_))


def kl_coin(a_: float, b_: float) -> float:
    return float(xn.kl_divergence(coin(a_), coin(b_)))


# Chapter 3
ROW_LOGITS, ROW_TARGET = a(2, 0, -1, 0, 0, 0).reshape(2, 3), np.array([0, 2])
ROW_LOSSES = xn.cross_entropy(ROW_LOGITS, ROW_TARGET, reduction="none")
COUNTS = a(7, 3)  # heads and tails in 10 flips: the maximum-likelihood exercise
HEADS = 0.7  # the coin of the propriety section and its exercise
TIMID, BOLD = 0.5, 0.9
TOLERANCE = 0.05  # nats of excess the forecaster may lose


def excess(b: float) -> float:
    """Expected log loss of forecast b above the honest forecast, on the coin HEADS."""
    return kl_coin(HEADS, b)


HEDGE = bisect(lambda b: excess(b) - TOLERANCE, 0.01, HEADS)
OVERSTATE = bisect(lambda b: excess(b) - TOLERANCE, HEADS, 0.999)

# Chapter 4
GRAD = xn.cross_entropy_grad(a(2.0, 0.0, -1.0)[None], np.array([0]), reduction="sum")[0]
Q = xn.softmax(a(2.0, 0.0, -1.0))
HALF = xn.cross_entropy_grad(a(0, 0)[None], np.array([1]))[0]
TEMPERATURES = (0.5, 1, 5)
BAD_FIRST_LOSS = 25.3
STUDENT, TEACHER, DISTILL_T = a(2, 1, 0), a(0, 1, 2), 10


def temperature(t: float) -> np.ndarray:
    return xn.softmax(a(2.0, 1.0, 0.0) / t)


def distill_grad(z, v, t):
    """The gradient of H(softmax(v / t), softmax(z / t)) with respect to z."""
    return (
        xn.cross_entropy_grad(z[None] / t, xn.softmax(v / t)[None], reduction="sum")[0]
        / t
    )


DISTILL = distill_grad(STUDENT, TEACHER, DISTILL_T)
DISTILL_APPROX = (STUDENT - TEACHER) / (len(STUDENT) * DISTILL_T**2)


def ce(q: np.ndarray, p: np.ndarray) -> float:
    """H(p, q) in nats, through the loss: cross_entropy(log q, p)."""
    return float(xn.cross_entropy(np.log(q), p))


# (page, snippet of its text, values of the decimal numbers it prints, in order)
CHECKS = [
    # The notation page
    (
        NOTATION,
        "$H(0.7)$ is the entropy of the distribution $(0.3, 0.7)$",
        (HEADS, *coin(HEADS)),
    ),
    # Chapter 1: losses and learning
    (
        LOSSES,
        "probability $0.51$ and one that gives it $0.99$ both score $0$; a model that "
        "gives the true class $0.49$ and one that gives it $0.01$ both score $1$",
        (*RIGHT, *WRONG),
    ),
    *[
        (LOSSES, f"| {i + 1} | {MODEL_A[i]} | {MODEL_B[i]} |", (MODEL_A[i], MODEL_B[i]))
        for i in range(4)
    ],
    (
        LOSSES,
        "| average log loss (nats) | 0.4004 | 1.1973 |",
        (-np.log(MODEL_A).mean(), -np.log(MODEL_B).mean()),
    ),
    (
        LOSSES,
        r"Its loss of $-\log 0.05 \approx 3.00$",
        (MODEL_B[3], -LN(MODEL_B[3])),
    ),
    (LOSSES, r"$-\log 10^{-3} \approx 6.91$", (-LN(1e-3),)),
    (
        LOSSES,
        "Model A's average log loss is $0.5776$ bits and model B's is $1.7274$ bits",
        (-np.log2(MODEL_A).mean(), -np.log2(MODEL_B).mean()),
    ),
    (LOSSES, "A cross-entropy of $0.4$ does not mean 40% of anything", (NOT_A_RATE,)),
    (LOSSES, "The training set is $x = (-1, 0.5, 2)$", (STEP_X[1],)),
    (
        LOSSES,
        "example 2 ($x = 0.5$, $y = 0$) when $0.5 > b$",
        (STEP_X[1], STEP_X[1]),
    ),
    (LOSSES, r"$-1 \le b < 0.5$: example 2 is wrong", (STEP_X[1],)),
    (LOSSES, r"$0.5 \le b < 2$: nothing is wrong", (STEP_X[1],)),
    (LOSSES, r"at $b \in \{-1, 0.5, 2\}$ it jumps", (STEP_X[1],)),
    (LOSSES, "$p = (0.7, 0.3)$", tuple(COIN)),
    (
        LOSSES,
        "$1 - (0.49 + 0.09) = 0.42$",
        (COIN[0] ** 2, COIN[1] ** 2, 1 - COIN @ COIN),
    ),
    (LOSSES, "scores $1 - 0.7 = 0.30$", (COIN[0], 1 - COIN @ a(1.0, 0.0))),
    (
        LOSSES,
        r"the tie costs $-\ln \tfrac12 = \ln 2 \approx 0.6931 < 1$ nats",
        (-LN(0.5),),
    ),
    (
        LOSSES,
        r"Separately, $-\ln 0.9 - \ln 0.8 \approx 0.1054 + 0.2231 = 0.3285$",
        (
            MODEL_A[0],
            MODEL_A[1],
            -LN(MODEL_A[0]),
            -LN(MODEL_A[1]),
            -LN(MODEL_A[0]) - LN(MODEL_A[1]),
        ),
    ),
    (
        LOSSES,
        r"probability $0.9 \times 0.8 = 0.72$, and $-\ln 0.72 \approx 0.3285$",
        (
            MODEL_A[0],
            MODEL_A[1],
            MODEL_A[0] * MODEL_A[1],
            MODEL_A[0] * MODEL_A[1],
            -LN(MODEL_A[0] * MODEL_A[1]),
        ),
    ),
    # Chapter 2: information
    (
        INFORMATION,
        r"one face of a fair die has $\log_2 6 \approx 2.585$ bits",
        (xn.entropy(UNIFORM6, base=2),),
    ),
    (
        INFORMATION,
        r"1\ \text{bit} = \ln 2 \approx 0.6931\ \text{nats}, \qquad 1\ \text{nat} = "
        r"\frac{1}{\ln 2} \approx 1.4427\ \text{bits}",
        (LN2, 1 / LN2),
    ),
    (
        INFORMATION,
        r"a loss of $\ln 2 \approx 0.6931$ per example",
        (xn.binary_cross_entropy_with_logits(a(0.0), a(1.0)),),
    ),
    (
        INFORMATION,
        r"heads with probability $0.9$: $H = -0.9 \log_2 0.9 - 0.1 \log_2 0.1 "
        r"\approx 0.4690$ bits ($0.3251$ nats)",
        (
            BIASED[0],
            -BIASED[0],
            BIASED[0],
            BIASED[1],
            BIASED[1],
            xn.entropy(BIASED, base=2),
            xn.entropy(BIASED),
        ),
    ),
    (INFORMATION, r"\tfrac18 \cdot 3 = 1.75$ bits.", (xn.entropy(DYADIC, base=2),)),
    (
        INFORMATION,
        r"\tfrac18 \cdot 3 = 1.75$ bits, exactly the entropy",
        (DYADIC @ LENGTHS,),
    ),
    (
        INFORMATION,
        r"$H = \log_2 10 \approx 3.3219$ bits, or $\ln 10 \approx 2.3026$ nats",
        (xn.entropy(UNIFORM10, base=2), xn.entropy(UNIFORM10)),
    ),
    (
        INFORMATION,
        r"has perplexity $2^{1.75} \approx 3.3636$",
        (xn.entropy(DYADIC, base=2), 2 ** xn.entropy(DYADIC, base=2)),
    ),
    (
        INFORMATION,
        "more than the $1.75$ bits of the code built",
        (xn.entropy(DYADIC, base=2),),
    ),
    (
        INFORMATION,
        r"$D_{\mathrm{KL}}(p \,\|\, q) = 2 - 1.75 = 0.25$ bits",
        (xn.entropy(DYADIC, base=2), xn.kl_divergence(DYADIC, UNIFORM4, base=2)),
    ),
    (
        INFORMATION,
        r"Ten classes carry at most $\ln 10 \approx 2.3026$ nats.",
        (xn.kl_divergence(a(1, *[0] * 9), UNIFORM10),),
    ),
    (
        INFORMATION,
        "Take a fair coin $p = (0.5, 0.5)$ and a biased one $q = (0.9, 0.1)$",
        (*FAIR, *BIASED),
    ),
    (
        INFORMATION,
        r"&= 0.5 \ln \frac{0.5}{0.9} + 0.5 \ln \frac{0.5}{0.1} \approx 0.5108",
        (*[FAIR[0], FAIR[0], BIASED[0], FAIR[1], FAIR[1], BIASED[1]],)
        + (xn.kl_divergence(FAIR, BIASED),),
    ),
    (
        INFORMATION,
        r"&= 0.9 \ln \frac{0.9}{0.5} + 0.1 \ln \frac{0.1}{0.5} \approx 0.3681",
        (BIASED[0], BIASED[0], FAIR[0], BIASED[1], BIASED[1], FAIR[1])
        + (xn.kl_divergence(BIASED, FAIR),),
    ),
    (
        INFORMATION,
        "(In bits: $0.7370$ and $0.5310$.)",
        (
            xn.kl_divergence(FAIR, BIASED, base=2),
            xn.kl_divergence(BIASED, FAIR, base=2),
        ),
    ),
    (
        INFORMATION,
        r"and $q$ gives tails only $0.1$: the term $0.5 \ln 5$ dominates",
        (BIASED[1], FAIR[1]),
    ),
    (
        INFORMATION,
        r"$H(p) = \ln 2 \approx 0.6931$ and $H(p, q) = -0.5 \ln 0.9 - 0.5 \ln 0.1 "
        r"\approx 1.2040$, and indeed $0.6931 + 0.5108 = 1.2039$ up to rounding",
        (
            xn.entropy(FAIR),
            -FAIR[0],
            BIASED[0],
            FAIR[1],
            BIASED[1],
            ce(BIASED, FAIR),
            round(float(xn.entropy(FAIR)), 4),
            round(float(xn.kl_divergence(FAIR, BIASED)), 4),
            round(float(xn.entropy(FAIR)), 4)
            + round(float(xn.kl_divergence(FAIR, BIASED)), 4),
        ),
    ),
    (INFORMATION, "With $p = (0.5, 0.5)$ and $q = (1, 0)$", tuple(FAIR)),
    (
        INFORMATION,
        r"$D_{\mathrm{KL}}(q \,\|\, p) = 1 \cdot \ln 2 \approx 0.6931$",
        (xn.kl_divergence(a(1.0, 0.0), FAIR),),
    ),
    (
        INFORMATION,
        r"\tfrac12 (1 + \log_2 10) \approx 2.1610$ bits, or $1.4979$ nats; the ratio "
        r"of the two is $1 / \ln 2 \approx 1.4427$",
        (
            xn.entropy(LOADED, base=2),
            xn.entropy(LOADED),
            xn.entropy(LOADED, base=2) / xn.entropy(LOADED),
        ),
    ),
    (
        INFORMATION,
        r"The perplexity is $2^{2.1610} = \sqrt{20} \approx 4.4721$",
        (xn.entropy(LOADED, base=2), np.exp(xn.entropy(LOADED))),
    ),
    (
        INFORMATION,
        r"fair die spends $\log_2 6 \approx 2.585$ bits on every roll",
        (np.log2(6),),
    ),
    (
        INFORMATION,
        r"\log_2 6 - H(p) \approx 0.4240$ bits per roll",
        (xn.kl_divergence(LOADED, UNIFORM6, base=2),),
    ),
    (
        INFORMATION,
        r"\tfrac12 \cdot 1 + \tfrac12 \cdot 4 = 2.5$ bits",
        (LOADED @ LOADED_LENGTHS,),
    ),
    (
        INFORMATION,
        "comes as close to $2.1610$ bits per roll",
        (xn.entropy(LOADED, base=2),),
    ),
    (
        INFORMATION,
        r"Compare with $D_{\mathrm{KL}}(p \,\|\, u) = 0.25$ bits",
        (xn.kl_divergence(DYADIC, UNIFORM4, base=2),),
    ),
    (
        INFORMATION,
        r"\tfrac14 (1 + 2 + 3 + 3) = 2.25$ bits",
        (UNIFORM4 @ LENGTHS,),
    ),
    (
        INFORMATION,
        r"$D_{\mathrm{KL}}(u \,\|\, p) = 2.25 - 2 = 0.25$ bits",
        (UNIFORM4 @ LENGTHS, xn.kl_divergence(UNIFORM4, DYADIC, base=2)),
    ),
    (
        INFORMATION,
        "Check the approximation for $a = 0.5$ and $b = 0.6$, in both directions, and "
        "for $a = 0.5$ and $b = 0.9$",
        (NEAR_A, NEAR_B, NEAR_A, FAR_B),
    ),
    (
        INFORMATION,
        "For $a = 0.5$, $b = 0.6$ the exact value is $0.0204$ nats and the "
        "approximation $0.0200$",
        (NEAR_A, NEAR_B, kl_coin(NEAR_A, NEAR_B), kl_approx(NEAR_A, NEAR_B)),
    ),
    (
        INFORMATION,
        r"is $0.0201$, with approximation $(a - b)^2 / (2b(1 - b)) \approx 0.0208$",
        (kl_coin(NEAR_B, NEAR_A), kl_approx(NEAR_B, NEAR_A)),
    ),
    (
        INFORMATION,
        "for $b = 0.9$ the approximation gives $0.3200$, while the two exact "
        "divergences are $0.5108$ and $0.3681$",
        (
            FAR_B,
            kl_approx(NEAR_A, FAR_B),
            kl_coin(NEAR_A, FAR_B),
            kl_coin(FAR_B, NEAR_A),
        ),
    ),
    (INFORMATION, "reports a loss of $2.0$ nats per token", (LM_LOSS,)),
    (
        INFORMATION,
        r"$2.0 / \ln 2 \approx 2.885$ bits per token",
        (LM_LOSS, LM_LOSS / LN2),
    ),
    (
        INFORMATION,
        r"The perplexity is $e^{2.0} \approx 7.389$ (equivalently $2^{2.885}$)",
        (LM_LOSS, math.exp(LM_LOSS), LM_LOSS / LN2),
    ),
    (
        INFORMATION,
        r"\log_2 50\,000 \approx 15.6096$ bits per token",
        (xn.entropy(np.full(VOCAB, 1 / VOCAB), base=2),),
    ),
    (
        INFORMATION,
        r"by a factor of about $5.41$, the ratio $\log_2 50\,000 / 2.885$",
        (math.log2(VOCAB) / (LM_LOSS / LN2), LM_LOSS / LN2),
    ),
    (INFORMATION, "and {cite:t}`bishop2006` (section 1.6)", (1.6,)),  # a citation
    # Chapter 3: maximum likelihood
    (
        LIKELIHOOD,
        r"$-\log 10^{-3} \approx 6.9$ and $-\log 10^{-10} \approx 23.0$",
        (-LN(1e-3), -LN(1e-10)),
    ),
    (LIKELIHOOD, r"$2^{-1000} \approx 9.33 \times 10^{-302}$", (0.5**1000 / 1e-302,)),
    (
        LIKELIHOOD,
        r"about $2.2 \times 10^{-308}$",
        (np.finfo(np.float64).tiny / 1e-308,),
    ),
    (
        LIKELIHOOD,
        r"log-likelihood of the same predictions is $\ln 2 \approx 0.6931$",
        (xn.cross_entropy(np.zeros((1100, 2)), np.zeros(1100, dtype=int)),),
    ),
    (LIKELIHOOD, r"so $\hat p = (0.7, 0.3)$ for (heads, tails)", tuple(COIN)),
    (
        LIKELIHOOD,
        r"The maximum likelihood coin has heads probability $0.7$, and its average "
        r"negative log-likelihood is $H(\hat p) \approx 0.6109$ nats. The fair coin "
        r"scores $\ln 2 \approx 0.6931$; the difference, $0.0823$ nats",
        (COIN[0], xn.entropy(COIN), ce(FAIR, COIN), xn.kl_divergence(COIN, FAIR)),
    ),
    (
        LIKELIHOOD,
        "flattens at, say, $0.61$ may already be optimal",
        (xn.entropy(COIN),),
    ),
    (LIKELIHOOD, r"\log(1 + e^{-2} + e^{-3}) \approx 0.1698$", (ROW_LOSSES[0],)),
    (
        LIKELIHOOD,
        r'cost $\log 3 \approx 1.0986$; their mean, the `reduction="mean"` loss of the '
        r"batch, is $0.6342$",
        (ROW_LOSSES[1], xn.cross_entropy(ROW_LOGITS, ROW_TARGET)),
    ),
    (
        LIKELIHOOD,
        r"true heads probability is $0.7$. Forecasting $0.7$ has expected log loss "
        r"$H(0.7) \approx 0.6109$ nats; the timid forecast $0.5$ costs "
        r"$\ln 2 \approx 0.6931$, and the overconfident $0.9$ costs "
        r"$-0.7 \ln 0.9 - 0.3 \ln 0.1 \approx 0.7645$",
        (
            HEADS,
            HEADS,
            HEADS,
            xn.entropy(coin(HEADS)),
            TIMID,
            ce(coin(TIMID), coin(HEADS)),
            BOLD,
            -HEADS,
            BOLD,
            1 - HEADS,
            1 - BOLD,
            ce(coin(BOLD), coin(HEADS)),
        ),
    ),
    (LIKELIHOOD, r"the rare outcome, $-\ln 0.1$, is large", (1 - BOLD,)),
    (
        LIKELIHOOD,
        r"for $y = 1/2$ it is $\log 2 \approx 0.6931$",
        (xn.binary_cross_entropy(a(0.5), a(0.5)),),
    ),
    (LIKELIHOOD, "the prediction $q = (0.9, 0.1)$ with target class $0$", (*BIASED,)),
    (
        LIKELIHOOD,
        "here $-0.9$, a negative",
        (xn.nll_loss(BIASED[None], np.array([0])),),
    ),
    (
        LIKELIHOOD,
        "A coin lands heads with probability $0.7$. A forecaster who announces $b$ "
        "instead of $0.7$ loses",
        (HEADS, HEADS),
    ),
    (
        LIKELIHOOD,
        "lose at most $0.05$ nats per flip more? Is that range symmetric about $0.7$",
        (TOLERANCE, HEADS),
    ),
    (
        LIKELIHOOD,
        r"f(b) = D_{\mathrm{KL}}\big((0.3, 0.7) \,\|\, (1 - b, b)\big) = 0.7 \ln "
        r"\frac{0.7}{b} + 0.3 \ln \frac{0.3}{1 - b}$. It is $0$ at $b = 0.7$, falls "
        r"before and rises after ($f'(b) = (b - 0.7) / (b(1 - b))$)",
        (1 - HEADS, HEADS, HEADS, HEADS, 1 - HEADS, 1 - HEADS, HEADS, HEADS),
    ),
    (
        LIKELIHOOD,
        r"so the forecasts within $0.05$ nats form an interval whose ends solve "
        r"$f(b) = 0.05$. Bisection gives $b \approx 0.5454$ and $b \approx 0.8287$. A "
        r"forecaster may hedge $0.1546$ below the truth but overstate only $0.1287$",
        (TOLERANCE, TOLERANCE, HEDGE, OVERSTATE, HEADS - HEDGE, OVERSTATE - HEADS),
    ),
    (LIKELIHOOD, "stays moderate for $b$ near $0.7$", (HEADS,)),
    (
        LIKELIHOOD,
        r"give $\kappa = 10$ and $q = (0.7, 0.3)$, whose log-likelihood "
        r"$7 \ln 0.7 + 3 \ln 0.3 \approx -6.1086$ is $N$ times minus the entropy "
        r"$H(\hat p) \approx 0.6109$",
        (*(COUNTS / COUNTS.sum()), *(COUNTS / COUNTS.sum()), COUNTS @ np.log(COIN))
        + (xn.entropy(COUNTS / COUNTS.sum()),),
    ),
    (LIKELIHOOD, "(sections 5.5 and 6.2)", (5.5, 6.2)),  # a citation
    # Chapter 4: logits, softmax and the gradient
    (
        GRADIENT,
        r"gives $q \approx (0.8438, 0.1142, 0.0420)$ and gradient "
        r"$(-0.1562, 0.1142, 0.0420)$",
        (*Q, *GRAD),
    ),
    (GRADIENT, "with true class $1$ gives $(0.5, -0.5)$", (*HALF,)),
    (
        GRADIENT,
        r"For $10$ classes that is $\ln 10 \approx 2.3026$; for two, "
        r"$\ln 2 \approx 0.6931$; for $1000$ classes, $\ln 1000 \approx 6.9078$; for a "
        r"language model with a vocabulary of $50000$ tokens, "
        r"$\ln 50000 \approx 10.8198$",
        (
            xn.cross_entropy(np.zeros((1, 10)), np.array([3])),
            xn.cross_entropy(np.zeros((1, 2)), np.array([1])),
            xn.cross_entropy(np.zeros((1, 1000)), np.array([7])),
            xn.logsumexp(np.zeros(50000)),
        ),
    ),
    (
        GRADIENT,
        r"with a majority class of $90\%$ in two classes it is $0.3251$ nats",
        (xn.entropy(BIASED),),
    ),
    (
        GRADIENT,
        "| $0$ | $0.5$ | $-0.5$ | $-0.25$ |",
        (sigmoid(0), sigmoid(0) - 1, -0.25),
    ),
    *[
        (
            GRADIENT,
            f"| ${z}$ | ${sigmoid(z):.4f}$ | ${sigmoid(z) - 1:.4f}$ | "
            f"${mse_grad(z):.4f}$ |",
            (sigmoid(z), sigmoid(z) - 1, mse_grad(z)),
        )
        for z in (-2, -5)
    ],
    (
        GRADIENT,
        r"| $-10$ | $4.54 \times 10^{-5}$ | $-0.99995$ | $-9.08 \times 10^{-5}$ |",
        (sigmoid(-10) / 1e-5, sigmoid(-10) - 1, mse_grad(-10) / 1e-5),
    ),
    *[
        (
            GRADIENT,
            f"| ${t}$ | $({', '.join(f'{q:.4f}' for q in temperature(t))})$ | "
            f"${xn.entropy(temperature(t)):.4f}$ |",
            (
                *([t] if t != int(t) else []),
                *temperature(t),
                xn.entropy(temperature(t)),
            ),
        )
        for t in TEMPERATURES
    ],
    (
        GRADIENT,
        r"three classes is $\ln 3 \approx 1.0986$",
        (xn.entropy(np.full(3, 1 / 3)),),
    ),
    (GRADIENT, r"= 8/27 \approx 0.2963$", (-mse_grad(-LN(2)),)),
    (GRADIENT, r"= -\ln 2 \approx -0.6931$", (LN(1 / 3 / (1 - 1 / 3)),)),
    (
        GRADIENT,
        "prints a first-batch loss of $4.61$. Another prints $25.3$.",
        (xn.cross_entropy(np.zeros((1, 100)), np.array([0])), BAD_FIRST_LOSS),
    ),
    (
        GRADIENT,
        r"costs $\ln 100 \approx 4.6052$",
        (xn.cross_entropy(np.zeros((1, 100)), np.array([0])),),
    ),
    (
        GRADIENT,
        "A loss of $25.3$ means the probabilities given to the true classes have a "
        "geometric mean of $e^{-25.3}$",
        (BAD_FIRST_LOSS, -BAD_FIRST_LOSS),
    ),
    (
        GRADIENT,
        "the exact gradient is $(0.006656, 0, -0.006656)$ and the approximation "
        r"$(2, 0, -2)/300 \approx (0.006667, 0, -0.006667)$",
        (DISTILL[0], DISTILL[2], DISTILL_APPROX[0], DISTILL_APPROX[2]),
    ),
]

# Chapter 2, joint and conditional entropy, mutual information: the feature X (rows)
# and the class Y (columns) of the running example, and the exercise's two-kind inputs.
JOINT = a(0.30, 0.10, 0.10, 0.05, 0.15, 0.30).reshape(2, 3)
P_X, P_Y = JOINT.sum(axis=1), JOINT.sum(axis=0)
GIVEN_X = JOINT / P_X[:, None]  # P(y | x), one row per x
GIVEN_Y = (JOINT / P_Y).T  # P(x | y), one row per y
H_X, H_Y, H_XY = xn.entropy(P_X), xn.entropy(P_Y), xi.joint_entropy(JOINT)
H_Y_X, H_X_Y = xi.conditional_entropy(JOINT), xi.conditional_entropy(JOINT.T)
MI = xi.mutual_information(JOINT)
SKEW = a(0.9, 0.0, 0.05, 0.05).reshape(2, 2)  # exercise: one value raises H(Y)
SKEW_Y = SKEW.sum(axis=0)
SKEW_H_Y_X = xi.conditional_entropy(SKEW)

CHECKS += [
    *[
        (
            INFORMATION,
            f"| $x = {x}$ | " + " | ".join(f"${v:.2f}$" for v in JOINT[x]) + " | "
            f"${P_X[x]:.2f}$ |",
            (*JOINT[x], P_X[x]),
        )
        for x in range(2)
    ],
    (
        INFORMATION,
        "| $P(y)$ | " + " | ".join(f"${v:.2f}$" for v in P_Y) + " | |",
        tuple(P_Y),
    ),
    (
        INFORMATION,
        r"$H(X) = \ln 2 \approx 0.6931$, $H(Y) \approx 1.0805$ and "
        r"$H(X, Y) \approx 1.6173$",
        (H_X, H_Y, H_XY),
    ),
    (
        INFORMATION,
        r"$P(\cdot \mid 0) = (0.6, 0.2, 0.2)$, with entropy $0.9503$, and "
        r"$P(\cdot \mid 1) = (0.1, 0.3, 0.6)$, with entropy $0.8979$; their average "
        r"with the weights $P(x) = 0.50$ is $H(Y \mid X) \approx 0.9241$, and indeed "
        r"$H(X) + H(Y \mid X) \approx 0.6931 + 0.9241$ is $H(X, Y) \approx 1.6173$",
        (
            *GIVEN_X[0],
            xn.entropy(GIVEN_X[0]),
            *GIVEN_X[1],
            xn.entropy(GIVEN_X[1]),
            P_X[0],
            P_X @ xn.entropy(GIVEN_X),
            H_X,
            H_Y_X,
            H_X + H_Y_X,
        ),
    ),
    (
        INFORMATION,
        r"Conditioning the other way, $H(X \mid Y) \approx 0.5367$",
        (H_X_Y,),
    ),
    (
        INFORMATION,
        r"$I(X; Y) = H(Y) - H(Y \mid X) \approx 1.0805 - 0.9241 = 0.1564$ nats "
        r"($0.2257$ bits), and the other expressions of this section give the same "
        r"number: $H(X) - H(X \mid Y) \approx 0.6931 - 0.5367$.",
        (H_Y, H_Y_X, H_Y - H_Y_X, xi.mutual_information(JOINT, base=2), H_X, H_X_Y),
    ),
    (
        INFORMATION,
        "lower the expected loss from $1.0805$ to $0.9241$ nats per example",
        (H_Y, H_Y_X),
    ),
    (
        INFORMATION,
        r"$P(\cdot \mid 1) = (0.4, 0.6)$ and $P(\cdot \mid 2) = (0.25, 0.75)$, with "
        r"entropies $0.4101$, $0.6730$ and $0.5623$ nats. Weighted with "
        r"$P(y) = (0.35, 0.25, 0.40)$ they give $H(X \mid Y) \approx 0.5367$. Then "
        r"$H(Y) + H(X \mid Y) \approx 1.0805 + 0.5367$, which is "
        r"$H(X, Y) \approx 1.6173$ up to rounding, and "
        r"$I(X; Y) = \ln 2 - H(X \mid Y) \approx 0.1564$ nats",
        (
            *GIVEN_Y[1],
            *GIVEN_Y[2],
            *xn.entropy(GIVEN_Y),
            *P_Y,
            P_Y @ xn.entropy(GIVEN_Y),
            H_Y,
            H_X_Y,
            H_Y + H_X_Y,
            MI,
        ),
    ),
    (
        INFORMATION,
        r"$P(0, 0) = 0.9$, $P(0, 1) = 0$ and $P(1, 0) = P(1, 1) = 0.05$, so "
        r"$P_Y = (0.95, 0.05)$ and $H(Y) \approx 0.1985$ nats",
        (SKEW[0, 0], SKEW[1, 0], *SKEW_Y, xn.entropy(SKEW_Y)),
    ),
    (
        INFORMATION,
        r"$H(Y \mid X = 1) = \ln 2 \approx 0.6931$",
        (xn.entropy(SKEW[1] / SKEW[1].sum()),),
    ),
    (
        INFORMATION,
        r"$H(Y \mid X) = 0.9 \cdot 0 + 0.1 \ln 2 \approx 0.0693 \le H(Y)$, and "
        r"$I(X; Y) \approx 0.1985 - 0.0693 = 0.1292$ nats",
        (
            SKEW[0].sum(),
            SKEW[1].sum(),
            SKEW_H_Y_X,
            xn.entropy(SKEW_Y),
            SKEW_H_Y_X,
            xi.mutual_information(SKEW),
        ),
    ),
]

# Chapter 3, maximum likelihood as a recipe and MAP: the five real targets, the
# corrected and the badly mistyped last target, the base rate and the decay on the bias.
TARGETS = a(1.0, 1.2, 1.4, 1.6, 9.0)
FIXED, TYPO = 1.8, 90.0
RESIDUAL_VAR = np.mean((TARGETS - TARGETS.mean()) ** 2)  # the Gaussian's best variance
RESIDUAL_ABS = np.mean(np.abs(TARGETS - np.median(TARGETS)))  # the Laplace's best scale
GAUSS_NLL = xl.gaussian_nll(TARGETS.mean(), TARGETS, RESIDUAL_VAR, full=True)
LAPLACE_NLL = xl.laplace_nll(np.median(TARGETS), TARGETS, RESIDUAL_ABS)
PRIOR_VAR = 1.0  # tau^2 of the shrinkage exercise
SHRINK_DECAY = 1 / (2 * len(TARGETS) * PRIOR_VAR)
BASE_RATE, BIAS_DECAY = 0.9, 0.01


def bias_loss(b: float, decay: float) -> float:
    """Mean log loss of q = sigmoid(b) on labels with BASE_RATE positives, plus
    decay."""
    return ce(coin(sigmoid(b)), coin(BASE_RATE)) + decay * b**2


def bias_grad(b: float, decay: float) -> float:
    return sigmoid(b) - BASE_RATE + 2 * decay * b


BIAS_ML = bisect(lambda b: bias_grad(b, 0.0), -10, 10)
BIAS_MAP = bisect(lambda b: bias_grad(b, BIAS_DECAY), -10, 10)


def with_last(value: float) -> np.ndarray:
    return np.append(TARGETS[:-1], value)


CHECKS += [
    (LIKELIHOOD, "$y = (1.0, 1.2, 1.4, 1.6, 9.0)$", tuple(TARGETS)),
    (
        LIKELIHOOD,
        "location is the mean $2.84$, pulled away from four of the five points by the "
        "fifth, and the Laplace's is the median $1.4$",
        (TARGETS.mean(), np.median(TARGETS)),
    ),
    (
        LIKELIHOOD,
        r"a fraction $0.9$ are positive. Maximum likelihood gives "
        r"$b = \log 9 \approx 2.1972$ and $q = 0.9$; with the penalty "
        r"$\lambda b^2$ and $\lambda = 0.01$, the minimum, where "
        r"$\sigma(b) - 0.9 + 2 \lambda b = 0$, is at "
        r"$b \approx 1.8418$, and the model predicts $0.8632$ for a base rate of $0.9$",
        (
            BASE_RATE,
            BIAS_ML,
            sigmoid(BIAS_ML),
            BIAS_DECAY,
            BASE_RATE,
            BIAS_MAP,
            sigmoid(BIAS_MAP),
            BASE_RATE,
        ),
    ),
    (LIKELIHOOD, "it should have been $1.8$", (FIXED,)),
    (LIKELIHOOD, "when it is mistyped as $90.0$ instead", (TYPO,)),
    (
        LIKELIHOOD,
        "both are $1.4$. The mistyped $9.0$ moves the mean to $2.84$ and the $90.0$ to "
        "$19.04$, while the median stays at $1.4$ in all three cases",
        (
            with_last(FIXED).mean(),
            TARGETS[-1],
            TARGETS.mean(),
            TYPO,
            with_last(TYPO).mean(),
            np.median(with_last(TYPO)),
        ),
    ),
    (
        LIKELIHOOD,
        r"Here the Gaussian has $\mu = 2.84$ and $\sigma^2 \approx 9.5264$, and a mean "
        r"negative log-likelihood of $2.5460$ nats; the Laplace has $\mu = 1.4$ and "
        r"$\beta = 1.68$, and $2.2119$ nats. The Laplace is better by $0.3340$ nats",
        (
            TARGETS.mean(),
            RESIDUAL_VAR,
            GAUSS_NLL,
            np.median(TARGETS),
            RESIDUAL_ABS,
            LAPLACE_NLL,
            GAUSS_NLL - LAPLACE_NLL,
        ),
    ),
    (
        LIKELIHOOD,
        r"$\lambda = 0.1$ and $\mu = 2.84 / 1.2 \approx 2.3667$",
        (
            SHRINK_DECAY,
            TARGETS.mean(),
            1 + 2 * SHRINK_DECAY,
            TARGETS.mean() / (1 + 2 * SHRINK_DECAY),
        ),
    ),
]

# Whole numbers the pages compute or choose (page, snippet, the number, its value).
WHOLE = [
    (LOSSES, "at most about 58%", "58", 100 * -np.log2(MODEL_A).mean()),
    (LOSSES, "consistent with the true 25%", "25", 100 * np.mean(MODEL_A <= 0.5)),
    (LOSSES, "does not mean 40% of anything", "40", 100 * NOT_A_RATE),
    (INFORMATION, "about $2885$ bits with the model", "2885", TEXT * LM_LOSS / LN2),
    (
        INFORMATION,
        r"$15\,610$ bits without it",
        r"15\,610",
        TEXT * math.log2(VOCAB),
    ),
    (INFORMATION, "a text of $1000$ tokens", "1000", TEXT),
    (INFORMATION, r"a vocabulary of $50\,000$ tokens", r"50\,000", VOCAB),
    (LIKELIHOOD, "$10$ flips of a coin give $7$ heads", "7", 10 * COIN[0]),
    (LIKELIHOOD, "the counts $(7, 3)$ of heads and tails", "7", COUNTS[0]),
    (LIKELIHOOD, "give $\\kappa = 10$ and", "10", COUNTS.sum()),
    (
        LIKELIHOOD,
        "logits larger than 64 KiB go to a blocked pass",
        "64",
        xn._PLAIN_MAX_BYTES / 1024,
    ),
    (GRADIENT, r"a majority class of $90\%$", "90", 100 * BIASED[0]),
    (
        GRADIENT,
        f"Check it for $z = ({', '.join(str(int(v)) for v in STUDENT)})$, "
        f"$v = ({', '.join(str(int(v)) for v in TEACHER)})$ and $T = {DISTILL_T}$.",
        str(DISTILL_T),
        DISTILL_T,
    ),
    (
        GRADIENT,
        f"$(2, 0, -2)/{len(STUDENT) * DISTILL_T**2}",
        str(len(STUDENT) * DISTILL_T**2),
        len(STUDENT) * DISTILL_T**2,
    ),
]


def _printed(snippet: str) -> list[str]:
    return DECIMAL.findall(snippet)


@pytest.mark.parametrize(
    ("page", "snippet", "values"),
    CHECKS,
    ids=[f"{page.split('/')[-1][:2]}:{i}" for i, (page, _, _) in enumerate(CHECKS)],
)
def test_printed_numbers_are_the_computed_values_rounded(page, snippet, values):
    assert snippet in text(page), f"{page} no longer says {snippet!r}"
    printed = _printed(snippet)
    assert len(printed) == len(values), (printed, values)
    for number, value in zip(printed, values, strict=True):
        decimals = len(number.partition(".")[2])
        assert np.isfinite(value)
        assert f"{float(value):.{decimals}f}" == number, (
            f"{number} printed, {float(value)!r} computed, in {snippet!r}"
        )


@pytest.mark.parametrize(("page", "snippet", "number", "value"), WHOLE)
def test_printed_whole_numbers_are_the_computed_values(page, snippet, number, value):
    assert snippet in text(page), f"{page} no longer says {snippet!r}"
    assert number in snippet
    assert float(number.replace(r"\,", "")) == round(float(value))


@pytest.mark.parametrize("page", PAGES)
def test_every_decimal_is_bound(page):
    """Every occurrence of a decimal number lies in a snippet that a check binds."""
    page_text = text(page)
    covered: set[int] = set()
    for name, snippet, _ in CHECKS:
        if name != page:
            continue
        start = page_text.find(snippet)
        while start >= 0:
            for match in DECIMAL.finditer(snippet):
                covered.add(start + match.start())
            start = page_text.find(snippet, start + 1)
    loose = [
        f"{match.group()!r} in ...{page_text[max(0, match.start() - 40) : match.end()]}"
        for match in DECIMAL.finditer(page_text)
        if match.start() not in covered
    ]
    assert not loose, "unbound numbers:\n" + "\n".join(loose)


def test_chapter_1_claims():
    # Model B's one mistake costs more than all four of model A's terms together.
    assert -np.log(MODEL_B[3]) > -np.log(MODEL_A).sum()
    # Both models have accuracy 3/4; the error rate is below the log loss in bits.
    for model in (MODEL_A, MODEL_B):
        assert np.mean(model > 0.5) == 0.75
    assert np.mean(MODEL_A <= 0.5) <= -np.log2(MODEL_A).mean()
    assert -np.log2(MODEL_B).mean() > 1  # "the second says nothing"
    # The 0-1 loss scores the confident and the hesitant right answers alike.
    assert np.all(RIGHT > 0.5) and np.all(WRONG < 0.5)
    # Exercise 1.1: the empirical 0-1 risk of "predict 1 when x > b" on each interval.
    for b, risk in [
        (-3.0, 2 / 3),
        (0.0, 1 / 3),
        (1.0, 0.0),
        (2.0, 1 / 3),
        (5.0, 1 / 3),
    ]:
        assert np.mean((STEP_X > b).astype(int) != STEP_Y) == pytest.approx(risk)
    # The linear score is improper, and fails the additivity of requirement 5.
    assert 1 - COIN @ a(1.0, 0.0) < 1 - COIN @ COIN
    pair = MODEL_A[0] * MODEL_A[1]
    assert 1 - pair != pytest.approx((1 - MODEL_A[0]) + (1 - MODEL_A[1]))
    # The error-rate bound holds in base b exactly when log_b 2 >= 1, i.e. b <= 2.
    for base, holds in [(1.5, True), (2.0, True), (4.0, False), (math.e, False)]:
        assert (math.log(2, base) >= 1 - 1e-15) == holds
    assert math.log(2, 4) == 0.5


def test_chapter_2_claims():
    # The code 0, 10, 110, 111 meets Kraft's inequality with equality; the die's, too.
    assert sum(2.0**-LENGTHS) == 1.0
    assert sum(2.0**-LOADED_LENGTHS) <= 1.0
    # The loaded die's perplexity is sqrt(20); a fair die's is 6.
    assert 2 ** xn.entropy(LOADED, base=2) == pytest.approx(math.sqrt(20))
    assert np.exp(xn.entropy(UNIFORM6)) == pytest.approx(6)
    # KL is infinite when q has a zero where p does not.
    assert xn.kl_divergence(FAIR, a(1.0, 0.0)) == np.inf
    # H(p, q) = H(p) + KL(p || q) and Gibbs' inequality, on the chapter's examples.
    for p, q in [
        (FAIR, BIASED),
        (BIASED, FAIR),
        (DYADIC, UNIFORM4),
        (UNIFORM4, DYADIC),
        (LOADED, UNIFORM6),
    ]:
        cross = ce(q, p)
        assert cross == pytest.approx(xn.entropy(p) + xn.kl_divergence(p, q))
        assert cross >= xn.entropy(p)
    # Nearby coins: the two directions differ at third order, far ones do not agree.
    near = abs(kl_coin(NEAR_A, NEAR_B) - kl_coin(NEAR_B, NEAR_A))
    assert near < 0.02 * kl_coin(NEAR_A, NEAR_B)
    assert kl_coin(NEAR_A, FAR_B) > 1.3 * kl_coin(FAR_B, NEAR_A)
    # About seven tokens; the model's text is shorter by the printed factor.
    assert round(math.exp(LM_LOSS)) == 7
    assert (TEXT * math.log2(VOCAB)) / (TEXT * LM_LOSS / LN2) == pytest.approx(
        math.log2(VOCAB) / (LM_LOSS / LN2)
    )


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
    # cross_entropy(z, y) equals nll_loss(log_softmax(z), y).
    assert xn.cross_entropy(ROW_LOGITS, ROW_TARGET) == xn.nll_loss(
        xn.log_softmax(ROW_LOGITS), ROW_TARGET
    )
    # Overstating is punished more than hedging by as much.
    assert ce(coin(BOLD), coin(HEADS)) > ce(coin(TIMID), coin(HEADS))
    assert HEADS - TIMID == pytest.approx(BOLD - HEADS)
    # The forecasts within TOLERANCE: the ends solve f(b) = TOLERANCE, f'(b) as printed,
    # and the interval is wider on the timid side.
    assert excess(HEDGE) == pytest.approx(TOLERANCE, abs=1e-12)
    assert excess(OVERSTATE) == pytest.approx(TOLERANCE, abs=1e-12)
    for b in (0.3, 0.6, 0.8):
        h = 1e-6
        slope = (excess(b + h) - excess(b - h)) / (2 * h)
        assert slope == pytest.approx((b - HEADS) / (b * (1 - b)), rel=1e-6)
    assert HEADS - HEDGE > OVERSTATE - HEADS


def test_chapter_4_claims():
    # exp(1000) overflows; log(softmax) of a very negative logit is -inf, log_softmax
    # is not.
    with np.errstate(over="ignore", divide="ignore"):
        assert np.exp(1000.0) == np.inf
        assert np.log(xn.softmax(a(0.0, -1000.0)))[1] == -np.inf
    assert xn.log_softmax(a(0.0, -1000.0))[1] == -1000.0
    # The gradient sums to zero; the Hessian diag(q) - q q^T has v^T H v = Var_q(v),
    # never negative.
    assert GRAD.sum() == pytest.approx(0.0, abs=1e-15)
    hessian = np.diag(Q) - np.outer(Q, Q)
    v = a(0.7, -1.3, 2.0)
    assert v @ hessian @ v == pytest.approx(Q @ v**2 - (Q @ v) ** 2)
    assert np.linalg.eigvalsh(hessian).min() > -1e-15
    assert hessian @ np.ones(3) == pytest.approx(np.zeros(3), abs=1e-15)
    # Shift invariance.
    assert xn.softmax(a(2.0, 0.0, -1.0) + 5.0) == pytest.approx(Q)
    # Weight decay on W alone: with one class only, b alone drives the loss to 0, and
    # adding the same number to every bias changes no loss.
    X = np.random.default_rng(0).normal(size=(8, 3))
    only_class_1 = np.ones(8, dtype=int)
    losses = [
        xn.cross_entropy(X @ np.zeros((3, 2)) + a(0.0, b), only_class_1)
        for b in (1.0, 5.0, 25.0)
    ]
    assert losses[0] > losses[1] > losses[2] > 0
    shifted = xn.cross_entropy(X @ np.ones((3, 2)) + a(0.3, 1.0) + 7.0, only_class_1)
    assert shifted == pytest.approx(
        xn.cross_entropy(X @ np.ones((3, 2)) + a(0.3, 1.0), only_class_1)
    )
    # With a majority of 90%, the label entropy is less than half of log 2.
    assert xn.entropy(BIASED) < LN2 / 2
    # The squared error's steepest push, 8/27, is less than a third of
    # cross-entropy's 1.
    assert 3 * -mse_grad(-LN(2)) < 1
    # At z = -10 the squared error pushes more than ten thousand times less.
    assert (1 - sigmoid(-10)) / -mse_grad(-10) > 1e4
    # The entropy of softmax(z / T) rises with T.
    entropies = [xn.entropy(temperature(t)) for t in (0.25, 0.5, 1, 2, 5, 50)]
    assert np.all(np.diff(entropies) > 0)
    # The gradient with temperature is (softmax(z / T) - p) / T.
    t = 2.5
    assert xn.cross_entropy_grad(a(2.0, 1.0, 0.0)[None] / t, np.array([1]))[0] / t == (
        pytest.approx((temperature(t) - a(0, 1, 0)) / t)
    )
    # The distillation gradient is within 1% of (z - v) / (C T^2), and the student and
    # teacher logits average to 1, not 0 (a common shift changes no softmax).
    np.testing.assert_allclose(DISTILL, DISTILL_APPROX, rtol=1e-2, atol=1e-12)
    assert STUDENT.mean() == TEACHER.mean() == 1
    shifted = distill_grad(STUDENT - 1, TEACHER - 1, DISTILL_T)
    np.testing.assert_allclose(shifted, DISTILL, atol=1e-15)
    # The finite-difference check of the exercise prints about 1e-10.
    rng = np.random.default_rng(0)
    logits, target, h = rng.normal(size=(4, 5)), rng.integers(0, 5, size=4), 1e-6
    numeric = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[index] = h
        numeric[index] = (
            xn.cross_entropy(logits + step, target)
            - xn.cross_entropy(logits - step, target)
        ) / (2 * h)
    error = np.max(np.abs(numeric - xn.cross_entropy_grad(logits, target)))
    assert 1e-11 < error < 1e-9
    # A loss of 25.3 at the first batch is far above log 100.
    assert BAD_FIRST_LOSS > 5 * LN(100)


def test_chapter_2_information_claims():
    # The chain rule both ways and the four expressions of the mutual information.
    assert H_XY == pytest.approx(H_X + H_Y_X) == pytest.approx(H_Y + H_X_Y)
    assert MI == pytest.approx(H_X - H_X_Y) == pytest.approx(H_X + H_Y - H_XY)
    assert MI == pytest.approx(P_X @ xn.kl_divergence(GIVEN_X, np.tile(P_Y, (2, 1))))
    assert H_X == LN2 and H_X_Y != pytest.approx(H_Y_X)
    # P(. | 0) of the exercise is (6/7, 1/7); the two-kind inputs: the value x = 1
    # raises the entropy of the label above H(Y), the average does not.
    assert GIVEN_Y[0] == pytest.approx(a(6 / 7, 1 / 7))
    assert xn.entropy(SKEW[1] / SKEW[1].sum()) > xn.entropy(SKEW_Y) > SKEW_H_Y_X
    assert SKEW[0, 1] == 0 and SKEW[0].sum() == 0.9
    # The lower bound: any model of the feature loses at least H(Y | X).
    for q in (GIVEN_X[::-1], np.tile(P_Y, (2, 1)), np.full((2, 3), 1 / 3)):
        loss = -np.sum(JOINT * np.log(q))
        assert H_Y - loss <= MI + 1e-12


def test_chapter_3_recipe_claims():
    # The mean and the median minimise the squared and the absolute error; the best
    # variance and scale are the mean squared and absolute residuals, and the optimal
    # NLLs have the closed forms of the exercise.
    grid = np.linspace(0, 10, 2001)
    squared = [xl.gaussian_nll(m, TARGETS, 1.0) for m in grid]
    absolute = [xl.laplace_nll(m, TARGETS, 1.0) for m in grid]
    assert grid[np.argmin(squared)] == pytest.approx(TARGETS.mean(), abs=5e-3)
    assert grid[np.argmin(absolute)] == pytest.approx(np.median(TARGETS), abs=5e-3)
    for v in (0.9 * RESIDUAL_VAR, 1.1 * RESIDUAL_VAR):
        assert xl.gaussian_nll(TARGETS.mean(), TARGETS, v, full=True) > GAUSS_NLL
    for b in (0.9 * RESIDUAL_ABS, 1.1 * RESIDUAL_ABS):
        assert xl.laplace_nll(np.median(TARGETS), TARGETS, b) > LAPLACE_NLL
    assert GAUSS_NLL == pytest.approx(0.5 * LN(2 * math.pi * math.e * RESIDUAL_VAR))
    assert LAPLACE_NLL == pytest.approx(1 + LN(2 * RESIDUAL_ABS))
    # Corrected, the targets are evenly spaced and mean = median; the median stays.
    assert np.allclose(np.diff(with_last(FIXED)), 0.2)
    assert with_last(FIXED).mean() == pytest.approx(np.median(with_last(FIXED)))
    assert (
        np.median(with_last(FIXED)) == np.median(TARGETS) == np.median(with_last(TYPO))
    )
    # MAP shrinkage: the factor N tau^2 / (N tau^2 + 1) and the minimiser of the
    # penalised mean loss, with sigma^2 = 1.
    factor = len(TARGETS) * PRIOR_VAR / (len(TARGETS) * PRIOR_VAR + 1)
    shrunk = TARGETS.mean() * factor
    assert shrunk == pytest.approx(TARGETS.mean() / (1 + 2 * SHRINK_DECAY))
    penalised = [
        xl.gaussian_nll(m, TARGETS, 1.0) + SHRINK_DECAY * m**2 for m in grid[:1001]
    ]
    assert grid[np.argmin(penalised)] == pytest.approx(shrunk, abs=5e-3)
    # The bias: ML is log 9, the decayed bias minimises the penalised loss, and its
    # prediction falls below the base rate.
    assert BIAS_ML == pytest.approx(LN(9))
    for b in (BIAS_MAP - 0.01, BIAS_MAP + 0.01):
        assert bias_loss(b, BIAS_DECAY) > bias_loss(BIAS_MAP, BIAS_DECAY)
    assert sigmoid(BIAS_MAP) < BASE_RATE
    # Differential entropy of Gaussian noise is negative below 1 / sqrt(2 pi e), about
    # a quarter of a unit.
    edge = 1 / math.sqrt(2 * math.pi * math.e)
    assert round(4 * edge) == 1
    for sd, sign in ((0.9 * edge, -1), (1.1 * edge, 1)):
        assert np.sign(0.5 * LN(2 * math.pi * math.e * sd**2)) == sign
    # The heteroscedastic derivative in omega = log sigma^2 vanishes at the squared
    # residual, by finite differences of xent.likelihood.
    mu, y, h = 0.3, 1.1, 1e-6
    for omega in (-1.0, 0.5):

        def loss(w):
            return xl.gaussian_nll(mu, y, math.exp(w))

        slope = (loss(omega + h) - loss(omega - h)) / (2 * h)
        assert slope == pytest.approx(0.5 * (1 - math.exp(-omega) * (y - mu) ** 2))
    best = bisect(lambda w: 1 - math.exp(-w) * (y - mu) ** 2, -20, 20)
    assert math.exp(best) == pytest.approx((y - mu) ** 2)


def test_chapter_3_poisson_exercise_against_torch():
    torch = pytest.importorskip("torch", reason="PyTorch missing")
    z = torch.tensor([-1.0, 0.0, 0.7, 2.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 3.0, 5.0], dtype=torch.float64)
    ours = torch.exp(z) - y * z
    theirs = torch.nn.functional.poisson_nll_loss(
        z, y, log_input=True, reduction="none"
    )
    assert torch.allclose(ours, theirs)
    # Its gradient in z is the rate minus the count.
    z.requires_grad_(True)
    torch.nn.functional.poisson_nll_loss(
        z, y, log_input=True, reduction="sum"
    ).backward()
    assert torch.allclose(z.grad, torch.exp(z.detach()) - y)

"""Every decimal number printed in chapters 5-8 (the practice chapters), recomputed.

Each test recomputes values with NumPy, ``xent``, PyTorch or TensorFlow, formats them
exactly as the chapter prints them, together with the chosen inputs they were computed
from, and checks that the chapter contains that text. ``@binds`` declares which of the
chapter's decimal numbers a test recomputes (see ``_chapter_numbers``), and
``test_every_decimal_is_checked`` fails when a chapter prints a decimal number that no
test binds. A change to the chapter, to ``xent`` or to a framework's behaviour that
alters a printed number fails here. Framework checks are skipped, with the reason, when
the framework is missing.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from _chapter_numbers import binds, loose, printed, torch_or_skip

from xent import calibration as cal
from xent import numpy as xn

STABILITY = "05-numerical-stability.md"
VARIANTS = "06-variants.md"
EVALUATION = "07-evaluating-probabilities.md"
MISCONCEPTIONS = "08-misconceptions.md"

# Sections of cited books ("Goodfellow et al. (section 4.1)"): not numbers to compute.
CITATIONS = {
    STABILITY: {"4.1"},
    VARIANTS: set(),
    EVALUATION: set(),
    MISCONCEPTIONS: {"4.3", "6.2"},
}


def sci(x: float, digits: int = 2) -> str:
    r"""``x`` as the chapters print it in LaTeX: ``3.40 \times 10^{38}``."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


FIXTURES = {"torch": torch_or_skip, "keras": _keras}


@pytest.fixture(scope="module")
def keras():
    return _keras()


@pytest.mark.parametrize("chapter", [STABILITY, VARIANTS, EVALUATION, MISCONCEPTIONS])
def test_every_decimal_is_checked(chapter):
    """Every occurrence of a decimal lies in a snippet that a bound test checks."""
    assert loose(chapter, __name__, FIXTURES, CITATIONS[chapter]) == []


# --------------------------------------------------------------------------------------
# Chapter 5: numerical stability
# --------------------------------------------------------------------------------------

# (name, exponent bits, fraction bits) of the three formats in the table.
FORMATS = [("float32", 8, 23), ("float16", 5, 10), ("bfloat16", 8, 7)]


@binds(STABILITY, "3.40", "1.18", "1.19", "88.72", "-87.34", "6.10", "9.77", "11.09")
@binds(STABILITY, "-9.70", "3.39", "7.81")
def test_float_limits_table():
    for name, exponent_bits, fraction_bits in FORMATS:
        e_max = 2 ** (exponent_bits - 1) - 1
        largest = (2 - 2.0**-fraction_bits) * 2.0**e_max
        smallest_normal = 2.0 ** (1 - e_max)
        epsilon = 2.0**-fraction_bits
        # The formulas agree with the library's own description of the format.
        if name == "bfloat16":
            torch = pytest.importorskip("torch")
            info = torch.finfo(torch.bfloat16)
        else:
            info = np.finfo(name)
        assert (float(info.max), float(info.tiny), float(info.eps)) == (
            largest,
            smallest_normal,
            epsilon,
        )
        # eq-exp-overflow: e^v rounds to infinity from max + half an ulp on.
        overflow = math.log((2 - 2.0 ** -(fraction_bits + 1)) * 2.0**e_max)
        assert f"{overflow:.2f}" == f"{math.log(largest):.2f}"
        assert abs(overflow - (e_max + 1) * math.log(2)) < 0.01
        largest_text = "65504" if name == "float16" else sci(largest)
        printed(
            STABILITY,
            f"| {name} | {exponent_bits} / {fraction_bits} | ${largest_text}$ | "
            f"${sci(smallest_normal)}$ | ${sci(epsilon)}$ | {overflow:.2f} | "
            f"{math.log(smallest_normal):.2f} |",
        )
    # float32: the inputs on either side of the threshold, exp computed by NumPy.
    threshold = math.log((2 - 2.0**-24) * 2.0**127)
    below = np.float32(threshold)
    if float(below) > threshold:
        below = np.nextafter(below, np.float32(0))
    above = np.nextafter(below, np.float32(np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(below)) and np.isinf(np.exp(above))


@binds(STABILITY, "11.0859375", "11.09375", "11.09")
def test_largest_float16_input_with_finite_exp():
    x = np.float16(11.0859375)
    following = np.nextafter(x, np.float16(np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(x)) and np.isinf(np.exp(following))
    printed(
        STABILITY,
        f"is ${float(x)}$: the next float16 number, ${float(following)}$, already",
    )
    threshold = math.log((2 - 2.0**-11) * 2.0**15)
    assert float(x) < threshold < float(following)
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(np.float16(12.0)))
    printed(STABILITY, f"as soon as one logit exceeds ${threshold:.2f}$")


@binds(STABILITY, "0.5", "88.5")
def test_largest_bfloat16_input_with_finite_exp(torch):
    bf16 = torch.bfloat16
    spacing = 2.0 ** (math.floor(math.log2(88.0)) - 7)  # 7 fraction bits
    x = torch.tensor(88.5, dtype=bf16)
    following = torch.tensor(88.5 + spacing, dtype=bf16)
    # Nothing lies between them in bfloat16: the midpoint rounds to one of the two.
    middle = torch.tensor(88.5 + spacing / 2, dtype=bf16)
    assert float(middle) in (float(x), float(following))
    assert torch.isfinite(torch.exp(x)) and torch.isinf(torch.exp(following))
    printed(
        STABILITY,
        f"${spacing}$ wide, so the largest such input is ${float(x)}$ and the next "
        f"one is ${float(following):.0f}$",
    )


@binds(STABILITY, "1000.6931", "-999.3069", "9.36")
def test_log_sum_exp_examples():
    for x, shown in [(1000.0, "1000.6931"), (-1000.0, "-999.3069")]:
        pair = np.array([x, x])
        with np.errstate(over="ignore", divide="ignore"):
            naive = np.log(np.sum(np.exp(pair)))
        assert np.isinf(naive)
        assert f"{float(xn.logsumexp(pair)):.4f}" == shown
        printed(STABILITY, rf"\approx {shown}$")
    # The exercise: the gap above the lower bound m for z = (0, -30).
    gap = math.log1p(math.exp(-30))
    # (xent's logsumexp, log of a sum, gets it only to about 1e-16 absolute)
    assert float(xn.logsumexp(np.array([0.0, -30.0]))) == pytest.approx(gap, abs=1e-16)
    printed(STABILITY, rf"= \log(1 + e^{{-30}})$ is about ${sci(gap)}$")


@binds(STABILITY, "1.38", "1.4")
def test_log_softmax_rescues_underflow(torch):
    printed(STABILITY, rf"\approx {sci(math.exp(-200))}$ is far below")
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    printed(STABILITY, rf"a subnormal of about ${sci(tiny, 1)}$")
    assert math.exp(-200) < tiny
    logits = torch.tensor([[0.0, -200.0]], requires_grad=True)
    naive = -torch.log(torch.softmax(logits, dim=-1))[0, 1]
    naive.backward()
    assert torch.isinf(naive) and torch.isnan(logits.grad).all()
    logits.grad = None
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([1]))
    loss.backward()
    assert float(loss.detach()) == 200.0
    assert logits.grad.tolist() == [[1.0, -1.0]]
    assert (
        float(xn.cross_entropy(np.array([[0.0, -200.0]], np.float32), np.array([1])))
        == 200.0
    )
    printed(
        STABILITY,
        "gives the loss $200$ and the gradient $q - \\text{onehot}(y) = (1, -1)$",
    )


@binds(STABILITY, "16.64", "2.06")
def test_log1p_threshold_and_example():
    one = np.float32(1)
    assert one + np.float32(2.0**-24) == one and one + np.float32(2.0**-23) != one
    printed(STABILITY, rf"$|z| \ge 24 \ln 2 \approx {24 * math.log(2):.2f}$")
    u = np.exp(np.float32(-20))
    assert np.log(one + u) == 0.0
    exact = math.log1p(math.exp(-20))
    assert abs(float(np.log1p(u)) - exact) < 1e-6 * exact
    printed(STABILITY, rf"$\log(1 + e^{{-20}}) \approx {sci(exact)}$")
    printed(STABILITY, rf"`log1p(exp(-20))` gives ${sci(float(np.log1p(u)))}$")


@binds(STABILITY, "15.0000", "14.8438", "16.0000", "15.9424", "17.0000", "100.0000")
@binds(STABILITY, "20.0000", "17.0")
def test_logits_versus_probabilities_table(torch):
    F = torch.nn.functional
    zero = torch.tensor([0.0])
    for z in (15, 16, 17, 20):
        logit = torch.tensor([float(z)])
        from_logits = float(F.binary_cross_entropy_with_logits(logit, zero))
        from_probs = float(F.binary_cross_entropy(torch.sigmoid(logit), zero))
        # The exact loss is softplus(z) = z + log1p(exp(-z)), z to 4 decimals here.
        exact = z + math.log1p(math.exp(-z))
        printed(
            STABILITY, f"| {z} | {exact:.4f} | {from_logits:.4f} | {from_probs:.4f} |"
        )
    first_one = next(
        z for z in range(10, 30) if float(torch.sigmoid(torch.tensor(float(z)))) == 1
    )
    printed(STABILITY, f"PyTorch's `sigmoid({float(first_one)})` is exactly $1$")


@binds(STABILITY, "1.0000")
def test_gradient_through_probabilities_vanishes(torch):
    F = torch.nn.functional
    z = torch.tensor([17.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(z, torch.tensor([0.0])).backward()
    printed(STABILITY, f"$\\sigma(z) - y = {float(z.grad):.4f}$ at $z = 17$")
    z.grad = None
    F.binary_cross_entropy(torch.sigmoid(z), torch.tensor([0.0])).backward()
    assert float(z.grad) == 0.0
    printed(STABILITY, "Through the probability it is exactly $0$")


@binds(STABILITY, "200.0", "16.1181")
def test_keras_recovers_logits_of_its_own_softmax(keras):
    import tensorflow as tf

    logits = tf.constant([[0.0, -200.0]])
    target = tf.constant([[0.0, 1.0]])
    cce = keras.losses.categorical_crossentropy
    rescued = float(cce(target, keras.activations.softmax(logits))[0])
    clipped = float(cce(target, tf.nn.softmax(logits))[0])
    assert f"{rescued:.1f}" == "200.0"
    printed(STABILITY, f"`keras.activations.softmax(logits)` is ${rescued:.1f}$")
    printed(STABILITY, f"are clipped and give ${clipped:.4f}$")


@binds(STABILITY, "3.72")
def test_torch_clamp(torch):
    F = torch.nn.functional
    clamp = float(F.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0])))
    assert clamp == 100.0
    printed(
        STABILITY, f"A single confident mistake therefore costs at most ${clamp:.0f}$"
    )
    printed(STABILITY, rf"$p < e^{{-100}} \approx {sci(math.exp(-100))}$")


@binds(STABILITY, "16.1181", "15.9424")
def test_keras_clip_ceilings(keras):
    assert keras.config.epsilon() == 1e-7
    bce = keras.losses.binary_crossentropy
    one, zero = np.array([[1.0]], np.float32), np.array([[0.0]], np.float32)
    missed_positive = float(bce(one, zero)[0])
    missed_negative = float(bce(zero, one)[0])
    assert f"{missed_positive:.4f}" == f"{-math.log(1e-7):.4f}"
    printed(STABILITY, rf"$-\log 10^{{-7}} \approx {missed_positive:.4f}$")
    assert 1 - float(np.float32(1 - 1e-7)) == 2.0**-23
    printed(STABILITY, rf"$-\log 2^{{-23}} \approx {missed_negative:.4f}$")
    printed(STABILITY, "$1 - 10^{-7}$ rounds to $1 - 2^{-23}$")
    for loss, target in [
        (keras.losses.categorical_crossentropy, np.array([[1.0, 0.0]], np.float32)),
        (keras.losses.sparse_categorical_crossentropy, np.array([0])),
    ]:
        value = float(loss(target, np.array([[0.0, 1.0]], np.float32))[0])
        assert f"{value:.4f}" == f"{missed_positive:.4f}"


@binds(STABILITY, "2.22", "36.04")
def test_sklearn_ceiling_from_its_documented_rule():
    # log_loss clips to [eps, 1 - eps] with eps = np.finfo(y_pred.dtype).eps (its docs).
    eps = float(np.finfo(np.float64).eps)
    printed(
        STABILITY,
        rf"${sci(eps)}$, a ceiling of $-\log({sci(eps)}) \approx {-math.log(eps):.2f}$",
    )


@binds(STABILITY, "0.1", "0.0161", "0.0360")
def test_one_zero_probability_in_a_batch_of_1000(torch, keras):
    probs = np.ones(1000, np.float32)
    probs[0] = 0.0
    target = np.ones(1000, np.float32)
    torch_mean = float(
        torch.nn.functional.binary_cross_entropy(
            torch.tensor(probs), torch.tensor(target)
        )
    )
    keras_mean = float(
        keras.losses.BinaryCrossentropy()(target[:, None], probs[:, None])
    )
    sklearn_mean = -math.log(float(np.finfo(np.float64).eps)) / 1000
    assert abs(torch_mean - 0.1) < 1e-6
    printed(
        STABILITY,
        f"gives a mean loss of ${torch_mean:.1f}$ in PyTorch, ${keras_mean:.4f}$ in "
        f"Keras and ${sklearn_mean:.4f}$ in scikit-learn",
    )


# The batch of the weighted-mean comparison (chapter 5, repeated in chapter 8).
LOGITS = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [0.5, 0.5, 3.0]], np.float32)
TARGET = np.array([0, 2, 2])
WEIGHT = np.array([1.0, 2.0, 5.0], np.float32)


@binds(STABILITY, "0.5", "0.1698", "1.5514", "0.1520", "0.7897", "2.8957")
@binds(MISCONCEPTIONS, "0.7897", "2.8957")
def test_weighted_mean_differs_between_libraries(torch, keras):
    rows = ", ".join(
        "$(" + ", ".join(f"{v:g}" for v in row) + ")$" for row in LOGITS.tolist()
    )
    printed(STABILITY, f"logits {rows}, targets $0, 2, 2$")
    assert TARGET.tolist() == [0, 2, 2] and WEIGHT.tolist() == [1.0, 2.0, 5.0]
    per_example = xn.cross_entropy(LOGITS, TARGET, reduction="none")
    printed(
        STABILITY,
        "losses are ${:.4f}$, ${:.4f}$ and ${:.4f}$".format(*per_example.tolist()),
    )
    printed(STABILITY, "the targets' weights are $1, 5, 5$")
    assert WEIGHT[TARGET].tolist() == [1.0, 5.0, 5.0]
    torch_mean = float(
        torch.nn.functional.cross_entropy(
            torch.tensor(LOGITS), torch.tensor(TARGET), weight=torch.tensor(WEIGHT)
        )
    )
    xent_mean = float(xn.cross_entropy(LOGITS, TARGET, weight=WEIGHT))
    sparse = keras.losses.SparseCategoricalCrossentropy
    keras_mean = float(
        sparse(from_logits=True)(TARGET, LOGITS, sample_weight=WEIGHT[TARGET])
    )
    keras_weighted = float(
        sparse(from_logits=True, reduction="mean_with_sample_weight")(
            TARGET, LOGITS, sample_weight=WEIGHT[TARGET]
        )
    )
    assert f"{xent_mean:.4f}" == f"{torch_mean:.4f}" == f"{keras_weighted:.4f}"
    printed(STABILITY, f"$1 + 5 + 5 = 11$ and reports ${torch_mean:.4f}$")
    printed(STABILITY, f"divides by $3$ and reports ${keras_mean:.4f}$")
    printed(
        STABILITY,
        f'`reduction="mean_with_sample_weight"` reports ${keras_weighted:.4f}$',
    )
    printed(MISCONCEPTIONS, f"${torch_mean:.4f}$ against ${keras_mean:.4f}$")


@binds(STABILITY, "0.5")
def test_table_claims_about_ignored_targets_and_smoothing(torch, keras):
    F = torch.nn.functional
    logits = torch.tensor(LOGITS)
    assert math.isnan(float(F.cross_entropy(logits, torch.tensor([-100, -100, -100]))))
    assert math.isnan(float(xn.cross_entropy(LOGITS, np.array([-100, -100, -100]))))
    ignoring = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1
    )
    assert float(ignoring(np.array([-1, -1, -1]), LOGITS)) == 0.0
    kept = xn.cross_entropy(LOGITS, np.array([0, -100, 2]))
    assert abs(float(ignoring(np.array([0, -1, 2]), LOGITS)) - float(kept)) < 1e-6
    # Categorical smoothing is (1 - eps) p + eps / C in both; binary smoothing goes
    # towards 1/2.
    onehot = np.eye(3, dtype=np.float32)[TARGET]
    smoothed = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1
    )
    torch_smoothed = F.cross_entropy(logits, torch.tensor(TARGET), label_smoothing=0.1)
    assert abs(float(smoothed(onehot, LOGITS)) - float(torch_smoothed)) < 1e-6
    binary = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)
    z, y = np.array([[1.5]], np.float32), np.array([[1.0]], np.float32)
    towards_half = xn.binary_cross_entropy_with_logits(z, np.array([[0.9]], np.float32))
    assert abs(float(binary(y, z)) - float(towards_half)) < 1e-6
    # (1 - eps) y + eps / 2: at eps = 1 every binary target is 1/2.
    printed(STABILITY, f"moves binary targets towards ${(1 - 1.0) * 1 + 1.0 / 2}$")


# --------------------------------------------------------------------------------------
# Chapter 6: variants
# --------------------------------------------------------------------------------------


@binds(VARIANTS, "0.9", "0.1", "0.5")
def test_weighted_optimum():
    p, w = np.array([0.9, 0.1]), np.array([1.0, 9.0])
    optimum = w * p / np.sum(w * p)
    # The gradient of the expected weighted loss vanishes at the logits of the optimum.
    grad = xn.cross_entropy_grad(np.log(optimum)[None], p[None], weight=w)
    assert np.allclose(grad, 0.0, atol=1e-12)
    printed(
        VARIANTS,
        f"With $p = ({p[0]}, {p[1]})$ and weights $w = ({w[0]:.0f}, {w[1]:.0f})$, "
        "{eq}`eq-weighted-optimum` gives "
        f"$q^\\star = ({optimum[0]:.1f}, {optimum[1]:.1f})$: where the rare class has "
        f"probability ${p[1]}$",
    )
    # The boundary: class 1 wins where w1 p1 > w0 p0, from p1 = w0 / (w0 + w1) on.
    boundary = w[0] / w.sum()
    for p1 in (boundary - 1e-3, boundary + 1e-3):
        q = w * np.array([1 - p1, p1])
        assert (q[1] > q[0]) == (p1 > boundary)
    printed(
        VARIANTS,
        f"$p_1 > w_0 / (w_0 + w_1) = {boundary:.1f}$ instead of $p_1 > {0.5}$",
    )


@binds(VARIANTS, "0.1", "2.1972", "0.5")
def test_pos_weight_shift():
    pi = 0.1
    a = (1 - pi) / pi  # negatives per positive
    zs = np.linspace(-3.0, 3.0, 60001)
    expected = pi * xn.binary_cross_entropy_with_logits(
        zs, np.ones_like(zs), pos_weight=a, reduction="none"
    ) + (1 - pi) * xn.binary_cross_entropy_with_logits(
        zs, np.zeros_like(zs), reduction="none"
    )
    best = zs[np.argmin(expected)]
    shift = math.log(a)
    assert abs(best - (math.log(pi / (1 - pi)) + shift)) < 1e-3
    printed(
        VARIANTS,
        f"with $\\pi = {pi}$ gives $w_+ = {a:.0f}$, a shift of $\\log {a:.0f} \\approx "
        f"{shift:.4f}$, and $s^\\star = {sigmoid(best):.1f}$ where the true "
        f"probability is ${pi}$",
    )
    # The exercise's solution: the optimal logit is 0.
    assert abs(math.log(pi / (1 - pi)) + shift) < 1e-12
    printed(
        VARIANTS,
        f"With $\\pi = {pi}$ and $w_+ = {a:.0f}$ the optimal logit is "
        f"$\\log\\frac1{a:.0f} + \\log {a:.0f} = 0$, the probability ${sigmoid(0.0)}$",
    )


@binds(VARIANTS, "1.0", "2.0", "1.5", "1.9")
def test_mean_of_means_is_not_the_token_mean():
    # Log-probabilities whose target entries are -1 and -2, padded with ignored
    # positions.
    def micro_batch(kept: int, loss: float, length: int = 100):
        log_probs = np.full((length, 2), -loss)
        target = np.full(length, -100)
        target[:kept] = 0
        return log_probs, target

    a, b = micro_batch(10, 1.0), micro_batch(90, 2.0)
    mean_a, mean_b = float(xn.nll_loss(*a)), float(xn.nll_loss(*b))
    together = float(
        xn.nll_loss(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    )
    printed(VARIANTS, f"mean loss ${mean_a:.1f}$ averaged with one of 90 kept tokens")
    printed(
        VARIANTS, f"and mean loss ${mean_b:.1f}$ gives ${(mean_a + mean_b) / 2:.1f}$"
    )
    printed(VARIANTS, f"the mean over all 100 tokens is ${together:.1f}$")


def smoothed_target(num_classes: int, eps: float) -> np.ndarray:
    """The smoothed one-hot target p' of class 0."""
    target = np.full(num_classes, eps / num_classes)
    target[0] += 1 - eps
    return target


@binds(VARIANTS, "0.1", "0.91", "0.01", "4.5109", "0.5003")
@binds(MISCONCEPTIONS, "0.5003", "0.1")
def test_label_smoothing_optimum():
    num_classes, eps = 10, 0.1
    target = smoothed_target(num_classes, eps)
    floor = float(xn.entropy(target))
    gap = math.log(target[0] / target[1])
    # At logits log p' the smoothed loss equals H(p') and its gradient vanishes.
    logits = np.log(target)[None]
    loss = float(xn.cross_entropy(logits, np.array([0]), label_smoothing=eps))
    grad = xn.cross_entropy_grad(logits, np.array([0]), label_smoothing=eps)
    assert abs(loss - floor) < 1e-12 and np.allclose(grad, 0.0, atol=1e-12)
    ratio = round(target[0] / target[1])
    assert abs(target[0] / target[1] - ratio) < 1e-9
    printed(
        VARIANTS,
        f"For $C = {num_classes}$ and $\\varepsilon = {eps}$, $p'$ gives the true "
        f"class ${target[0]:.2f}$ and every other class ${target[1]:.2f}$, the optimal "
        f"logit gap is $\\log {ratio} \\approx {gap:.4f}$, and the smallest possible "
        f"loss is $H(p') \\approx {floor:.4f}$",
    )
    printed(
        MISCONCEPTIONS,
        f"${floor:.4f}$ for {num_classes} classes with $\\varepsilon = {eps}$",
    )


@binds(VARIANTS, "0.1", "1.3624", "3.906", "0.91", "0.01", "0.0858", "0.4145")
@binds(VARIANTS, "0.5003", "1.649")
def test_label_smoothing_floor_exercise():
    eps, vocabulary = 0.1, 32000
    printed(
        VARIANTS,
        f"trained with $\\varepsilon = {eps}$ over a vocabulary of "
        f"$C = {vocabulary // 1000}\\,{vocabulary % 1000:03d}$ tokens",
    )
    floor = float(xn.entropy(smoothed_target(vocabulary, eps)))
    # No prediction goes below the floor: the loss at the optimum logits is the floor.
    logits = np.log(smoothed_target(vocabulary, eps))[None]
    assert float(
        xn.cross_entropy(logits, np.array([0]), label_smoothing=eps)
    ) == pytest.approx(floor, rel=1e-9)
    binary_entropy = -eps * math.log(eps) - (1 - eps) * math.log(1 - eps)
    approximation = binary_entropy + eps * math.log(vocabulary)
    assert f"{approximation:.4f}" == f"{floor:.4f}"
    printed(
        VARIANTS,
        f"$H(p') \\approx {floor:.4f}$ nats (the approximation of part 2 gives "
        f"${approximation:.4f}$ too), a perplexity of $e^{{{floor:.4f}}} \\approx "
        f"{math.exp(floor):.3f}$",
    )
    target = smoothed_target(10, eps)
    terms = -target * np.log(target)
    printed(
        VARIANTS,
        f"$-{target[0]:.2f} \\log {target[0]:.2f} - 9 \\times {target[1]:.2f} "
        f"\\log {target[1]:.2f} \\approx {terms[0]:.4f} + {terms[1:].sum():.4f} = "
        f"{terms.sum():.4f}$, a perplexity of ${math.exp(terms.sum()):.3f}$",
    )


def test_label_smoothing_kl_decomposition():
    rng = np.random.default_rng(0)
    logits, target, eps = rng.normal(size=(5, 4)), np.array([0, 3, 1, 2, 2]), 0.2
    q = xn.softmax(logits)
    uniform = np.full_like(q, 0.25)
    expected = (
        (1 - eps) * xn.cross_entropy(logits, target, reduction="none")
        + eps * xn.kl_divergence(uniform, q)
        + eps * math.log(4)
    )
    smoothed = xn.cross_entropy(logits, target, label_smoothing=eps, reduction="none")
    assert np.allclose(smoothed, expected)


def test_weighted_smoothing_divides_by_target_weights(torch):
    F = torch.nn.functional
    args = (torch.tensor(LOGITS), torch.tensor(TARGET))
    options = {"weight": torch.tensor(WEIGHT), "label_smoothing": 0.1}
    mean = float(F.cross_entropy(*args, **options))
    total = float(F.cross_entropy(*args, **options, reduction="sum"))
    assert abs(mean - total / float(WEIGHT[TARGET].sum())) < 1e-6


TEACHER, STUDENT = np.array([3.0, 1.0, -4.0]), np.array([1.0, 0.0, -1.0])


def _vector(x: np.ndarray, digits: int = 4) -> str:
    return "(" + ", ".join(f"{v:.{digits}f}" for v in x) + ")"


@binds(VARIANTS, "0.264", "0.539", "0.930", "1.099", "1.178", "1.247")
def test_distillation_gradient_scaling(torch):
    from xent import torch as xt

    printed(
        VARIANTS,
        f"teacher logits $v = {_vector(TEACHER, 0)}$ and student logits "
        f"$z = {_vector(STUDENT, 0)}$ (both of mean zero)",
    )
    assert TEACHER.mean() == 0 and STUDENT.mean() == 0
    cells = []
    for temperature in (1, 2, 5, 10, 20):
        soft = xn.softmax(TEACHER / temperature)[None]
        grad = xn.cross_entropy_grad(STUDENT[None] / temperature, soft)[0] / temperature
        # The same gradient from autograd through xent's soft-target cross-entropy.
        z = torch.tensor(STUDENT, requires_grad=True)
        xt.cross_entropy(z[None] / temperature, torch.tensor(soft)).backward()
        assert np.allclose(z.grad.numpy(), grad)
        cells.append(f"{temperature**2 * np.linalg.norm(grad):.3f}")
    printed(VARIANTS, " | ".join(cells) + " |")
    limit = np.linalg.norm(STUDENT - TEACHER) / 3
    assert abs(limit - math.sqrt(14) / 3) < 1e-12
    printed(
        VARIANTS, f"$\\lVert z - v \\rVert / C = \\sqrt{{14}}/3 \\approx {limit:.3f}$"
    )
    printed(VARIANTS, f"at $T = 20$ would be {20**2} times smaller")


@binds(VARIANTS, "0.7153", "0.2631", "0.0216", "0.5065", "0.3072", "0.1863")
@binds(VARIANTS, "0.8334", "0.1596", "0.6738", "0.1044", "0.0220", "0.0824")
def test_kl_versus_cross_entropy_exercise():
    temperature = 2
    p = xn.softmax(TEACHER / temperature)
    q = xn.softmax(STUDENT / temperature)
    cross = float(xn.cross_entropy((STUDENT / temperature)[None], p[None]))
    kl = float(xn.kl_divergence(p, q))
    teacher_entropy = float(xn.entropy(p))
    assert cross == pytest.approx(kl + teacher_entropy)
    grad = (
        xn.cross_entropy_grad((STUDENT / temperature)[None], p[None])[0] / temperature
    )
    # The KL divergence has the same gradient (finite differences in z).
    step = 1e-6
    for c in range(3):
        dz = np.eye(3)[c] * step
        slope = (
            xn.kl_divergence(p, xn.softmax((STUDENT + dz) / temperature))
            - xn.kl_divergence(p, xn.softmax((STUDENT - dz) / temperature))
        ) / (2 * step)
        assert slope == pytest.approx(grad[c], abs=1e-8)
    printed(
        VARIANTS,
        f"$p^T = \\operatorname{{softmax}}(v / {temperature}) \\approx {_vector(p)}$ "
        f"and $q^T = \\operatorname{{softmax}}(z / {temperature}) "
        f"\\approx {_vector(q)}$",
    )
    printed(
        VARIANTS,
        f"$H(p^T, q^T) \\approx {cross:.4f}$ and "
        f"$D_{{\\mathrm{{KL}}}}(p^T \\,\\Vert\\, q^T) "
        f"\\approx {kl:.4f}$; they differ by $H(p^T) \\approx {teacher_entropy:.4f}$",
    )
    printed(VARIANTS, f"$(q^T - p^T)/T \\approx {_vector(grad)}$")
    printed(VARIANTS, f"towards $H(p^T)$, here ${teacher_entropy:.4f}$ per example")


def test_torch_kl_div_reductions(torch):
    # kl_div(input=log q, target=p) is KL(p || q); "mean" divides by N * C, not N.
    F = torch.nn.functional
    p, q = (
        torch.tensor([[0.5, 0.5], [0.2, 0.8]]),
        torch.tensor([[0.9, 0.1], [0.3, 0.7]]),
    )
    expected = np.mean(xn.kl_divergence(p.numpy(), q.numpy()))
    batchmean = float(F.kl_div(q.log(), p, reduction="batchmean"))
    with pytest.warns(UserWarning):
        elementwise_mean = float(F.kl_div(q.log(), p, reduction="mean"))
    assert abs(batchmean - expected) < 1e-6
    assert abs(elementwise_mean - expected / 2) < 1e-6
    printed(VARIANTS, 'the mathematical mean over examples is `reduction="batchmean"`')


@binds(VARIANTS, "0.9", "0.01", "0.5", "0.25", "4.595", "0.694")
def test_focal_loss_numbers():
    import inspect

    for q_y in (0.9, 0.5):
        factor = (1 - q_y) ** 2
        assert xn.sigmoid_focal_loss(
            np.array([math.log(q_y / (1 - q_y))]), np.ones(1), alpha=-1
        )[0] == pytest.approx(factor * -math.log(q_y))
    printed(
        VARIANTS,
        f"$q_y = {0.9}$ has its loss multiplied by "
        f"$(1 - {0.9})^2 = {(1 - 0.9) ** 2:.2f}$, one with $q_y = {0.5}$ by "
        f"${(1 - 0.5) ** 2:.2f}$",
    )
    alpha = inspect.signature(xn.sigmoid_focal_loss).parameters["alpha"].default
    printed(VARIANTS, f"Lin et al. use $\\alpha = {alpha}$")
    pi = 0.01
    bias = -math.log((1 - pi) / pi)
    printed(VARIANTS, f"$\\pi = {pi}$, that is ${bias:.3f}$")
    printed(VARIANTS, f"box starts with probability ${sigmoid(bias):.2f}$ of being")
    # gamma = 0 and no alpha is plain binary cross-entropy.
    z, y = np.array([-2.0, 0.5, 3.0]), np.array([1.0, 0.0, 1.0])
    assert np.allclose(
        xn.sigmoid_focal_loss(z, y, alpha=-1, gamma=0),
        xn.binary_cross_entropy_with_logits(z, y, reduction="none"),
    )

    def minimiser(rate: float) -> float:
        zs = np.linspace(-4.0, 4.0, 160001)
        expected = rate * xn.sigmoid_focal_loss(zs, np.ones_like(zs), alpha=-1) + (
            1 - rate
        ) * xn.sigmoid_focal_loss(zs, np.zeros_like(zs), alpha=-1)
        return sigmoid(zs[np.argmin(expected)])

    # At positive rate 0.5 the minimiser is 0.5 (the symmetric case), at 0.9 it is not.
    assert abs(minimiser(0.5) - 0.5) < 1e-3
    assert 0.5 < minimiser(0.9) < 0.9 and 0.1 < minimiser(0.1) < 0.5
    printed(
        VARIANTS,
        f"the loss pulls confident predictions towards ${round(minimiser(0.5), 3)}$",
    )
    printed(
        VARIANTS,
        f"$s^\\star = \\pi$ only for $\\pi = {round(minimiser(0.5), 3)}$. For "
        f"$\\pi = {0.9}$ and $\\gamma = 2$ the minimiser is "
        f"$s^\\star \\approx {minimiser(0.9):.3f}$",
    )


@binds(VARIANTS, "0.5", "1.5", "0.2014")
def test_two_class_softmax_is_binary_cross_entropy():
    z0, z1 = 0.5, 2.0
    softmax_loss = float(xn.cross_entropy(np.array([[z0, z1]]), np.array([1])))
    binary_loss = float(
        xn.binary_cross_entropy_with_logits(np.array([z1 - z0]), np.array([1.0]))
    )
    assert abs(softmax_loss - binary_loss) < 1e-12
    printed(
        VARIANTS,
        f"For $z_0 = {z0}$ and $z_1 = {z1:.0f}$ both give "
        f"$\\log(1 + e^{{-{z1 - z0}}}) \\approx {binary_loss:.4f}$ for $y = 1$",
    )
    for y in (0, 1):
        grad = xn.cross_entropy_grad(np.array([[z0, z1]]), np.array([y]))[0]
        residual = sigmoid(z1 - z0) - y
        assert np.allclose(grad, [-residual, residual])


# --------------------------------------------------------------------------------------
# Chapter 7: evaluating probabilities
# --------------------------------------------------------------------------------------


@binds(EVALUATION, "2.0", "2.885", "7.389", "11.402", "0.2")
def test_perplexity_numbers():
    loss = 2.0
    printed(EVALUATION, f"${loss}$ nats per token (${loss / math.log(2):.3f}$ bits)")
    printed(EVALUATION, f"$e^{{2}} \\approx {math.exp(loss):.3f}$: as uncertain")
    # Uniform over C classes: perplexity C.
    for num_classes in (2, 10, 1000):
        uniform = float(
            xn.cross_entropy(np.zeros((3, num_classes)), np.array([0, 1, 1]))
        )
        assert abs(math.exp(uniform) - num_classes) < 1e-9 * num_classes
    # Equally long sequences with mean losses 1 and 3.
    joint = math.exp((1 + 3) / 2)
    averaged = (math.exp(1) + math.exp(3)) / 2
    printed(EVALUATION, f"joint perplexity of $e^{{2}} \\approx {joint:.3f}$")
    printed(EVALUATION, f"average to ${averaged:.3f}$")
    # The exercise: probability 0.2 on every true class of a three-class model.
    probs = np.array([[0.2, 0.4, 0.4], [0.4, 0.2, 0.4]])
    perplexity = math.exp(float(xn.nll_loss(np.log(probs), np.array([0, 1]))))
    assert perplexity > 3
    printed(
        EVALUATION,
        f"gives every true class ${probs[0, 0]}$ has perplexity ${perplexity:.0f}$",
    )


@binds(EVALUATION, "0.8")
def test_calibration_definition_example():
    # 1000 predictions with confidence 0.8 of which 800 are right: one bin, no gap.
    confidence = np.full(1000, 0.8)
    correct = (np.arange(1000) < 800).astype(int)
    assert cal.expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    printed(
        EVALUATION,
        f"with confidence {confidence[0]}, {100 * correct.mean():.0f}% are right",
    )


CONFIDENCE = np.array([0.95, 0.92, 0.91, 0.85, 0.81, 0.72, 0.66, 0.62, 0.55, 0.45])
CORRECT = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 0])


@binds(EVALUATION, "0.95", "0.92", "0.91", "0.85", "0.81", "0.72", "0.66", "0.62")
@binds(EVALUATION, "0.55", "0.45", "0.8", "0.6", "0.4", "0.888", "0.600", "0.288")
@binds(EVALUATION, "0.5", "0.667", "1.000", "0.333", "0.3", "0.500", "0.000", "0.2")
@binds(EVALUATION, "0.244")
def test_ece_worked_example():
    printed(
        EVALUATION,
        "The confidences are "
        + ", ".join(f"${c:.2f}$" for c in CONFIDENCE[:-1])
        + f", ${CONFIDENCE[-1]:.2f}$",
    )
    wrong = ", ".join(f"${c:.2f}$" for c in CONFIDENCE[CORRECT == 0][:-1])
    printed(
        EVALUATION,
        f"confidence {wrong} and ${CONFIDENCE[CORRECT == 0][-1]:.2f}$ are wrong",
    )
    bins = cal.reliability_bins(CONFIDENCE, CORRECT, n_bins=5)
    assert bins.counts[:2].tolist() == [0, 0]
    terms = []
    for index in (4, 3, 2):
        low, high = bins.edges[index], bins.edges[index + 1]
        label = f"$({low:g}, {high:g}]$"
        conf, acc, count = (
            bins.confidence[index],
            bins.accuracy[index],
            bins.counts[index],
        )
        weight = count / len(CONFIDENCE)
        printed(
            EVALUATION,
            f"| {label} | {count} | {conf:.3f} | {acc:.3f} | {abs(acc - conf):.3f} | "
            f"{weight:.1f} |",
        )
        terms.append((weight, abs(acc - conf)))
    ece = cal.expected_calibration_error(CONFIDENCE, CORRECT, n_bins=5)
    assert ece == pytest.approx(sum(w * g for w, g in terms))
    assert terms[1][1] == pytest.approx(1 / 3) and terms[2][1] == pytest.approx(0)
    printed(
        EVALUATION,
        f"$\\mathrm{{ECE}} = {terms[0][0]:.1f} \\cdot {terms[0][1]:.3f} + "
        f"{terms[1][0]:.1f} \\cdot \\tfrac13 + {terms[2][0]:.1f} \\cdot 0 = {ece:.3f}$",
    )


@binds(EVALUATION, "0.2", "0.8", "0.5", "0.3")
def test_binary_ece_is_not_top_label_ece():
    q, y = np.array([0.2, 0.8]), np.array([1, 1])
    binary = cal.expected_calibration_error(q, y, n_bins=5)
    top_label = cal.expected_calibration_error(
        np.stack([1 - q, q], axis=1), y, n_bins=5
    )
    printed(
        EVALUATION,
        f"$q = {q[0]}$ and $q = {q[1]}$ and $M = 5$ bins, the binary ECE is "
        f"${binary:.1f}$ (the first lies in a bin of mean ${q[0]}$ and positive rate "
        f"${y[0]}$, the second in one of mean ${q[1]}$ and rate ${y[1]}$), the "
        f"top-label ECE is ${top_label:.1f}$ (both have confidence "
        f"${max(q[0], 1 - q[0])}$",
    )


@binds(EVALUATION, "0.3", "0.28", "0.02", "0.6109", "0.21")
@binds(MISCONCEPTIONS, "0.3", "0.7", "0.6109")
def test_constant_forecast_is_calibrated():
    y = np.array([1] * 3 + [0] * 7)
    probs = np.full(10, 0.3)
    assert y.mean() == probs[0]
    assert abs(cal.expected_calibration_error(probs, y)) < 1e-12
    printed(
        EVALUATION,
        f"always predicts ${probs[0]}$ has a binary ECE of exactly $0$ (one bin, whose "
        f"mean ${probs.mean():.1f}$ equals its positive rate",
    )
    printed(EVALUATION, f"in general and for $\\pi = {y.mean()}$")
    brier = cal.brier_score(probs, y)
    assert abs(brier - 0.3 * 0.7) < 1e-12
    log_loss = float(xn.binary_cross_entropy(probs, y.astype(float)))
    printed(EVALUATION, f"(about ${log_loss:.4f}$ for $\\pi = {probs[0]}$)")
    printed(EVALUATION, f"(${brier:.2f}$ for $\\pi = {probs[0]}$)")
    printed(
        MISCONCEPTIONS,
        f"$-{probs[0]} \\log {probs[0]} - {1 - probs[0]} \\log {1 - probs[0]} \\approx "
        f"{log_loss:.4f}$",
    )
    # The same model on a test set with 7 positives in 25.
    other = np.array([1] * 7 + [0] * 18)
    ece = cal.expected_calibration_error(np.full(25, 0.3), other)
    printed(
        EVALUATION,
        f"with 7 positives in 25 the same model scores $\\lvert {other.mean():.2f} - "
        f"{probs[0]} \\rvert = {ece:.2f}$",
    )


@binds(EVALUATION, "0.9647", "0.8", "0.8360", "0.2", "1.9236", "0.6390")
@binds(EVALUATION, "0.3807", "0.3400")
def test_temperature_scaling_example():
    logits = np.zeros((5, 3))
    logits[np.arange(5), [0, 1, 2, 0, 1]] = 4.0
    y = np.array([0, 1, 2, 0, 2])
    accuracy = np.mean(logits.argmax(axis=1) == y)
    confidence = float(xn.softmax(logits).max(axis=1)[0])
    before = cal.negative_log_likelihood(logits, y)
    fitted = cal.fit_temperature(logits, y)
    closed_form = 4 / math.log(8)
    assert abs(fitted - closed_form) < 1e-4
    after = cal.negative_log_likelihood(logits, y, closed_form)
    scaled = xn.softmax(logits / closed_form)
    assert np.allclose(scaled.max(axis=1), accuracy)
    assert np.mean(scaled.argmax(axis=1) == y) == accuracy
    printed(
        EVALUATION,
        f"$e^4/(e^4 + 2) \\approx {confidence:.4f}$ while the accuracy is ${accuracy}$",
    )
    printed(EVALUATION, f"the validation NLL is ${before:.4f}$")
    printed(
        EVALUATION,
        f"$-{accuracy} \\log r - {1 - accuracy:.1f} \\log\\frac{{1 - r}}{{2}}$ with",
    )
    printed(EVALUATION, f"which is smallest at $r = {accuracy}$")
    printed(EVALUATION, f"$T^\\star = 4 / \\log 8 \\approx {closed_form:.4f}$")
    printed(
        EVALUATION,
        f"The NLL drops to ${after:.4f}$, the confidence to ${scaled.max():.1f}$, the "
        f"accuracy stays ${accuracy}$",
    )
    brier_before = cal.brier_score(xn.softmax(logits), y)
    brier_after = cal.brier_score(scaled, y)
    printed(
        EVALUATION,
        f"falls from ${brier_before:.4f}$ to ${brier_after:.4f}$ while the accuracy "
        f"stays at ${accuracy}$",
    )


@binds(EVALUATION, "0.51", "0.99")
def test_zero_one_loss_cannot_tell_confidences_apart():
    confidences = (0.51, 0.99)
    zero_one = [float(np.argmax([c, 1 - c]) != 0) for c in confidences]
    assert zero_one == [0.0, 0.0]
    assert -math.log(confidences[0]) > -math.log(confidences[1])
    printed(
        EVALUATION,
        f"tell a confidence of ${confidences[0]}$ from one of ${confidences[1]}$",
    )


@binds(EVALUATION, "0.001", "6.9078", "0.999", "1.996", "0.998")
@binds(MISCONCEPTIONS, "0.001", "6.9078")
def test_log_score_and_brier_score_of_a_confident_mistake():
    miss = 0.001
    log_loss = -math.log(miss)
    brier = cal.brier_score(np.array([[1 - miss, miss]]), np.array([1]))
    binary = cal.brier_score(np.array([miss]), np.array([1]))
    assert abs(brier - 2 * (1 - miss) ** 2) < 1e-12 and brier == pytest.approx(
        2 * binary
    )
    printed(
        EVALUATION,
        f"a probability of ${miss}$ on the true class costs $-\\log {miss} \\approx "
        f"{log_loss:.4f}$",
    )
    printed(
        EVALUATION,
        f"$q = ({1 - miss}, {miss})$ with true class $1$ costs ${1 - miss}^2 + "
        f"{1 - miss}^2 = {brier:.3f}$, or ${binary:.3f}$ in the binary form",
    )
    printed(
        MISCONCEPTIONS,
        f"a probability of ${miss}$ costs $-\\log {miss} \\approx {log_loss:.4f}$",
    )


@binds(EVALUATION, "0.1", "0.2", "0.3", "0.4", "0.6", "0.9")
def test_isotonic_worked_example():
    q = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    y = np.array([0, 1, 0, 0, 1, 1])
    fitted = cal.fit_isotonic(q, y)
    np.testing.assert_allclose(fitted.values, [0, 1 / 3, 1])
    printed(
        EVALUATION,
        "have $q = "
        + "$, $".join(f"{v}" for v in q[:-1])
        + f"$, ${q[-1]}$ and labels "
        + "$"
        + ", ".join(map(str, y))
        + "$",
    )
    lo, hi = fitted.lower, fitted.upper
    assert lo[0] == hi[0]
    printed(
        EVALUATION,
        f"The map is $0$ at ${lo[0]}$, $\\tfrac13$ on $[{lo[1]}, {hi[1]}]$ and $1$ on "
        f"$[{lo[2]}, {hi[2]}]$",
    )


def test_isotonic_exercise():
    # labels 1, 0, 1, 0, 0, 1 at increasing probabilities
    y = np.array([1, 0, 1, 0, 0, 1])
    fitted = cal.fit_isotonic(np.linspace(0.1, 0.9, 6), y)
    np.testing.assert_allclose(fitted.values, [2 / 5, 1])
    assert fitted.upper[0] < fitted.lower[1] and np.sum(y[:5]) / 5 == 2 / 5
    printed(EVALUATION, "have the labels $1, 0, 1, 0, 0, 1$")
    printed(EVALUATION, "$\\tfrac25$ on the first five examples and $1$ on the last")
    assert cal.apply_isotonic(fitted, np.linspace(0.1, 0.9, 6)).mean() == y.mean()


@binds(EVALUATION, "0.2", "0.8", "0.5", "0.75", "0.3", "0.065", "0.25", "0.0625")
@binds(EVALUATION, "0.1875", "0.19", "0.04", "0.64")
def test_brier_decomposition_worked_example():
    q = np.array([0.2, 0.2, 0.8, 0.8])
    y = np.array([0, 1, 1, 1])
    parts = cal.brier_decomposition(q, y, n_bins=2)
    bins = cal.reliability_bins(q, y, n_bins=2)
    (c1, c2), (r1, r2), base = bins.confidence, bins.accuracy, y.mean()
    w1, w2 = bins.counts / y.size
    printed(
        EVALUATION,
        f"$M = 2$ bins: four predictions ${q[0]}$, ${q[1]}$, ${q[2]}$, ${q[3]}$ with "
        f"labels $0, 1, 1, 1$",
    )
    printed(
        EVALUATION,
        f"The first bin has mean ${c1:g}$ and positive rate ${r1:g}$, the second mean "
        f"${c2:g}$ and rate ${r2:g}$, and $\\bar y = {base:g}$",
    )
    rel, res, unc = parts.reliability, parts.resolution, parts.uncertainty
    printed(
        EVALUATION,
        f"Reliability is ${w1:g} \\cdot {abs(c1 - r1):g}^2 + {w2:g} \\cdot "
        f"{abs(c2 - r2):g}^2 = {rel:g}$",
    )
    printed(
        EVALUATION,
        f"resolution ${w1:g} \\cdot {abs(r1 - base):g}^2 + {w2:g} \\cdot "
        f"{abs(r2 - base):g}^2 = {res:g}$, uncertainty ${base:g} \\cdot {1 - base:g} = "
        f"{unc:g}$, and ${rel:g} - {res:g} + {unc:g} = {parts.brier:g}$, the Brier "
        "score $(" + " + ".join(f"{e:g}" for e in (q - y) ** 2) + ")/4$",
    )
    assert parts.within_bin_variance == 0 and parts.binned_brier == pytest.approx(
        parts.brier
    )
    assert rel - res + unc == pytest.approx(cal.brier_score(q, y))


@binds(EVALUATION, "2.1972")
def test_platt_undoes_the_pos_weight_shift():
    w_pos = 9
    rng = np.random.default_rng(0)
    z_true = rng.normal(scale=2.0, size=20000)
    y = (rng.uniform(size=z_true.size) < sigmoid_array(z_true)).astype(int)
    z = z_true + math.log(w_pos)
    np.testing.assert_allclose(
        cal.apply_platt(z, 1.0, -math.log(w_pos)), sigmoid_array(z_true)
    )
    a, b = cal.fit_platt(z, y)
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(
        -math.log(w_pos), abs=0.1
    )
    # No temperature reaches it: the best one leaves a higher NLL.
    t = cal.fit_temperature(z, y)
    assert (
        cal.negative_log_likelihood(z, y, t)
        > cal.negative_log_likelihood(a * z + b, y) + 0.05
    )
    printed(
        EVALUATION,
        f"For $w_+ = {w_pos}$: $a = 1$ and $b = -\\log {w_pos} \\approx "
        f"{-math.log(w_pos):.4f}$",
    )


def sigmoid_array(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


@binds(EVALUATION, "3.6410", "0.9820", "0.75")
def test_binary_temperature_exercise():
    rate = 3 / 4
    logits, y = np.full(4, 4.0), np.array([1, 1, 1, 0])
    assert y.mean() == rate
    closed_form = 4 / math.log(rate / (1 - rate))
    assert cal.fit_temperature(logits, y) == pytest.approx(closed_form, rel=1e-5)
    printed(
        EVALUATION,
        f"$4/\\log 3 \\approx {closed_form:.4f}$, the example in the docstring",
    )
    printed(
        EVALUATION,
        f"confidence $\\sigma(4) \\approx {sigmoid(4):.4f}$ drops to "
        f"${sigmoid(4 / closed_form):.2f}$",
    )


def test_brier_decomposition_and_properness():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4))
    for q in [rng.dirichlet(np.ones(4)) for _ in range(5)]:
        expected = sum(p[c] * np.sum((q - np.eye(4)[c]) ** 2) for c in range(4))
        assert abs(expected - (np.sum((q - p) ** 2) + np.sum(p * (1 - p)))) < 1e-12
        # Both scores are smallest at q = p.
        assert expected > np.sum(p * (1 - p))
        assert -np.sum(p * np.log(q)) > xn.entropy(p)


# --------------------------------------------------------------------------------------
# Chapter 8: misconceptions
# --------------------------------------------------------------------------------------


@binds(MISCONCEPTIONS, "2.3026", "16.12")
def test_loss_range_numbers(torch, keras):
    uniform = float(xn.cross_entropy(np.zeros((1, 10)), np.array([3])))
    printed(MISCONCEPTIONS, f"$\\log 10 \\approx {uniform:.4f}$ per example")
    F = torch.nn.functional
    clamp = float(F.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0])))
    clip = float(keras.losses.binary_crossentropy(np.ones((1, 1)), np.zeros((1, 1)))[0])
    printed(MISCONCEPTIONS, f"{clamp:.0f} in PyTorch or about {clip:.2f} in Keras")


@binds(MISCONCEPTIONS, "0.5", "0.6931", "0.9", "0.1", "1.2040", "0.5108", "0.3681")
def test_cross_entropy_is_not_a_distance():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    h_pp = float(xn.entropy(p))
    h_pq = float(xn.entropy(p) + xn.kl_divergence(p, q))
    h_qp = float(xn.entropy(q) + xn.kl_divergence(q, p))
    assert abs(h_pq - float(-np.sum(p * np.log(q)))) < 1e-12
    printed(MISCONCEPTIONS, f"$\\log 2 \\approx {h_pp:.4f}$ for $p = ({p[0]}, {p[1]})$")
    printed(
        MISCONCEPTIONS,
        f"for $p = ({p[0]}, {p[1]})$ and $q = ({q[0]}, {q[1]})$, $H(p, q) \\approx "
        f"{h_pq:.4f}$ but $H(q, p) = \\log 2 \\approx {h_qp:.4f}$",
    )
    printed(
        MISCONCEPTIONS,
        f"$D_{{\\mathrm{{KL}}}}(p \\,\\Vert\\, q) \\approx "
        f"{float(xn.kl_divergence(p, q)):.4f}$ "
        f"while $D_{{\\mathrm{{KL}}}}(q \\,\\Vert\\, p) \\approx "
        f"{float(xn.kl_divergence(q, p)):.4f}$",
    )


def test_mse_gradient_vanishes_on_confident_mistakes(torch):
    z = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0], dtype=torch.float64)
    torch.nn.functional.binary_cross_entropy_with_logits(z, y).backward()
    ce_grad = float(z.grad)
    z.grad = None
    ((torch.sigmoid(z) - y) ** 2).sum().backward()
    mse_grad = float(z.grad)
    q = sigmoid(-10)
    assert abs(ce_grad - (q - 1)) < 1e-12
    assert abs(mse_grad - 2 * (q - 1) * q * (1 - q)) < 1e-15
    printed(
        MISCONCEPTIONS,
        f"At $z = -10$ with $y = 1$ the squared error pushes about "
        f"{round(ce_grad / mse_grad, -3):.0f} times less than cross-entropy",
    )


@binds(MISCONCEPTIONS, "0.2320", "1.4612", "0.3133", "5.9095", "6.9078")
def test_double_softmax_floor(torch):
    for num_classes in (10, 2, 1000):
        bound = math.e / (math.e + num_classes - 1)
        floor = -math.log(bound)
        if num_classes == 10:
            printed(
                MISCONCEPTIONS,
                f"For $C = {num_classes}$ the bound {{eq}}`eq-double-softmax-bound` is "
                f"${bound:.4f}$, so the loss can never go below "
                f"$-\\log {bound:.4f} \\approx {floor:.4f}$",
            )
            printed(
                MISCONCEPTIONS, f"${floor:.4f}$ for $C = {num_classes}$, as in the text"
            )
        elif num_classes == 2:
            printed(
                MISCONCEPTIONS, f"for $C = {num_classes}$ the floor is ${floor:.4f}$"
            )
        else:
            uniform = math.log(num_classes)
            printed(
                MISCONCEPTIONS,
                f"${floor:.4f}$ for $C = {num_classes}$, close to the "
                f"$\\log {num_classes} \\approx {uniform:.4f}$ of a uniform guess",
            )
        # The best a model can do through nn.CrossEntropyLoss after a softmax: certain
        # logits.
        logits = torch.full((1, num_classes), -50.0)
        logits[0, 0] = 50.0
        loss = torch.nn.functional.cross_entropy(
            torch.softmax(logits, dim=-1), torch.tensor([0])
        )
        assert abs(float(loss) - floor) < 1e-5


@binds(MISCONCEPTIONS, "0.5", "1.19", "16.1181", "0.4055", "16.5236")
def test_keras_logits_passed_as_probabilities(keras):
    row = [2.0, -1.0, 0.5]
    logits = np.array([row, row], np.float32)
    onehot = np.eye(3, dtype=np.float32)[[0, 1]]
    losses = keras.losses.categorical_crossentropy(onehot, logits).numpy()
    printed(
        MISCONCEPTIONS,
        f"for logits $({row[0]:g}, {row[1]:g}, {row[2]:g})$ that gives a loss of about "
        f"${sci(losses[0])}$ for target class $0$ and the clip ceiling "
        f"${losses[1]:.4f}$ for class $1$",
    )
    # The sparse loss clips first and then normalises: other numbers.
    sparse = keras.losses.sparse_categorical_crossentropy(np.array([0, 1]), logits)
    clipped = np.clip(np.array(row), 1e-7, 1 - 1e-7)
    by_hand = -np.log(clipped[:2] / clipped.sum())
    assert np.allclose(sparse.numpy(), by_hand, rtol=1e-5)
    printed(
        MISCONCEPTIONS,
        f"gives the same logits the losses ${sparse[0]:.4f}$ and ${sparse[1]:.4f}$",
    )


@binds(MISCONCEPTIONS, "0.51", "0.6733", "0.99", "0.4", "0.9", "0.0101", "0.1")
@binds(MISCONCEPTIONS, "0.9163", "0.1007", "0.0090", "6.643", "0.0013", "0.13")
def test_lower_loss_with_lower_accuracy():
    a, b, b_wrong, share = 0.51, 0.99, 0.4, 0.9
    loss_a = -math.log(a)
    correct, wrong = -math.log(b), -math.log(b_wrong)
    loss_b = share * correct + (1 - share) * wrong
    assert loss_b < loss_a
    printed(
        MISCONCEPTIONS,
        f"model A gives the true class probability ${a}$ on every example: accuracy "
        f"100%, loss $-\\log {a} \\approx {loss_a:.4f}$",
    )
    printed(
        MISCONCEPTIONS,
        f"gives the true class ${b}$ on {100 * share:.0f}% of the examples and "
        f"${b_wrong}$ on the other {100 * (1 - share):.0f}%",
    )
    printed(
        MISCONCEPTIONS,
        f"${share} \\times {correct:.4f} + {1 - share:.1f} \\times {wrong:.4f} "
        f"\\approx {loss_b:.4f}$",
    )
    # The exercise: the probability r on the misclassified 10% that equalises the
    # losses.
    needed = (loss_a - share * correct) / (1 - share)
    r = math.exp(-needed)
    assert share * correct + (1 - share) * -math.log(r) == pytest.approx(loss_a)
    printed(
        MISCONCEPTIONS,
        f"Solve ${share} \\times (-\\log {b}) + {1 - share:.1f} \\times (-\\log r) = "
        f"-\\log {a}$",
    )
    printed(
        MISCONCEPTIONS,
        f"$-\\log r = ({loss_a:.4f} - {share * correct:.4f})/{1 - share:.1f} \\approx "
        f"{needed:.3f}$, so $r \\approx {r:.4f}$",
    )
    printed(MISCONCEPTIONS, f"more than about ${100 * r:.2f}\\%$ probability")


@binds(STABILITY, "6.10", "-9.70", "9.7", "-87.34")
def test_float16_and_float32_subnormal_thresholds_in_the_exercise():
    float16_tiny = float(np.finfo(np.float16).tiny)
    threshold = math.log(float16_tiny)
    # Below the threshold the shifted exponential is subnormal in float16.
    assert np.float16(math.exp(threshold - 0.01)) < np.finfo(np.float16).tiny
    assert np.float16(math.exp(threshold + 0.01)) >= np.finfo(np.float16).tiny
    printed(
        STABILITY,
        rf"$z_c - m < \ln({sci(float16_tiny)}) \approx {threshold:.2f}$",
    )
    printed(
        STABILITY, f"A class whose logit is about ${-threshold:.1f}$ below the largest"
    )
    printed(
        STABILITY,
        f"its threshold is at ${math.log(float(np.finfo(np.float32).tiny)):.2f}$",
    )


def test_torch_bce_gradient_at_a_certain_mistake(torch):
    probs = torch.tensor([0.0], requires_grad=True)
    torch.nn.functional.binary_cross_entropy(probs, torch.tensor([1.0])).backward()
    assert abs(float(probs.grad) / -1e12 - 1) < 1e-6  # 1e-12 is not exact in float32
    printed(STABILITY, "which at $p = 0$, $y = 1$ is about $-10^{12}$")

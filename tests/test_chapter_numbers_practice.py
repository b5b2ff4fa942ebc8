"""Every number printed in chapters 5-8 (the practice chapters), recomputed.

Each test recomputes a value with NumPy, ``xent``, PyTorch or TensorFlow, formats it exactly
as the chapter prints it, and checks that the chapter contains that text in its context. A
change to the chapter, to ``xent`` or to a framework's behaviour that alters a printed number
fails here. Framework checks are skipped, with the reason, when the framework is missing.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pytest

from xent import calibration as cal
from xent import numpy as xn

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
STABILITY = "05-numerical-stability.md"
VARIANTS = "06-variants.md"
EVALUATION = "07-evaluating-probabilities.md"
MISCONCEPTIONS = "08-misconceptions.md"


@functools.cache
def _text(name: str) -> str:
    # Whitespace collapsed, so that a checked phrase may span a line break of the source.
    return " ".join((CHAPTERS / name).read_text(encoding="utf-8").split())


def printed(name: str, snippet: str) -> None:
    """Assert that chapter ``name`` contains ``snippet`` (whitespace-insensitive)."""
    snippet = " ".join(snippet.split())
    assert snippet in _text(name), f"{name} does not print {snippet!r}"


def sci(x: float, digits: int = 2) -> str:
    r"""``x`` as the chapters print it in LaTeX: ``3.40 \times 10^{38}``."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


# ---------------------------------------------------------------------------------------------
# Chapter 5: numerical stability
# ---------------------------------------------------------------------------------------------

# (name, exponent bits, fraction bits) of the three formats in the table.
FORMATS = [("float32", 8, 23), ("float16", 5, 10), ("bfloat16", 8, 7)]


@pytest.mark.parametrize(("name", "exponent_bits", "fraction_bits"), FORMATS)
def test_float_limits_table(name, exponent_bits, fraction_bits):
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
    # eq-exp-overflow: ln(largest) is close to (e_max + 1) ln 2.
    assert abs(math.log(largest) - (e_max + 1) * math.log(2)) < 0.01
    largest_text = "65504" if name == "float16" else sci(largest)
    printed(
        STABILITY,
        f"| {name} | {exponent_bits} / {fraction_bits} | ${largest_text}$ | "
        f"${sci(smallest_normal)}$ | ${sci(epsilon)}$ | {math.log(largest):.2f} | "
        f"{math.log(smallest_normal):.2f} |",
    )


def test_largest_float16_input_with_finite_exp():
    x = np.float16(11.0859375)
    following = np.nextafter(x, np.float16(np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(x)) and np.isinf(np.exp(following))
    printed(
        STABILITY,
        f"is ${float(x)}$: the next float16 number, ${float(following)}$, already",
    )


def test_largest_bfloat16_input_with_finite_exp(torch):
    bf16 = torch.bfloat16
    x, following = torch.tensor(88.5, dtype=bf16), torch.tensor(89.0, dtype=bf16)
    # Nothing lies between them in bfloat16: the midpoint rounds to one of the two.
    assert float(torch.tensor(88.75, dtype=bf16)) in (88.5, 89.0)
    assert torch.isfinite(torch.exp(x)) and torch.isinf(torch.exp(following))
    printed(
        STABILITY,
        "$0.5$ wide, so the largest such input is $88.5$ and the next one is $89$",
    )


def test_float16_overflows_at_logit_12():
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(np.float16(12.0)))
    printed(STABILITY, "exceeds $11.09$")


def test_log_sum_exp_examples():
    for x, shown in [(1000.0, "1000.6931"), (-1000.0, "-999.3069")]:
        pair = np.array([x, x])
        with np.errstate(over="ignore", divide="ignore"):
            naive = np.log(np.sum(np.exp(pair)))
        assert np.isinf(naive)
        assert f"{float(xn.logsumexp(pair)):.4f}" == shown
        printed(STABILITY, rf"\approx {shown}$")


def test_log_softmax_rescues_underflow(torch):
    assert sci(math.exp(-200)) == r"1.38 \times 10^{-87}"
    assert (
        sci(float(np.finfo(np.float32).smallest_subnormal), 1) == r"1.4 \times 10^{-45}"
    )
    printed(STABILITY, r"\approx 1.38 \times 10^{-87}$ is far below")
    printed(STABILITY, r"a subnormal of about $1.4 \times 10^{-45}$")
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
        "gives the loss $200$ and the gradient $q - \\text{onehot}(t) = (1, -1)$",
    )


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


def test_logits_versus_probabilities_table(torch):
    F = torch.nn.functional
    zero = torch.tensor([0.0])
    for z in (15, 16, 17, 20):
        logit = torch.tensor([float(z)])
        from_logits = float(F.binary_cross_entropy_with_logits(logit, zero))
        from_probs = float(F.binary_cross_entropy(torch.sigmoid(logit), zero))
        # The exact loss is softplus(z) = z + log1p(exp(-z)), which is z to 4 decimals here.
        exact = z + math.log1p(math.exp(-z))
        printed(
            STABILITY, f"| {z} | {exact:.4f} | {from_logits:.4f} | {from_probs:.4f} |"
        )
    assert float(torch.sigmoid(torch.tensor(17.0))) == 1.0


def test_gradient_through_probabilities_vanishes(torch):
    F = torch.nn.functional
    z = torch.tensor([17.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(z, torch.tensor([0.0])).backward()
    printed(STABILITY, f"$\\sigma(z) - y = {float(z.grad):.4f}$ at $z = 17$")
    z.grad = None
    F.binary_cross_entropy(torch.sigmoid(z), torch.tensor([0.0])).backward()
    assert float(z.grad) == 0.0
    printed(STABILITY, "Through the probability it is exactly $0$")


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


def test_torch_clamp(torch):
    F = torch.nn.functional
    assert (
        float(F.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0]))) == 100.0
    )
    printed(STABILITY, "A single confident mistake therefore costs at most $100$")
    printed(STABILITY, rf"$p < e^{{-100}} \approx {sci(math.exp(-100))}$")


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


def test_sklearn_ceiling_from_its_documented_rule():
    # log_loss clips to [eps, 1 - eps] with eps = np.finfo(y_pred.dtype).eps (its documentation).
    eps = float(np.finfo(np.float64).eps)
    printed(
        STABILITY,
        rf"${sci(eps)}$, a ceiling of $-\log({sci(eps)}) \approx {-math.log(eps):.2f}$",
    )


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
        f"gives a mean loss of ${torch_mean:.1f}$ in PyTorch, ${keras_mean:.4f}$ in Keras and "
        f"${sklearn_mean:.4f}$ in scikit-learn",
    )


# The batch of the weighted-mean comparison (chapter 5, repeated in chapter 8).
LOGITS = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [0.5, 0.5, 3.0]], np.float32)
TARGET = np.array([0, 2, 2])
WEIGHT = np.array([1.0, 2.0, 5.0], np.float32)


def test_weighted_mean_differs_between_libraries(torch, keras):
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
    # Categorical smoothing is (1 - eps) y + eps / C in both; binary smoothing goes towards 1/2.
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


# ---------------------------------------------------------------------------------------------
# Chapter 6: variants
# ---------------------------------------------------------------------------------------------


def test_weighted_optimum():
    p, w = np.array([0.9, 0.1]), np.array([1.0, 9.0])
    optimum = w * p / np.sum(w * p)
    # The gradient of the expected weighted loss vanishes at the logits of the optimum.
    grad = xn.cross_entropy_grad(np.log(optimum)[None], p[None], weight=w)
    assert np.allclose(grad, 0.0, atol=1e-12)
    printed(VARIANTS, "$q^\\star = ({:.1f}, {:.1f})$".format(*optimum))


def test_pos_weight_shift():
    pi, a = 0.1, 9.0
    zs = np.linspace(-3.0, 3.0, 60001)
    expected = pi * xn.binary_cross_entropy_with_logits(
        zs, np.ones_like(zs), pos_weight=a, reduction="none"
    ) + (1 - pi) * xn.binary_cross_entropy_with_logits(
        zs, np.zeros_like(zs), reduction="none"
    )
    best = zs[np.argmin(expected)]
    shift = math.log(a)
    assert abs(best - (math.log(pi / (1 - pi)) + shift)) < 1e-3
    assert abs(1 / (1 + math.exp(-best)) - 0.5) < 1e-3
    printed(
        VARIANTS, f"a shift of $\\log 9 \\approx {shift:.4f}$, and $s^\\star = 0.5$"
    )


def test_mean_of_means_is_not_the_token_mean():
    # Log-probabilities whose target entries are -1 and -2, padded with ignored positions.
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


def test_label_smoothing_optimum():
    num_classes, eps = 10, 0.1
    target = np.full(num_classes, eps / num_classes)
    target[0] += 1 - eps
    floor = float(xn.entropy(target))
    gap = math.log(target[0] / target[1])
    # At logits log y' the smoothed loss equals H(y') and its gradient vanishes.
    logits = np.log(target)[None]
    loss = float(xn.cross_entropy(logits, np.array([0]), label_smoothing=eps))
    grad = xn.cross_entropy_grad(logits, np.array([0]), label_smoothing=eps)
    assert abs(loss - floor) < 1e-12 and np.allclose(grad, 0.0, atol=1e-12)
    printed(
        VARIANTS,
        f"$y'$ gives the true class ${target[0]:.2f}$ and every other class ${target[1]:.2f}$",
    )
    printed(VARIANTS, f"$\\log 91 \\approx {gap:.4f}$")
    assert round(target[0] / target[1]) == 91
    printed(VARIANTS, f"$H(y') \\approx {floor:.4f}$")
    printed(MISCONCEPTIONS, f"${floor:.4f}$ for 10 classes with $\\varepsilon = 0.1$")
    terms = -target * np.log(target)
    printed(
        VARIANTS,
        f"\\approx {terms[0]:.4f} + {terms[1:].sum():.4f} = {terms.sum():.4f}$",
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


def test_distillation_gradient_scaling(torch):
    teacher, student = np.array([3.0, 1.0, -4.0]), np.array([1.0, 0.0, -1.0])
    cells = []
    for temperature in (1, 2, 5, 10, 20):
        soft = xn.softmax(teacher / temperature)[None]
        grad = xn.cross_entropy_grad(student[None] / temperature, soft)[0] / temperature
        # The same gradient from autograd through xent's soft-target cross-entropy.
        z = torch.tensor(student, requires_grad=True)
        from xent import torch as xt

        xt.cross_entropy(z[None] / temperature, torch.tensor(soft)).backward()
        assert np.allclose(z.grad.numpy(), grad)
        cells.append(f"{temperature**2 * np.linalg.norm(grad):.3f}")
    printed(VARIANTS, " | ".join(cells) + " |")
    limit = np.linalg.norm(student - teacher) / 3
    assert abs(limit - math.sqrt(14) / 3) < 1e-12
    printed(
        VARIANTS, f"$\\lVert z - v \\rVert / C = \\sqrt{{14}}/3 \\approx {limit:.3f}$"
    )


def test_torch_kl_div_reductions(torch):
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


def test_focal_loss_numbers():
    printed(
        VARIANTS,
        f"$(1 - 0.9)^2 = {(1 - 0.9) ** 2:.2f}$, one with $p_t = 0.5$ by ${(1 - 0.5) ** 2:.2f}$",
    )
    bias = -math.log((1 - 0.01) / 0.01)
    printed(VARIANTS, f"$\\pi = 0.01$, that is ${bias:.3f}$")
    # gamma = 0 and no alpha is plain binary cross-entropy.
    z, y = np.array([-2.0, 0.5, 3.0]), np.array([1.0, 0.0, 1.0])
    assert np.allclose(
        xn.sigmoid_focal_loss(z, y, alpha=-1, gamma=0),
        xn.binary_cross_entropy_with_logits(z, y, reduction="none"),
    )
    # Expected focal loss at positive rate 0.9: minimised well below 0.9.
    zs = np.linspace(-4.0, 4.0, 160001)
    expected = 0.9 * xn.sigmoid_focal_loss(zs, np.ones_like(zs), alpha=-1) + 0.1 * (
        xn.sigmoid_focal_loss(zs, np.zeros_like(zs), alpha=-1)
    )
    best = 1 / (1 + math.exp(-zs[np.argmin(expected)]))
    printed(VARIANTS, f"$s^\\star \\approx {best:.3f}$")
    # And at positive rate 0.5 the minimiser is 0.5 (the symmetric case).
    symmetric = 0.5 * xn.sigmoid_focal_loss(zs, np.ones_like(zs), alpha=-1) + 0.5 * (
        xn.sigmoid_focal_loss(zs, np.zeros_like(zs), alpha=-1)
    )
    assert abs(zs[np.argmin(symmetric)]) < 1e-3


def test_two_class_softmax_is_binary_cross_entropy():
    a, b = 0.5, 2.0
    softmax_loss = float(xn.cross_entropy(np.array([[a, b]]), np.array([1])))
    binary_loss = float(
        xn.binary_cross_entropy_with_logits(np.array([b - a]), np.array([1.0]))
    )
    assert abs(softmax_loss - binary_loss) < 1e-12
    printed(VARIANTS, f"$\\log(1 + e^{{-1.5}}) \\approx {binary_loss:.4f}$ for $t = 1$")
    for t in (0, 1):
        grad = xn.cross_entropy_grad(np.array([[a, b]]), np.array([t]))[0]
        residual = 1 / (1 + math.exp(-(b - a))) - t
        assert np.allclose(grad, [-residual, residual])
    assert np.allclose(xn.softmax(np.array([0.0, 1.3]))[1], 1 / (1 + math.exp(-1.3)))


# ---------------------------------------------------------------------------------------------
# Chapter 7: evaluating probabilities
# ---------------------------------------------------------------------------------------------


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


CONFIDENCE = np.array([0.95, 0.92, 0.91, 0.85, 0.81, 0.72, 0.66, 0.62, 0.55, 0.45])
CORRECT = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 0])


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
    labels = {4: "$(0.8, 1]$", 3: "$(0.6, 0.8]$", 2: "$(0.4, 0.6]$"}
    for index, label in labels.items():
        conf, acc, count = (
            bins.confidence[index],
            bins.accuracy[index],
            bins.counts[index],
        )
        printed(
            EVALUATION,
            f"| {label} | {count} | {conf:.3f} | {acc:.3f} | {abs(acc - conf):.3f} | "
            f"{count / len(CONFIDENCE):.1f} |",
        )
    assert bins.counts[:2].tolist() == [0, 0]
    ece = cal.expected_calibration_error(CONFIDENCE, CORRECT, n_bins=5)
    weights = bins.counts / bins.counts.sum()
    gaps = np.abs(bins.accuracy - bins.confidence)
    assert abs(ece - np.nansum(weights * gaps)) < 1e-12
    printed(EVALUATION, f"0.2 \\cdot 0 = {ece:.3f}$")


def test_constant_forecast_is_calibrated():
    y = np.array([1] * 3 + [0] * 7)
    probs = np.full(10, 0.3)
    assert abs(cal.expected_calibration_error(probs, y)) < 1e-12
    assert abs(cal.brier_score(probs, y) - 0.3 * 0.7) < 1e-12
    log_loss = float(xn.binary_cross_entropy(probs, y.astype(float)))
    printed(EVALUATION, f"(about ${log_loss:.4f}$ for $\\pi = 0.3$)")
    printed(MISCONCEPTIONS, f"$-0.3 \\log 0.3 - 0.7 \\log 0.7 \\approx {log_loss:.4f}$")


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
    assert np.allclose(scaled.max(axis=1), 0.8)
    assert np.mean(scaled.argmax(axis=1) == y) == accuracy == 0.8
    printed(
        EVALUATION,
        f"$e^4/(e^4 + 2) \\approx {confidence:.4f}$ while the accuracy is ${accuracy}$",
    )
    printed(EVALUATION, f"the validation NLL is ${before:.4f}$")
    printed(EVALUATION, f"$T^\\star = 4 / \\log 8 \\approx {closed_form:.4f}$")
    printed(EVALUATION, f"The NLL drops to ${after:.4f}$")
    brier_before = cal.brier_score(xn.softmax(logits), y)
    brier_after = cal.brier_score(scaled, y)
    printed(EVALUATION, f"falls from ${brier_before:.4f}$ to ${brier_after:.4f}$")


def test_log_score_and_brier_score_of_a_confident_mistake():
    log_loss = -math.log(0.001)
    brier = cal.brier_score(np.array([[0.999, 0.001]]), np.array([1]))
    assert abs(brier - 2 * 0.999**2) < 1e-12
    printed(EVALUATION, f"$-\\log 0.001 \\approx {log_loss:.4f}$")
    printed(EVALUATION, f"0.999^2 + 0.999^2 = {brier:.3f}$")
    printed(MISCONCEPTIONS, f"$-\\log 0.001 \\approx {log_loss:.4f}$")


def test_brier_decomposition_and_properness():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4))
    for q in [rng.dirichlet(np.ones(4)) for _ in range(5)]:
        expected = sum(p[t] * np.sum((q - np.eye(4)[t]) ** 2) for t in range(4))
        assert abs(expected - (np.sum((q - p) ** 2) + np.sum(p * (1 - p)))) < 1e-12
        # Both scores are smallest at q = p.
        assert expected > np.sum(p * (1 - p))
        assert -np.sum(p * np.log(q)) > xn.entropy(p)


# ---------------------------------------------------------------------------------------------
# Chapter 8: misconceptions
# ---------------------------------------------------------------------------------------------


def test_loss_range_numbers():
    uniform = float(xn.cross_entropy(np.zeros((1, 10)), np.array([3])))
    printed(MISCONCEPTIONS, f"$\\log 10 \\approx {uniform:.4f}$ per example")


def test_cross_entropy_is_not_a_distance():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    h_pp = float(xn.entropy(p))
    h_pq = float(xn.entropy(p) + xn.kl_divergence(p, q))
    h_qp = float(xn.entropy(q) + xn.kl_divergence(q, p))
    assert abs(h_pq - float(-np.sum(p * np.log(q)))) < 1e-12
    printed(MISCONCEPTIONS, f"$\\log 2 \\approx {h_pp:.4f}$ for $p = (0.5, 0.5)$")
    printed(
        MISCONCEPTIONS,
        f"$H(p, q) \\approx {h_pq:.4f}$ but $H(q, p) = \\log 2 \\approx {h_qp:.4f}$",
    )
    printed(
        MISCONCEPTIONS,
        f"$\\mathrm{{KL}}(p \\,\\|\\, q) \\approx {float(xn.kl_divergence(p, q)):.4f}$ while "
        f"$\\mathrm{{KL}}(q \\,\\|\\, p) \\approx {float(xn.kl_divergence(q, p)):.4f}$",
    )


def test_mse_gradient_vanishes_on_confident_mistakes(torch):
    z = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0], dtype=torch.float64)
    torch.nn.functional.binary_cross_entropy_with_logits(z, y).backward()
    ce_grad = float(z.grad)
    z.grad = None
    ((torch.sigmoid(z) - y) ** 2).sum().backward()
    mse_grad = float(z.grad)
    p = 1 / (1 + math.exp(10))
    assert (
        abs(ce_grad - (p - 1)) < 1e-12
        and abs(mse_grad - 2 * (p - 1) * p * (1 - p)) < 1e-15
    )
    printed(
        MISCONCEPTIONS,
        f"gradient is ${ce_grad:.5f}$, the squared-error gradient ${sci(mse_grad)}$",
    )
    printed(MISCONCEPTIONS, f"about {round(ce_grad / mse_grad, -3):.0f} times smaller")


def test_double_softmax_floor(torch):
    for num_classes in (10, 2):
        bound = math.e / (math.e + num_classes - 1)
        floor = -math.log(bound)
        if num_classes == 10:
            printed(
                MISCONCEPTIONS,
                f"bound {{eq}}`eq-double-softmax-bound` is ${bound:.4f}$",
            )
            printed(MISCONCEPTIONS, f"$-\\log {bound:.4f} \\approx {floor:.4f}$")
        else:
            printed(MISCONCEPTIONS, f"for $C = 2$ the floor is ${floor:.4f}$")
        # The best a model can do through nn.CrossEntropyLoss after a softmax: certain logits.
        logits = torch.full((1, num_classes), -50.0)
        logits[0, 0] = 50.0
        loss = torch.nn.functional.cross_entropy(
            torch.softmax(logits, dim=-1), torch.tensor([0])
        )
        assert abs(float(loss) - floor) < 1e-5


def test_keras_logits_passed_as_probabilities(keras):
    logits = np.array([[2.0, -1.0, 0.5], [2.0, -1.0, 0.5]], np.float32)
    onehot = np.eye(3, dtype=np.float32)[[0, 1]]
    losses = keras.losses.categorical_crossentropy(onehot, logits).numpy()
    printed(
        MISCONCEPTIONS,
        f"For logits $(2, -1, 0.5)$ that gives a loss of about ${sci(losses[0])}$",
    )
    printed(MISCONCEPTIONS, f"the clip ceiling ${losses[1]:.4f}$ for class $1$")


def test_lower_loss_with_lower_accuracy():
    loss_a = -math.log(0.51)
    correct, wrong = -math.log(0.99), -math.log(0.4)
    loss_b = 0.9 * correct + 0.1 * wrong
    assert loss_b < loss_a
    printed(MISCONCEPTIONS, f"accuracy 100%, loss $-\\log 0.51 \\approx {loss_a:.4f}$")
    printed(
        MISCONCEPTIONS,
        f"$0.9 \\times {correct:.4f} + 0.1 \\times {wrong:.4f} \\approx {loss_b:.4f}$",
    )
    # The exercise: the probability r on the misclassified 10% that equalises the two losses.
    needed = (loss_a - 0.9 * correct) / 0.1
    r = math.exp(-needed)
    printed(
        MISCONCEPTIONS,
        f"$-\\log r = ({loss_a:.4f} - {0.9 * correct:.4f})/0.1 \\approx {needed:.3f}$, "
        f"so $r \\approx {r:.4f}$",
    )
    printed(MISCONCEPTIONS, f"more than about ${100 * r:.2f}\\%$ probability")


def test_float16_and_float32_subnormal_thresholds_in_the_exercise():
    float16_tiny = float(np.finfo(np.float16).tiny)
    printed(
        STABILITY,
        rf"$x_j - m < \ln({sci(float16_tiny)}) \approx {math.log(float16_tiny):.2f}$",
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


def test_soft_gradient_without_t_squared():
    printed(VARIANTS, f"at $T = 20$ would be {20**2} times smaller")


def test_clamp_maximum_quoted_in_misconceptions(torch, keras):
    F = torch.nn.functional
    clamp = float(F.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0])))
    clip = float(keras.losses.binary_crossentropy(np.ones((1, 1)), np.zeros((1, 1)))[0])
    printed(MISCONCEPTIONS, f"{clamp:.0f} in PyTorch or about {clip:.2f} in Keras")

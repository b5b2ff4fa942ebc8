"""``xent.tensorflow.cross_entropy``'s memory-lean gradients against PyTorch's autograd.

The loss has small custom gradients (chapter "Cross-entropy at scale"), so the gradients
with respect to every differentiable input (logits, class weights, probability targets)
and the second derivatives are checked here against ``F.cross_entropy``, for every
option.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import (
    options_grid,
    options_id,
    reference_grid,
    seeded_case,
    torch_cross_entropy,
)

tf = pytest.importorskip("tensorflow", reason="tests xent.tensorflow")
torch = pytest.importorskip("torch", reason="PyTorch's autograd is the oracle")
F = torch.nn.functional
from xent import tensorflow as xtf  # noqa: E402

# Every test here passes class weights (their gradient is checked too).
OPTIONS = [
    {k: v for k, v in options.items() if k != "weight"}
    for options in options_grid(weight=(True,), ignore_index=(-100, 2))
]


def _case(probs: bool, ignore_index: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(4, 5, 7)) * 3
    weight = rng.uniform(0.1, 2.0, 7)
    if probs:
        target = rng.dirichlet(np.ones(7), size=(4, 5))
    else:
        target = rng.integers(0, 7, size=(4, 5))
        target[0, :2] = ignore_index
    upstream = rng.uniform(0.5, 1.5, size=(4, 5))
    return logits, weight, target, upstream


@pytest.mark.parametrize("options", OPTIONS, ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
def test_gradients_for_logits_weight_and_target_match_torch(options, probs):
    if probs:
        options = {**options, "ignore_index": -100}
    logits, weight, target, upstream = _case(probs, options["ignore_index"])
    scale = upstream if options["reduction"] == "none" else 1.0

    z, w = tf.Variable(logits), tf.Variable(weight)
    t = tf.Variable(target) if probs else tf.constant(target)
    with tf.GradientTape() as tape:
        loss = xtf.cross_entropy(z, t, weight=w, **options)
        total = tf.reduce_sum(loss * scale)
    got = tape.gradient(total, [z, w, t] if probs else [z, w])

    zt = torch.tensor(logits, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    tt = torch.tensor(target, requires_grad=probs)
    want_loss = torch_cross_entropy(zt, tt, weight=wt, **options)
    inputs = [zt, wt, tt] if probs else [zt, wt]
    want = torch.autograd.grad((want_loss * torch.tensor(scale)).sum(), inputs)

    # the oracle differentiates in the weight by a formula of its own: hold it to
    # F.cross_entropy's numbers
    builtin = torch_cross_entropy(
        zt.detach(), tt.detach(), weight=wt.detach(), **options
    )
    np.testing.assert_allclose(want_loss.detach().numpy(), builtin.numpy(), rtol=1e-12)
    np.testing.assert_allclose(loss.numpy(), builtin.numpy(), rtol=1e-12, atol=1e-12)
    for g, w_ in zip(got, want, strict=True):
        g = tf.convert_to_tensor(
            g
        )  # a gathered weight has a sparse (IndexedSlices) gradient
        np.testing.assert_allclose(g.numpy(), w_.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", OPTIONS[::3], ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
def test_second_derivatives_match_torch(options, probs):
    """A Hessian-vector product: the gradient of <gradient, v> with respect to the
    logits."""
    if probs:
        options = {**options, "ignore_index": -100}
    logits, weight, target, upstream = _case(probs, options["ignore_index"], seed=1)
    direction = np.random.default_rng(2).normal(size=logits.shape)
    scale = upstream if options["reduction"] == "none" else 1.0

    z = tf.Variable(logits)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_sum(
                xtf.cross_entropy(z, target, weight=weight, **options) * scale
            )
        grad = inner.gradient(loss, z)
        along = tf.reduce_sum(grad * direction)
    got = outer.gradient(along, z)

    zt = torch.tensor(logits, requires_grad=True)
    loss_t = (
        torch_cross_entropy(
            zt, torch.tensor(target), weight=torch.tensor(weight), **options
        )
        * torch.tensor(scale)
    ).sum()
    (grad_t,) = torch.autograd.grad(loss_t, zt, create_graph=True)
    (want,) = torch.autograd.grad((grad_t * torch.tensor(direction)).sum(), zt)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_under_tf_function_matches_eager():
    logits, weight, target, _ = _case(False, 2)

    def grads(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = xtf.cross_entropy(
                z, target, weight=weight, label_smoothing=0.1, ignore_index=2
            )
        return tape.gradient(loss, z)

    z = tf.constant(logits)
    np.testing.assert_allclose(
        tf.function(grads)(z).numpy(), grads(z).numpy(), rtol=1e-12
    )


# The fused pieces of ``xent._tensorflow_fused`` against the NumPy reference: the loss
# of every option, z-loss and soft-capping included, and the gradient against the
# closed form ``xent.numpy.cross_entropy_grad``.

from xent import _tensorflow_fused as fused  # noqa: E402
from xent import numpy as xn  # noqa: E402

NUM_CLASSES = 7
REFERENCE_GRID = reference_grid(
    [(0.0, None), (0.01, None), (0.0, 4.0), (0.1, 2.5)],  # z_loss_scale, softcap
    [(), (6,), (2, 3)],  # leading dimensions
)
REFERENCE_TOLERANCE = {np.float64: 1e-12, np.float32: 3e-6, np.float16: 3e-3}


def _fused(logits, target, weight, **options):
    """``fused._loss`` run eagerly (no graph to trace for each option), on the
    arguments as ``xtf.cross_entropy`` prepares them; the loss and z-loss, reduced."""
    z = tf.constant(logits) if isinstance(logits, np.ndarray) else logits
    t, probs = xtf._class_target(z, target, options["ignore_index"], check=False)
    w = None if weight is None else xtf._weight(weight, NUM_CLASSES, z)
    loss, z_loss, denominator, bad = fused._loss(
        z,
        t,
        w,
        probs,
        options["ignore_index"],
        options["label_smoothing"],
        options.get("z_loss_scale", 0.0),
        options.get("softcap"),
    )
    assert not bool(bad)
    reduction = options["reduction"]
    return (
        xtf._reduce(loss, reduction, denominator),
        xtf._reduce(z_loss, reduction, denominator),
    )


@pytest.mark.parametrize(
    ("use_weight", "ignore_index", "eps", "probs", "reduction", "lm", "lead", "dtype"),
    [case + (np.float64,) for case in REFERENCE_GRID]
    + [  # the narrow dtypes on one batch shape, without and with both LM options
        case + (dtype,)
        for case in REFERENCE_GRID
        if case[6] == (6,) and case[5] in ((0.0, None), (0.1, 2.5))
        for dtype in (np.float32, np.float16)
    ],
)
def test_fused_loss_is_the_numpy_reference(
    use_weight, ignore_index, eps, probs, reduction, lm, lead, dtype
):
    logits, target, weight = seeded_case(
        3, lead, dtype, use_weight, ignore_index, probs
    )
    z_loss_scale, softcap = lm
    options = {
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": eps,
        "z_loss_scale": z_loss_scale,
        "softcap": softcap,
    }
    assert logits.nbytes <= xn._PLAIN_MAX_BYTES  # the reference is the plain formula
    want, want_z = xn.cross_entropy(
        logits, target, weight=weight, return_z_loss=True, **options
    )
    got, got_z = _fused(logits, target, weight, **options)
    assert got.dtype.name == np.dtype(dtype).name
    assert tuple(got.shape) == np.shape(want)
    tol = REFERENCE_TOLERANCE[dtype]
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_z.numpy(), want_z, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    ("use_weight", "ignore_index", "eps", "probs", "reduction", "lead"),
    [case[:5] + case[6:] for case in REFERENCE_GRID if case[5] == (0.0, None)],
)
def test_fused_gradient_is_the_closed_form(
    use_weight, ignore_index, eps, probs, reduction, lead
):
    logits, target, weight = seeded_case(
        4, lead, np.float64, use_weight, ignore_index, probs
    )
    options = {
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": eps,
    }
    z = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(z)
        total = tf.reduce_sum(_fused(z, target, weight, **options)[0])
    got = tape.gradient(total, z).numpy()
    want = xn.cross_entropy_grad(logits, target, weight=weight, **options)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clamped_bce_is_the_numpy_reference_and_torch_gradient(dtype):
    q = np.array([0.0, 1e-30, 0.2, 0.5, 0.9, 1.0 - 1e-7, 1.0], dtype=dtype)
    y = np.array([1.0, 1.0, 0.3, 0.5, 0.0, 0.0, 1.0], dtype=dtype)
    qt, yt = tf.constant(q), tf.constant(y)
    with tf.GradientTape() as tape:
        tape.watch([qt, yt])
        got = fused.clamped_bce(qt, yt)
    grad_q, grad_y = tape.gradient(got, [qt, yt])
    np.testing.assert_allclose(got.numpy(), xn._clamped_bce(q, y), rtol=1e-6)
    qtt = torch.tensor(q, requires_grad=True)
    ytt = torch.tensor(y, requires_grad=True)
    want = F.binary_cross_entropy(qtt, ytt, reduction="none")
    want_q, want_y = torch.autograd.grad(want.sum(), [qtt, ytt])
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad_q.numpy(), want_q.numpy(), rtol=1e-6)
    # d/dy is -logit(q): infinite at q = 0 and 1, in PyTorch too
    np.testing.assert_allclose(grad_y.numpy(), want_y.numpy(), rtol=1e-6)


hypothesis = pytest.importorskip("hypothesis", reason="property tests")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


@st.composite
def _cross_entropy_cases(draw):
    rows = draw(st.integers(0, 5))
    classes = draw(st.integers(1, 6))
    values = st.floats(-40, 40, allow_nan=False, width=64)
    logits = draw(hnp.arrays(np.float64, (rows, classes), elements=values))
    probs = draw(st.booleans())
    if probs:
        raw = draw(hnp.arrays(np.float64, (rows, classes), elements=st.floats(0, 1)))
        target = raw / np.maximum(raw.sum(-1, keepdims=True), 1e-12)
        ignore_index = -100
    else:
        ignore_index = draw(st.sampled_from([-100, 0]))
        target = draw(
            hnp.arrays(np.int64, (rows,), elements=st.integers(0, classes - 1))
        )
    options = {
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.2, 1.0])),
        "z_loss_scale": draw(st.sampled_from([0.0, 1e-3])),
        "softcap": draw(st.sampled_from([None, 3.0])),
    }
    if draw(st.booleans()):
        weights = hnp.arrays(np.float64, (classes,), elements=st.floats(0.0, 3.0))
        options["weight"] = draw(weights)
    return logits, target, options


@given(_cross_entropy_cases())
def test_fused_loss_is_the_reference_on_any_batch(case):
    """The public function, eager graph and all, on batches hypothesis draws."""
    logits, target, options = case
    with np.errstate(invalid="ignore"):  # 0 / 0 = nan when nothing is counted
        want = xn.cross_entropy(logits, target, **options)
    got = xtf.cross_entropy(tf.constant(logits), tf.constant(target), **options)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)

"""Every backend against PyTorch's own losses, for every combination of options.

PyTorch is the oracle (``torch.nn.functional``, through ``_backends``); each test runs
once per backend (the ``backend`` fixture), a test of gradients once per backend with an
autograd (``autograd_backend``). Random cases come from hypothesis (as many as the
profile of ``conftest.py`` asks): shapes (unbatched, empty, extra dimensions), dtypes,
class-index and probability targets, and the options of the shared grid: weights,
ignored targets (outside and inside [0, C)), reductions, label smoothing, with logits up
to 1e4 in size.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import (
    NAMES,
    classes_first,
    load,
    options_grid,
    torch_loss_and_grad,
    torch_oracle,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The number of examples comes from the profile (conftest.py): 60, or 8 in test-fast.
SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
# The options of every cross-entropy case (with ignore_index drawn per case).
CE_OPTIONS = options_grid(label_smoothing=(0.0, 0.1, 0.5, 1.0))


def tolerance(dtype, scale=1.0):
    eps = np.finfo(dtype).eps
    return {
        "rtol": 64 * eps if dtype == np.float64 else 4e-6,
        "atol": 64 * eps * max(1.0, scale),
    }


# --------------------------------------------------------------------------------------
# Multi-class cross-entropy and NLL
# --------------------------------------------------------------------------------------


@st.composite
def ce_cases(draw):
    lead = tuple(
        draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    )  # () = unbatched
    num_classes = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 10.0, 1e4]))
    logits = (rng.normal(size=lead + (num_classes,)) * scale).astype(dtype)
    probs = draw(st.booleans())
    if probs:
        target = rng.dirichlet(np.ones(num_classes), size=lead).astype(dtype)
        ignore_index = -100
    else:
        ignore_index = draw(st.sampled_from([-100, 0, num_classes - 1, 255]))
        target = rng.integers(0, num_classes, size=lead)
        target = np.where(rng.random(lead) < 0.3, ignore_index, target).astype(np.int64)
    options = {**draw(st.sampled_from(CE_OPTIONS)), "ignore_index": ignore_index}
    if options["weight"]:
        options["weight"] = rng.uniform(0.1, 2.0, num_classes).astype(dtype)
    else:
        options["weight"] = None
    return logits, target, probs, options, scale


@given(case=ce_cases())
@SETTINGS
def test_cross_entropy_matches_torch(backend, case):
    logits, target, probs, options, scale = case
    want, want_grad = torch_loss_and_grad(logits, target, **options)
    got = backend.mod.cross_entropy(
        backend.arr(logits),
        backend.arr(target),
        **{**options, "weight": backend.opt(options["weight"])},
    )
    assert backend.dtype_name(got) == logits.dtype.name
    assert backend.np(got).shape == want.shape
    np.testing.assert_allclose(
        backend.np(got), want, equal_nan=True, **tolerance(logits.dtype, scale)
    )
    grad = backend.cross_entropy_grad(logits, target, **options)
    np.testing.assert_allclose(
        grad, want_grad, equal_nan=True, **tolerance(logits.dtype)
    )


@given(case=ce_cases())
@SETTINGS
def test_nll_loss_matches_torch(backend, case):
    logits, target, probs, options, _ = case
    if probs:
        target = np.argmax(target, axis=-1)  # nll_loss takes class indices only
    options = {
        k: v
        for k, v in options.items()
        if k not in ("label_smoothing", "z_loss_scale", "softcap")
    }
    torch, F = torch_oracle()
    log_probs = torch.log_softmax(torch.tensor(logits), dim=-1).numpy()
    w = options["weight"]
    want = F.nll_loss(
        torch.tensor(classes_first(log_probs)),
        torch.tensor(target),
        **{**options, "weight": None if w is None else torch.tensor(w)},
    ).numpy()
    got = backend.mod.nll_loss(
        backend.arr(log_probs),
        backend.arr(target),
        **{**options, "weight": None if w is None else backend.arr(w)},
    )
    assert backend.dtype_name(got) == logits.dtype.name
    np.testing.assert_allclose(
        backend.np(got), want, equal_nan=True, **tolerance(logits.dtype, 1e4)
    )


def test_cross_entropy_is_nll_of_log_softmax(backend):
    rng = np.random.default_rng(0)
    logits, target = rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    a = backend.mod.cross_entropy(
        backend.arr(logits), backend.arr(target), reduction="none"
    )
    c = backend.mod.nll_loss(
        backend.mod.log_softmax(backend.arr(logits)),
        backend.arr(target),
        reduction="none",
    )
    np.testing.assert_allclose(backend.np(a), backend.np(c), rtol=1e-12)


# --------------------------------------------------------------------------------------
# Binary losses and focal loss
# --------------------------------------------------------------------------------------


@st.composite
def binary_cases(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 10.0, 1e4]))
    logits = (rng.normal(size=shape) * scale).astype(dtype)
    if logits.size:
        logits.flat[0] = (
            0.0  # the kink of max(z, 0) and |z|: gradients must still be right
        )
    hard = draw(st.booleans())
    target = (rng.random(shape) < 0.5 if hard else rng.random(shape)).astype(dtype)
    last = shape[-1:] if shape else ()
    weight = rng.uniform(0.1, 2.0, shape).astype(dtype) if draw(st.booleans()) else None
    pos_weight = (
        rng.uniform(0.1, 5.0, last).astype(dtype) if draw(st.booleans()) else None
    )
    reduction = draw(st.sampled_from(["none", "mean", "sum"]))
    return logits, target, weight, pos_weight, reduction, scale


@given(case=binary_cases())
@SETTINGS
def test_binary_cross_entropy_with_logits_matches_torch(backend, case):
    logits, target, weight, pos_weight, reduction, scale = case
    torch, F = torch_oracle()
    z = torch.tensor(logits, requires_grad=True)
    want = F.binary_cross_entropy_with_logits(
        z,
        torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight),
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight),
        reduction=reduction,
    )
    want.sum().backward()

    def f(x):
        return backend.mod.binary_cross_entropy_with_logits(
            x,
            backend.arr(target),
            weight=backend.opt(weight),
            pos_weight=backend.opt(pos_weight),
            reduction=reduction,
        )

    got = f(backend.arr(logits))
    assert backend.dtype_name(got) == logits.dtype.name
    np.testing.assert_allclose(
        backend.np(got),
        want.detach().numpy(),
        equal_nan=True,
        **tolerance(logits.dtype, scale),
    )
    if backend.autograd:
        (grad,) = backend.grad(f, logits)
        np.testing.assert_allclose(grad, z.grad.numpy(), **tolerance(logits.dtype))


@given(case=binary_cases(), extremes=st.booleans())
@SETTINGS
def test_binary_cross_entropy_matches_torch(backend, case, extremes):
    logits, target, weight, _, reduction, _ = case
    torch, F = torch_oracle()
    probs = torch.sigmoid(torch.tensor(logits)).numpy()
    if extremes and probs.size:
        probs.flat[0], probs.flat[-1] = (
            0.0,
            1.0,
        )  # log 0 clamped at -100, gradient finite
    p, y = (
        torch.tensor(probs, requires_grad=True),
        torch.tensor(target, requires_grad=True),
    )
    want = F.binary_cross_entropy(
        p,
        y,
        weight=None if weight is None else torch.tensor(weight),
        reduction=reduction,
    )
    want.sum().backward()

    def f(q, t):
        return backend.mod.binary_cross_entropy(
            q, t, weight=backend.opt(weight), reduction=reduction
        )

    got = f(backend.arr(probs), backend.arr(target))
    assert backend.dtype_name(got) == probs.dtype.name
    assert probs.size == 0 or np.all(
        np.isfinite(backend.np(got))
    )  # empty mean: nan, as torch
    np.testing.assert_allclose(
        backend.np(got), want.detach().numpy(), **tolerance(probs.dtype, 100)
    )
    if backend.autograd:
        grads = backend.grad(f, probs, target)
        np.testing.assert_allclose(
            grads[0], p.grad.numpy(), **tolerance(probs.dtype, 1e12)
        )
        np.testing.assert_allclose(
            grads[1], y.grad.numpy(), **tolerance(probs.dtype, 100)
        )


def torchvision_focal(logits, target, alpha, gamma, reduction):
    """The formula of torchvision.ops.sigmoid_focal_loss, written out with PyTorch ops.

    torchvision is not installed beside the CPU build of torch here; its documented
    definition is reproduced term by term so the test keeps an independent oracle.
    """
    torch, F = torch_oracle()
    z = torch.tensor(logits, requires_grad=True)
    y = torch.tensor(target)
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    loss = {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    loss.sum().backward()
    return loss.detach().numpy(), z.grad.numpy()


@given(
    case=binary_cases(),
    alpha=st.sampled_from([0.25, 0.5, 1.0, -1.0]),
    gamma=st.sampled_from([0.0, 1.0, 2.0, 5.0]),
)
@SETTINGS
def test_sigmoid_focal_loss_matches_torchvision(backend, case, alpha, gamma):
    logits, target, _, _, reduction, scale = case
    logits = np.clip(
        logits, -30, 30
    )  # beyond, sigmoid saturates and torchvision's p_t = 1
    want, want_grad = torchvision_focal(logits, target, alpha, gamma, reduction)

    def f(z):
        return backend.mod.sigmoid_focal_loss(
            z, backend.arr(target), alpha=alpha, gamma=gamma, reduction=reduction
        )

    got = f(backend.arr(logits))
    assert backend.dtype_name(got) == logits.dtype.name
    np.testing.assert_allclose(backend.np(got), want, **tolerance(logits.dtype, 30))
    if backend.autograd:
        (grad,) = backend.grad(f, logits)
        np.testing.assert_allclose(grad, want_grad, **tolerance(logits.dtype, 30))


def test_focal_loss_default_reduction_is_none(backend):
    z = np.array([[0.5, -1.0], [2.0, 0.0]])
    out = backend.np(
        backend.mod.sigmoid_focal_loss(backend.arr(z), backend.arr(np.ones_like(z)))
    )
    assert out.shape == z.shape


def test_focal_loss_with_gamma_zero_is_weighted_bce(backend):
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(6, 3)), (rng.random((6, 3)) < 0.5).astype(float)
    focal = backend.mod.sigmoid_focal_loss(
        backend.arr(z), backend.arr(y), alpha=-1, gamma=0, reduction="mean"
    )
    bce = backend.mod.binary_cross_entropy_with_logits(backend.arr(z), backend.arr(y))
    np.testing.assert_allclose(backend.np(focal), backend.np(bce), rtol=1e-12)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    scale=st.sampled_from([1.0, 1e4]),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
    data=st.data(),
)
@SETTINGS
def test_softmax_family_matches_torch(backend, shape, scale, seed, dtype, data):
    torch, _ = torch_oracle()
    x = (np.random.default_rng(seed).normal(size=shape) * scale).astype(dtype)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    tx = torch.tensor(x)
    tol = tolerance(dtype, scale)
    got = backend.mod.logsumexp(backend.arr(x), axis=axis, keepdims=keepdims)
    assert backend.dtype_name(got) == x.dtype.name
    np.testing.assert_allclose(
        backend.np(got), torch.logsumexp(tx, dim=axis, keepdim=keepdims).numpy(), **tol
    )
    np.testing.assert_allclose(
        backend.np(backend.mod.log_softmax(backend.arr(x), axis=axis)),
        torch.log_softmax(tx, dim=axis).numpy(),
        **tol,
    )
    np.testing.assert_allclose(
        backend.np(backend.mod.softmax(backend.arr(x), axis=axis)),
        torch.softmax(tx, dim=axis).numpy(),
        **tol,
    )


def test_logsumexp_of_all_minus_infinity_is_minus_infinity(backend):
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(
        backend.np(backend.mod.logsumexp(backend.arr(x))), [-np.inf, 0.0]
    )


def test_logsumexp_gradient_is_softmax(autograd_backend):
    x = np.random.default_rng(1).normal(size=(3, 4)) * 50
    (grad,) = autograd_backend.grad(autograd_backend.mod.logsumexp, x)
    np.testing.assert_allclose(
        grad,
        autograd_backend.np(autograd_backend.mod.softmax(autograd_backend.arr(x))),
        rtol=1e-12,
        atol=1e-15,
    )


# --------------------------------------------------------------------------------------
# Extremes: huge logits, exact 0 and 1, one class, empty batches, half precision
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite(backend, dtype):
    logits = np.array(
        [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]], dtype=dtype
    )
    target = np.array([1, 0, 2])
    torch, F = torch_oracle()
    want = F.cross_entropy(
        torch.tensor(logits), torch.tensor(target), reduction="none"
    ).numpy()
    got = backend.np(
        backend.mod.cross_entropy(
            backend.arr(logits), backend.arr(target), reduction="none"
        )
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, [2e4, np.log(3), np.log(3)], rtol=1e-6)
    z = np.array([1e4, -1e4], dtype=dtype)
    bce = backend.np(
        backend.mod.binary_cross_entropy_with_logits(
            backend.arr(z), backend.arr(np.array([0.0, 1.0], dtype))
        )
    )
    np.testing.assert_allclose(bce, 1e4, rtol=1e-6)


def test_probabilities_exactly_zero_and_one(backend):
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    got = backend.np(
        backend.mod.binary_cross_entropy(
            backend.arr(p), backend.arr(y), reduction="none"
        )
    )
    np.testing.assert_array_equal(got, [100.0, 100.0, 0.0, 0.0])  # PyTorch's -100 clamp


def test_single_class_costs_nothing(backend):
    logits = np.array([[3.0], [-7.0]])
    target = np.array([0, 0])
    assert (
        float(
            backend.np(
                backend.mod.cross_entropy(backend.arr(logits), backend.arr(target))
            )
        )
        == 0.0
    )
    smoothed = backend.mod.cross_entropy(
        backend.arr(logits), backend.arr(target), label_smoothing=0.3
    )
    assert float(backend.np(smoothed)) == 0.0


@pytest.mark.parametrize("probs", [False, True])
def test_empty_batch_as_torch(backend, probs):
    torch, F = torch_oracle()
    logits = np.zeros((0, 3))
    target = np.zeros((0, 3)) if probs else np.zeros((0,), dtype=np.int64)
    for reduction in ("none", "mean", "sum"):
        want = F.cross_entropy(
            torch.tensor(logits), torch.tensor(target), reduction=reduction
        )
        got = backend.mod.cross_entropy(
            backend.arr(logits), backend.arr(target), reduction=reduction
        )
        np.testing.assert_array_equal(
            backend.np(got), want.numpy()
        )  # mean: nan, sum: 0, none: []


def test_all_ignored_gives_nan_loss_and_zero_gradient(backend):
    logits = np.random.default_rng(0).normal(size=(3, 4))
    target = np.full(3, -100)
    torch, F = torch_oracle()
    z = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(z, torch.tensor(target), label_smoothing=0.2).backward()
    loss = backend.mod.cross_entropy(
        backend.arr(logits), backend.arr(target), label_smoothing=0.2
    )
    assert np.isnan(backend.np(loss))
    grad = backend.cross_entropy_grad(logits, target, label_smoothing=0.2)
    np.testing.assert_array_equal(grad, z.grad.numpy())
    np.testing.assert_array_equal(grad, 0.0)


def test_half_precision_keeps_its_dtype(backend):
    if backend.name == "tensorflow":
        import tensorflow as tf

        x = tf.constant(np.array([[1.0, 2.0, 3.0]]), dtype=tf.float16)
    else:
        x = backend.arr(np.array([[1.0, 2.0, 3.0]], dtype=np.float16))
    out = backend.mod.cross_entropy(x, backend.arr(np.array([2])))
    assert backend.dtype_name(out) == "float16"
    np.testing.assert_allclose(float(backend.np(out)), 0.40760596, rtol=1e-3)


def test_targets_as_other_integer_dtypes(backend):
    logits = np.random.default_rng(0).normal(size=(4, 3))
    want = backend.np(
        backend.mod.cross_entropy(
            backend.arr(logits), backend.arr(np.array([0, 2, 1, 2]))
        )
    )
    for dtype in (np.int32, np.uint8):
        got = backend.np(
            backend.mod.cross_entropy(
                backend.arr(logits), backend.arr(np.array([0, 2, 1, 2], dtype=dtype))
            )
        )
        np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Finite differences: the gradients are those of the loss as computed
# --------------------------------------------------------------------------------------


def numeric_grad(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (np.sum(f(x + e)) - np.sum(f(x - e))) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": np.array([0.2, 1.0, 3.0, 0.5])},
        {"label_smoothing": 0.2, "ignore_index": 1},
        {
            "weight": np.array([0.2, 1.0, 3.0, 0.5]),
            "label_smoothing": 0.1,
            "reduction": "sum",
        },
    ],
)
@pytest.mark.parametrize("probs", [False, True])
def test_cross_entropy_gradient_matches_finite_differences(backend, options, probs):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 2, 4))
    if probs:
        options = {k: v for k, v in options.items() if k != "ignore_index"}
        target = rng.dirichlet(np.ones(4), size=(3, 2))
    else:
        target = rng.integers(0, 4, size=(3, 2))

    def f(z):
        return backend.np(
            backend.mod.cross_entropy(backend.arr(z), backend.arr(target), **options)
        )

    want = numeric_grad(f, logits)
    grad = backend.cross_entropy_grad(logits, target, **options)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-8)


def test_binary_gradients_match_finite_differences(autograd_backend):
    rng = np.random.default_rng(8)
    z, y = rng.normal(size=(4, 3)) * 3, rng.random((4, 3))
    pw, w = np.array([0.5, 2.0, 4.0]), rng.random((4, 3))
    z[0, 0] = 0.0

    def f(x):
        return autograd_backend.mod.binary_cross_entropy_with_logits(
            x,
            autograd_backend.arr(y),
            weight=autograd_backend.arr(w),
            pos_weight=autograd_backend.arr(pw),
        )

    (grad,) = autograd_backend.grad(f, z)
    np.testing.assert_allclose(
        grad,
        numeric_grad(lambda x: autograd_backend.np(f(autograd_backend.arr(x))), z),
        rtol=1e-6,
        atol=1e-9,
    )


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


@given(case=ce_cases())
@SETTINGS
def test_loss_is_never_negative(backend, case):
    logits, target, probs, options, _ = case
    w = options["weight"]
    loss = backend.np(
        backend.mod.cross_entropy(
            backend.arr(logits),
            backend.arr(target),
            **{**options, "weight": backend.opt(w)},
        )
    )
    assert np.all((loss >= 0) | np.isnan(loss))


@given(
    num_classes=st.integers(1, 50),
    batch=st.integers(1, 5),
    constant=st.floats(-1e4, 1e4),
    label_smoothing=st.sampled_from([0.0, 0.3]),
)
@SETTINGS
def test_uniform_prediction_costs_log_num_classes(
    backend, num_classes, batch, constant, label_smoothing
):
    logits = np.full((batch, num_classes), constant)
    target = np.arange(batch) % num_classes
    loss = backend.mod.cross_entropy(
        backend.arr(logits), backend.arr(target), label_smoothing=label_smoothing
    )
    np.testing.assert_allclose(
        float(backend.np(loss)), np.log(num_classes), rtol=1e-12, atol=1e-12
    )


@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    scale=st.sampled_from([1.0, 100.0, 1e4]),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_softmax_rows_sum_to_one(backend, shape, scale, seed):
    x = np.random.default_rng(seed).normal(size=shape) * scale
    p = backend.np(backend.mod.softmax(backend.arr(x)))
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)


@given(
    batch=st.integers(1, 6),
    num_classes=st.integers(1, 6),
    scale=st.sampled_from([1.0, 100.0]),
    seed=st.integers(0, 2**32 - 1),
)
@SETTINGS
def test_gradient_is_softmax_minus_onehot(backend, batch, num_classes, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, num_classes)) * scale
    target = rng.integers(0, num_classes, size=batch)
    expected = (
        backend.np(backend.mod.softmax(backend.arr(logits)))
        - np.eye(num_classes)[target]
    ) / batch
    grad = backend.cross_entropy_grad(logits, target)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------------------
# The API is the same everywhere
# --------------------------------------------------------------------------------------


def test_same_functions_same_order_same_signatures():
    import inspect

    mods = [load(name).mod for name in NAMES]
    shared = [n for n in mods[0].__all__ if all(n in m.__all__ for m in mods)]
    assert shared[:8] == [
        "logsumexp",
        "log_softmax",
        "softmax",
        "cross_entropy",
        "nll_loss",
        "binary_cross_entropy_with_logits",
        "binary_cross_entropy",
        "sigmoid_focal_loss",
    ]
    for mod in mods[1:]:
        order = [n for n in mod.__all__ if n in shared]
        assert order == shared, mod.__name__
        for name in shared:
            ref = inspect.signature(getattr(mods[0], name))
            sig = inspect.signature(getattr(mod, name))
            assert [(p.name, p.kind, p.default) for p in sig.parameters.values()] == [
                (p.name, p.kind, p.default) for p in ref.parameters.values()
            ], f"{mod.__name__}.{name}"

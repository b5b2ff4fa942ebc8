"""The blocked NumPy cross-entropy against the plain formula that ``xent.numpy`` states.

``xent.numpy.cross_entropy`` computes the formula the chapters derive on the whole
batch for inputs up to ``_PLAIN_MAX_BYTES``, and takes the blocked pass of
``xent._numpy_blocked`` above. The blocked pass must give the plain formula's numbers
for every option: class weights, ``ignore_index``, label smoothing, probability
targets, the three reductions, three dtypes and any leading dimensions. Blocks are made
tiny so that every batch spans several of them, with block boundaries inside it. The
plain formula itself is held to ``torch.nn.functional`` here and in
``test_backends.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import reference_grid, seeded_case, torch_loss_and_grad

from xent import _numpy_blocked as blocked
from xent import numpy as xn

NUM_CLASSES = 7
GRID = reference_grid(
    [np.float64, np.float32, np.float16],  # dtype
    [(), (1,), (6,), (4, 5), (2, 3, 2)],  # leading dimensions
)
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-6, np.float16: 2e-3}


def _blocked(monkeypatch, logits, target, **options):
    """``xn.cross_entropy`` forced through the blocked pass, two rows to a block."""
    with monkeypatch.context() as patch:
        patch.setattr(xn, "_PLAIN_MAX_BYTES", -1)
        patch.setattr(blocked, "_BLOCK_BYTES", 2 * 4 * NUM_CLASSES)
        return xn.cross_entropy(logits, target, **options)


@pytest.mark.parametrize(
    (
        "use_weight",
        "ignore_index",
        "label_smoothing",
        "probs",
        "reduction",
        "dtype",
        "lead",
    ),
    GRID,
)
def test_blocked_pass_gives_the_plain_formula(
    monkeypatch,
    use_weight,
    ignore_index,
    label_smoothing,
    probs,
    reduction,
    dtype,
    lead,
):
    logits, target, weight = seeded_case(
        0, lead, dtype, use_weight, ignore_index, probs
    )
    options = {
        "weight": weight,
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": label_smoothing,
    }
    assert logits.nbytes <= xn._PLAIN_MAX_BYTES  # the reference takes the plain path
    want = xn.cross_entropy(logits, target, **options)
    got = _blocked(monkeypatch, logits, target, **options)
    assert got.dtype == want.dtype == dtype
    assert got.shape == want.shape == (lead if reduction == "none" else ())
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("probs", [False, True])
@pytest.mark.parametrize(
    ("z_loss_scale", "softcap"), [(0.01, None), (0.0, 4.0), (0.1, 2.5)]
)
def test_blocked_pass_gives_the_plain_z_loss_and_softcap(
    monkeypatch, z_loss_scale, softcap, probs, reduction, dtype
):
    logits, target, weight = seeded_case(5, (4, 5), dtype, True, -100, probs)
    options = {
        "weight": weight,
        "reduction": reduction,
        "label_smoothing": 0.2,
        "z_loss_scale": z_loss_scale,
        "softcap": softcap,
        "return_z_loss": True,
    }
    want, want_z = xn.cross_entropy(logits, target, **options)
    got, got_z = _blocked(monkeypatch, logits, target, **options)
    assert got.dtype == want.dtype == got_z.dtype == want_z.dtype == dtype
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(got_z, want_z, rtol=rtol, atol=rtol)
    if z_loss_scale == 0:
        np.testing.assert_array_equal(got_z, 0)


@pytest.mark.parametrize("probs", [False, True])
def test_blocked_pass_agrees_on_infinite_logits_and_empty_batches(monkeypatch, probs):
    logits = np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -np.inf], [1.0, 1.0, 1.0]])
    target = (
        np.array([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
        if probs
        else np.array([0, 1, 2])
    )
    for options in ({}, {"label_smoothing": 0.2}, {"reduction": "none"}):
        with np.errstate(invalid="ignore"):  # 0 * log 0 = nan, as in PyTorch
            want = xn.cross_entropy(logits, target, **options)
        got = _blocked(monkeypatch, logits, target, **options)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    empty = np.zeros((0, 3))
    empty_target = np.zeros((0, 3)) if probs else np.zeros(0, dtype=int)
    for reduction, expect in (("mean", np.nan), ("sum", 0.0)):
        for fn in (xn.cross_entropy, lambda *a, **k: _blocked(monkeypatch, *a, **k)):
            got = fn(empty, empty_target, reduction=reduction)
            np.testing.assert_equal(got, expect)


def test_large_inputs_take_the_blocked_pass(monkeypatch):
    calls = []
    original = blocked.cross_entropy

    def spy(*args):
        calls.append(args[0].nbytes)
        return original(*args)

    monkeypatch.setattr(blocked, "cross_entropy", spy)
    rng = np.random.default_rng(4)
    rows = xn._PLAIN_MAX_BYTES // (8 * 64)  # float64 logits of exactly the threshold
    logits, target = rng.normal(size=(rows, 64)), rng.integers(0, 64, size=rows)
    plain = xn.cross_entropy(logits, target, label_smoothing=0.1)
    assert calls == []
    bigger = np.concatenate([logits, logits[:1]])
    fast = xn.cross_entropy(bigger, np.concatenate([target, target[:1]]))
    assert calls == [bigger.nbytes]
    # The two paths agree on the same rows.
    assert xn.cross_entropy(bigger[:rows], target, label_smoothing=0.1) == plain
    monkeypatch.setattr(xn, "_PLAIN_MAX_BYTES", 0)
    np.testing.assert_allclose(
        xn.cross_entropy(logits, target, label_smoothing=0.1), plain, rtol=1e-13
    )
    assert np.isfinite(fast)


@pytest.mark.parametrize(
    ("use_weight", "ignore_index", "label_smoothing", "probs", "reduction", "lead"),
    [case[:5] + case[6:] for case in GRID if case[5] is np.float64],
)
def test_plain_formula_is_torch(
    use_weight, ignore_index, label_smoothing, probs, reduction, lead
):
    logits, target, weight = seeded_case(
        1, lead, np.float64, use_weight, ignore_index, probs
    )
    got = xn.cross_entropy(
        logits,
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    want, _ = torch_loss_and_grad(
        logits,
        np.asarray(target),
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


hypothesis = pytest.importorskip("hypothesis", reason="property tests")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


@st.composite
def _batches(draw):
    """Any small batch, any options, and a block size of one to a few rows."""
    rows, classes = draw(st.integers(0, 9)), draw(st.integers(1, 6))
    values = st.floats(-50, 50, allow_nan=False)
    logits = draw(hnp.arrays(np.float64, (rows, classes), elements=values))
    if draw(st.booleans()):
        raw = draw(hnp.arrays(np.float64, (rows, classes), elements=st.floats(0, 1)))
        target, ignore_index = raw / np.maximum(raw.sum(-1, keepdims=True), 1e-9), -100
    else:
        ignore_index = draw(st.sampled_from([-100, 0, classes - 1]))
        labels = st.integers(0, classes - 1)
        target = draw(hnp.arrays(np.int64, (rows,), elements=labels))
    options = {
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 1.0])),
        "z_loss_scale": draw(st.sampled_from([0.0, 1e-3])),
        "softcap": draw(st.sampled_from([None, 5.0])),
        "return_z_loss": True,
    }
    if draw(st.booleans()):
        weights = st.floats(0, 3)
        options["weight"] = draw(hnp.arrays(np.float64, (classes,), elements=weights))
    return logits, target, options, draw(st.integers(1, 4))


@given(_batches())
def test_blocked_pass_is_the_plain_formula_on_any_batch(case):
    logits, target, options, block_rows = case
    with np.errstate(invalid="ignore"):  # 0 / 0 = nan when nothing is counted
        want = xn.cross_entropy(logits, target, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xn, "_PLAIN_MAX_BYTES", -1)
        patch.setattr(blocked, "_BLOCK_BYTES", block_rows * 4 * logits.shape[1])
        with np.errstate(invalid="ignore"):
            got = xn.cross_entropy(logits, target, **options)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)

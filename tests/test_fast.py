"""The blocked NumPy cross-entropy and the memory-lean PyTorch one: same numbers, less
memory.

Blocks and chunks are made tiny here so that every batch spans many of them, with block
boundaries inside the batch; the results must equal ``F.cross_entropy`` (the oracle of
``_backends.py``) for every option of its grid. Memory is checked by what is allocated
(tracemalloc) and by what autograd saves for the backward pass, never by timing.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _backends import options_grid, options_id, torch_cross_entropy, torch_loss_and_grad

from xent import _numpy_blocked as blocked
from xent import numpy as xn

OPTIONS = options_grid(ignore_index=(-100, 2))


def _case(rng, lead, num_classes, dtype, probs, options):
    logits = (rng.normal(size=lead + (num_classes,)) * 3).astype(dtype)
    if probs:
        target = rng.dirichlet(np.ones(num_classes), size=lead).astype(dtype)
        options = {**options, "ignore_index": -100}
    else:
        target = rng.integers(0, num_classes, size=lead)
        target = np.where(rng.random(lead) < 0.2, options["ignore_index"], target)
    weight = (
        rng.uniform(0.1, 2.0, num_classes).astype(dtype) if options["weight"] else None
    )
    return logits, target, {**options, "weight": weight}


@pytest.mark.parametrize("options", OPTIONS, ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_numpy_blocks_give_the_plain_formula(monkeypatch, options, probs, dtype):
    monkeypatch.setattr(xn, "_PLAIN_MAX_BYTES", 0)  # every input takes the blocked pass
    monkeypatch.setattr(blocked, "_BLOCK_BYTES", 3 * 4 * 7)  # 3 rows of 7 classes
    rng = np.random.default_rng(0)
    logits, target, options = _case(rng, (4, 5), 7, dtype, probs, options)
    got = xn.cross_entropy(logits, target, **options)
    assert got.dtype == dtype
    weight = options.pop("weight")
    want, _ = torch_loss_and_grad(  # PyTorch's loss in float64
        logits.astype(np.float64),
        target.astype(np.float64) if probs else target,
        weight=None if weight is None else weight.astype(np.float64),
        **options,
    )
    rtol = {np.float64: 1e-12, np.float32: 1e-5, np.float16: 4e-3}[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_numpy_block_count_does_not_change_the_result(monkeypatch):
    monkeypatch.setattr(xn, "_PLAIN_MAX_BYTES", 0)  # every input takes the blocked pass
    rng = np.random.default_rng(1)
    logits, target = rng.normal(size=(50, 9)), rng.integers(0, 9, size=50)
    want = xn.cross_entropy(logits, target, reduction="none", label_smoothing=0.1)
    for block_rows in (1, 2, 7, 49, 50, 1000):
        monkeypatch.setattr(blocked, "_BLOCK_BYTES", block_rows * 4 * 9)
        got = xn.cross_entropy(logits, target, reduction="none", label_smoothing=0.1)
        np.testing.assert_allclose(
            got, want, rtol=1e-14
        )  # BLAS may sum in another order


def _numpy_peak(logits, target, **options) -> int:
    """Peak bytes that NumPy allocates during one call of ``xn.cross_entropy`` (after a
    warm-up)."""
    xn.cross_entropy(logits, target, **options)
    tracemalloc.start()
    try:
        xn.cross_entropy(logits, target, **options)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_numpy_memory_is_bounded_by_a_block_not_the_batch():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4096, 4096), dtype=np.float32)  # 64 MiB
    target = rng.integers(0, 4096, size=4096)
    peak = _numpy_peak(logits, target, label_smoothing=0.1)
    assert peak <= 0.05 * logits.nbytes, f"{peak / logits.nbytes:.3f} of the logits"
    # One scratch block (the shifted logits, then their exponentials) and per-row
    # numbers.
    assert peak <= blocked._BLOCK_BYTES + 96 * len(logits), peak / blocked._BLOCK_BYTES


@pytest.mark.parametrize("target_dtype", [np.float32, np.float64])
def test_numpy_probability_targets_are_read_a_block_at_a_time(target_dtype):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2048, 4096), dtype=np.float32)  # 32 MiB
    probs = rng.dirichlet(np.ones(4096), size=2048).astype(target_dtype)
    peak = _numpy_peak(logits, probs, label_smoothing=0.1)
    # Neither the range check nor a float64 target makes an (N, C) copy: a few blocks at
    # most.
    assert peak <= 6 * blocked._BLOCK_BYTES + 96 * len(logits), (
        peak / blocked._BLOCK_BYTES
    )


# --------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------

torch = pytest.importorskip("torch", reason="the rest of this file tests xent.torch")
F = torch.nn.functional
from xent import _torch_rows  # noqa: E402
from xent import torch as xt  # noqa: E402


def _torch_case(options, probs, dtype=np.float64, lead=(4, 5), num_classes=7):
    logits, target, options = _case(
        np.random.default_rng(3), lead, num_classes, dtype, probs, options
    )
    options = {
        **options,
        "weight": None
        if options["weight"] is None
        else torch.tensor(options["weight"]),
    }
    return torch.tensor(logits), torch.tensor(target), options


@pytest.mark.parametrize("options", OPTIONS, ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
def test_torch_chunks_match_f_cross_entropy(monkeypatch, options, probs):
    monkeypatch.setitem(_torch_rows._CHUNK_BYTES, "cpu", 3 * 4 * 7)  # 3 rows per chunk
    logits, target, options = _torch_case(options, probs)
    upstream = torch.rand(
        logits.shape[:-1] if options["reduction"] == "none" else (),
        dtype=logits.dtype,
        generator=torch.Generator().manual_seed(0),
    )
    z1 = logits.clone().requires_grad_()
    want = torch_cross_entropy(z1, target, **options)
    (want * upstream).sum().backward()
    z2 = logits.clone().requires_grad_()
    got = xt.cross_entropy(z2, target, **options)
    (got * upstream).sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z2.grad, z1.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_torch_low_precision_keeps_dtype_of_loss_and_gradient(dtype):
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 50, generator=gen).to(dtype).requires_grad_()
    target = torch.randint(0, 50, (6,), generator=gen)
    loss = xt.cross_entropy(logits, target, label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == dtype and logits.grad.dtype == dtype
    z = logits.detach().float().requires_grad_()
    want = F.cross_entropy(z, target, label_smoothing=0.1)
    want.backward()
    rtol = 1e-2 if dtype != torch.float32 else 1e-6
    torch.testing.assert_close(loss.float(), want, rtol=rtol, atol=rtol)
    torch.testing.assert_close(logits.grad.float(), z.grad, rtol=rtol, atol=rtol)


def _saved_bytes(fn):
    """Bytes of every tensor autograd saves for the backward pass of ``fn()``."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    unique = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved
    }
    return sum(unique.values())


def test_torch_saves_two_numbers_per_row_not_the_log_softmax():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(256, 1000, generator=gen).requires_grad_()
    target = torch.randint(0, 1000, (256,), generator=gen)
    eager = _saved_bytes(lambda: F.cross_entropy(logits, target))
    lean = _saved_bytes(lambda: xt.cross_entropy(logits, target, label_smoothing=0.1))
    assert eager >= logits.numel() * 4  # F.cross_entropy keeps the (N, C) log-softmax
    assert lean <= logits.numel() * 4 + 64 * 256  # the logits themselves and O(N) more


@pytest.mark.parametrize("options", OPTIONS[::3], ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
def test_torch_second_derivatives_match_f_cross_entropy(options, probs):
    """Double backward: a Hessian-vector product, and differentiating the incoming
    gradient."""
    logits, target, options = _torch_case(options, probs, lead=(6,))
    reduce_shape = logits.shape[:-1] if options["reduction"] == "none" else ()
    gen = torch.Generator().manual_seed(7)
    upstream = torch.rand(
        reduce_shape, dtype=logits.dtype, generator=gen, requires_grad=True
    )
    direction = torch.randn(logits.shape, dtype=logits.dtype, generator=gen)

    def second_order(loss_fn):
        z = logits.clone().requires_grad_()
        (grad,) = torch.autograd.grad(
            (loss_fn(z) * upstream).sum(), z, create_graph=True
        )
        return torch.autograd.grad((grad * direction).sum(), [z, upstream])

    got = second_order(lambda z: xt.cross_entropy(z, target, **options))
    want = second_order(lambda z: torch_cross_entropy(z, target, **options))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_torch_gradgradcheck():
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(3, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.tensor([0, 4, -100])
    torch.autograd.gradgradcheck(
        lambda z: xt.cross_entropy(z, target, reduction="none", label_smoothing=0.2),
        [logits],
    )


def test_torch_gradient_for_weight_and_probability_target_uses_autograd():
    gen = torch.Generator().manual_seed(6)
    logits = torch.randn(5, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.softmax(torch.randn(5, 4, dtype=torch.float64, generator=gen), -1)
    target.requires_grad_()
    weight = torch.rand(4, dtype=torch.float64, generator=gen, requires_grad=True)
    got = torch.autograd.grad(
        xt.cross_entropy(logits, target, weight=weight), [logits, target, weight]
    )
    want = torch.autograd.grad(
        F.cross_entropy(logits, target, weight=weight), [logits, target, weight]
    )
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)

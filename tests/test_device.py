"""``xent.torch`` on the default device: the same numbers as PyTorch's built-ins, and
memory.

The device is the GPU when ``torch.cuda`` sees one (``scripts/gpu-check.sh`` runs this
file there), else the CPU, or whatever ``XENT_TEST_DEVICE`` names. Memory is measured by
``xent.bench`` in fresh processes (``torch.cuda.max_memory_allocated`` on a GPU, the
peak resident set on a CPU) and compared with the targets of the chapter "Cross-entropy
at scale"; times are never asserted (the benchmark prints them).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from _backends import options_grid, options_id, torch_cross_entropy

torch = pytest.importorskip("torch", reason="these tests run xent.torch on a device")
F = torch.nn.functional
from xent import bench, data, train  # noqa: E402
from xent import torch as xt  # noqa: E402

DEVICE = os.environ.get("XENT_TEST_DEVICE") or (
    "cuda" if torch.cuda.is_available() else "cpu"
)

OPTIONS = options_grid(label_smoothing=(0.0, 0.2), ignore_index=(-100, 3))


def _inputs(probs: bool, weight: bool, dtype=torch.float32, n=64, c=1000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=gen) * 4).to(DEVICE, dtype)
    if probs:
        target = torch.softmax(torch.randn(n, c, generator=gen), -1).to(DEVICE, dtype)
    else:
        target = torch.randint(0, c, (n,), generator=gen)
        target[::7] = 3  # some rows hit ignore_index=3 when it is set
        target = target.to(DEVICE)
    w = (torch.rand(c, generator=gen) + 0.5).to(DEVICE, dtype) if weight else None
    return logits, target, w


@pytest.mark.parametrize("options", OPTIONS, ids=options_id)
@pytest.mark.parametrize("probs", [False, True])
def test_cross_entropy_matches_f_cross_entropy(options, probs):
    if probs:
        options = {**options, "ignore_index": -100}
    logits, target, weight = _inputs(probs, options["weight"])
    options = {**options, "weight": weight}
    upstream = torch.rand(
        logits.shape[:1] if options["reduction"] == "none" else (), device=DEVICE
    )
    z1, z2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    want = torch_cross_entropy(z1, target, **options)
    got = xt.cross_entropy(z2, target, **options)
    (want * upstream).sum().backward()
    (got * upstream).sum().backward()
    assert got.device.type == DEVICE and z2.grad.device.type == DEVICE
    torch.testing.assert_close(got, want, rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(z2.grad, z1.grad, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_keeps_its_dtype(dtype):
    logits, target, _ = _inputs(False, False, dtype=dtype)
    z = logits.clone().requires_grad_()
    loss = xt.cross_entropy(z, target, label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == dtype and z.grad.dtype == dtype
    z32 = logits.float().requires_grad_()
    want = F.cross_entropy(z32, target, label_smoothing=0.1)
    want.backward()
    torch.testing.assert_close(loss.float(), want, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(z.grad.float(), z32.grad, rtol=1e-2, atol=1e-3)


def test_second_derivatives_match_f_cross_entropy():
    logits, target, weight = _inputs(False, True, n=16, c=50)
    direction = torch.randn_like(logits)

    def hvp(loss_fn):
        z = logits.clone().requires_grad_()
        (grad,) = torch.autograd.grad(loss_fn(z), z, create_graph=True)
        return torch.autograd.grad((grad * direction).sum(), z)[0]

    want = hvp(lambda z: F.cross_entropy(z, target, weight=weight, label_smoothing=0.1))
    got = hvp(lambda z: xt.cross_entropy(z, target, weight=weight, label_smoothing=0.1))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_cross_entropy_matches_the_eager_composition(reduction, bias):
    gen = torch.Generator().manual_seed(1)
    n, d, v = 300, 64, 5000
    hidden = torch.randn(n, d, generator=gen).to(DEVICE).requires_grad_()
    weight = (torch.randn(v, d, generator=gen) / d**0.5).to(DEVICE).requires_grad_()
    b = torch.randn(v, generator=gen).to(DEVICE).requires_grad_() if bias else None
    target = torch.randint(0, v, (n,), generator=gen).to(DEVICE)
    target[::5] = -100
    params = [x for x in (hidden, weight, b) if x is not None]
    fused = xt.linear_cross_entropy(
        hidden,
        weight,
        target,
        bias=b,
        reduction=reduction,
        chunk_size=64,
        label_smoothing=0.1,
    )
    eager = F.cross_entropy(
        F.linear(hidden, weight, b), target, reduction=reduction, label_smoothing=0.1
    )
    got_grads = torch.autograd.grad(fused.sum(), params)
    want_grads = torch.autograd.grad(eager.sum(), params)
    for got, want in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused, eager, rtol=1e-5, atol=1e-5)


def _peak_ratio(case: dict, baseline: dict) -> float:
    peaks = bench.peak_memory([case, baseline], num_threads=1)
    assert None not in peaks, f"a measuring process failed: {peaks}"
    return peaks[0] / peaks[1]


def test_cross_entropy_memory_is_at_most_half_of_f_cross_entropy():
    """The issue's target: forward and backward peak extra memory <= 0.5x the eager
    loss's."""
    size = {"kind": "ce", "mode": "fwdbwd", "n": 4096, "c": 32000, "device": DEVICE}
    ratio = _peak_ratio({**size, "impl": "xent-torch"}, {**size, "impl": "torch-eager"})
    assert ratio <= 0.5, f"peak memory {ratio:.2f}x F.cross_entropy's"


def test_linear_cross_entropy_memory_is_at_most_a_quarter_of_the_eager_composition():
    """The issue's target at N=2048, d=512, V=32000: peak extra memory <= 0.25x
    eager."""
    size = {"kind": "linear", "mode": "fwdbwd", "n": 2048, "d": 512, "v": 32000}
    size["device"] = DEVICE
    ratio = _peak_ratio(
        {**size, "impl": "chunked", "chunk_size": 256}, {**size, "impl": "eager"}
    )
    assert ratio <= 0.25, f"peak memory {ratio:.2f}x the eager composition's"


def test_fit_torch_trains_on_the_device():
    split = data.moons(n=400, noise=0.2, seed=0)
    model = train.mlp_torch(2, 2, seed=0)
    fit = train.fit_torch(
        model, split, loss_fn=xt.cross_entropy, num_epochs=15, lr=0.02, device=DEVICE
    )
    assert next(fit.model.parameters()).device.type == DEVICE
    losses = [row["train_loss"] for row in fit.history]
    assert len(losses) == 15 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses
    proba = train.predict_proba_torch(
        fit.model, split.X_val
    )  # NumPy out, whatever the device
    assert proba.shape == (len(split.X_val), 2)


def test_quick_benchmark_runs_on_the_device():
    result = bench.run(
        quick=True, device=DEVICE, compile_torch=False, log=lambda *_: None
    )
    timed = [r for r in result["rows"] if "seconds" in r]
    assert any(r["impl"] == "xent-torch" and r["device"] == DEVICE for r in timed)
    for r in timed:
        assert r["max_error"] is None or r["max_error"] < 1e-4, r


def _every_function(z, index, probs, binary, hidden, W, bias):
    """Every loss and helper of ``xent.torch`` once, summed, for one backward pass."""
    return (
        xt.logsumexp(z).sum()
        + (xt.log_softmax(z) * probs).sum()
        + (xt.softmax(z) * probs).sum()
        + xt.cross_entropy(z, index, label_smoothing=0.1)
        + xt.cross_entropy(z, probs)
        + xt.nll_loss(xt.log_softmax(z), index)
        + xt.binary_cross_entropy_with_logits(z, binary)
        + xt.binary_cross_entropy(torch.sigmoid(z), binary)
        + xt.sigmoid_focal_loss(z, binary, reduction="mean")
        + xt.linear_cross_entropy(hidden, W, index, bias=bias)
    )


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_no_call_waits_for_the_device(compiled):
    """Under ``torch.cuda.set_sync_debug_mode("error")`` any host-device synchronisation
    (a value read on the host, a blocking copy) raises: the losses never make one, eager
    or compiled, forward or backward."""
    if not DEVICE.startswith("cuda"):
        pytest.skip("synchronisation debug mode exists for CUDA only")
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(256, 50, generator=gen).to(DEVICE)
    index = torch.randint(0, 50, (256,), generator=gen).to(DEVICE)
    index[::9] = -100
    probs = torch.softmax(torch.randn(256, 50, generator=gen), -1).to(DEVICE)
    binary = torch.rand(256, 50, generator=gen).to(DEVICE)
    hidden = torch.randn(256, 32, generator=gen).to(DEVICE)
    W, bias = torch.randn(50, 32, generator=gen).to(DEVICE), torch.zeros(50).to(DEVICE)
    leaves = [x.requires_grad_() for x in (z, hidden, W, bias)]
    fn = torch.compile(_every_function, fullgraph=True) if compiled else _every_function
    args = (z, index, probs, binary, hidden, W, bias)
    fn(
        *args
    ).backward()  # compiling (and CUDA's lazy start) may synchronise; calls may not
    for x in leaves:
        x.grad = None
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = fn(*args)
        loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.isfinite(loss).item()
    assert all(torch.isfinite(x.grad).all().item() for x in leaves)

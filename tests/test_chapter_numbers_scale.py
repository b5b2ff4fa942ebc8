"""Every number of chapter 9 ("Cross-entropy at scale"), recomputed or counted.

The memory figures are arithmetic on the sizes the chapter names; the number of
``(N, V)`` arrays each form of the loss makes and holds at once is counted here, on the
CPU, by watching every operation PyTorch dispatches; the chunk sizes are read from the
code that uses them; the precision example is evaluated in float32. The guard
``test_every_decimal_is_checked`` fails when the chapter prints a decimal number that no
test binds (see ``_chapter_numbers``).
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from _chapter_numbers import binds, loose, printed, torch_or_skip

SCALE = "09-cross-entropy-at-scale.md"


def test_every_decimal_is_checked():
    """Every occurrence of a decimal lies in a snippet that a bound test checks."""
    assert loose(SCALE, __name__, {"torch": torch_or_skip}, set()) == []


@binds(SCALE, "4.2", "12.6", "0.13")
def test_memory_of_the_eager_loss():
    rows, vocabulary, hidden, nu = 8192, 128_256, 4096, 4  # float32
    logits = rows * vocabulary * nu / 1e9  # GB
    inputs = rows * hidden * nu / 1e9
    printed(
        SCALE,
        f"$V = {vocabulary // 1000}\\,{vocabulary % 1000:03d}$ and float32, one "
        f"$N \\times V$ array is ${rows} \\cdot {vocabulary // 1000}\\,"
        f"{vocabulary % 1000:03d} \\cdot {nu}$ bytes $\\approx {logits:.1f}$ GB",
    )
    # At least three copies (k = 3), from the rounded size the sentence shows.
    printed(SCALE, f"is at least ${3 * round(logits, 1):.1f}$ GB, for a loss")
    assert 3 * logits >= 3 * round(logits, 1) - 0.05
    printed(
        SCALE,
        f"$d = {hidden}$, are ${rows} \\cdot {hidden} \\cdot {nu}$ bytes "
        f"$\\approx {inputs:.2f}$ GB: $V / d \\approx {vocabulary / hidden:.0f}$ "
        "times less",
    )


def _array_counter(torch, shape: tuple[int, ...], existing: list):
    """A dispatch mode counting the new arrays of ``shape`` and the most alive at once.

    Arrays are told apart by their storage, so views count once; the storages of
    ``existing`` tensors (the inputs) are not counted.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    known = {t.untyped_storage().data_ptr() for t in existing}

    class Arrays(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live: set[int] = set()
            self.made = 0
            self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                    continue
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key in known or key in self.live:
                    continue
                self.live.add(key)
                self.made += 1
                weakref.finalize(storage, self.live.discard, key)
                self.peak = max(self.peak, len(self.live))
            return out

    return Arrays()


def test_the_eager_form_makes_four_arrays_and_holds_three_or_four(torch):
    F = torch.nn.functional
    rows, vocabulary, hidden = 64, 1000, 8
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(rows, hidden, generator=gen, requires_grad=True)
    weight = torch.randn(vocabulary, hidden, generator=gen, requires_grad=True)
    bias = torch.randn(vocabulary, generator=gen, requires_grad=True)
    y = torch.randint(0, vocabulary, (rows,), generator=gen)
    peaks = []
    for hold in (False, True):
        counter = _array_counter(torch, (rows, vocabulary), [h, weight, bias])
        with counter:
            if hold:
                logits = F.linear(h, weight, bias)
                loss = F.cross_entropy(logits, y)
            else:
                loss = F.cross_entropy(F.linear(h, weight, bias), y)
            loss.backward()
        assert counter.made == 4  # logits, log-softmax and the two gradients
        peaks.append(counter.peak)
    assert peaks == [3, 4]
    printed(SCALE, r"k = 3 \text{ or } 4")
    # Autograd saves the log-softmax and not the logits.
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t) or t, lambda t: t
    ):
        logits = F.linear(h, weight, bias)
        F.cross_entropy(logits, y)
    full = {t.untyped_storage().data_ptr() for t in saved if t.shape == logits.shape}
    assert len(full) == 1 and logits.untyped_storage().data_ptr() not in full


def test_the_chunked_form_holds_one_array_besides_the_logits(torch):
    from xent import _torch_rows
    from xent import torch as xt

    vocabulary = 1000
    rows_per_chunk = _torch_rows._row_chunks(10**6, vocabulary, torch.device("cpu"))[0]
    rows = 4 * (rows_per_chunk.stop - rows_per_chunk.start)  # four chunks
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(rows, vocabulary, generator=gen, requires_grad=True)
    y = torch.randint(0, vocabulary, (rows,), generator=gen)
    counter = _array_counter(torch, (rows, vocabulary), [logits])
    with counter:
        xt.cross_entropy(logits, y).backward()
    assert (counter.made, counter.peak) == (1, 1)  # the gradient
    printed(
        SCALE,
        "hold, besides the logits, one $N \\times V$ array: the gradient, which the "
        "caller receives and cannot do without. The eager form holds three or four.",
    )
    expected = torch.nn.functional.cross_entropy(logits.detach(), y)
    assert float(xt.cross_entropy(logits.detach(), y)) == pytest.approx(float(expected))


def test_the_fused_form_never_makes_the_logits(torch):
    from xent import torch as xt

    rows, vocabulary, hidden = 256, 1000, 8
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(rows, hidden, generator=gen, requires_grad=True)
    weight = torch.randn(vocabulary, hidden, generator=gen, requires_grad=True)
    y = torch.randint(0, vocabulary, (rows,), generator=gen)
    counter = _array_counter(torch, (rows, vocabulary), [h, weight])
    with counter:
        xt.linear_cross_entropy(h, weight, y, chunk_size=32).backward()
    assert counter.made == 0
    printed(SCALE, "so that the full logits never exist")


def test_chunk_sizes_are_those_of_the_code(torch):
    from xent import _torch_linear, _torch_rows
    from xent import torch as xt

    try:
        from xent import _numpy_blocked as blocked
    except ImportError:  # before the blocked NumPy loss had a module of its own
        from xent import numpy as blocked
    kib, mib = 2**10, 2**20
    numpy_block = blocked._BLOCK_BYTES
    cpu = _torch_rows._CHUNK_BYTES["cpu"]
    accelerator = _torch_rows._CHUNK_BYTES_ACCELERATOR
    printed(
        SCALE,
        f"The NumPy version uses blocks of {numpy_block // kib} KiB of float32 logits. "
        f"The PyTorch one uses chunks of {cpu // mib} MiB on a CPU and of "
        f"{accelerator // mib} MiB on an accelerator",
    )
    # The budgets are what the row splitting uses, in rows of float32 logits.
    vocabulary = 1000
    assert blocked._block_rows(vocabulary) == numpy_block // (4 * vocabulary)
    for device, budget in (("cpu", cpu), ("cuda", accelerator), ("mps", accelerator)):
        chunks = _torch_rows._row_chunks(10**7, vocabulary, torch.device(device))
        assert chunks[0].stop - chunks[0].start == budget // (4 * vocabulary)
    # linear_cross_entropy's default chunk: the rows of 16 MiB of float32 logits.
    rows, vocabulary = 8, 2**20
    h = torch.zeros(rows, 1)
    weight = torch.zeros(vocabulary, 1)
    seen = []
    apply = _torch_linear.LinearCrossEntropy.apply

    def spy(*args):
        seen.append(args)
        return apply(*args)

    _torch_linear.LinearCrossEntropy.apply = spy
    try:
        xt.linear_cross_entropy(h, weight, torch.zeros(rows, dtype=torch.long))
    finally:
        _torch_linear.LinearCrossEntropy.apply = apply
    (default,) = [
        a for a in seen[0] if isinstance(a, int) and not isinstance(a, bool) and a > 0
    ]
    assert default * vocabulary * 4 == 16 * mib
    printed(SCALE, f"make {default * vocabulary * 4 // mib} MiB of float32 logits)")


@binds(SCALE, "0.3", "0.574", "0.426", "1.2", "0.57425", "0.42550", "2.5")
@binds(SCALE, "0.57439", "0.42561")
def test_one_saved_number_loses_precision():
    z = np.array([1e4 + 0.3, 1e4], np.float32)
    spacing = float(np.spacing(np.float32(1e4)))
    assert 0.5e-3 < spacing < 2e-3  # "about 10^{-3} apart"
    exact = np.exp(z.astype(np.float64) - float(z.max()))
    exact /= exact.sum()
    m = z.max()
    log_sum = np.log(np.sum(np.exp(z - m)))
    one = np.exp(z - np.float32(m + log_sum))  # from LSE(z) = m + lambda, rounded
    two = np.exp((z - m) - log_sum)
    relative_one = (one - exact) / exact
    relative_two = np.abs(two - exact) / exact
    eps = float(np.finfo(np.float32).eps)
    assert abs(relative_one).min() / eps > 1000  # "thousands of times"
    assert f"{relative_one[0]:.1e}" == f"{relative_one[1]:.1e}"
    assert relative_two.max() < 2e-8
    printed(
        SCALE,
        f"$z = (10^4 + {float(z[0]) - 1e4:.1f},\\ 10^4)$ the softmax is "
        f"$({exact[0]:.3f}, {exact[1]:.3f})$",
    )
    printed(
        SCALE, f"float32's precision (${eps:.1e}".replace("e-07", " \\times 10^{-7}")
    )
    printed(
        SCALE,
        f"gives $({one[0]:.5f}, {one[1]:.5f})$, both entries off by a relative "
        f"${abs(relative_one[0]):.1e}".replace("e-04", " \\times 10^{-4}")
        + f"$; $\\exp((z_c - m) - \\lambda)$ gives $({two[0]:.5f}, {two[1]:.5f})$",
    )
    # Sterbenz: z - m is exact in float32 (the float64 difference of the same numbers).
    assert np.array_equal((z - m).astype(np.float64), z.astype(np.float64) - float(m))
    printed(SCALE, f"Subtracting $m = 10^4 + {float(m) - 1e4:.1f}$ first is exact here")


@binds(SCALE, "8.61", "9.19")
def test_exercise_costs_and_messages(torch):
    rows, vocabulary, hidden, devices = 8192, 128_256, 4096, 8
    flops = 2 * rows * vocabulary * hidden
    printed(
        SCALE,
        f"$2 N V d$ floating-point operations, about "
        f"${flops / 1e12:.2f} \\times 10^{{12}}$",
    )
    gathered = rows * vocabulary * (devices - 1) / devices
    # The messages the implementation sends: spy on all_reduce (one process, identity).
    import torch.distributed as dist

    from xent import _torch_parallel

    sizes = []
    n, v = 16, 10
    shard = torch.randn(n, v, generator=torch.Generator().manual_seed(0))
    target = torch.arange(n) % v
    all_reduce = dist.all_reduce
    dist.all_reduce = lambda t, **_: sizes.append(t.numel())
    try:
        loss = _torch_parallel.VocabParallelCrossEntropy.apply(
            shard, target, 0, v, -100, 0.0, None
        )
    finally:
        dist.all_reduce = all_reduce
    assert sizes == [n, 3 * n]
    expected = torch.nn.functional.cross_entropy(shard, target, reduction="none")
    assert torch.allclose(loss, expected, atol=1e-6)
    printed(
        SCALE,
        f"on $P = {devices}$ devices that is $4N = {4 * rows // 1000}\\,"
        f"{4 * rows % 1000:03d}$ numbers against about "
        f"${gathered / 1e8:.2f} \\times 10^{{8}}$",
    )

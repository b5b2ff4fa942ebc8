"""``xent.torch.linear_cross_entropy`` against the eager
``F.cross_entropy(F.linear(...))``.

Loss and gradients with respect to hidden, weight and bias, for every reduction, label
smoothing, ignored rows, leading dimensions, chunk sizes that do and do not divide the
batch, with and without bias; then bad arguments, each named in its ``ValueError``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _backends import torch_cross_entropy

torch = pytest.importorskip(
    "torch", reason="linear_cross_entropy is a PyTorch function"
)
F = torch.nn.functional
from xent import torch as xt  # noqa: E402


def _eager(hidden, weight, bias, target, **options):
    """The eager composition: the one oracle of ``_backends.py`` on ``F.linear``."""
    return torch_cross_entropy(F.linear(hidden, weight, bias), target, **options)


def _inputs(dtype, lead=(3, 7), d=6, num_classes=11, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*lead, d, dtype=dtype, generator=gen)
    weight = torch.randn(num_classes, d, dtype=dtype, generator=gen)
    b = torch.randn(num_classes, dtype=dtype, generator=gen) if bias else None
    target = torch.randint(0, num_classes, lead, generator=gen)
    return hidden, weight, b, target


@pytest.mark.parametrize(
    "reduction, label_smoothing, bias, chunk_size",
    list(
        itertools.product(
            ["mean", "sum", "none"], [0.0, 0.25], [False, True], [1, 4, 64]
        )
    ),
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_eager_composition(reduction, label_smoothing, bias, chunk_size, dtype):
    hidden, weight, b, target = _inputs(dtype, bias=bias)
    target[0, :3] = -100
    options = {"reduction": reduction, "label_smoothing": label_smoothing}
    params = [x.requires_grad_() for x in (hidden, weight, b) if x is not None]
    want = _eager(hidden, weight, b, target, **options)
    got = xt.linear_cross_entropy(
        hidden, weight, target, bias=b, chunk_size=chunk_size, **options
    )
    assert got.dtype == dtype and got.shape == want.shape
    upstream = torch.rand(
        want.shape, dtype=dtype, generator=torch.Generator().manual_seed(1)
    )
    want_grads = torch.autograd.grad((want * upstream).sum(), params)
    got_grads = torch.autograd.grad((got * upstream).sum(), params)
    tol = (
        {"rtol": 1e-12, "atol": 1e-12}
        if dtype == torch.float64
        else {"rtol": 1e-5, "atol": 1e-5}
    )
    torch.testing.assert_close(got, want, **tol)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, **tol)


def test_default_chunk_and_a_gradient_of_two():
    hidden, weight, b, target = _inputs(torch.float64)
    params = [x.requires_grad_() for x in (hidden, weight, b)]
    want = torch.autograd.grad(2 * _eager(hidden, weight, b, target), params)
    got = torch.autograd.grad(
        2 * xt.linear_cross_entropy(hidden, weight, target, bias=b), params
    )
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_all_ignored_gives_nan_loss_and_zero_gradient():
    hidden, weight, _, target = _inputs(torch.float64, bias=False)
    hidden.requires_grad_()
    loss = xt.linear_cross_entropy(hidden, weight, torch.full_like(target, -100))
    loss.backward()
    assert torch.isnan(loss) and torch.all(hidden.grad == 0)


def test_without_gradients_and_in_no_grad_mode():
    hidden, weight, b, target = _inputs(torch.float32)
    want = _eager(hidden, weight, b, target)
    torch.testing.assert_close(
        xt.linear_cross_entropy(hidden, weight, target, bias=b), want
    )
    weight.requires_grad_()
    with torch.no_grad():
        got = xt.linear_cross_entropy(hidden, weight, target, bias=b)
    assert not got.requires_grad
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_second_derivatives_raise_instead_of_returning_zeros(reduction):
    hidden, weight, b, target = _inputs(torch.float64)
    hidden.requires_grad_()
    loss = xt.linear_cross_entropy(
        hidden, weight, target, bias=b, reduction=reduction
    ).sum()
    with pytest.raises(RuntimeError, match="cannot be differentiated twice"):
        torch.autograd.grad(loss, hidden, create_graph=True)
    (grad,) = torch.autograd.grad(
        loss, hidden
    )  # the first derivative alone still works
    assert grad.shape == hidden.shape


def test_half_precision_keeps_its_dtype():
    hidden, weight, b, target = _inputs(torch.float32)
    got = xt.linear_cross_entropy(
        hidden.bfloat16(), weight.bfloat16(), target, bias=b.bfloat16()
    )
    assert got.dtype == torch.bfloat16
    want = _eager(hidden, weight, b, target)
    np.testing.assert_allclose(float(got), float(want), rtol=3e-2)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden": torch.zeros(())}, "hidden must have a feature axis"),
        (
            {"hidden": torch.zeros(4, 6, dtype=torch.long)},
            "hidden must have a floating",
        ),
        ({"weight": torch.zeros(11, 5)}, r"weight must have shape \(V, 6\)"),
        ({"weight": torch.zeros(11)}, "weight must have shape"),
        ({"bias": torch.zeros(10)}, r"bias must have shape \(11,\)"),
        ({"target": torch.zeros(4, dtype=torch.long)}, r"target of shape \(4,\)"),
        (
            {"target": torch.zeros(3, 7)},
            "target holds class indices and must have an integer",
        ),
        ({"target": torch.full((3, 7), 11)}, r"outside \[0, 11\)"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"chunk_size": 2.0}, "chunk_size must be a positive integer"),
        ({"chunk_size": True}, "chunk_size must be a positive integer"),
        ({"reduction": "avg"}, "reduction must be one of"),
        (
            {"label_smoothing": 1.5},
            r"label_smoothing must be a number in \[0, 1\]; got 1.5",
        ),
    ],
)
def test_bad_arguments_name_the_argument(change, message):
    hidden, weight, b, target = _inputs(torch.float32)
    args = {"hidden": hidden, "weight": weight, "target": target, "bias": b, **change}
    with pytest.raises(ValueError, match=message):
        xt.linear_cross_entropy(
            args.pop("hidden"), args.pop("weight"), args.pop("target"), **args
        )

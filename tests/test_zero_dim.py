"""0-d input to ``softmax``, ``log_softmax`` and ``logsumexp`` behaves as PyTorch's.

PyTorch treats a 0-d tensor as a row of one class along dimension 0 (or -1): the softmax
is 1, the log-softmax 0, the log-sum-exp the value itself, with a 0-d result and
gradients of 0, 0 and 1. Each backend is held to ``torch`` itself on finite and
non-finite values.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import torch_oracle

VALUES = (2.5, 0.0, -1e4, float("inf"), float("-inf"), float("nan"))
FUNCTIONS = ("softmax", "log_softmax", "logsumexp")


def torch_reference(name: str, value: float, dtype: str, axis: int) -> np.ndarray:
    torch, _ = torch_oracle()
    x = torch.tensor(value, dtype=getattr(torch, dtype))
    return getattr(torch, name)(x, axis).numpy()


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy: inf - inf
def test_zero_dim_values_match_torch(backend, name, dtype, axis):
    b = backend
    for value in VALUES:
        want = torch_reference(name, value, dtype, axis)
        got = getattr(b.mod, name)(b.arr(value, dtype=dtype), axis=axis)
        assert b.np(got).shape == (), f"{name}({value}) of shape {b.np(got).shape}"
        assert b.dtype_name(got) == dtype
        np.testing.assert_array_equal(b.np(got), want, err_msg=f"{name}({value})")


def test_zero_dim_logsumexp_keepdims_stays_0d(backend):
    torch, _ = torch_oracle()
    b = backend
    want = torch.logsumexp(torch.tensor(1.5), 0, keepdim=True)
    got = b.mod.logsumexp(b.arr(1.5, dtype="float32"), axis=0, keepdims=True)
    assert b.np(got).shape == tuple(want.shape) == ()
    assert float(b.np(got)) == float(want)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_zero_dim_gradients_match_torch(autograd_backend, name):
    torch, _ = torch_oracle()
    b = autograd_backend
    x = torch.tensor(0.75, dtype=torch.float64, requires_grad=True)
    getattr(torch, name)(x, 0).backward()
    (got,) = b.grad(lambda t: getattr(b.mod, name)(t, axis=0), np.float64(0.75))
    np.testing.assert_allclose(got, x.grad.numpy(), atol=1e-15)

"""``xent._checks.torch``: checks that read tensor values, and the torch-only shape
checks.

On the host (eager CPU code) a bad value is a ``ValueError`` naming an example; off the
host (as on an accelerator, and under ``torch.compile``) it is a device-side assertion
with the same message, which the CPU runs at once as a ``RuntimeError``. Good values
pass both ways, and so do meta tensors, which hold no values.
"""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
from xent import _checks  # noqa: E402
from xent._checks import torch as torch_checks  # noqa: E402


@pytest.fixture(params=["host", "device"])
def where(request, monkeypatch):
    if request.param == "device":
        monkeypatch.setattr(torch_checks, "on_host", lambda x: False)
    return request.param


def _raises(where, error):
    kind = ValueError if where == "host" else RuntimeError
    return pytest.raises(kind, match=re.escape(str(error)))


def test_indices_in_range_or_ignored_pass(where):
    torch_checks.indices(torch.tensor([0, 2, -100, 1]), 3, -100)
    torch_checks.indices(torch.tensor([], dtype=torch.long), 3, -100)


@pytest.mark.parametrize("bad", [3, -1, -7])
def test_indices_out_of_range_fail_with_the_shared_message(where, bad):
    target = torch.tensor([0, bad, -100])
    with _raises(where, _checks.index_error(3, -100)) as info:
        torch_checks.indices(target, 3, -100)
    if where == "host":  # eager CPU code names the value
        assert str(info.value) == str(_checks.index_error(3, -100, bad))


def test_unit_interval(where):
    torch_checks.unit_interval("probs", torch.tensor([0.0, 0.5, 1.0, float("nan")]))
    torch_checks.unit_interval("probs", torch.tensor([True, False]))
    with _raises(where, _checks.unit_interval_error("probs")) as info:
        torch_checks.unit_interval("probs", torch.tensor([0.5, 1.5]))
    if where == "host":
        assert str(info.value) == str(_checks.unit_interval_error("probs", 1.5))


def test_holds(where):
    torch_checks.holds(torch.tensor(True), ValueError("never raised"))
    with _raises(where, ValueError("sampler must be positive")):
        torch_checks.holds(torch.tensor(False), ValueError("sampler must be positive"))


def test_meta_tensors_pass():
    torch_checks.indices(torch.empty(4, dtype=torch.long, device="meta"), 3, -100)
    torch_checks.unit_interval("probs", torch.empty(4, device="meta"))
    assert not torch_checks.on_host(torch.empty(1, device="meta"))


def test_under_compile_a_bad_index_is_the_same_message():
    def check(target):
        torch_checks.indices(target, 3, -100)
        return target + 1

    compiled = torch.compile(check, fullgraph=True, backend="aot_eager")
    compiled(torch.tensor([0, 1, 2]))
    with pytest.raises(
        RuntimeError, match=re.escape(str(_checks.index_error(3, -100)))
    ):
        compiled(torch.tensor([0, 5, 2]))


@pytest.mark.parametrize(
    "hidden, weight, bias, message",
    [
        ((), (3, 2), None, "hidden must have a feature axis"),
        ((4, 2), (3, 5), None, r"weight must have shape \(V, 2\)"),
        ((4, 2), (0, 2), None, r"weight must have shape \(V, 2\).*got shape \(0, 2\)"),
        ((4, 2), (3,), None, r"weight must have shape \(V, 2\)"),
        ((4, 2), (3, 2), (2,), r"bias must have shape \(3,\).*got shape \(2,\)"),
    ],
)
def test_linear_layer_shapes(hidden, weight, bias, message):
    with pytest.raises(ValueError, match=message):
        torch_checks.linear_layer(hidden, weight, bias)


def test_linear_layer_accepts_a_layer():
    torch_checks.linear_layer((5, 4, 2), (3, 2), (3,))
    torch_checks.linear_layer((2,), (3, 2), None)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, None, "4"])
def test_chunk_size_must_be_a_positive_integer(value):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        torch_checks.chunk_size(value)
    assert torch_checks.chunk_size(3) == 3


def test_index_target():
    torch_checks.index_target("hidden", (4,), (4,), "i", torch.long)
    with pytest.raises(ValueError, match=r"target of shape \(3,\) must hold one"):
        torch_checks.index_target("hidden", (3,), (4,), "i", torch.long)
    with pytest.raises(ValueError, match="must have an integer dtype; got torch.float"):
        torch_checks.index_target("hidden", (4,), (4,), "f", torch.float32)

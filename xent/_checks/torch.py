"""Checks that read the values of PyTorch tensors, and the torch-only argument checks.

Reading a tensor's values on the host costs nothing in eager code on the CPU, so there
a bad value raises ``ValueError`` naming one example. On an accelerator the same read
would make every call wait until the device has computed it (a host-device
synchronisation), and under ``torch.compile`` it would break the graph; there the check
is a device-side assertion with the same message (``torch._assert_async``: a
``RuntimeError`` raised by the device when it runs the check, on CUDA at the next
synchronisation as "device-side assert triggered"), which is what PyTorch's own losses
do on CUDA. Meta tensors hold no values and pass. The messages are those of
``xent._checks``, shared with the other backends.

The checks of shapes and options that only ``xent.torch``'s own functions need
(``linear_cross_entropy``'s layer, its ``chunk_size``) are here too: they need no
values and always raise ``ValueError`` first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xent import _checks

Tensor = torch.Tensor

__all__ = [
    "on_host",
    "device_assert",
    "holds",
    "indices",
    "unit_interval",
    "index_target",
    "linear_layer",
    "chunk_size",
]


def on_host(x: Tensor) -> bool:
    """Whether the values of ``x`` can be read now at no cost: eager code on the CPU."""
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


def device_assert(ok: Tensor, error: ValueError) -> None:
    """A device-side assertion that the 0-d ``ok`` holds, with the message of
    ``error``.
    """
    torch._assert_async(ok, str(error))


def holds(ok: Tensor, error: ValueError) -> None:
    """Raise ``error`` unless the 0-d boolean ``ok`` holds: now on the host, else as a
    device-side assertion (for checks whose message names no example).
    """
    if on_host(ok):
        if not bool(ok):
            raise error
    else:
        device_assert(ok, error)


def indices(target: Tensor, num_classes: int, ignore_index: int) -> None:
    """Every class index in ``[0, num_classes)`` or equal to ``ignore_index``."""
    if target.numel() == 0:
        return
    if on_host(target):
        low, high = torch.aminmax(target)  # one pass; the usual case ends here
        if low.item() < 0 or high.item() >= num_classes:
            bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
            if bad.any():
                example = int(target[bad][0])
                raise _checks.index_error(num_classes, ignore_index, example)
        return
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    device_assert(~bad.any(), _checks.index_error(num_classes, ignore_index))


def unit_interval(name: str, x: Tensor) -> None:
    """Every value of ``x`` in [0, 1] (NaN passes, as in PyTorch's own losses)."""
    if x.numel() == 0 or x.dtype == torch.bool:
        return
    if on_host(x):
        low, high = torch.aminmax(x)
        if low.item() < 0 or high.item() > 1:
            outside = (x < 0) | (x > 1)
            raise _checks.unit_interval_error(name, x[outside][0].item())
        return
    device_assert(~((x < 0) | (x > 1)).any(), _checks.unit_interval_error(name))


def index_target(
    name: str, shape: Sequence[int], rows: Sequence[int], kind: str, dtype: object
) -> None:
    """A target of ``shape`` holds one class index per row of ``name`` (``rows``: its
    shape without the feature axis), in an integer dtype (``kind`` ``"i"`` or ``"u"``).
    """
    if tuple(shape) != tuple(rows):
        raise ValueError(
            f"target of shape {_checks._fmt(shape)} must hold one class index "
            f"per row of {name}: shape {_checks._fmt(rows)}"
        )
    if kind not in ("i", "u"):
        raise ValueError(
            f"target holds class indices and must have an integer dtype; got {dtype}"
        )


def linear_layer(
    hidden: Sequence[int], weight: Sequence[int], bias: Sequence[int] | None
) -> None:
    """The shapes of a linear layer ``hidden @ weight.T + bias``: ``hidden: (..., d)``,
    ``weight: (V, d)`` with ``V > 0``, ``bias: (V,)`` or None.
    """
    if len(hidden) == 0:
        raise ValueError(
            "hidden must have a feature axis (shape (..., d)); got a scalar"
        )
    features = hidden[-1]
    if len(weight) != 2 or weight[1] != features or weight[0] == 0:
        raise ValueError(
            f"weight must have shape (V, {features}), one row of d = "
            f"{features} features per class as hidden (..., d); got shape "
            f"{_checks._fmt(weight)}"
        )
    if bias is not None and tuple(bias) != (weight[0],):
        raise ValueError(
            f"bias must have shape ({weight[0]},), one entry per row of weight; "
            f"got shape {_checks._fmt(bias)}"
        )


def chunk_size(value: object) -> int:
    """Rows per chunk: a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"chunk_size must be a positive integer (rows per chunk); got {value!r}"
        )
    return value

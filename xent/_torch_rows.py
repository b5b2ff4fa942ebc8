r"""The chunk policy and the row kernels shared by the memory-lean Functions of
``xent.torch``: ``xent._torch_lean`` (the cross-entropy), ``xent._torch_linear`` (the
chunked linear layer) and ``xent._torch_parallel`` (vocabulary-parallel).

Each keeps, per row of logits :math:`z`, only the shift :math:`m` and :math:`\lambda =
\log \sum_j e^{z_j - m}` (:func:`_shift_and_log_sum`), and rebuilds the softmax from
them, :math:`\exp((z - m) - \lambda)` (:func:`_softmax_from`), a chunk of rows at a
time (:func:`_row_chunks`). Derived in the chapter "Cross-entropy at scale". Nothing
here assumes a CPU: chunks are larger on accelerators, where each kernel launch costs
more than a pass over a few megabytes.
"""

from __future__ import annotations

from typing import TypeAlias

import torch
from numpy.typing import ArrayLike

Tensor = torch.Tensor
# What the public functions of xent.torch take: a tensor, or anything torch.as_tensor
# converts (NumPy arrays, nested lists, numbers).
TensorLike: TypeAlias = Tensor | ArrayLike

# The chunk policy of the PyTorch backend, in one place: a chunk is as many rows as fill
# a byte budget with float32 logits, at least one row (:func:`_rows_per_chunk`). On a
# CPU a chunk of 4 MiB stays in a core's cache; on an accelerator few large chunks keep
# the kernel launches cheap while still bounding the temporaries. The chunked linear
# layer holds a chunk of logits per matrix product and defaults to 16 MiB on every
# device. (NumPy's blocked pass, ``xent._numpy_blocked``, follows the same rule with
# blocks of 512 KiB, a core's L2 cache, where each block costs a few Python calls.)
_CHUNK_BYTES = {"cpu": 2**22}
_CHUNK_BYTES_ACCELERATOR = 2**28
_LINEAR_CHUNK_BYTES = 2**24


def _rows_per_chunk(row_elements: int, budget: int) -> int:
    """How many rows of ``row_elements`` float32 numbers fill ``budget`` bytes (at
    least one).
    """
    return max(1, budget // (4 * max(1, row_elements)))


def _slices(num_rows: int, step: int) -> list[slice]:
    """Consecutive chunks of ``step`` rows (the last may be shorter) that cover
    ``range(num_rows)``.
    """
    return [
        slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)
    ]


def _row_chunks(num_rows: int, row_elements: int, device: torch.device) -> list[slice]:
    """The chunks of rows of the cross-entropy on ``device``: one block under
    ``torch.compile``, where the compiler fuses the passes over it and would unroll a
    loop; else chunks of ``_CHUNK_BYTES`` for the device type.
    """
    if torch.compiler.is_compiling():
        return [slice(0, num_rows)]
    budget = _CHUNK_BYTES.get(device.type, _CHUNK_BYTES_ACCELERATOR)
    return _slices(num_rows, _rows_per_chunk(row_elements, budget))


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float16 and bfloat16 have too few bits for sums of exponentials: use float32."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _shift_and_log_sum(
    z: Tensor, scratch: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The shifted logits ``z - m``, the shift ``m`` and ``log sum_j exp(z_j - m)``.

    ``z: (B, C)`` gives ``(B, C)``, ``(B, 1)``, ``(B, 1)``. As ``xent.torch.logsumexp``,
    a row whose maximum is not finite is not shifted. ``scratch: (2, >= B, C)``, if
    given, holds the two temporaries, so that a loop over chunks allocates nothing.
    """
    m = z.amax(dim=-1, keepdim=True)
    m = torch.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)  # not finite: no shift
    if scratch is None:
        shifted = z - m  # every entry <= 0
        exps = torch.exp(shifted)
    else:
        shifted = torch.sub(z, m, out=scratch[0, : len(z)])
        exps = torch.exp(shifted, out=scratch[1, : len(z)])
    return shifted, m, torch.log(exps.sum(dim=-1, keepdim=True))


def _scratch(
    chunks: list[slice],
    num_classes: int,
    dtype: torch.dtype,
    device: torch.device,
    count: int = 2,
) -> Tensor:
    """Room for ``count`` temporaries of the largest chunk, reused by every chunk."""
    rows = chunks[0].stop - chunks[0].start if chunks else 0  # the first is largest
    return torch.empty(count, rows, num_classes, dtype=dtype, device=device)


def _softmax_from(
    z: Tensor, m: Tensor, log_sum: Tensor, out: Tensor | None = None
) -> Tensor:
    """``softmax(z)`` rebuilt from the saved per-row ``m`` and ``log_sum``, in place in
    ``out``.

    ``exp((z - m) - log_sum)``: subtracting in two steps keeps full precision where
    ``m`` is large, exactly as the log-softmax does.
    """
    out = torch.sub(z, m, out=out) if out is not None else z - m
    return out.sub_(log_sum).exp_()


def _refuse_second_derivatives(name: str) -> None:
    """Raise when a backward pass is being recorded (``create_graph=True``).

    The fused Functions compute their gradients without a graph; handing them to a
    recording backward pass would make them constants, and every second derivative
    through them a silent zero. Autograd runs a backward pass in grad mode exactly when
    it records it.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{name} cannot be differentiated twice (create_graph=True): its gradients "
            "are computed without a graph. For second derivatives, use the eager form "
            "on the full logits (xent.torch.cross_entropy supports them)."
        )


def _index_parts(target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``keep``: where the target is not ``ignore_index``; ``safe``: a valid index
    there.
    """
    keep = target != ignore_index
    return keep, torch.where(keep, target, 0)


def _z_term(m: Tensor, log_sum: Tensor, z_loss_scale: float) -> Tensor:
    """The z-loss ``scale * (log Z)**2`` of each row, ``(B,)``, from the saved parts."""
    return z_loss_scale * (m + log_sum).squeeze(-1).square()

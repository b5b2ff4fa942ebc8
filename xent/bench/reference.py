"""How far a case's result is from a float64 reference.

The reference of the plain loss is ``xent.numpy`` in float64 (the formula of the
chapters) and its analytic gradient ``cross_entropy_grad``; that of the linear form and
of the language-model options is the formula composed from ``torch.nn.functional`` ops
in float64, differentiated by autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from xent.bench.builders import Result
from xent.bench.cases import EXP_FLOORS, Case, ce_data, linear_data

# Rows of the reference gradient computed at a time (its float64 temporaries stay
# small at any size).
_GRAD_ROWS = 256


def _to_numpy(x: Any) -> NDArray[np.float64]:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def _largest_difference(pairs: list[tuple[Any, Any]]) -> float:
    return max(float(np.max(np.abs(_to_numpy(a) - _to_numpy(b)))) for a, b in pairs)


def max_error(case: Case, result: Result) -> float | None:
    """Largest absolute difference of the loss (and gradients) in ``result``, one run
    of ``case``, from a float64 reference; None for the exponential floors, which
    compute no loss.
    """
    loss, grads = result
    if case["impl"] in EXP_FLOORS:
        return None
    if case.get("options") or case["kind"] == "linear":
        return _torch_reference_error(case, loss, grads)
    from xent import numpy as xn

    logits, target = ce_data(case)
    want = xn.cross_entropy(logits.astype(np.float64), target)
    error = abs(float(_to_numpy(loss)) - float(_to_numpy(want)))
    if grads is not None:
        got = _to_numpy(grads)
        for start in range(0, len(logits), _GRAD_ROWS):
            rows = slice(start, start + _GRAD_ROWS)
            block = xn.cross_entropy_grad(
                logits[rows].astype(np.float64), target[rows], reduction="sum"
            )
            error = max(error, float(np.max(np.abs(got[rows] - block / len(logits)))))
    return error


def _torch_reference_error(case: Case, loss: Any, grads: Any) -> float:
    """:func:`max_error` of a linear case or of a case with the language-model
    options: the reference is composed from ``torch.nn.functional`` ops in float64.
    """
    import torch
    import torch.nn.functional as F

    options = case.get("options", {})
    cap, scale = options.get("softcap"), options.get("z_loss_scale", 0.0)

    def reference(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if cap is not None:
            z = cap * torch.tanh(z / cap)
        loss = F.cross_entropy(z, t)
        if scale:
            loss = loss + scale * (torch.logsumexp(z, -1) ** 2).mean()
        return loss

    if case["kind"] == "linear":
        arrays = linear_data(case)
        inputs = [torch.from_numpy(a).double().requires_grad_() for a in arrays[:3]]
        h, w, b = inputs
        want = reference(F.linear(h, w, b), torch.from_numpy(arrays[3]))
        got = [loss] + ([] if grads is None else list(grads))
    else:
        logits, target = ce_data(case)
        inputs = [torch.from_numpy(logits).double().requires_grad_()]
        want = reference(inputs[0], torch.from_numpy(target))
        got = [loss] + ([] if grads is None else [grads])
    want.backward()
    wanted = [want.detach()] + [x.grad for x in inputs][: len(got) - 1]
    return _largest_difference(list(zip(got, wanted, strict=True)))

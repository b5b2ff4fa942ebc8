"""The negative log-likelihood that ``xent.torch`` traces under ``torch.compile``.

Eagerly, ``xent.torch._nll`` picks each row's log-probability with a gather, as the
NumPy reference does. A compiler fuses other forms better, and :func:`nll` gives it
those: the same numbers, tested against the eager path in ``tests/test_compile.py``;
``python -m xent.bench`` times the compiled losses (chapter "Cross-entropy at
scale").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def nll(
    log_probs: Tensor, target: Tensor, w: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor]:
    """Per element, ``-w[y] * log_probs[y]`` and the weight ``w[y]`` (0 if ignored), as
    ``xent.torch._nll`` gives them, in the forms the compiler fuses.
    """
    keep = target != ignore_index  # (...)
    safe = torch.where(keep, target, 0)  # any valid index where ignored
    if not w.requires_grad:
        # The compiler lowers PyTorch's own nll_loss to a gather of one number per row
        # and a backward pass it fuses into the softmax's; a masked sum would read the
        # (..., C) log-probabilities once more (measured: 1.2x F.cross_entropy's time at
        # 4096 x 4096, against 0.94x). Its weight takes no gradient, hence the guard.
        num_classes = log_probs.shape[-1]
        loss = F.nll_loss(
            log_probs.reshape(-1, num_classes),
            target.reshape(-1),
            weight=w,
            ignore_index=ignore_index,
            reduction="none",
        ).reshape(target.shape)
        return loss, torch.where(keep, w[safe], 0)
    # A masked sum instead of a gather: its gradient is a mask the compiler fuses into
    # the softmax's, where a gather's would scatter into an (..., C) array of zeros.
    classes = torch.arange(log_probs.shape[-1], device=log_probs.device)
    is_target = classes == safe.unsqueeze(-1)  # (..., C), never materialised
    picked = torch.where(is_target, log_probs, 0).sum(-1)  # (...)
    kept_weight = torch.where(keep, w[safe], 0)
    # torch.where, not a product with 0: autograd gives ignored rows a zero gradient.
    return torch.where(keep, -kept_weight * picked, 0), kept_weight

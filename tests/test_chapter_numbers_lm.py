"""Every number of chapter 10 ("Training language models"), recomputed.

The bfloat16 spacing is read from PyTorch; the z-loss example is evaluated by
``xent.torch.cross_entropy`` on logits built to have the chapter's ``log Z``, its
gradient scale read from the autograd gradient; the soft-capping bound and slopes are
evaluated from their formulas and checked against the largest loss
``xent.torch.cross_entropy`` gives and the autograd slope of its cap. The guard
``test_every_decimal_is_checked`` fails when the chapter prints a decimal number that no
test binds (see ``_chapter_numbers``).
"""

from __future__ import annotations

import math

from _chapter_numbers import binds, loose, printed, torch_or_skip

LM = "10-language-model-training.md"


def test_every_decimal_is_checked():
    """Every occurrence of a decimal lies in a snippet that a bound test checks."""
    assert loose(LM, __name__, {"torch": torch_or_skip}, set()) == []


@binds(LM, "0.125")
def test_bfloat16_spacing_near_twenty(torch):
    x = torch.tensor(20.0, dtype=torch.bfloat16)
    spacing = float(torch.nextafter(x, torch.tensor(64.0, dtype=torch.bfloat16)) - x)
    bits = 1 - round(math.log2(torch.finfo(torch.bfloat16).eps))  # the implicit one
    printed(
        LM,
        f"a logit near $20$ is stored to a spacing of ${spacing:.3f}$ ({bits} "
        "significant bits)",
    )


@binds(LM, "0.04", "1.004")
def test_z_loss_example(torch):
    from xent import torch as xt

    s, log_z, classes = 1e-4, 20.0, 5
    # Logits whose log-partition function is exactly 20: log-probabilities plus 20.
    q = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05], dtype=torch.float64)
    z = (q.log() + log_z).requires_grad_()
    y = torch.tensor([1])
    loss, z_loss = xt.cross_entropy(z[None], y, z_loss_scale=s, return_z_loss=True)
    plain = xt.cross_entropy(z[None], y)
    assert math.isclose(float((loss - plain).detach()), float(z_loss), rel_tol=1e-12)
    (grad,) = torch.autograd.grad(loss, z)
    # The gradient is (1 + 2 s log Z) q - onehot(y): read the factor off a class != y.
    factor = float(grad[0] / q[0])
    assert math.isclose(factor, 1 + 2 * s * log_z, rel_tol=1e-9) and classes == len(q)
    printed(
        LM,
        f"a row with $\\log Z = {log_z:.0f}$ adds ${float(z_loss):.2f}$ nats to its "
        "loss and scales the softmax part of its gradient by "
        f"$1 + 2\\zeta\\log Z = {factor:.3f}$",
    )


@binds(LM, "72.45", "0.42", "0.07")
def test_softcap_bound_and_slopes(torch):
    from xent import torch as xt

    cap, vocabulary = 30.0, 256_000
    bound = 2 * cap + math.log(vocabulary)
    # The largest loss: the target's raw logit very low, every other one very high.
    z = torch.full((1, vocabulary), 1e4, dtype=torch.float64)
    z[0, 0] = -1e4
    worst = float(xt.cross_entropy(z, torch.tensor([0]), softcap=cap))
    # Exactly 2 cap + log(C - 1 + exp(-2 cap)): the bound, less log(C / (C - 1)).
    assert worst < bound
    assert math.isclose(worst, 2 * cap + math.log(vocabulary - 1), rel_tol=1e-12)
    printed(
        LM,
        f"which for $\\kappa = {cap:.0f}$ and a vocabulary of $C = 256\\,000$ (about "
        f"Gemma's) is about ${bound:.2f}$ nats",
    )
    raw = torch.tensor([cap, 2 * cap], dtype=torch.float64, requires_grad=True)
    capped = cap * torch.tanh(raw / cap)
    (slope,) = torch.autograd.grad(capped.sum(), raw)
    formula = [1 - math.tanh(1) ** 2, 1 - math.tanh(2) ** 2]
    assert torch.allclose(slope, torch.tensor(formula, dtype=torch.float64))
    printed(
        LM,
        f"damped by that slope: by a factor ${formula[0]:.2f}$ at $|z_c| = \\kappa$ "
        f"and ${formula[1]:.2f}$ at $|z_c| = 2\\kappa$",
    )

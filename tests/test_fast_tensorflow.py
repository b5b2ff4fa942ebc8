"""``xent.tensorflow.cross_entropy``'s memory-lean gradients against PyTorch's autograd.

The loss has small custom gradients (chapter "Cross-entropy at scale"), so the gradients
with respect to every differentiable input (logits, class weights, probability targets)
and the second derivatives are checked here against ``F.cross_entropy``, for every
option.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="tests xent.tensorflow")
torch = pytest.importorskip("torch", reason="PyTorch's autograd is the oracle")
F = torch.nn.functional
from xent import tensorflow as xtf  # noqa: E402

OPTIONS = [
    {"reduction": r, "label_smoothing": s, "ignore_index": i}
    for r, s, i in itertools.product(["none", "mean", "sum"], [0.0, 0.3], [-100, 2])
]


def _case(probs: bool, ignore_index: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(4, 5, 7)) * 3
    weight = rng.uniform(0.1, 2.0, 7)
    if probs:
        target = rng.dirichlet(np.ones(7), size=(4, 5))
    else:
        target = rng.integers(0, 7, size=(4, 5))
        target[0, :2] = ignore_index
    upstream = rng.uniform(0.5, 1.5, size=(4, 5))
    return logits, weight, target, upstream


def _torch_loss(z, w, t, probs, options):
    """F.cross_entropy on the classes-first layout that it expects for extra
    dimensions."""
    target = t.movedim(-1, 1) if probs else t
    return F.cross_entropy(z.movedim(-1, 1), target, weight=w, **options)


def _torch_formula(z, w, t, probs, options):
    """The loss written in PyTorch ops, differentiable in ``w`` too (``nll_loss`` is
    not)."""
    if probs:
        return _torch_loss(z, w, t, probs, options)
    eps, ignore_index = options["label_smoothing"], options["ignore_index"]
    log_q = torch.log_softmax(z, dim=-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, 0)
    w_t = torch.where(keep, w[safe], 0)
    nll = -w_t * log_q.gather(-1, safe[..., None])[..., 0]
    smooth = -(log_q * w).sum(-1)
    loss = torch.where(keep, (1 - eps) * nll + eps / z.shape[-1] * smooth, 0)
    reduction = options["reduction"]
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / w_t.sum()


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("probs", [False, True])
def test_gradients_for_logits_weight_and_target_match_torch(options, probs):
    if probs:
        options = {**options, "ignore_index": -100}
    logits, weight, target, upstream = _case(probs, options["ignore_index"])
    scale = upstream if options["reduction"] == "none" else 1.0

    z, w = tf.Variable(logits), tf.Variable(weight)
    t = tf.Variable(target) if probs else tf.constant(target)
    with tf.GradientTape() as tape:
        loss = xtf.cross_entropy(z, t, weight=w, **options)
        total = tf.reduce_sum(loss * scale)
    got = tape.gradient(total, [z, w, t] if probs else [z, w])

    zt = torch.tensor(logits, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    tt = torch.tensor(target, requires_grad=probs)
    want_loss = _torch_formula(zt, wt, tt, probs, options)
    inputs = [zt, wt, tt] if probs else [zt, wt]
    want = torch.autograd.grad((want_loss * torch.tensor(scale)).sum(), inputs)

    builtin = _torch_loss(zt.detach(), wt.detach(), tt.detach(), probs, options)
    np.testing.assert_allclose(
        want_loss.detach().numpy(), builtin.numpy(), rtol=1e-12
    )  # oracle
    np.testing.assert_allclose(loss.numpy(), builtin.numpy(), rtol=1e-12, atol=1e-12)
    for g, w_ in zip(got, want, strict=True):
        g = tf.convert_to_tensor(
            g
        )  # a gathered weight has a sparse (IndexedSlices) gradient
        np.testing.assert_allclose(g.numpy(), w_.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", OPTIONS[::3])
@pytest.mark.parametrize("probs", [False, True])
def test_second_derivatives_match_torch(options, probs):
    """A Hessian-vector product: the gradient of <gradient, v> with respect to the
    logits."""
    if probs:
        options = {**options, "ignore_index": -100}
    logits, weight, target, upstream = _case(probs, options["ignore_index"], seed=1)
    direction = np.random.default_rng(2).normal(size=logits.shape)
    scale = upstream if options["reduction"] == "none" else 1.0

    z = tf.Variable(logits)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_sum(
                xtf.cross_entropy(z, target, weight=weight, **options) * scale
            )
        grad = inner.gradient(loss, z)
        along = tf.reduce_sum(grad * direction)
    got = outer.gradient(along, z)

    zt = torch.tensor(logits, requires_grad=True)
    loss_t = (
        _torch_loss(zt, torch.tensor(weight), torch.tensor(target), probs, options)
        * torch.tensor(scale)
    ).sum()
    (grad_t,) = torch.autograd.grad(loss_t, zt, create_graph=True)
    (want,) = torch.autograd.grad((grad_t * torch.tensor(direction)).sum(), zt)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_under_tf_function_matches_eager():
    logits, weight, target, _ = _case(False, 2)

    def grads(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = xtf.cross_entropy(
                z, target, weight=weight, label_smoothing=0.1, ignore_index=2
            )
        return tape.gradient(loss, z)

    z = tf.constant(logits)
    np.testing.assert_allclose(
        tf.function(grads)(z).numpy(), grads(z).numpy(), rtol=1e-12
    )

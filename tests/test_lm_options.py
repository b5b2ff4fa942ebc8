"""The language-model options of the cross-entropy: z-loss and logit soft-capping.

``z_loss_scale`` adds ``scale * (log Z)**2`` per counted row (PaLM's auxiliary loss) and
``softcap`` replaces the logits ``z`` by ``softcap * tanh(z / softcap)`` (Gemma 2). The
oracle is the explicit formula composed from ``torch.nn.functional`` ops
(``_backends.torch_cross_entropy``), with autograd for the gradients; ``xent.torch``
(eager memory-lean path, its chunked and twice-differentiable variants, the fused linear
path, and ``torch.compile``), ``xent.numpy`` and ``xent.tensorflow`` are held to it,
over the shared grid of options.
"""

from __future__ import annotations

import numpy as np
import pytest
from _backends import options_grid, options_id, torch_cross_entropy

torch = pytest.importorskip("torch")
F = torch.nn.functional
from xent import torch as xt  # noqa: E402

SCALE = 0.3


def reference(z, y, **options):
    """The loss and the z-loss of the functional formula (``_backends``)."""
    return torch_cross_entropy(z, y, **options, return_z_loss=True)


def _inputs(seed, shape=(3, 4, 7), probs=False):
    g = torch.Generator().manual_seed(seed)
    z = 5 * torch.randn(*shape, generator=g, dtype=torch.float64)
    if probs:
        y = torch.softmax(torch.randn(*shape, generator=g, dtype=torch.float64), -1)
    else:
        y = torch.randint(0, shape[-1], shape[:-1], generator=g)
        y.view(-1)[::5] = -100  # some ignored targets
    w = torch.rand(shape[-1], generator=g, dtype=torch.float64) + 0.5
    return z, y, w


def _check(got, want, z, rtol=1e-10, atol=1e-10):
    """Values of (loss, z-loss) and the gradient of a random projection of the loss."""
    torch.testing.assert_close(got[0], want[0], rtol=rtol, atol=atol)
    torch.testing.assert_close(got[1], want[1], rtol=rtol, atol=atol)
    assert not got[1].requires_grad  # the z-loss report is detached
    g = torch.linspace(-1, 2, got[0].numel(), dtype=got[0].dtype).reshape(got[0].shape)
    (a,) = torch.autograd.grad(got[0], z, g, retain_graph=True)
    (b,) = torch.autograd.grad(want[0], z, g, retain_graph=True)
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


GRID = options_grid(
    label_smoothing=(0.0, 0.2), z_loss_scale=(0.0, SCALE), softcap=(None, 2.0)
)


@pytest.mark.parametrize("options", GRID, ids=map(options_id, GRID))
def test_cross_entropy_options_match_the_functional_formula(options):
    for probs in (False, True):
        seed = len(options["reduction"]) + int(options["weight"])
        z, y, w = _inputs(seed, probs=probs)
        opts = {**options, "weight": w if options["weight"] else None}
        z.requires_grad_()
        got = xt.cross_entropy(z, y, **opts, return_z_loss=True)
        _check(got, reference(z, y, **opts), z)
        # Without return_z_loss: the same loss alone.
        alone = xt.cross_entropy(z, y, **opts)
        torch.testing.assert_close(alone, got[0], rtol=1e-10, atol=1e-10)


def test_the_options_change_the_loss():
    """The oracle is not blind: each option moves the loss and its gradient."""
    z, y, _ = _inputs(3)
    plain = xt.cross_entropy(z, y)
    assert float(xt.cross_entropy(z, y, z_loss_scale=SCALE)) > float(plain) + 0.1
    assert abs(float(xt.cross_entropy(z, y, softcap=2.0)) - float(plain)) > 0.1


def test_chunked_and_twice_differentiable_paths():
    """Many rows (several chunks of the lean Function) and create_graph=True."""
    z, y, w = _inputs(5, shape=(1500, 1000))
    z = z.float().requires_grad_()
    got = xt.cross_entropy(
        z, y, weight=w.float(), z_loss_scale=SCALE, softcap=4.0, return_z_loss=True
    )
    want = reference(z, y, weight=w.float(), z_loss_scale=SCALE, softcap=4.0)
    _check(got, want, z, rtol=1e-5, atol=1e-6)

    z, y, w = _inputs(6, shape=(5, 6))
    z.requires_grad_()
    v = torch.randn_like(z)
    hvp = []
    for fn in (xt.cross_entropy, torch_cross_entropy):
        options = dict(weight=w, label_smoothing=0.1, z_loss_scale=SCALE, softcap=3.0)
        loss = fn(z, y, **options)
        (grad,) = torch.autograd.grad(loss, z, create_graph=True)
        hvp.append(torch.autograd.grad((grad * v).sum(), z)[0])
    torch.testing.assert_close(hvp[0], hvp[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "eps,softcap,scale", [(0.0, 2.5, SCALE), (0.1, None, SCALE), (0.1, 1.5, 0.0)]
)
def test_linear_cross_entropy_options_match_the_functional_formula(
    reduction, eps, softcap, scale
):
    g = torch.Generator().manual_seed(7)
    hidden = torch.randn(3, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 6, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(11, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 11, (3, 5), generator=g)
    target[0, 1] = target[2, 4] = -100
    params = (hidden, weight, bias)
    got = xt.linear_cross_entropy(
        hidden,
        weight,
        target,
        bias=bias,
        reduction=reduction,
        label_smoothing=eps,
        z_loss_scale=scale,
        softcap=softcap,
        return_z_loss=True,
        chunk_size=4,
    )
    want = reference(
        F.linear(hidden, weight, bias),
        target,
        reduction=reduction,
        label_smoothing=eps,
        z_loss_scale=scale,
        softcap=softcap,
    )
    torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got[1], want[1], rtol=1e-10, atol=1e-10)
    proj = torch.linspace(-1, 2, got[0].numel(), dtype=torch.float64)
    proj = proj.reshape(got[0].shape)
    a = torch.autograd.grad(got[0], params, proj)
    b = torch.autograd.grad(want[0], params, proj)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-10)


def test_options_under_fullgraph_compile_return_the_z_loss_too():
    z, y, w = _inputs(8)
    hidden = torch.randn(3, 4, 5, dtype=torch.float64)
    weight = torch.randn(7, 5, dtype=torch.float64)

    def both(z, hidden, weight):
        a = xt.cross_entropy(
            z, y, weight=w, z_loss_scale=SCALE, softcap=2.0, return_z_loss=True
        )
        b = xt.linear_cross_entropy(
            hidden, weight, y, z_loss_scale=SCALE, softcap=2.0, return_z_loss=True
        )
        return torch.stack([*a, *b])

    torch._dynamo.reset()
    leaves = [x.clone().requires_grad_() for x in (z, hidden, weight)]
    got = torch.compile(both, fullgraph=True, backend="aot_eager")(*leaves)
    got_grads = torch.autograd.grad(got[0] + got[2], leaves)
    want_z = reference(z, y, weight=w, z_loss_scale=SCALE, softcap=2.0)
    want_h = reference(F.linear(hidden, weight), y, z_loss_scale=SCALE, softcap=2.0)
    torch.testing.assert_close(got.detach(), torch.stack([*want_z, *want_h]))
    leaves2 = [x.clone().requires_grad_() for x in (z, hidden, weight)]
    options = dict(z_loss_scale=SCALE, softcap=2.0)
    want = torch_cross_entropy(leaves2[0], y, weight=w, **options)
    want = want + torch_cross_entropy(F.linear(leaves2[1], leaves2[2]), y, **options)
    for a, b in zip(got_grads, torch.autograd.grad(want, leaves2), strict=True):
        torch.testing.assert_close(a, b)
    torch._dynamo.reset()


def test_meta_tensors_with_the_options():
    z = torch.empty(4, 9, dtype=torch.bfloat16, device="meta", requires_grad=True)
    y = torch.empty(4, dtype=torch.long, device="meta")
    loss, z_loss = xt.cross_entropy(
        z, y, z_loss_scale=0.1, softcap=5.0, return_z_loss=True, reduction="none"
    )
    assert (loss.shape, loss.dtype, z_loss.dtype) == (
        (4,),
        torch.bfloat16,
        torch.bfloat16,
    )
    (grad,) = torch.autograd.grad(loss.sum(), z)
    assert (grad.shape, grad.device.type) == ((4, 9), "meta")


BAD = [
    ("z_loss_scale", -0.1),
    ("z_loss_scale", float("nan")),
    ("z_loss_scale", float("inf")),
    ("z_loss_scale", "1"),
    ("softcap", 0.0),
    ("softcap", -3.0),
    ("softcap", float("nan")),
    ("softcap", True),
]


@pytest.mark.parametrize("name,value", BAD)
def test_bad_option_values_are_a_value_error_naming_the_argument(name, value):
    z, y, _ = _inputs(9)
    hidden, weight = torch.randn(3, 4, 5), torch.randn(7, 5)
    calls = [
        lambda: xt.cross_entropy(z, y, **{name: value}),
        lambda: xt.linear_cross_entropy(hidden, weight, y, **{name: value}),
    ]
    from xent import numpy as xn

    calls.append(lambda: xn.cross_entropy(z.numpy(), y.numpy(), **{name: value}))
    for call in calls:
        with pytest.raises(ValueError, match=name):
            call()


@pytest.mark.parametrize("probs", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_numpy_backend_matches_the_functional_formula(probs, reduction):
    from xent import numpy as xn

    z, y, w = _inputs(10, probs=probs)
    for eps, softcap, scale in [(0.0, 2.0, SCALE), (0.2, None, SCALE), (0.1, 3.0, 0.0)]:
        got = xn.cross_entropy(
            z.numpy(),
            y.numpy(),
            weight=w.numpy(),
            reduction=reduction,
            label_smoothing=eps,
            z_loss_scale=scale,
            softcap=softcap,
            return_z_loss=True,
        )
        want = reference(
            z,
            y,
            weight=w,
            reduction=reduction,
            label_smoothing=eps,
            z_loss_scale=scale,
            softcap=softcap,
        )
        np.testing.assert_allclose(got[0], want[0].numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got[1], want[1].numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("probs", [False, True])
def test_tensorflow_backend_matches_the_functional_formula(probs):
    tf = pytest.importorskip("tensorflow")
    from xent import tensorflow as xtf

    z, y, w = _inputs(11, probs=probs)
    z.requires_grad_()
    for reduction, eps, softcap, scale in [
        ("mean", 0.0, 2.0, SCALE),
        ("none", 0.2, None, SCALE),
        ("sum", 0.1, 3.0, SCALE),
    ]:
        want = reference(
            z,
            y,
            weight=w,
            reduction=reduction,
            label_smoothing=eps,
            z_loss_scale=scale,
            softcap=softcap,
        )
        proj = torch.linspace(-1, 2, want[0].numel(), dtype=torch.float64)
        proj = proj.reshape(want[0].shape)
        (want_grad,) = torch.autograd.grad(want[0], z, proj)
        tz = tf.constant(z.detach().numpy())
        opts = dict(
            weight=tf.constant(w.numpy()),
            reduction=reduction,
            label_smoothing=eps,
            z_loss_scale=scale,
            softcap=softcap,
            return_z_loss=True,
        )
        with tf.GradientTape() as tape:
            tape.watch(tz)
            loss, z_loss = xtf.cross_entropy(tz, tf.constant(y.numpy()), **opts)
            projected = tf.reduce_sum(loss * tf.constant(proj.numpy()))
        grad = tape.gradient(projected, tz)
        np.testing.assert_allclose(loss.numpy(), want[0].detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(z_loss.numpy(), want[1].detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(
            grad.numpy(), want_grad.numpy(), rtol=1e-9, atol=1e-12
        )
        # Inside a tf.function too (the graph-assertion path).
        traced = tf.function(lambda a, b, o=opts: xtf.cross_entropy(a, b, **o))
        got = traced(tz, tf.constant(y.numpy()))
        np.testing.assert_allclose(got[0].numpy(), want[0].detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="softcap"):
        xtf.cross_entropy(tz, tf.constant(y.numpy()), softcap=0)
    with pytest.raises(ValueError, match="z_loss_scale"):
        xtf.cross_entropy(tz, tf.constant(y.numpy()), z_loss_scale=-1)

"""``xent.torch`` under ``torch.compile(fullgraph=True)`` and on ``meta`` tensors.

``fullgraph=True`` fails on any graph break, and every read of a tensor's value on the
host (``.item()``, ``bool(tensor)``, ``if tensor.any():``) is one: a function that
compiles this way never waits for the device. The grid of functions and options is
compiled with the ``aot_eager`` backend, which traces the forward and backward graphs as
inductor would but skips its code generation (seconds instead of minutes on two cores):
``make test-fast`` compiles the first case of each function, ``make test`` every case.
One test (``heavy``) compiles every function once with inductor and compares values and
gradients with eager code. The oracle is eager ``xent.torch``, itself held to
``torch.nn.functional`` by the other test files.
"""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
from xent import torch as xt  # noqa: E402
from xent._checks import torch as torch_checks  # noqa: E402

_checks = pytest.importorskip("xent._checks")


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch and leaves no compiled code behind."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _data(seed: int = 0):
    """Small seeded inputs: logits (6, 5), every kind of target, weights, a linear
    layer."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(6, 5, generator=g, dtype=torch.float64)
    return {
        "z": z,
        "index": torch.tensor([0, 1, 4, -100, 2, 3]),
        "index_ignore_4": torch.tensor([0, 1, 4, 4, 2, 3]),
        "probs": torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), -1),
        "binary": torch.rand(6, 5, generator=g, dtype=torch.float64),
        "weight": torch.rand(5, generator=g, dtype=torch.float64) + 0.5,
        "row_weight": torch.rand(6, 1, generator=g, dtype=torch.float64),
        "hidden": torch.randn(6, 4, generator=g, dtype=torch.float64),
        "W": torch.randn(5, 4, generator=g, dtype=torch.float64),
        "bias": torch.randn(5, generator=g, dtype=torch.float64),
        "sampled": torch.tensor([1, 3]),
        "prior": torch.tensor([5.0, 1.0, 2.0, 8.0, 4.0], dtype=torch.float64),
    }


# (function name, positional inputs by name, the inputs that get a gradient, options)
CASES = [
    ("logsumexp", ["z"], ["z"], {}),
    ("logsumexp", ["z"], ["z"], {"axis": 0, "keepdims": True}),
    ("log_softmax", ["z"], ["z"], {}),
    ("softmax", ["z"], ["z"], {"axis": 0}),
    ("cross_entropy", ["z", "index"], ["z"], {}),
    ("cross_entropy", ["z", "index"], ["z"], {"reduction": "none"}),
    (
        "cross_entropy",
        ["z", "index_ignore_4"],
        ["z"],
        {"reduction": "sum", "ignore_index": 4},
    ),
    (
        "cross_entropy",
        ["z", "index"],
        ["z"],
        {"label_smoothing": 0.2, "weight": "weight"},
    ),
    ("cross_entropy", ["z", "index"], ["z", "weight"], {"weight": "weight"}),
    ("cross_entropy", ["z", "probs"], ["z"], {"label_smoothing": 0.1}),
    ("cross_entropy", ["z", "probs"], ["z", "probs"], {"reduction": "sum"}),
    ("cross_entropy", ["z", "probs"], ["z"], {"weight": "weight", "reduction": "none"}),
    ("nll_loss", ["z", "index"], ["z"], {}),
    ("nll_loss", ["z", "index"], ["z"], {"weight": "weight", "reduction": "none"}),
    ("binary_cross_entropy_with_logits", ["z", "binary"], ["z"], {}),
    (
        "binary_cross_entropy_with_logits",
        ["z", "binary"],
        ["z", "binary"],
        {"weight": "row_weight", "pos_weight": "weight", "reduction": "sum"},
    ),
    ("binary_cross_entropy", ["binary", "probs"], ["binary"], {}),
    (
        "binary_cross_entropy",
        ["binary", "probs"],
        ["binary", "probs"],
        {"weight": "row_weight", "reduction": "none"},
    ),
    ("sigmoid_focal_loss", ["z", "binary"], ["z"], {}),
    ("sigmoid_focal_loss", ["z", "binary"], ["z"], {"alpha": -1, "gamma": 0.0}),
    ("sigmoid_focal_loss", ["z", "binary"], ["z"], {"gamma": 1.5, "reduction": "mean"}),
    ("linear_cross_entropy", ["hidden", "W", "index"], ["hidden", "W"], {}),
    (
        "linear_cross_entropy",
        ["hidden", "W", "index"],
        ["hidden", "W", "bias"],
        {"bias": "bias", "chunk_size": 4, "label_smoothing": 0.1},
    ),
    (
        "linear_cross_entropy",
        ["hidden", "W", "index"],
        ["hidden", "bias"],
        {"bias": "bias", "reduction": "none", "chunk_size": 2},
    ),
    # The language-model options (issue 15): z-loss and soft-capping.
    ("cross_entropy", ["z", "index"], ["z"], {"z_loss_scale": 0.1, "softcap": 2.0}),
    (
        "cross_entropy",
        ["z", "index"],
        ["z", "weight"],
        {"z_loss_scale": 0.2, "weight": "weight", "label_smoothing": 0.1},
    ),
    ("cross_entropy", ["z", "probs"], ["z"], {"softcap": 1.5, "reduction": "none"}),
    (
        "linear_cross_entropy",
        ["hidden", "W", "index"],
        ["hidden", "W", "bias"],
        {"bias": "bias", "z_loss_scale": 0.1, "softcap": 3.0, "chunk_size": 4},
    ),
    # The large-output functions (xent._torch_sampled), with a fixed sample.
    (
        "sampled_softmax_cross_entropy",
        ["hidden", "W", "index"],
        ["hidden", "W"],
        {"num_sampled": 2, "sampled": "sampled"},
    ),
    (
        "nce_loss",
        ["hidden", "W", "index"],
        ["hidden", "W", "bias"],
        {"num_sampled": 2, "sampled": "sampled", "bias": "bias", "reduction": "sum"},
    ),
    (
        "logit_adjusted_cross_entropy",
        ["z", "index"],
        ["z"],
        {"class_prior": "prior", "tau": 0.5, "label_smoothing": 0.1},
    ),
]


def _inputs(names, grads, options, data):
    """Fresh leaf tensors (those in ``grads`` require a gradient) and resolved
    options."""
    leaves = {
        k: v.detach().clone().requires_grad_(k in grads and v.is_floating_point())
        for k, v in data.items()
    }
    args = [leaves[n] for n in names]
    kwargs = {
        k: leaves[v] if isinstance(v, str) and v in leaves else v
        for k, v in options.items()
    }
    return args, kwargs, [leaves[n] for n in grads]


def _run(fn, names, grads, options, data):
    """Loss and the gradients of the inputs in ``grads`` (of a random projection)."""
    args, kwargs, wrt = _inputs(names, grads, options, data)
    out = fn(*args, **kwargs)
    projection = torch.linspace(-1, 2, out.numel(), dtype=out.dtype, device=out.device)
    projection = projection.reshape(out.shape)
    return out.detach(), torch.autograd.grad((out * projection).sum(), wrt)


def _label(case):
    name, _, grads, options = case
    return f"{name}-{'+'.join(grads)}-{options}"


def _first_of_each_function(cases):
    """The cases as ``pytest.param``: the first case of each function as it is, the
    others ``heavy`` (``make test-fast`` compiles each function once, ``make test``
    every case)."""
    seen = set()
    params = []
    for case in cases:
        marks = [pytest.mark.heavy] if case[0] in seen else []
        seen.add(case[0])
        params.append(pytest.param(case, id=_label(case), marks=marks))
    return params


@pytest.mark.parametrize("case", _first_of_each_function(CASES))
def test_fullgraph_compile_matches_eager(case):
    name, names, grads, options = case
    fn = getattr(xt, name)
    data = _data()
    want, want_grads = _run(fn, names, grads, options, data)
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    got, got_grads = _run(compiled, names, grads, options, data)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.heavy  # inductor generates C++ code and builds it with the compiler
def test_every_function_compiles_with_inductor_to_eager_values_and_gradients():
    """One inductor compilation of all nine losses and helpers at once (one graph)."""
    data = {k: v.float() if v.is_floating_point() else v for k, v in _data(1).items()}

    def losses(z, binary, probs, hidden, W, bias, weight, index):
        return torch.stack(
            [
                xt.logsumexp(z).sum(),
                (xt.log_softmax(z) * probs).sum(),
                (xt.softmax(z, axis=0) * probs).sum(),
                xt.cross_entropy(z, index, weight=weight, label_smoothing=0.1),
                xt.cross_entropy(z, probs, reduction="sum"),
                xt.nll_loss(xt.log_softmax(z), index),
                xt.binary_cross_entropy_with_logits(z, binary, pos_weight=weight),
                xt.binary_cross_entropy(torch.sigmoid(z), binary),
                xt.sigmoid_focal_loss(z, binary, reduction="mean"),
                xt.linear_cross_entropy(hidden, W, index, bias=bias, chunk_size=4),
            ]
        )

    names = ["z", "binary", "probs", "hidden", "W", "bias", "weight", "index"]
    grads = ["z", "hidden", "W", "bias"]
    want, want_grads = _run(losses, names, grads, {}, data)
    got, got_grads = _run(torch.compile(losses, fullgraph=True), names, grads, {}, data)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_meta_tensors_give_the_shape_and_dtype_of_eager_results(case):
    name, names, grads, options = case
    fn = getattr(xt, name)
    data = _data()
    want, _ = _run(fn, names, grads, options, data)
    meta = {k: torch.empty_like(v, device="meta") for k, v in data.items()}
    got, got_grads = _run(fn, names, grads, options, meta)
    assert got.device.type == "meta"
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
    for g, leaf in zip(got_grads, grads, strict=True):
        assert (g.shape, g.dtype, g.device.type) == (
            meta[leaf].shape,
            meta[leaf].dtype,
            "meta",
        )


def test_meta_tensors_in_low_precision_keep_their_dtype():
    z = torch.empty(8, 3, dtype=torch.bfloat16, device="meta")
    t = torch.empty(8, dtype=torch.long, device="meta")
    assert xt.cross_entropy(z, t, reduction="none").dtype == torch.bfloat16


# Bad values: ValueError in eager CPU code, a device-side assertion with the same words
# elsewhere. On the CPU an assertion fails at once, so its message can be read here.

BAD_VALUES = [
    ("cross_entropy", ["z", "index"], {}, "index", 5, _checks.index_error(5, -100)),
    (
        "cross_entropy",
        ["z", "probs"],
        {},
        "probs",
        1.5,
        _checks.unit_interval_error("target (class probabilities)"),
    ),
    ("nll_loss", ["z", "index"], {}, "index", -3, _checks.index_error(5, -100)),
    (
        "binary_cross_entropy_with_logits",
        ["z", "binary"],
        {},
        "binary",
        -0.5,
        _checks.unit_interval_error("target"),
    ),
    (
        "binary_cross_entropy",
        ["binary", "probs"],
        {},
        "binary",
        2.0,
        _checks.unit_interval_error("probs"),
    ),
    (
        "sigmoid_focal_loss",
        ["z", "binary"],
        {},
        "binary",
        3.0,
        _checks.unit_interval_error("target"),
    ),
    (
        "linear_cross_entropy",
        ["hidden", "W", "index"],
        {},
        "index",
        -1,
        _checks.index_error(5, -100),
    ),
]


def _bad(data, key, value):
    data = dict(data)
    data[key] = data[key].clone()
    data[key].view(-1)[1] = value
    return data


@pytest.mark.parametrize(
    "case", BAD_VALUES, ids=[c[0] + "-" + c[3] for c in BAD_VALUES]
)
def test_bad_values_are_a_value_error_in_eager_cpu_code(case):
    name, names, options, key, value, error = case
    data = _bad(_data(), key, value)
    args = [data[n] for n in names]
    with pytest.raises(ValueError, match=re.escape(str(error))) as info:
        getattr(xt, name)(*args, **options)
    assert str(value) in str(info.value)  # eager code names an example


@pytest.mark.parametrize(
    "case", BAD_VALUES, ids=[c[0] + "-" + c[3] for c in BAD_VALUES]
)
def test_bad_values_are_a_device_side_assertion_off_the_host(case, monkeypatch):
    """With the host path switched off (as on a GPU), the same message, never a read."""
    name, names, options, key, value, error = case
    monkeypatch.setattr(torch_checks, "on_host", lambda x: False)
    data = _bad(_data(), key, value)
    args = [data[n] for n in names]
    with pytest.raises(RuntimeError, match=re.escape(str(error))):
        getattr(xt, name)(*args, **options)
    good = [_data()[n] for n in names]
    getattr(xt, name)(*good, **options)  # and a good batch passes the assertion


def test_bad_values_under_compile_fail_the_assertion_with_the_same_message():
    data = _data()
    compiled = torch.compile(xt.cross_entropy, fullgraph=True, backend="aot_eager")
    compiled(data["z"], data["index"])  # compiles; a good batch passes
    bad = _bad(data, "index", 7)
    with pytest.raises(
        RuntimeError, match=re.escape(str(_checks.index_error(5, -100)))
    ):
        compiled(bad["z"], bad["index"])


def test_shape_and_option_errors_are_raised_while_tracing():
    """Checks that need no data raise while tracing, before anything is computed: a
    ``ValueError`` from ``torch.compile``; with ``fullgraph=True`` Dynamo may wrap it in
    its own error, with the same message."""
    data = _data()
    compiled = torch.compile(xt.cross_entropy, backend="aot_eager")
    with pytest.raises(ValueError, match="reduction must be one of"):
        compiled(data["z"], data["index"], reduction="avg")
    with pytest.raises(ValueError, match="does not match logits"):
        compiled(data["z"], data["index"][:3])
    strict = torch.compile(xt.cross_entropy, fullgraph=True, backend="aot_eager")
    with pytest.raises(Exception, match="reduction must be one of"):
        strict(data["z"], data["index"], reduction="avg")

"""From a case to a function that runs it once on its seeded data.

:func:`build` turns a case (see :mod:`xent.bench.cases`) into a function without
arguments that runs the implementation once and returns ``(loss, gradients)``, and the
number of bytes that pass must at least move. The data is made and moved to the device
once, when the function is built, so that timing it times the loss alone. On a GPU the
function ends with a synchronisation, so that its time includes the device's work.
Frameworks are imported here only when a case needs them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from xent.bench.cases import (
    EXP_FLOORS,
    FRAMEWORK,
    LINEAR_IMPLS,
    PARALLEL_IMPLS,
    Case,
    ce_data,
    linear_data,
)

# What one run returns: the loss and the gradients (None for a forward pass; a tuple of
# three for the linear form), as the framework's tensors.
Result: TypeAlias = tuple[Any, Any]
Runner: TypeAlias = Callable[[], Result]

# The floors compute the exponentials a block of rows of about this many bytes at a
# time into one scratch block, so that both stay in one core's cache (L2 is 0.5 to
# 2 MiB today), as the blocked pass of xent.numpy does: what is left is the exp itself.
FLOOR_BLOCK_BYTES = 2**19

# The implementations that build() runs, by kind (the parallel kind runs in
# xent.bench.parallel).
_IMPLS = {
    "ce": tuple(i for i in FRAMEWORK if i not in LINEAR_IMPLS + PARALLEL_IMPLS),
    "linear": LINEAR_IMPLS,
}

# torch.compile of each compiled implementation, once per process, for any shape.
_COMPILED: dict[str, Callable[..., Any]] = {}


def _torch(num_threads: int | None) -> Any:
    """The torch module, with its intra-op thread count set when one is given."""
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)
    return torch


def _tensorflow(num_threads: int | None) -> Any:
    """The tensorflow module, quiet, with its thread counts set when one is given."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if num_threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(num_threads)
        except RuntimeError:  # already initialised by an earlier case: keep its setting
            pass
    return tf


def _compiled(name: str) -> Callable[..., Any]:
    """``torch.compile`` of one implementation, compiled once per process for any
    shape.
    """
    if name not in _COMPILED:
        import torch
        import torch.nn.functional as F

        from xent import torch as xt

        def eager_linear(h: Any, w: Any, t: Any, bias: Any = None) -> Any:
            return F.cross_entropy(F.linear(h, w, bias), t)

        fns: dict[str, Callable[..., Any]] = {
            "torch-compile": F.cross_entropy,
            "xent-compile": xt.cross_entropy,
            "chunked-compile": xt.linear_cross_entropy,
            "eager-compile": eager_linear,
        }
        _COMPILED[name] = torch.compile(fns[name], dynamic=True)
    return _COMPILED[name]


def synced(device: str, fn: Runner) -> Runner:
    """``fn`` followed by a device synchronisation, so that timings include the GPU's
    work.
    """
    if device == "cpu":
        return fn
    import torch

    def run() -> Result:
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


def build(case: Case, num_threads: int | None = None) -> tuple[Runner, int]:
    """A function that runs ``case`` once and returns ``(loss, gradients)``, and its
    bytes.

    The bytes are the least that must cross the memory bus: the logits read once for a
    forward pass; read once and the gradient written once for forward and backward; for
    the linear form, its inputs read and their gradients written. ``num_threads`` sets
    the intra-op threads of PyTorch and TensorFlow (NumPy's ufuncs use one anyway).
    Raises ``ValueError`` for an unknown kind or implementation, or a pass that the
    implementation does not have.

    >>> fn, nbytes = build({"kind": "ce", "impl": "xent-numpy", "n": 4, "c": 3})
    >>> loss, grads = fn()
    >>> nbytes, round(float(loss), 4), grads
    (48, 1.9181, None)
    """
    kind, impl, mode = case["kind"], case["impl"], case.get("mode", "fwd")
    if kind not in _IMPLS:
        raise ValueError(f"`kind` must be 'ce' or 'linear'; got {kind!r}")
    if impl not in _IMPLS[kind]:
        raise ValueError(
            f"`impl` of a {kind} case must be one of {_IMPLS[kind]}; got {impl!r}"
        )
    if mode not in ("fwd", "fwdbwd"):
        raise ValueError(f"`mode` must be 'fwd' or 'fwdbwd'; got {mode!r}")
    if kind == "linear":
        return _build_linear(case, num_threads)
    logits, target = ce_data(case)
    nbytes = logits.nbytes * (2 if mode == "fwdbwd" else 1)
    if mode != "fwd" and (impl in EXP_FLOORS or impl == "xent-numpy"):
        raise ValueError(f"`mode` of {impl} must be 'fwd' (no backward); got {mode!r}")
    if impl in EXP_FLOORS:
        return _build_exp_floor(impl, logits, num_threads), nbytes
    if impl == "xent-numpy":
        from xent import numpy as xn

        return (lambda: (xn.cross_entropy(logits, target), None)), nbytes
    if FRAMEWORK[impl] == "tensorflow":
        return _build_tensorflow(case, logits, target, num_threads), nbytes
    return _build_torch(case, logits, target, num_threads), nbytes


def _build_tensorflow(
    case: Case, logits: NDArray[Any], target: NDArray[Any], num_threads: int | None
) -> Runner:
    tf = _tensorflow(num_threads)
    from xent import tensorflow as xtf

    with tf.device("/GPU:0" if case.get("device", "cpu") == "cuda" else "/CPU:0"):
        z, t = tf.constant(logits), tf.constant(target)

    def loss(x: Any) -> Any:
        if case["impl"] == "xent-tf":
            return xtf.cross_entropy(x, t)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(t, x))

    if case.get("mode", "fwd") == "fwd":
        return lambda: (loss(z), None)

    def forward_backward() -> Result:
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = loss(z)
        return value, tape.gradient(value, z)

    return forward_backward


def _build_torch(
    case: Case, logits: NDArray[Any], target: NDArray[Any], num_threads: int | None
) -> Runner:
    torch = _torch(num_threads)
    import torch.nn.functional as F

    from xent import torch as xt

    impl, device = case["impl"], case.get("device", "cpu")
    z = torch.from_numpy(logits).to(device)
    t = torch.from_numpy(target).to(device)
    fn: Callable[..., Any]
    if impl in ("torch-compile", "xent-compile"):
        fn = _compiled(impl)
    else:
        eager: dict[str, Callable[..., Any]] = {
            "xent-torch": xt.cross_entropy,
            "torch-eager": F.cross_entropy,
        }
        fn = eager[impl]
    if case.get("options"):  # the language-model options: z_loss_scale, softcap
        fn = functools.partial(fn, **case["options"])
    if case.get("mode", "fwd") == "fwd":

        def forward() -> Result:
            with torch.no_grad():
                return fn(z, t), None

        return synced(device, forward)

    def forward_backward() -> Result:
        x = z.detach().requires_grad_()
        loss = fn(x, t)
        loss.backward()
        return loss.detach(), x.grad

    return synced(device, forward_backward)


def _build_exp_floor(
    impl: str, logits: NDArray[np.float32], num_threads: int | None
) -> Runner:
    """``exp`` of every logit, a block of rows at a time into one scratch block,
    nothing else.
    """
    num_rows, num_classes = logits.shape
    step = max(1, FLOOR_BLOCK_BYTES // (4 * num_classes))
    blocks = [slice(i, min(i + step, num_rows)) for i in range(0, num_rows, step)]
    if impl == "numpy-exp-only":
        scratch = np.empty_like(logits[blocks[0]])

        def run() -> Result:
            for rows in blocks:
                np.exp(logits[rows], out=scratch[: rows.stop - rows.start])
            return None, None

        return run
    torch = _torch(num_threads)
    z = torch.from_numpy(logits)
    scratch_t = torch.empty_like(z[blocks[0]])

    def run_torch() -> Result:
        with torch.no_grad():
            for rows in blocks:
                torch.exp(z[rows], out=scratch_t[: rows.stop - rows.start])
        return None, None

    return run_torch


def _build_linear(case: Case, num_threads: int | None) -> tuple[Runner, int]:
    torch = _torch(num_threads)
    import torch.nn.functional as F

    from xent import torch as xt

    device, arrays = case.get("device", "cpu"), linear_data(case)
    hidden, weight, bias, target = (torch.from_numpy(a).to(device) for a in arrays)
    nbytes = 2 * sum(a.nbytes for a in arrays[:3])
    impl, options = case["impl"], case.get("options", {})

    def run() -> Result:
        h, w, b = (x.detach().requires_grad_() for x in (hidden, weight, bias))
        loss: Any
        if impl == "eager":
            loss = F.cross_entropy(F.linear(h, w, b), target)
        elif impl == "eager-compile":
            loss = _compiled("eager-compile")(h, w, target, bias=b)
        else:
            fn = (
                _compiled("chunked-compile")
                if impl == "chunked-compile"
                else xt.linear_cross_entropy
            )
            chunk_size = case.get("chunk_size")
            loss = fn(h, w, target, bias=b, chunk_size=chunk_size, **options)
        loss.backward()
        return loss.detach(), (h.grad, w.grad, b.grad)

    return synced(device, run), nbytes

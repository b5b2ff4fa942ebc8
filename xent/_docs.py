r"""The one home of the docstrings that the three backends share.

``xent.numpy``, ``xent.torch`` and ``xent.tensorflow`` define the same public functions
with the same signatures. Their docstrings are written once, here, as templates; a
backend attaches one to its function with a decorator, which fills in what the
framework changes::

    from xent import _docs

    @_docs.shared("torch")  # or "numpy", "tensorflow"
    def cross_entropy(logits, target, *, weight=None, ...):
        ...  # no docstring: the decorator sets __doc__ from "cross_entropy"

The template is chosen by the function's ``__name__``; a name without a template, an
unknown backend or a field left unfilled raises ``ValueError`` when the module is
imported, so a backend cannot silently lose a docstring. The examples in the templates
use plain lists and ``round(float(...), 4)``, so they run unchanged on all three
backends: ``pytest xent/numpy.py xent/torch.py xent/tensorflow.py`` runs every example
once per backend.

Fields (``$name`` in a template, :class:`string.Template` syntax, so that the braces of
LaTeX need no escaping), set per backend in :data:`BACKENDS`:

``$array``
    what the functions return: ``NumPy array``, ``torch.Tensor``, ``tf.Tensor``;
``$framework``
    the framework's name, for prose;
``$values_raise``
    completes "class indices outside [0, C) ... " with how a check of *values* fails:
    ``ValueError`` in NumPy; in PyTorch ``ValueError`` in eager CPU code and a
    device-side assertion (a ``RuntimeError``, same message) on accelerators and under
    ``torch.compile``; in TensorFlow ``ValueError`` eagerly and a graph assertion
    (``tf.errors.InvalidArgumentError``, same message) inside ``tf.function``. Checks of
    shapes, dtypes and options need no values and raise ``ValueError`` everywhere;
``$z_loss_alone``
    how ``return_z_loss=True`` returns the z-loss (detached, or without gradient);
``$note``
    a paragraph that only one backend needs (its fast path, its gradient), from
    :data:`NOTES`; empty for the others (the paragraph is then dropped).

The order of the code is the same in every backend file, so that ``diff`` between two
of them shows only what the framework changes:

1. the framework's conversions (``_kind``, ``_shape``, ``_tensor``; NumPy needs none),
   ``_floating``, ``_compute``, ``_weight``, ``_class_target``, ``_binary_target``,
   ``_broadcast_weight``, ``_reduce``;
2. ``_row_max``, ``logsumexp``, ``log_softmax``, ``softmax``;
3. ``cross_entropy`` and its plain formula ``_cross_entropy_plain`` (in NumPy and
   PyTorch; TensorFlow's is fused), ``_nll``, ``nll_loss``, ``_softplus``,
   ``binary_cross_entropy_with_logits``, ``binary_cross_entropy`` (the clamp of its
   gradient: ``_clamped_bce`` in NumPy, ``clamped_bce`` of ``xent._torch_lean`` and of
   ``xent._tensorflow_fused``), ``sigmoid_focal_loss``;
4. what only one backend has (NumPy: ``cross_entropy_grad``, and ``entropy`` and
   ``kl_divergence`` re-exported from ``xent.information``; PyTorch: ``default_device``,
   and ``linear_cross_entropy``, ``vocab_parallel_cross_entropy`` and the large-output
   losses, re-exported from ``xent._torch_linear``, ``xent._torch_parallel``,
   ``xent._torch_sampled`` and ``xent._torch_adjusted``).

Checks that read values live in ``xent._checks.torch`` and ``xent._checks.tensorflow``
(NumPy reads its values in place); the fast and memory-lean paths in
``xent._numpy_blocked``, ``xent._torch_lean`` and ``xent._tensorflow_fused``; the forms
of ``_nll`` that ``torch.compile`` fuses in ``xent._torch_compiled``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from string import Template
from typing import TypeVar

__all__ = ["BACKENDS", "NOTES", "TEMPLATES", "render", "shared"]

F = TypeVar("F", bound=Callable[..., object])

BACKENDS: dict[str, dict[str, str]] = {
    "numpy": {
        "array": "NumPy array",
        "framework": "NumPy",
        "values_raise": "raise ``ValueError``",
        "z_loss_alone": "",
    },
    "torch": {
        "array": "``torch.Tensor``",
        "framework": "PyTorch",
        "values_raise": (
            "raise ``ValueError`` in eager CPU code and fail a device-side assertion "
            "(a ``RuntimeError``, same message) on accelerators and under "
            "``torch.compile`` (see the module docstring)"
        ),
        "z_loss_alone": ", detached,",
    },
    "tensorflow": {
        "array": "``tf.Tensor``",
        "framework": "TensorFlow",
        "values_raise": (
            "raise ``ValueError`` in eager mode and fail a graph assertion "
            "(``tf.errors.InvalidArgumentError``, same message) inside ``tf.function``"
        ),
        "z_loss_alone": " (no gradient)",
    },
}

# Paragraphs that only one backend needs, by backend and function name.
NOTES: dict[str, dict[str, str]] = {
    "numpy": {
        "cross_entropy": """
Logits of more than ``_PLAIN_MAX_BYTES`` (64 KiB) go through ``xent._numpy_blocked``:
the same numbers, one cache-sized block of rows at a time (chapter "Cross-entropy at
scale").""",
        "binary_cross_entropy_with_logits": r"""
Computed as :math:`\max(z, 0) - zy + \log(1 + e^{-|z|})` without ``pos_weight``, and in
the stable form :math:`(1-y)z + (1 + (w_+-1)y)\,\mathrm{softplus}(-z)` with it.""",
    },
    "torch": {
        "logsumexp": """
The shift is a constant for autograd, so the gradient is the softmax.""",
        "cross_entropy": """
Under ``torch.compile`` the plain formula is used, which the compiler fuses; eagerly, a
custom autograd Function keeps two numbers per row for the backward pass instead of the
``(..., C)`` log-softmax (chapter "Cross-entropy at scale").""",
        "binary_cross_entropy_with_logits": r"""
Computed in the stable form :math:`(1-y)z + (1 + (w_+-1)y)\,\mathrm{softplus}(-z)`.
(The equal form :math:`\max(z, 0) - zy + \log(1 + e^{-|z|})` of ``xent.numpy`` would
give autograd a wrong gradient at exactly :math:`z = 0`, where ``max`` and ``abs`` have
a kink.)""",
        "binary_cross_entropy": r"""
The gradient is PyTorch's, :math:`w(q - y)/\max(q(1-q), 10^{-12})`, finite at 0 and
1.""",
    },
    "tensorflow": {
        "logsumexp": """
The shift is a constant for ``GradientTape``, so the gradient is the softmax.""",
        "cross_entropy": """
Memory-lean (chapter "Cross-entropy at scale"): the tape keeps no ``(..., C)``
log-softmax, two small custom gradients (``xent._tensorflow_fused``) recompute the
softmax in the backward pass. Eagerly, each row's loss is one call of a graph traced
once per rank, dtype and options, instead of some forty eager operations.""",
        "binary_cross_entropy_with_logits": r"""
Computed in the stable form :math:`(1-y)z + (1 + (w_+-1)y)\,\mathrm{softplus}(-z)`.
(The equal form :math:`\max(z, 0) - zy + \log(1 + e^{-|z|})` of ``xent.numpy`` would
give the tape a wrong gradient at exactly :math:`z = 0`, where ``max`` and ``abs`` have
a kink.)""",
        "binary_cross_entropy": r"""
The gradient is PyTorch's, :math:`w(q - y)/\max(q(1-q), 10^{-12})`, finite at 0 and 1.
(Keras's ``BinaryCrossentropy`` clips probabilities to ``[1e-7, 1 - 1e-7]``
instead.)""",
    },
}

TEMPLATES: dict[str, str] = {
    "logsumexp": r"""
Log of the sum of exponentials, :math:`\log \sum_j e^{x_j}`, without overflow.

Subtracting the maximum :math:`m` first, :math:`m + \log \sum_j e^{x_j - m}`, keeps
every exponent at most :math:`e^0 = 1` (derived in the chapter "Numerical stability").

$note

Shapes: ``x: (..., C)`` gives a $array of shape ``(...)``, or ``(..., 1)`` with
``keepdims=True``. Raises ``ValueError`` when ``x`` is not floating-point.

>>> round(float(logsumexp([1000.0, 1000.0])), 3)  # naive: log(inf) = inf
1000.693
""",
    "log_softmax": r"""
Logarithm of the softmax, :math:`x_i - \log \sum_j e^{x_j}`, computed stably.

Computed as :math:`(x_i - m) - \log \sum_j e^{x_j - m}`: subtracting the shifted terms
keeps full precision even where :math:`m` itself is large.

Shapes: ``x: (..., C)`` gives a $array of shape ``(..., C)``. Raises ``ValueError`` for
non-float input.

>>> [float(v) for v in log_softmax([1000.0, 0.0])]  # log of softmax: -inf, not -1000
[0.0, -1000.0]
""",
    "softmax": r"""
Softmax, :math:`e^{x_i} / \sum_j e^{x_j}`: non-negative, sums to one along ``axis``.

Shapes: ``x: (..., C)`` gives a $array of shape ``(..., C)``. Raises ``ValueError`` for
non-float input.

>>> [float(v) for v in softmax([1000.0, 0.0])]  # naive: inf / inf = nan
[1.0, 0.0]
""",
    "cross_entropy": r"""
Cross-entropy between ``target`` and the softmax of ``logits``.

For a class index :math:`y`, the loss of one row is :math:`-w_y \log q_y` with
:math:`q = \mathrm{softmax}(z)`; with label smoothing :math:`\varepsilon` it is
:math:`(1-\varepsilon)(-w_y \log q_y) + \frac{\varepsilon}{C}\sum_c w_c(-\log q_c)`.
For class probabilities :math:`p` it is :math:`-\sum_c w_c p'_c \log q_c` with
:math:`p' = (1-\varepsilon) p + \varepsilon / C`. ``"mean"`` divides by the summed
weight of the non-ignored targets (class indices) or by the number of rows
(probabilities), exactly as ``torch.nn.functional.cross_entropy`` does.

Shapes: ``logits: (..., C)``; ``target: (...)`` integer class indices, or ``(..., C)``
class probabilities; ``weight: (C,)``. Returns a $array of shape ``(...)`` for
``reduction="none"``, else a scalar.

Raises ``ValueError`` for mismatched shapes, a ``weight`` not of shape ``(C,)``,
``label_smoothing`` outside ``[0, 1]`` and an unknown ``reduction``; class indices
outside ``[0, C)`` that are not ``ignore_index`` and probabilities outside ``[0, 1]``
$values_raise. Derived in the chapter "From maximum likelihood to cross-entropy".

Language-model options (chapter "Training language models"): ``softcap`` replaces the
logits by ``softcap * tanh(z / softcap)`` before everything else (Gemma 2);
``z_loss_scale`` adds ``z_loss_scale * (log Z)**2`` to each counted row's loss,
:math:`\log Z = \log \sum_c e^{z_c}` (PaLM's auxiliary z-loss), reduced with the main
term (ignored rows add nothing; ``"mean"`` divides both by the same number, and class
weights do not weight it). With ``return_z_loss=True`` the result is ``(loss, z_loss)``:
the loss, which includes the z-loss, and the z-loss alone$z_loss_alone for logging.
Raises ``ValueError`` for a negative or non-finite ``z_loss_scale`` and a ``softcap``
that is not ``None`` or a finite number > 0.

$note

>>> logits = [[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]
>>> round(float(cross_entropy(logits, [0, 2])), 4)  # (0.1698 + log 3) / 2
0.6342
""",
    "nll_loss": r"""
Negative log-likelihood of class indices under given log-probabilities.

One element's loss is :math:`-w_y \cdot \mathrm{log\_probs}_y`; ``"mean"`` divides the
sum by :math:`\sum w_y` over the targets that are not ``ignore_index``, as
``torch.nn.functional.nll_loss``. ``cross_entropy(z, y)`` equals
``nll_loss(log_softmax(z), y)``.

Shapes: ``log_probs: (..., C)``, ``target: (...)`` integers, ``weight: (C,)``; returns
a $array, as :func:`cross_entropy` does. Raises ``ValueError`` as :func:`cross_entropy`
does, and for class probabilities, which it refuses; class indices outside ``[0, C)``
that are not ``ignore_index`` $values_raise.

>>> log_probs = log_softmax([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
>>> round(float(nll_loss(log_probs, [0, 2])), 4)  # cross_entropy's example
0.6342
""",
    "binary_cross_entropy_with_logits": r"""
Binary cross-entropy of targets in [0, 1] under :math:`\sigma(z)`, from logits.

One element's loss is :math:`-[w_+\,y \log\sigma(z) + (1-y)\log(1-\sigma(z))]` with
:math:`w_+` = ``pos_weight``. ``weight`` multiplies each element; ``"mean"`` averages
over all elements.

$note

Shapes: ``logits: (...)``; ``target``: same shape; ``weight`` and ``pos_weight``:
broadcastable to it (``pos_weight`` usually ``(C,)``, one per label); returns a $array.
Raises ``ValueError`` for mismatched shapes and an unknown ``reduction``; targets
outside ``[0, 1]`` $values_raise. Derived in the chapter "From maximum likelihood to
cross-entropy".

>>> round(float(binary_cross_entropy_with_logits([0.0], [1.0])), 4)
0.6931
""",
    "binary_cross_entropy": r"""
Binary cross-entropy of targets in [0, 1] under probabilities in [0, 1].

One element's loss is :math:`-w[y \log q + (1-y)\log(1-q)]`, each logarithm clamped at
-100 as PyTorch does, so that a confident mistake costs 100, not infinity. Prefer
:func:`binary_cross_entropy_with_logits`: it is stable and needs no clamp.

$note

Shapes: ``probs: (...)``; ``target``: same shape; ``weight``: broadcastable to it;
returns a $array. Raises ``ValueError`` for mismatched shapes and an unknown
``reduction``; probabilities or targets outside ``[0, 1]`` $values_raise. See the
chapter "Numerical stability".

>>> float(binary_cross_entropy([0.0], [1.0]))  # log 0 clamped
100.0
""",
    "sigmoid_focal_loss": r"""
Focal loss of Lin et al. (2017): binary cross-entropy, scaled down where easy.

One element's loss is :math:`\alpha_y (1 - q_y)^\gamma \cdot \mathrm{BCE}(z, y)` with
:math:`q_y = q y + (1-q)(1-y)` the probability given to the label, :math:`q =
\sigma(z)`, and :math:`\alpha_y = \alpha y + (1-\alpha)(1-y)`; a negative ``alpha``
turns the :math:`\alpha_y` factor off. Same numbers as
``torchvision.ops.sigmoid_focal_loss``, including its default ``reduction="none"``.

Shapes: ``logits: (...)``, ``target``: same shape; returns a $array. Raises
``ValueError`` for mismatched shapes, ``alpha`` above 1, negative ``gamma`` and an
unknown ``reduction``; targets outside ``[0, 1]`` $values_raise. See the chapter
"Variants".

>>> round(float(sigmoid_focal_loss([0.0], [1.0], alpha=-1, gamma=0)[0]), 4)
0.6931
""",
    "entropy": r"""
Shannon entropy :math:`H(p) = -\sum_c p_c \log p_c`, with :math:`0 \log 0 = 0`.

In nats by default; ``base=2`` gives bits. Shapes: ``p: (..., C)`` gives a $array of
shape ``(...)``. Raises ``ValueError`` for entries outside ``[0, 1]``. See the chapter
"Information".

>>> float(entropy([0.5, 0.5], base=2))
1.0
""",
    "kl_divergence": r"""
Kullback-Leibler divergence, :math:`\sum_c p_c \log(p_c / q_c)`.

:math:`D_{\mathrm{KL}}(p \,\|\, q)`: terms with :math:`p_c = 0` are zero; a :math:`q_c
= 0` where :math:`p_c > 0` makes it infinite. Never negative (Gibbs' inequality); zero
only when :math:`p = q`. In nats by default; ``base=2`` gives bits. Shapes: ``p, q:
(..., C)`` give a $array of shape ``(...)``. Raises ``ValueError`` for entries outside
``[0, 1]`` or shapes that differ. See the chapter "Information".

>>> round(float(kl_divergence([0.5, 0.5], [0.9, 0.1])), 4)
0.5108
""",
    "cross_entropy_grad": r"""
Gradient of :func:`cross_entropy` with respect to ``logits``, in closed form.

Every option of :func:`cross_entropy` makes one row's loss :math:`-\sum_c a_c \log q_c`
for some non-negative coefficients :math:`a` (the weighted, smoothed target), so the
gradient is :math:`(\sum_c a_c)\,q - a`; with one-hot targets and no options that is
``softmax(logits) - onehot(target)``. ``"mean"`` divides by the same denominator as the
loss; ``"none"`` returns each row's own gradient (that of the sum). Derived in the
chapter "Logits, softmax and the gradient".

Shapes: as :func:`cross_entropy`; returns a $array of shape ``(..., C)``. Raises as
:func:`cross_entropy`.

>>> [[float(g) for g in row] for row in cross_entropy_grad([[0.0, 0.0]], [1])]
[[0.5, -0.5]]
""",
}


def render(name: str, backend: str) -> str:
    """The docstring of the shared function ``name`` in ``backend``, fields filled."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}; got {backend!r}")
    if name not in TEMPLATES:
        raise ValueError(
            f"name must be a function with a shared docstring ({sorted(TEMPLATES)}); "
            f"got {name!r}"
        )
    note = NOTES[backend].get(name, "").strip()
    fields = dict(BACKENDS[backend], note=note)
    try:
        text = Template(TEMPLATES[name]).substitute(fields)
    except (KeyError, ValueError) as error:  # a $field no backend sets
        message = f"the template of {name} has an unknown field: {error}"
        raise ValueError(message) from None
    # An empty note leaves a blank paragraph: drop it. A paragraph that a long field
    # made wider than 88 columns is wrapped again (examples never are).
    paragraphs = re.sub(r"\n{3,}", "\n\n", text).strip().split("\n\n")
    return "\n\n".join(_wrap(paragraph) for paragraph in paragraphs) + "\n"


def _wrap(paragraph: str) -> str:
    if paragraph.startswith(">>>") or max(map(len, paragraph.split("\n"))) <= 88:
        return paragraph
    return textwrap.fill(paragraph, 88, break_long_words=False, break_on_hyphens=False)


def shared(backend: str) -> Callable[[F], F]:
    """Decorator: set ``fn.__doc__`` to the shared docstring of ``fn.__name__``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}; got {backend!r}")

    def attach(fn: F) -> F:
        fn.__doc__ = render(fn.__name__, backend)
        return fn

    return attach

r"""A tiny character-level language model in PyTorch, trained with ``xent``.

The model reads the ``context_size`` characters before a position and predicts the next
one (Bengio et al., 2003, with characters for words): each character of the window is
embedded, the embeddings are concatenated, one hidden layer turns them into a vector
:math:`h` of ``hidden_size`` numbers, and an output layer gives one logit per character,
:math:`z = W h + b`. The loss is the cross-entropy of :math:`z` against the next
character, computed by :func:`xent.torch.linear_cross_entropy` from :math:`h`, :math:`W`
and :math:`b` without holding all the logits. Positions near the start of a text, with
fewer than ``context_size`` characters before them, see a padding symbol instead.

:func:`fit` trains it with Adam and logs each epoch through :mod:`xent.tracking`;
:func:`evaluate` gives the loss in nats per character, :func:`sample` writes text at a
temperature. Importing this module imports torch. See the notebook
"A character-level language model".
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike

from xent import _checks
from xent import torch as xt
from xent._checks import numpy as array_checks
from xent.tracking import Run

__all__ = [
    "CharMLP",
    "context_windows",
    "evaluate",
    "fit",
    "mean_log_z",
    "Fit",
    "sample",
]


def context_windows(ids: ArrayLike, context_size: int, pad: int) -> np.ndarray:
    """The ``context_size`` characters before each of ``ids[1:]``, left-padded.

    Row ``t - 1`` is ``ids[t - context_size : t]``, with ``pad`` for positions before
    the start: shape ``(len(ids) - 1, context_size)``, the inputs whose targets are
    ``ids[1:]``.

    >>> context_windows(np.array([5, 6, 7]), 2, pad=9).tolist()
    [[9, 5], [5, 6]]
    """
    context_size = _checks.positive_int("context_size", context_size)
    pad = _checks.integer("pad", pad)
    ids = np.asarray(ids, dtype=np.int64)
    padded = np.concatenate([np.full(context_size, pad, dtype=np.int64), ids[:-1]])
    # (len(ids) - 1, context_size): row t - 1 ends with ids[t - 1]
    return np.lib.stride_tricks.sliding_window_view(padded, context_size)[1:].copy()


class CharMLP(torch.nn.Module):
    """Embeddings of a window of characters, one hidden layer, one logit per character.

    ``forward(context)`` maps ``context: (B, context_size)`` class indices
    (``vocab_size`` is the padding symbol) to the hidden vectors
    ``h: (B, hidden_size)``; the output layer is ``self.output`` (weight
    ``(V, hidden_size)``, bias ``(V,)``), applied by :meth:`logits` or, for the loss,
    inside :func:`xent.torch.linear_cross_entropy`.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        context_size: int = 8,
        embedding_dim: int = 16,
        hidden_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.vocab_size = _checks.positive_int("vocab_size", vocab_size)
        self.context_size = _checks.positive_int("context_size", context_size)
        embedding_dim = _checks.positive_int("embedding_dim", embedding_dim)
        hidden_size = _checks.positive_int("hidden_size", hidden_size)
        seed = _checks.seed(seed)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # the same seed builds the same model
        self.embedding = torch.nn.Embedding(vocab_size + 1, embedding_dim)  # + padding
        self.hidden = torch.nn.Linear(context_size * embedding_dim, hidden_size)
        self.output = torch.nn.Linear(hidden_size, vocab_size)
        torch.random.set_rng_state(generator_state)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(context).flatten(
            1
        )  # (B, context_size * embedding_dim)
        return torch.tanh(self.hidden(embedded))  # (B, hidden_size)

    def logits(self, context: torch.Tensor) -> torch.Tensor:
        return self.output(self(context))  # (B, V)

    def loss(self, context: torch.Tensor, target: torch.Tensor, **options: Any) -> Any:
        """Cross-entropy of the next characters ``target: (B,)`` (a mean by default);
        with ``return_z_loss=True``, the pair (loss, z-loss) of
        :func:`xent.torch.linear_cross_entropy`.
        """
        return xt.linear_cross_entropy(
            self(context), self.output.weight, target, bias=self.output.bias, **options
        )


def _tensors(
    model: CharMLP, ids: ArrayLike, device: torch.device, name: str = "ids"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The contexts ``(N - 1, context_size)`` and targets ``(N - 1,)`` of ``ids``."""
    ids = array_checks.ids(name, ids, model.vocab_size)
    context = context_windows(ids, model.context_size, pad=model.vocab_size)
    return (
        torch.as_tensor(context, device=device),
        torch.as_tensor(ids[1:], device=device),
    )


@torch.no_grad()
def evaluate(model: CharMLP, ids: ArrayLike, *, batch_size: int = 4096) -> float:
    """Mean loss of ``model`` on the characters ``ids[1:]``, in nats per character.

    Divide by :math:`\\log 2` for bits per character; its exponential is the perplexity.
    """
    batch_size = _checks.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    context, target = _tensors(model, ids, device)
    # the sum over batches in float64, where the device has it (Apple's MPS has not)
    dtype = torch.float32 if device.type == "mps" else torch.float64
    total = torch.zeros((), device=device, dtype=dtype)
    for start in range(0, target.numel(), batch_size):
        rows = slice(start, start + batch_size)
        total += model.loss(context[rows], target[rows], reduction="sum").to(dtype)
    return float(total) / target.numel()


@torch.no_grad()
def mean_log_z(model: CharMLP, ids: ArrayLike, *, batch_size: int = 4096) -> float:
    r"""Mean log-partition function :math:`\log Z = \log \sum_c e^{z_c}` of the
    model's logits at the positions ``ids[1:]``.

    The softmax ignores it (shifting every logit by the same number changes nothing),
    so only an auxiliary loss such as the z-loss holds it in place; see the chapter
    "Training language models".
    """
    batch_size = _checks.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    context, target = _tensors(model, ids, device)
    total = 0.0
    for start in range(0, target.numel(), batch_size):
        rows = slice(start, start + batch_size)
        total += float(xt.logsumexp(model.logits(context[rows])).double().sum())
    return total / target.numel()


class Fit(NamedTuple):
    """What :func:`fit` returns: the trained model and one row of metrics per epoch."""

    model: CharMLP
    history: list[dict[str, float]]


def fit(
    model: CharMLP,
    train_ids: ArrayLike,
    val_ids: ArrayLike,
    *,
    num_epochs: int,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    run: Run | None = None,
    z_loss_scale: float = 0.0,
) -> Fit:
    r"""Train ``model`` with Adam on minibatches of positions drawn without replacement.

    An epoch visits every character of ``train_ids[1:]`` once, in an order fixed by
    ``seed``. After each epoch the mean training loss of the epoch (nats) and the loss
    on ``val_ids`` are recorded, the latter also in bits per character and as
    perplexity, and logged to ``run`` when given, with the mean :math:`\log Z` of the
    held-out logits (:func:`mean_log_z`). ``z_loss_scale`` adds PaLM's z-loss
    ``z_loss_scale * (log Z)**2`` to the training loss (the recorded losses are the
    cross-entropy alone). The model stays on its device; the data are moved there once.
    Raises ``ValueError`` for bad sizes or ids outside the vocabulary.
    """
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    batch_size = _checks.positive_int("batch_size", batch_size)
    lr = _checks.positive_number("lr", lr)
    seed = _checks.seed(seed)
    z_loss_scale = _checks.z_loss_scale(z_loss_scale)
    device = next(model.parameters()).device
    context, target = _tensors(model, train_ids, device, "train_ids")
    array_checks.ids("val_ids", val_ids, model.vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    for epoch in range(1, num_epochs + 1):
        model.train()
        order = torch.randperm(target.numel(), generator=generator).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, order.numel(), batch_size):
            rows = order[start : start + batch_size]
            if z_loss_scale:
                loss, z_loss = model.loss(
                    context[rows],
                    target[rows],
                    z_loss_scale=z_loss_scale,
                    return_z_loss=True,
                )
            else:
                loss = model.loss(context[rows], target[rows])
                z_loss = torch.zeros_like(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # the cross-entropy alone; stays on the device: no sync
            total += (loss.detach() - z_loss) * rows.numel()
        model.eval()
        val_loss = evaluate(model, val_ids)
        row = {
            "epoch": epoch,
            "train_loss": float(total) / target.numel(),
            "val_loss": val_loss,
            "val_bits_per_char": val_loss / math.log(2),
            "val_perplexity": math.exp(val_loss),
            "val_log_z": mean_log_z(model, val_ids),
        }
        history.append(row)
        if run is not None:
            run.log(row)
    return Fit(model, history)


@torch.no_grad()
def sample(
    model: CharMLP,
    prompt_ids: ArrayLike,
    length: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    r"""``length`` characters drawn one at a time from :math:`\mathrm{softmax}(z / T)`.

    Each new character is drawn from the model's logits divided by ``temperature``
    :math:`T` and appended to the context (chapter "Logits, softmax and the gradient",
    section "Temperature"): :math:`T < 1` sharpens the distribution, :math:`T > 1`
    flattens it, and ``temperature=0`` takes the most likely character every time
    (greedy decoding). Returns the drawn ids ``(length,)`` and the mean entropy, in
    nats, of the distributions they were drawn from.
    """
    length = _checks.positive_int("length", length)
    temperature = _checks.non_negative("temperature", temperature)  # 0: greedy
    seed = _checks.seed(seed)
    prompt = array_checks.ids("prompt_ids", prompt_ids, model.vocab_size, min_length=0)
    device = next(model.parameters()).device
    model.eval()
    k = model.context_size
    window = [model.vocab_size] * k + prompt.tolist()
    generator = torch.Generator().manual_seed(seed)
    drawn, entropy = [], 0.0
    for _ in range(length):
        context = torch.tensor([window[-k:]], device=device)
        logits = model.logits(context)[0].cpu().double()  # (V,)
        if temperature == 0:
            probs = torch.nn.functional.one_hot(
                logits.argmax(), logits.numel()
            ).double()
        else:
            probs = torch.softmax(logits / temperature, dim=0)
        entropy += float(-(probs * torch.log(probs.clamp_min(1e-300))).sum())
        c = int(torch.multinomial(probs, 1, generator=generator))
        drawn.append(c)
        window.append(c)
    return np.array(drawn, dtype=np.int64), entropy / length

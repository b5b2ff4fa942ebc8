"""PyTorch training: minibatches with Adam and any loss function, on the default device.

The loop calls ``loss_fn(logits, target)`` (``xent.torch.cross_entropy``,
``torch.nn.CrossEntropyLoss()``, a binary loss...) and reads nothing back from the
device inside an epoch: the epoch's loss is summed there and read once, when the epoch
is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent import torch as xt
from xent.data import Split
from xent.train import Fit, _check_split, _record, _sizes

if TYPE_CHECKING:
    from xent.tracking import Run

__all__ = ["mlp_torch", "predict_proba_torch", "fit_torch"]

LossFn: TypeAlias = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mlp_torch(
    num_features: int,
    num_outputs: int,
    *,
    hidden_sizes: Sequence[int] = (32, 32),
    seed: int = 0,
) -> torch.nn.Sequential:
    """A ReLU MLP ``torch.nn.Sequential``, initialised from ``seed`` (same seed, same
    weights).

    ``num_outputs=1`` makes a binary head (one logit per row). Raises ``ValueError`` for
    sizes below 1 or a negative ``seed``.

    >>> mlp_torch(2, 3, hidden_sizes=(8,))
    Sequential(
      (0): Linear(in_features=2, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    sizes = [_checks.positive_int("num_features", num_features)]
    sizes += _sizes("hidden_sizes", hidden_sizes)
    sizes += [_checks.positive_int("num_outputs", num_outputs)]
    torch.manual_seed(_checks.seed(seed))
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])  # no ReLU after the logits


def _accuracy(logits: torch.Tensor, target: torch.Tensor, binary: bool) -> float:
    """The share of rows (or labels) predicted right, read from the device."""
    if binary:  # logit > 0 means p > 1/2
        return float(((logits > 0).float() == target).float().mean())
    return float((logits.argmax(dim=-1) == target).float().mean())


def predict_proba_torch(model: torch.nn.Module, X: ArrayLike) -> NDArray[np.float32]:
    """Probabilities as a NumPy array: ``(n, C)`` softmax, or ``(n,)`` sigmoid for one
    output.

    >>> model = torch.nn.Linear(2, 4)
    >>> _ = torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
    >>> predict_proba_torch(model, [[1.0, 2.0]])
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X, dtype=np.float32), device=device))
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits[..., 0]).cpu().numpy()
    return torch.softmax(logits, dim=-1).cpu().numpy()


def fit_torch(
    model: torch.nn.Module,
    split: Split,
    *,
    loss_fn: LossFn,
    num_epochs: int = 50,
    lr: float = 1e-2,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    run: Run | None = None,
    seed: int = 0,
) -> Fit:
    """Train ``model`` with Adam on minibatches of ``split``, logging every epoch to
    ``run``.

    ``loss_fn(logits, target)`` returns the mean loss of a batch, e.g.
    ``xent.torch.cross_entropy`` or ``torch.nn.CrossEntropyLoss()``. For a model with
    one output the logits are squeezed to ``(b,)`` and the targets are float 0/1, ready
    for ``binary_cross_entropy_with_logits``. The model and data move to ``device``
    (default ``xent.torch.default_device()``); ``seed`` fixes the order of the
    minibatches (seed the weights when building the model, e.g. with :func:`mlp_torch`).
    ``run.log`` sends each epoch to W&B (``wandb.log``) and to the run's JSONL. Returns
    ``Fit(model, history)``. Raises ``ValueError`` for bad arguments, naming the
    argument.

    >>> from xent.data import moons
    >>> fit = fit_torch(mlp_torch(2, 2), moons(n=40), loss_fn=xt.cross_entropy,
    ...                 num_epochs=3, device="cpu")
    >>> [row["epoch"] for row in fit.history], type(fit.model).__name__
    ([0, 1, 2], 'Sequential')
    """
    split = _check_split(split)
    if not callable(loss_fn):
        raise ValueError(
            f"loss_fn must be callable (logits, target) -> loss; got {loss_fn!r}"
        )
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    lr = _checks.positive_number("lr", lr)
    batch_size = _checks.positive_int("batch_size", batch_size)
    # the minibatch order, drawn on the CPU
    generator = torch.Generator().manual_seed(_checks.seed(seed))
    device = xt.default_device() if device is None else torch.device(device)

    model = model.to(device)
    X_train = torch.as_tensor(split.X_train, device=device)  # (n, d)
    X_val = torch.as_tensor(split.X_val, device=device)
    with torch.no_grad():
        num_outputs = model(X_val[:1]).shape[-1]
    binary = split.multilabel or num_outputs == 1  # float 0/1 targets
    dtype = torch.float32 if binary else torch.int64
    y_train = torch.as_tensor(split.y_train, dtype=dtype, device=device)  # (n,), (n, L)
    y_val = torch.as_tensor(split.y_val, dtype=dtype, device=device)
    squeeze = num_outputs == 1 and not split.multilabel

    def logits_of(X: torch.Tensor) -> torch.Tensor:
        logits = model(X)  # (b, C), or (b, 1) for a binary head
        return logits[..., 0] if squeeze else logits

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(X_train)
    history: list[dict[str, float]] = []
    for epoch in range(num_epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = torch.zeros((), device=device)  # summed on the device: one sync
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]  # (b,)
            loss = loss_fn(logits_of(X_train[batch]), y_train[batch])  # scalar
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)

        model.eval()
        with torch.no_grad():
            train_logits, val_logits = logits_of(X_train), logits_of(X_val)
            row = {
                "epoch": epoch,
                "train_loss": float(total) / n,
                "train_accuracy": _accuracy(train_logits, y_train, binary),
                "val_loss": float(loss_fn(val_logits, y_val)),
                "val_accuracy": _accuracy(val_logits, y_val, binary),
            }
        _record(history, run, row)
    return Fit(model, history)

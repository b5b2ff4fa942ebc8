"""``xent.lm`` with the z-loss: ``fit(..., z_loss_scale=s)`` and ``mean_log_z``."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from xent import lm  # noqa: E402


def _text(seed=0, n=1500, vocab=7):
    rng = np.random.default_rng(seed)
    # A Markov chain: each character mostly follows its predecessor plus one.
    ids = [0]
    for _ in range(n - 1):
        ids.append((ids[-1] + 1) % vocab if rng.random() < 0.8 else rng.integers(vocab))
    return np.array(ids), vocab


def _model(vocab):
    return lm.CharMLP(vocab, context_size=3, embedding_dim=4, hidden_size=16, seed=1)


def test_mean_log_z_is_the_mean_logsumexp_of_the_logits():
    ids, vocab = _text()
    model = _model(vocab)
    context = torch.as_tensor(lm.context_windows(ids, 3, pad=vocab))
    with torch.no_grad():
        want = float(torch.logsumexp(model.logits(context).double(), -1).mean())
    assert math.isclose(lm.mean_log_z(model, ids, batch_size=64), want, rel_tol=1e-6)


def test_the_z_loss_pulls_log_z_towards_zero_and_records_the_cross_entropy():
    ids, vocab = _text()
    train, val = ids[:1200], ids[1200:]
    runs = {}
    for scale in (0.0, 0.1):
        result = lm.fit(
            _model(vocab),
            train,
            val,
            num_epochs=4,
            batch_size=64,
            lr=2e-2,
            z_loss_scale=scale,
        )
        runs[scale] = result
        row = result.history[-1]
        assert row["val_log_z"] == pytest.approx(lm.mean_log_z(result.model, val))
    plain, with_z = (runs[s].history[-1]["val_log_z"] for s in (0.0, 0.1))
    assert abs(with_z) < abs(plain) / 3 and abs(plain) > 0.5
    # The recorded training loss is the cross-entropy alone, not the z-loss added: it
    # stays near the held-out cross-entropy of the same run.
    for result in runs.values():
        row = result.history[-1]
        assert abs(row["train_loss"] - row["val_loss"]) < 0.3


def test_bad_z_loss_scale_is_a_value_error():
    ids, vocab = _text(n=50)
    with pytest.raises(ValueError, match="z_loss_scale"):
        lm.fit(_model(vocab), ids, ids, num_epochs=1, z_loss_scale=-1.0)

"""The language-model notebook's parts: corpus, closed-form n-gram baselines, the model.

The closed forms of ``xent.text`` are checked against brute-force counting, against
PyTorch's ``nll_loss`` of the counted log-probabilities, and against the chain rule of
entropy; the model of ``xent.lm`` against ``F.cross_entropy`` of its logits and against
the bigram entropy that no model with one character of context can beat on its own
training text.
"""

from __future__ import annotations

import collections
import math
import re
from pathlib import Path

import numpy as np
import pytest
import tomllib
from hypothesis import given
from hypothesis import strategies as st

from xent import text

ROOT = Path(__file__).resolve().parents[1]


def markov_text(seed: int, n: int = 3000, vocab_size: int = 5) -> np.ndarray:
    """Class indices drawn from a random first-order Markov chain."""
    rng = np.random.default_rng(seed)
    transition = rng.dirichlet(np.full(vocab_size, 0.3), size=vocab_size)  # (V, V)
    ids = [0]
    for _ in range(n - 1):
        ids.append(rng.choice(vocab_size, p=transition[ids[-1]]))
    return np.array(ids, dtype=np.int64)


# --------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------

PAGE = """(sec-x)=
# Title

Prose with $z_c$ math.

```python
code = "dropped"
```

````{exercise}
:label: ex-a
Exercise prose.
````

:::{solution} ex-a
:class: dropdown
Solution prose.
:::

```{literalinclude} ../xent/numpy.py
:pyobject: softmax
```

```{math}
dropped = 1
```



Last line.
"""


def test_clean_markdown_keeps_prose_and_drops_code_labels_and_options():
    assert text.clean_markdown(PAGE) == (
        "# Title\n\nProse with $z_c$ math.\n\nExercise prose.\n\nSolution prose.\n\n"
        "Last line.\n"
    )


def test_chapters_text_is_clean_prose_of_the_chapters():
    corpus = text.chapters_text(ROOT / "chapters")
    assert "```" not in corpus and ":::" not in corpus
    assert "(sec-" not in corpus and ":label:" not in corpus
    for phrase in ("cross-entropy", "softmax", "temperature"):
        assert phrase in corpus


def test_load_corpus_is_the_shipped_snapshot_of_cleaned_chapters():
    # Colab has no chapters on disk: every copy of the book trains on the snapshot.
    corpus = text.load_corpus()
    assert corpus == text.SHIPPED.read_text(encoding="utf-8")
    assert len(corpus) > 100_000
    # A snapshot of cleaned prose is a fixed point of the cleaning.
    assert text.clean_markdown(corpus) == corpus
    for phrase in ("cross-entropy", "softmax", "temperature", "maximum likelihood"):
        assert phrase in corpus


def test_shipped_corpus_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "corpus.txt" in config["tool"]["setuptools"]["package-data"]["xent"]


def test_chapters_text_rejects_a_folder_without_chapters(tmp_path):
    with pytest.raises(ValueError, match="chapters_dir"):
        text.chapters_text(tmp_path)


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------


def test_vocabulary_round_trip_and_errors():
    vocab = text.Vocabulary.from_text("the cat sat")
    assert vocab.chars == " acehst"
    ids = vocab.encode("that")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "that"
    assert vocab.decode([]) == ""
    with pytest.raises(ValueError, match="text"):
        vocab.encode("dog")
    message = "ids must hold class indices in [0, 7); got 7 among them"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        vocab.decode([0, 7])
    message = "ids must be a 1-D integer array; got shape (1,), dtype float64"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        vocab.decode([1.0])
    for bad in ("", None, b"abc"):
        message = f"text must be a non-empty string; got {bad!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            text.Vocabulary.from_text(bad)


# --------------------------------------------------------------------------------------
# Closed-form n-gram models
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_counted_probabilities_match_brute_force(seed, alpha):
    ids = markov_text(seed, n=500)
    V = 6  # one class that never occurs
    unigram = collections.Counter(ids[1:].tolist())
    want = [(unigram[c] + alpha) / (len(ids) - 1 + alpha * V) for c in range(V)]
    np.testing.assert_allclose(text.unigram_probs(ids, V, alpha), want, rtol=1e-12)
    pairs = collections.Counter(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
    probs = text.bigram_probs(ids, V, alpha)
    for a in range(V):
        n_a = sum(pairs[a, b] for b in range(V))
        for b in range(V):
            if n_a + alpha * V == 0:
                assert probs[a, b] == 1 / V  # a never precedes anything: uniform
            else:
                assert probs[a, b] == pytest.approx(
                    (pairs[a, b] + alpha) / (n_a + alpha * V)
                )
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_entropies_are_the_training_losses_of_the_counted_models(seed):
    ids = markov_text(seed)
    V = 5
    unigram = text.unigram_entropy(ids, V)
    bigram = text.bigram_entropy(ids, V)
    assert text.ngram_cross_entropy(ids, text.unigram_probs(ids, V)) == pytest.approx(
        unigram, rel=1e-12
    )
    assert text.ngram_cross_entropy(ids, text.bigram_probs(ids, V)) == pytest.approx(
        bigram, rel=1e-12
    )
    # Closed form from the counts, independently: H(p) = -sum p log p, and the chain
    # rule H(X_t | X_{t-1}) = H(X_{t-1}, X_t) - H(X_{t-1}).
    counts = np.bincount(ids[1:], minlength=V) / (len(ids) - 1)
    assert unigram == pytest.approx(-np.sum(counts * np.log(counts)), rel=1e-12)
    joint = np.zeros((V, V))
    np.add.at(joint, (ids[:-1], ids[1:]), 1.0)
    joint /= joint.sum()
    prev = joint.sum(axis=1)
    chain = -np.sum(joint[joint > 0] * np.log(joint[joint > 0])) + np.sum(
        prev[prev > 0] * np.log(prev[prev > 0])
    )
    assert bigram == pytest.approx(chain, rel=1e-10)
    # Conditioning does not increase entropy; a Markov chain's pairs say more.
    assert bigram < unigram - 0.1


@given(
    st.lists(st.integers(0, 4), min_size=2, max_size=60),
    st.floats(0.0, 5.0, allow_nan=False),
)
def test_entropy_bounds_hold_for_any_text(ids, alpha):
    ids = np.array(ids, dtype=np.int64)
    unigram, bigram = text.unigram_entropy(ids, 5), text.bigram_entropy(ids, 5)
    # 0 <= H(X_t | X_{t-1}) <= H(X_t) <= log V
    assert -1e-12 <= bigram <= unigram + 1e-12 <= math.log(5) + 2e-12
    # and the counted models are the best of their kind on their own text
    smoothed = text.ngram_cross_entropy(ids, text.bigram_probs(ids, 5, alpha))
    assert smoothed >= bigram - 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_gibbs_any_other_model_loses_more_on_the_counted_text(seed):
    ids = markov_text(seed)
    best = text.bigram_entropy(ids, 5)
    for alpha in (0.1, 1.0, 10.0):
        assert text.ngram_cross_entropy(ids, text.bigram_probs(ids, 5, alpha)) > best
    # and a huge alpha tends to the uniform model, log V
    uniform = text.ngram_cross_entropy(ids, text.bigram_probs(ids, 5, 1e9))
    assert uniform == pytest.approx(math.log(5), rel=1e-6)


def test_ngram_cross_entropy_matches_torch_nll_loss():
    torch = pytest.importorskip("torch")
    train, held_out = markov_text(0), markov_text(1, n=800)
    for probs in (text.unigram_probs(train, 5, 0.5), text.bigram_probs(train, 5, 0.5)):
        log_probs = torch.log(torch.as_tensor(probs))
        rows = (
            log_probs.expand(len(held_out) - 1, 5)
            if probs.ndim == 1
            else log_probs[torch.as_tensor(held_out[:-1])]
        )
        want = torch.nn.functional.nll_loss(rows, torch.as_tensor(held_out[1:]))
        ours = text.ngram_cross_entropy(held_out, probs)
        assert ours == pytest.approx(float(want), rel=1e-12)


def test_an_unseen_pair_costs_an_infinite_loss_without_smoothing():
    train, held_out = np.array([0, 1, 0, 1, 2]), np.array([2, 0, 0])
    assert text.ngram_cross_entropy(held_out, text.bigram_probs(train, 3)) == math.inf
    assert math.isfinite(
        text.ngram_cross_entropy(held_out, text.bigram_probs(train, 3, 0.5))
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: text.unigram_probs(np.array([0, 1]), 0),
            "vocab_size must be a positive integer; got 0",
        ),
        (
            lambda: text.unigram_probs(np.array([0, 1]), True),
            "vocab_size must be a positive integer; got True",
        ),
        (
            lambda: text.unigram_probs(np.array([0, 3]), 3),
            "ids must hold class indices in [0, 3); got 3 among them",
        ),
        (
            lambda: text.unigram_probs(np.array([0.0, 1.0]), 3),
            "ids must be a 1-D integer array of at least 2 characters; "
            "got shape (2,), dtype float64",
        ),
        (
            lambda: text.unigram_probs(np.array([1]), 3),
            "ids must be a 1-D integer array of at least 2 characters; "
            "got shape (1,), dtype int64",
        ),
        (
            lambda: text.bigram_probs(np.array([0, 1]), 3, alpha=-1.0),
            "alpha must be a finite number >= 0; got -1.0",
        ),
        (
            lambda: text.bigram_entropy(np.zeros((2, 2), int), 3),
            "ids must be a 1-D integer array of at least 2 characters; "
            "got shape (2, 2), dtype int64",
        ),
        (
            lambda: text.ngram_cross_entropy(np.array([0, 1]), np.ones((2, 3))),
            "probs must have shape (V,) or (V, V); got (2, 3)",
        ),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm():
    pytest.importorskip("torch")
    from xent import lm

    return lm


def test_context_windows_are_the_characters_before_each_target(lm):
    ids = np.arange(10, 17)
    windows = lm.context_windows(ids, 3, pad=99)
    want = [
        [99] * max(0, 3 - t) + ids[max(0, t - 3) : t].tolist()
        for t in range(1, len(ids))
    ]
    assert windows.tolist() == want


def test_loss_is_cross_entropy_of_the_logits_and_the_seed_fixes_the_model(lm):
    import torch

    ids = markov_text(0, n=300)
    model = lm.CharMLP(5, context_size=3, embedding_dim=4, hidden_size=16, seed=1)
    twin = lm.CharMLP(5, context_size=3, embedding_dim=4, hidden_size=16, seed=1)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    context = torch.as_tensor(lm.context_windows(ids, 3, pad=5))
    target = torch.as_tensor(ids[1:])
    want = torch.nn.functional.cross_entropy(model.logits(context), target)
    got = model.loss(context, target)
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    # evaluate: the same mean, in float64 and in batches
    assert lm.evaluate(model, ids, batch_size=64) == pytest.approx(
        float(want.detach()), rel=1e-5
    )
    # gradients flow through linear_cross_entropy to every parameter
    got.backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()
    )


def test_fit_approaches_but_cannot_beat_the_bigram_entropy_with_one_character(
    lm, tmp_path
):
    from xent import tracking

    ids = markov_text(3)
    model = lm.CharMLP(5, context_size=1, embedding_dim=8, hidden_size=32, seed=0)
    with tracking.start_run("test-lm", {}, dir=tmp_path, mode="disabled") as run:
        result = lm.fit(
            model,
            ids,
            markov_text(4, n=500),
            num_epochs=15,
            batch_size=128,
            lr=1e-2,
            run=run,
        )
    assert tracking.read_history(run) == [
        {"_step": i, **row} for i, row in enumerate(result.history)
    ]
    assert [row["epoch"] for row in result.history] == list(range(1, 16))
    row = result.history[-1]
    assert row["val_bits_per_char"] == pytest.approx(row["val_loss"] / math.log(2))
    assert row["val_perplexity"] == pytest.approx(math.exp(row["val_loss"]))
    trained = lm.evaluate(model, ids)
    best = text.bigram_entropy(ids, 5)
    # Gibbs' inequality: no model of one previous character does better on this text,
    # and a trained one gets close.
    assert best - 1e-6 <= trained < best + 0.02
    assert trained < text.unigram_entropy(ids, 5) - 0.1


def test_fit_is_deterministic(lm):
    ids = markov_text(5, n=800)
    runs = [
        lm.fit(
            lm.CharMLP(5, context_size=2, embedding_dim=4, hidden_size=16, seed=2),
            ids,
            ids,
            num_epochs=2,
            seed=7,
        ).history
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_sample_greedy_seeded_and_entropy_grows_with_temperature(lm):
    import torch

    model = lm.CharMLP(5, context_size=2, embedding_dim=4, hidden_size=16, seed=0)
    prompt = np.array([1, 2])
    greedy, entropy = lm.sample(model, prompt, 12, temperature=0)
    assert entropy == 0.0
    # greedy: each character is the argmax of the logits of the two before it
    window = prompt.tolist()
    for c in greedy.tolist():
        with torch.no_grad():
            logits = model.logits(torch.tensor([window[-2:]]))[0]
        assert c == int(logits.argmax())
        window.append(c)
    a, _ = lm.sample(model, prompt, 50, temperature=1.0, seed=3)
    b, _ = lm.sample(model, prompt, 50, temperature=1.0, seed=3)
    assert a.tolist() == b.tolist()
    entropies = [lm.sample(model, prompt, 50, temperature=t)[1] for t in (0.3, 1, 3)]
    assert entropies[0] < entropies[1] < entropies[2] <= math.log(5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1.0}, "temperature must be a finite number >= 0; got -1.0"),
        ({"temperature": True}, "temperature must be a finite number >= 0; got True"),
        (
            {"temperature": math.inf},
            "temperature must be a finite number >= 0; got inf",
        ),
        ({"length": 0}, "length must be a positive integer; got 0"),
        ({"seed": -1}, "seed must be a non-negative integer; got -1"),
        (
            {"prompt_ids": np.array([5])},
            "prompt_ids must hold class indices in [0, 5); got 5 among them",
        ),
        (
            {"prompt_ids": np.array([[0]])},
            "prompt_ids must be a 1-D integer array; got shape (1, 1), dtype int64",
        ),
    ],
)
def test_sample_bad_input_names_the_argument(lm, options, message):
    model = lm.CharMLP(5, context_size=2, embedding_dim=4, hidden_size=8)
    kwargs = {"prompt_ids": np.array([0]), "length": 3, **options}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        lm.sample(model, **kwargs)


def test_sample_takes_an_empty_prompt(lm):
    model = lm.CharMLP(5, context_size=2, embedding_dim=4, hidden_size=8)
    drawn, _ = lm.sample(model, [], 4, temperature=0)
    assert drawn.shape == (4,) and drawn.dtype == np.int64


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lm: lm.CharMLP(0), "vocab_size must be a positive integer; got 0"),
        (
            lambda lm: lm.CharMLP(5, seed=-2),
            "seed must be a non-negative integer; got -2",
        ),
        (
            lambda lm: lm.context_windows(np.arange(4), 2, pad=1.5),
            "pad must be an integer; got 1.5",
        ),
        (
            lambda lm: lm.CharMLP(5, context_size=0),
            "context_size must be a positive integer; got 0",
        ),
        (
            lambda lm: lm.CharMLP(5, hidden_size=2.5),
            "hidden_size must be a positive integer; got 2.5",
        ),
        (
            lambda lm: lm.context_windows(np.arange(4), 0, pad=9),
            "context_size must be a positive integer; got 0",
        ),
        (
            lambda lm: lm.fit(lm.CharMLP(5), np.arange(4), np.arange(4), num_epochs=0),
            "num_epochs must be a positive integer; got 0",
        ),
        (
            lambda lm: lm.fit(lm.CharMLP(5), np.arange(9), np.arange(4), num_epochs=1),
            "train_ids must hold class indices in [0, 5); got 5 among them",
        ),
        (
            lambda lm: lm.fit(lm.CharMLP(5), np.arange(4), np.arange(9), num_epochs=1),
            "val_ids must hold class indices in [0, 5); got 5 among them",
        ),
        (
            lambda lm: lm.fit(
                lm.CharMLP(5), np.arange(4), np.arange(4), num_epochs=1, lr=0
            ),
            "lr must be a finite number > 0; got 0",
        ),
    ],
)
def test_model_bad_input_names_the_argument(lm, call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call(lm)

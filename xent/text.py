r"""Characters as classes: the book's own text as a corpus, and its n-gram baselines.

A character-level language model is a classifier whose classes are the characters of a
vocabulary: at every position it predicts the next character from the ones before it,
and its loss is the cross-entropy of that prediction. This module holds what such a
model is measured against, in NumPy and in closed form:

* :func:`load_corpus`: the prose of the book's chapters (no download), as a snapshot
  shipped in the package (``xent/corpus.txt``), so that a checkout, a wheel and Colab
  train on the same text and an edit to a chapter does not move the notebook's
  numbers; ``python -m xent.text`` takes a new snapshot from the chapters;
* :class:`Vocabulary`: characters to class indices and back;
* :func:`unigram_probs`, :func:`bigram_probs`: counted (optionally add-:math:`\alpha`
  smoothed) next-character distributions, ignoring or using the previous character;
* :func:`unigram_entropy`, :func:`bigram_entropy`: the exact entropy and conditional
  entropy of a text's characters, the training loss of the best unigram and bigram
  models;
* :func:`ngram_cross_entropy`: the loss, in nats per character, of such a model on a
  text.

Every score here is over the characters ``ids[1:]``, each predicted from what precedes
it, so that the unigram, the bigram and a neural model are scored on the same
characters. See the notebook "A character-level language model".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xent import _checks
from xent import numpy as xn
from xent._checks import numpy as array_checks

__all__ = [
    "clean_markdown",
    "chapters_text",
    "load_corpus",
    "Vocabulary",
    "unigram_probs",
    "bigram_probs",
    "unigram_entropy",
    "bigram_entropy",
    "ngram_cross_entropy",
]

SHIPPED = Path(__file__).resolve().parent / "corpus.txt"

# --------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,}|:{3,})")  # ``` or ::: opens and closes a block
_DROP = re.compile(r"^(\(.+\)=|:[a-z-]+:)")  # labels "(sec-x)=", options ":class: x"
# Directives whose body is prose; any other ``` block (code, math, figures) is dropped.
_PROSE = ("{exercise", "{solution", "{admonition", "{note", "{warning", "{tip")


def clean_markdown(source: str) -> str:
    """The prose of a MyST Markdown page: code, directives and labels removed.

    Drops every block fenced with backticks (code, display math, figures, includes)
    except exercises, solutions and admonitions, whose bodies are prose; drops the fence
    lines themselves (also ``:::``), ``(label)=`` lines and ``:option:`` lines. Keeps
    headings, paragraphs, lists, tables and inline math as written. Runs of blank lines
    become one.

    >>> clean_markdown("(sec-a)=\\n# Title\\n\\n```python\\nx = 1\\n```\\nText.\\n")
    '# Title\\n\\nText.\\n'
    """
    kept: list[str] = []
    code_fence = ""  # the fence that opened the code block we are in, if any
    open_prose: list[str] = []  # fences of the prose directives we are in
    for line in source.splitlines():
        stripped = line.strip()
        fence = _FENCE.match(stripped)
        if code_fence:
            if stripped == code_fence:
                code_fence = ""
            continue
        if fence:
            name = stripped[len(fence.group(1)) :].strip()
            if not name and open_prose and fence.group(1) == open_prose[-1]:
                open_prose.pop()  # closes an exercise, a solution, a tab set ...
            elif fence.group(1).startswith(":") or name.startswith(_PROSE):
                open_prose.append(fence.group(1))
            else:
                code_fence = fence.group(1)  # code, math, a figure, an include
            continue
        if _DROP.match(stripped):
            continue
        if stripped or (kept and kept[-1]):
            kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n"


def chapters_text(chapters_dir: str | Path) -> str:
    """The cleaned prose of every ``*.md`` file in ``chapters_dir``, in name order.

    Raises ``ValueError`` when ``chapters_dir`` holds no Markdown file.
    """
    paths = sorted(Path(chapters_dir).glob("*.md"))
    if not paths:
        raise ValueError(
            f"chapters_dir must hold the book's chapters (*.md); got {chapters_dir}"
        )
    return "\n".join(clean_markdown(p.read_text(encoding="utf-8")) for p in paths)


def _repository_chapters() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    if (root / "_toc.yml").is_file() and (root / "chapters").is_dir():
        return root / "chapters"
    return None


def load_corpus() -> str:
    """The book's chapters as one text: the snapshot shipped in ``xent/corpus.txt``.

    The snapshot is :func:`chapters_text` of the chapters when it was last taken
    (``python -m xent.text`` in a checkout takes a new one). Reading it rather than the
    chapters keeps every copy of the book, Colab included, on the same text.

    >>> text = load_corpus()
    >>> "cross-entropy" in text and "```" not in text
    True
    """
    return SHIPPED.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# Characters as class indices
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a text, sorted; character ``chars[c]`` is class ``c``.

    >>> vocab = Vocabulary.from_text("abba")
    >>> vocab.chars, vocab.encode("ab").tolist(), vocab.decode([1, 0])
    ('ab', [0, 1], 'ba')
    """

    chars: str

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        text = _checks.non_empty_string("text", text)
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> NDArray[np.int64]:
        """Class indices ``(len(text),)``; raises ``ValueError`` for an unknown char."""
        index = {ch: c for c, ch in enumerate(self.chars)}
        unknown = set(text) - set(index)
        if unknown:
            raise ValueError(
                f"text must use only the vocabulary's characters; got {sorted(unknown)}"
            )
        return np.array([index[ch] for ch in text], dtype=np.int64)

    def decode(self, ids: ArrayLike) -> str:
        """The text of class indices ``ids``."""
        checked = array_checks.ids("ids", ids, len(self.chars), min_length=0)
        return "".join(self.chars[i] for i in checked.tolist())


# --------------------------------------------------------------------------------------
# n-gram models in closed form
# --------------------------------------------------------------------------------------


def _ids(ids: ArrayLike, vocab_size: int) -> NDArray[np.int64]:
    return array_checks.ids("ids", ids, _checks.positive_int("vocab_size", vocab_size))


def unigram_probs(
    ids: ArrayLike, vocab_size: int, alpha: float = 0.0
) -> NDArray[np.float64]:
    r"""Next-character probabilities that ignore the context, shape ``(V,)``.

    :math:`q_c = (n_c + \alpha) / (N + \alpha V)`, where :math:`n_c` counts character
    :math:`c` among the :math:`N` predicted characters ``ids[1:]``. ``alpha = 0`` is the
    maximum-likelihood estimate; ``alpha > 0`` is add-:math:`\alpha` (Lidstone)
    smoothing, which gives a character never seen a probability above zero.

    >>> unigram_probs(np.array([0, 1, 1, 2]), 3).tolist()  # counts of ids[1:]: 0, 2, 1
    [0.0, 0.6666666666666666, 0.3333333333333333]
    """
    ids = _ids(ids, vocab_size)
    alpha = _checks.non_negative("alpha", alpha)
    counts = np.bincount(ids[1:], minlength=vocab_size).astype(np.float64)
    return (counts + alpha) / (counts.sum() + alpha * vocab_size)


def bigram_probs(
    ids: ArrayLike, vocab_size: int, alpha: float = 0.0
) -> NDArray[np.float64]:
    r"""Next-character probabilities given the previous character, shape ``(V, V)``.

    Row :math:`a` is :math:`q(b \mid a) = (n_{ab} + \alpha) / (n_a + \alpha V)`, where
    :math:`n_{ab}` counts the pairs ``(ids[t-1], ids[t]) = (a, b)`` and
    :math:`n_a = \sum_b n_{ab}`. With ``alpha = 0`` this is the maximum-likelihood
    bigram model; a row whose character never precedes another is uniform then.
    ``alpha > 0`` is add-:math:`\alpha` smoothing, needed to score any text but the one
    counted: a single unseen pair would cost :math:`-\log 0 = \infty`.

    >>> bigram_probs(np.array([0, 1, 0, 0]), 2).tolist()  # pairs 01, 10, 00
    [[0.5, 0.5], [1.0, 0.0]]
    """
    ids = _ids(ids, vocab_size)
    alpha = _checks.non_negative("alpha", alpha)
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
    counts += alpha
    totals = counts.sum(axis=1, keepdims=True)  # (V, 1)
    with np.errstate(invalid="ignore"):
        probs = counts / totals
    probs[totals[:, 0] == 0] = 1.0 / vocab_size
    return probs


def unigram_entropy(ids: ArrayLike, vocab_size: int) -> float:
    r"""Entropy :math:`H(p) = -\sum_c p_c \log p_c` of the characters ``ids[1:]``, nats.

    :math:`p` is their frequency (:func:`unigram_probs` with ``alpha = 0``). By Gibbs'
    inequality it is the smallest loss on this text of any model that ignores context.

    >>> round(unigram_entropy(np.array([0, 0, 1, 0, 1]), 2), 6)  # p = (1/2, 1/2): log 2
    0.693147
    """
    return float(xn.entropy(unigram_probs(ids, vocab_size)))


def bigram_entropy(ids: ArrayLike, vocab_size: int) -> float:
    r"""Conditional entropy :math:`H(X_t \mid X_{t-1})` of the text's pairs, in nats.

    :math:`\sum_a p(a) \, H(p(\cdot \mid a))`, with :math:`p(a, b)` the frequency of the
    pair :math:`(a, b)` among the pairs ``(ids[t-1], ids[t])``. It is the loss on this
    text of the best model that sees one previous character, and never exceeds
    :func:`unigram_entropy`: conditioning does not increase entropy.

    >>> bigram_entropy(np.array([0, 1, 0, 1, 0]), 2)  # each character fixes the next
    0.0
    """
    ids = _ids(ids, vocab_size)
    counts = np.bincount(ids[:-1], minlength=vocab_size).astype(np.float64)
    p_prev = counts / counts.sum()  # (V,)
    rows = xn.entropy(bigram_probs(ids, vocab_size))  # (V,) entropy of each row
    return float(np.sum(p_prev * rows))


def ngram_cross_entropy(ids: ArrayLike, probs: ArrayLike) -> float:
    r"""Mean loss :math:`-\frac1N \sum_t \log q(x_t \mid \dots)` of ``ids[1:]``, nats.

    ``probs`` of shape ``(V,)`` is a unigram model, ``(V, V)`` a bigram model (row: the
    previous character). On the text the model was counted from, with ``alpha = 0``,
    this equals :func:`unigram_entropy` or :func:`bigram_entropy`. Divide by
    :math:`\log 2` for bits per character; :math:`e` to its power is the perplexity.

    >>> text = np.array([0, 1, 1, 0, 1])
    >>> round(ngram_cross_entropy(text, unigram_probs(text, 2)), 6)  # H(1/4, 3/4)
    0.562335
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim not in (1, 2) or probs.shape != (probs.shape[0],) * probs.ndim:
        raise ValueError(f"probs must have shape (V,) or (V, V); got {probs.shape}")
    ids = _ids(ids, probs.shape[0])
    q = probs[ids[1:]] if probs.ndim == 1 else probs[ids[:-1], ids[1:]]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(q)))


if __name__ == "__main__":  # python -m xent.text: refresh the shipped copy
    chapters = _repository_chapters()
    if chapters is None:
        raise SystemExit("run this from a checkout of the book's repository")
    SHIPPED.write_text(chapters_text(chapters), encoding="utf-8")
    print(
        f"wrote {SHIPPED.name}: {len(SHIPPED.read_text(encoding='utf-8'))} characters"
    )

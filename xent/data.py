"""Seeded toy datasets for the notebooks, as NumPy arrays split into training and
validation.

Every function takes ``seed`` (with a fixed default) and ``val_fraction`` and returns a
:class:`Split`. The same arguments always give the same arrays, so that a notebook shows
the same numbers on every build. Class-labelled sets are split per class (stratified):
each class keeps its share in both parts, which matters for the imbalanced set.

Shapes: ``X`` is ``(n, 2)`` float32 (points in the plane, easy to draw); ``y`` is
``(n,)`` int64 class indices, or ``(n, L)`` float32 zeros and ones for the multi-label
set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xent import _checks

__all__ = ["Split", "blobs", "moons", "spirals", "imbalanced", "multilabel"]


@dataclass(frozen=True)
class Split:
    """A dataset split into training and validation parts.

    ``X_train: (n_train, d)`` and ``X_val: (n_val, d)`` are float32; ``y_train`` and
    ``y_val`` are int64 class indices of shape ``(n,)``, or float32 ``(n, L)`` for
    multi-label targets. ``num_classes`` is the number of classes (or of labels, for
    multi-label targets).

    >>> split = blobs(n=40)
    >>> split.X_train.shape, split.X_val.shape, split.num_classes
    ((30, 2), (10, 2), 3)
    """

    X_train: NDArray[np.float32]
    y_train: NDArray
    X_val: NDArray[np.float32]
    y_val: NDArray
    num_classes: int

    @property
    def num_features(self) -> int:
        """The number of input features ``d``."""
        return int(self.X_train.shape[1])

    @property
    def multilabel(self) -> bool:
        """True when ``y`` holds one 0/1 column per label instead of class indices."""
        return self.y_train.ndim == 2


# --------------------------------------------------------------------------------------
# Checks and the split itself
# --------------------------------------------------------------------------------------


def _val_fraction(value: object) -> float:
    """Both parts must keep some rows: a share strictly between 0 and 1."""
    return _checks.interval("val_fraction", value, 0, 1, low_open=True, high_open=True)


def _split(
    X: NDArray,
    y: NDArray,
    num_classes: int,
    val_fraction: float,
    rng: np.random.Generator,
) -> Split:
    """Shuffle, then move ``val_fraction`` of each class (or of all rows) to
    validation.
    """
    if y.ndim == 1:
        groups = [np.flatnonzero(y == c) for c in range(num_classes)]  # stratified
    else:
        groups = [np.arange(len(y))]  # multi-label: one group
    val_parts, train_parts = [], []
    for rows in groups:
        rows = rng.permutation(rows)
        num_val = int(round(val_fraction * len(rows)))
        val_parts.append(rows[:num_val])
        train_parts.append(rows[num_val:])
    # Mix the classes again so that minibatches taken in order are not sorted by class.
    train = rng.permutation(np.concatenate(train_parts))
    val = rng.permutation(np.concatenate(val_parts))
    return Split(
        X_train=X[train].astype(np.float32),
        y_train=y[train],
        X_val=X[val].astype(np.float32),
        y_val=y[val],
        num_classes=num_classes,
    )


def _counts(n: int, num_classes: int) -> NDArray[np.int64]:
    """``n`` points shared as evenly as possible among the classes."""
    return np.full(num_classes, n // num_classes) + (
        np.arange(num_classes) < n % num_classes
    )


# --------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------


def blobs(
    n: int = 300,
    num_classes: int = 3,
    *,
    std: float = 1.0,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> Split:
    """Isotropic Gaussian blobs, one per class, with centres evenly spaced on a circle.

    The centres lie on a circle of radius 3, so with ``std=1`` neighbouring blobs
    overlap a little and a linear classifier (softmax regression) does well but not
    perfectly. Raises ``ValueError`` for ``n < 2 * num_classes``, ``num_classes < 2``,
    ``std <= 0``, a negative ``seed`` or ``val_fraction`` outside ``(0, 1)``.

    >>> split = blobs(n=100, num_classes=4, seed=1)
    >>> split.X_train.dtype, split.y_train.dtype, sorted(set(split.y_train.tolist()))
    (dtype('float32'), dtype('int64'), [0, 1, 2, 3])
    """
    num_classes = _checks.integer("num_classes", num_classes, 2)
    n = _checks.integer("n", n, 2 * num_classes)
    std = _checks.positive_number("std", std)
    val_fraction = _val_fraction(val_fraction)
    rng = np.random.default_rng(_checks.seed(seed))

    angles = 2 * np.pi * np.arange(num_classes) / num_classes + np.pi / 2
    centres = 3.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (C, 2)
    y = np.repeat(np.arange(num_classes), _counts(n, num_classes))  # (n,)
    X = centres[y] + std * rng.standard_normal((n, 2))  # (n, 2)
    return _split(X, y.astype(np.int64), num_classes, val_fraction, rng)


def moons(
    n: int = 300, *, noise: float = 0.15, seed: int = 0, val_fraction: float = 0.25
) -> Split:
    """Two interleaving half circles, two classes: a set no straight line separates.

    Class 0 lies on the upper half of the unit circle, class 1 on a lower half circle
    shifted by ``(1, 0.5)``; Gaussian noise of standard deviation ``noise`` is added to
    every point. Raises ``ValueError`` for ``n < 4``, negative ``noise`` or ``seed``, or
    ``val_fraction`` outside ``(0, 1)``.

    >>> split = moons(n=200)
    >>> split.num_classes, split.X_train.shape
    (2, (150, 2))
    """
    n = _checks.integer("n", n, 4)
    noise = _checks.non_negative("noise", noise)
    val_fraction = _val_fraction(val_fraction)
    rng = np.random.default_rng(_checks.seed(seed))

    n0, n1 = _counts(n, 2)
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n1)
    X = np.concatenate(
        [
            np.stack([np.cos(t0), np.sin(t0)], axis=1),  # upper moon, (n0, 2)
            np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1),  # lower moon, (n1, 2)
        ]
    )
    X = X + noise * rng.standard_normal(X.shape)
    y = np.repeat(np.arange(2), [n0, n1]).astype(np.int64)
    return _split(X, y, 2, val_fraction, rng)


def spirals(
    n: int = 300,
    num_classes: int = 3,
    *,
    noise: float = 0.2,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> Split:
    """Interleaved spiral arms, one per class (the classic CS231n toy problem).

    Arm :math:`c` holds points at radius :math:`r \\in (0, 1]` and angle
    :math:`4r + 2\\pi c / C` plus Gaussian noise of standard deviation ``noise`` (in
    radians). A linear model reaches only about chance; a small MLP separates the arms.
    Raises ``ValueError`` as :func:`blobs` does, and for negative ``noise``.

    >>> split = spirals(n=90, num_classes=3)
    >>> len(split.y_train) + len(split.y_val)
    90
    """
    num_classes = _checks.integer("num_classes", num_classes, 2)
    n = _checks.integer("n", n, 2 * num_classes)
    noise = _checks.non_negative("noise", noise)
    val_fraction = _val_fraction(val_fraction)
    rng = np.random.default_rng(_checks.seed(seed))

    counts = _counts(n, num_classes)
    y = np.repeat(np.arange(num_classes), counts)  # (n,)
    # radius in (0, 1]: every arm would otherwise share the point (0, 0)
    radius = np.concatenate([np.linspace(0.0, 1.0, k + 1)[1:] for k in counts])  # (n,)
    angle = 4.0 * radius + 2 * np.pi * y / num_classes + noise * rng.standard_normal(n)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)  # (n, 2)
    return _split(X, y.astype(np.int64), num_classes, val_fraction, rng)


def imbalanced(
    n: int = 1000,
    *,
    positive_fraction: float = 0.1,
    separation: float = 2.0,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> Split:
    """A binary set with a rare positive class: two overlapping Gaussians in the plane.

    Exactly ``round(positive_fraction * n)`` points are positive (class 1), centred at
    ``(separation, 0)``; the negatives (class 0) are centred at the origin; both have
    unit variance, so the classes overlap and a classifier trained without care favours
    class 0. Raises ``ValueError`` for ``positive_fraction`` outside ``(0, 0.5]``, fewer
    than two points in either class, ``separation < 0``, a negative ``seed`` or
    ``val_fraction`` outside ``(0, 1)``.

    >>> split = imbalanced(n=400, positive_fraction=0.1)
    >>> int(split.y_train.sum()), int(split.y_val.sum())  # 40 positives, split 30 / 10
    (30, 10)
    """
    n = _checks.integer("n", n, 4)
    positive_fraction = _checks.interval(
        "positive_fraction", positive_fraction, 0, 0.5, low_open=True
    )
    separation = _checks.non_negative("separation", separation)
    val_fraction = _val_fraction(val_fraction)
    num_pos = int(round(positive_fraction * n))
    if num_pos < 2:
        raise ValueError(
            "positive_fraction * n must give at least 2 positives; got "
            f"positive_fraction={positive_fraction!r} and n={n!r}"
        )
    rng = np.random.default_rng(_checks.seed(seed))

    y = np.repeat(np.array([0, 1]), [n - num_pos, num_pos]).astype(np.int64)  # (n,)
    X = rng.standard_normal((n, 2)) + np.array([separation, 0.0]) * y[:, None]  # (n, 2)
    return _split(X, y, 2, val_fraction, rng)


def multilabel(
    n: int = 400,
    num_labels: int = 3,
    *,
    noise: float = 0.3,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> Split:
    """Points in the plane carrying several independent 0/1 labels at once.

    Label :math:`l` is on when the point lies on the positive side of a line through the
    origin with normal at angle :math:`\\pi l / L`, after Gaussian noise of standard
    deviation ``noise`` is added to the signed distance; a point can have any subset of
    labels. ``y`` has shape ``(n, L)`` and dtype float32, ready for
    ``binary_cross_entropy_with_logits``. Raises ``ValueError`` for ``num_labels < 1``,
    ``n < 4``, negative ``noise`` or ``seed``, or ``val_fraction`` outside ``(0, 1)``.

    >>> split = multilabel(n=100, num_labels=2)
    >>> split.y_train.shape, split.y_train.dtype, split.multilabel
    ((75, 2), dtype('float32'), True)
    """
    num_labels = _checks.integer("num_labels", num_labels, 1)
    n = _checks.integer("n", n, 4)
    noise = _checks.non_negative("noise", noise)
    val_fraction = _val_fraction(val_fraction)
    rng = np.random.default_rng(_checks.seed(seed))

    X = rng.standard_normal((n, 2))  # (n, 2)
    angles = np.pi * np.arange(num_labels) / num_labels
    normals = np.stack([np.cos(angles), np.sin(angles)], axis=0)  # (2, L)
    distance = X @ normals + noise * rng.standard_normal((n, num_labels))  # (n, L)
    y = (distance > 0).astype(np.float32)
    return _split(X, y, num_labels, val_fraction, rng)

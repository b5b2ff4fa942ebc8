"""xent.data: shapes, dtypes, determinism, stratified splits and argument checks."""

import functools
import re

import numpy as np
import pytest

from xent import data

# Each maker with the number of examples it is asked for (train and validation).
SIZED_CLASS_SETS = [
    (120, lambda n, seed: data.blobs(n=n, num_classes=3, seed=seed)),
    (120, lambda n, seed: data.moons(n=n, seed=seed)),
    (120, lambda n, seed: data.spirals(n=n, num_classes=4, seed=seed)),
    (400, lambda n, seed: data.imbalanced(n=n, positive_fraction=0.1, seed=seed)),
]
CLASS_SETS = [functools.partial(make, n) for n, make in SIZED_CLASS_SETS]


@pytest.mark.parametrize(("n", "make"), SIZED_CLASS_SETS)
def test_class_sets_shapes_dtypes_and_labels(n, make):
    split = make(n, 0)
    assert split.X_train.dtype == np.float32 and split.X_val.dtype == np.float32
    assert split.y_train.dtype == np.int64 and split.y_val.dtype == np.int64
    assert split.X_train.shape == (len(split.y_train), 2)
    assert split.X_val.shape == (len(split.y_val), 2)
    assert len(split.y_train) + len(split.y_val) == n
    labels = np.concatenate([split.y_train, split.y_val])
    assert set(labels.tolist()) == set(range(split.num_classes))
    assert np.all(np.isfinite(split.X_train)) and not split.multilabel


@pytest.mark.parametrize("make", CLASS_SETS)
def test_same_seed_same_arrays_other_seed_other_arrays(make):
    a, b, c = make(0), make(0), make(1)
    for field in ("X_train", "y_train", "X_val", "y_val"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize("make", CLASS_SETS)
def test_split_is_stratified_and_disjoint(make):
    split = make(0)
    total = np.bincount(np.concatenate([split.y_train, split.y_val]))
    val = np.bincount(split.y_val, minlength=split.num_classes)
    # each class sends round(0.25 * its count) points to validation
    np.testing.assert_array_equal(val, np.round(0.25 * total).astype(int))
    rows = {tuple(x) for x in split.X_train} & {tuple(x) for x in split.X_val}
    assert not rows  # no point is in both parts


def test_imbalanced_has_the_requested_share_of_positives():
    split = data.imbalanced(n=1000, positive_fraction=0.1)
    assert int(split.y_train.sum() + split.y_val.sum()) == 100
    assert split.y_val.sum() == 25


def test_blobs_centres_separate_classes():
    split = data.blobs(n=600, num_classes=3, std=0.1)
    means = np.stack([split.X_train[split.y_train == c].mean(axis=0) for c in range(3)])
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 3.0, atol=0.05)


def test_multilabel_targets():
    split = data.multilabel(n=200, num_labels=3, noise=0.0)
    assert split.multilabel and split.num_classes == 3
    assert split.y_train.shape == (150, 3) and split.y_train.dtype == np.float32
    assert set(np.unique(split.y_train).tolist()) <= {0.0, 1.0}
    # without noise, label 0 is the sign of x_1 (normal at angle 0)
    np.testing.assert_array_equal(
        split.y_train[:, 0], (split.X_train[:, 0] > 0).astype(np.float32)
    )


def test_split_is_frozen():
    split = data.moons(n=20)
    with pytest.raises(AttributeError):
        split.num_classes = 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.blobs(n=3, num_classes=3), "n must be an integer >= 6; got 3"),
        (
            lambda: data.blobs(num_classes=1),
            "num_classes must be an integer >= 2; got 1",
        ),
        (lambda: data.blobs(std=0.0), "std must be a finite number > 0; got 0.0"),
        (
            lambda: data.blobs(std=float("inf")),
            "std must be a finite number > 0; got inf",
        ),
        (lambda: data.moons(seed=-1), "seed must be a non-negative integer; got -1"),
        (
            lambda: data.moons(seed=True),
            "seed must be a non-negative integer; got True",
        ),
        (
            lambda: data.moons(val_fraction=1.0),
            "val_fraction must be a number in (0, 1); got 1.0",
        ),
        (
            lambda: data.moons(val_fraction=0),
            "val_fraction must be a number in (0, 1); got 0",
        ),
        (
            lambda: data.spirals(noise=-0.1),
            "noise must be a finite number >= 0; got -0.1",
        ),
        (
            lambda: data.multilabel(noise=float("nan")),
            "noise must be a finite number >= 0; got nan",
        ),
        (
            lambda: data.imbalanced(positive_fraction=0.7),
            "positive_fraction must be a number in (0, 0.5]; got 0.7",
        ),
        (
            lambda: data.imbalanced(separation=-1),
            "separation must be a finite number >= 0; got -1",
        ),
        (
            lambda: data.imbalanced(n=10, positive_fraction=0.1),
            "positive_fraction * n must give at least 2 positives; got "
            "positive_fraction=0.1 and n=10",
        ),
        (
            lambda: data.multilabel(num_labels=0),
            "num_labels must be an integer >= 1; got 0",
        ),
        (lambda: data.blobs(n=2.5), "n must be an integer >= 6; got 2.5"),
        (lambda: data.blobs(n=True), "n must be an integer >= 6; got True"),
    ],
)
def test_bad_arguments_name_the_argument(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def test_positive_fraction_may_be_one_half_exactly():
    split = data.imbalanced(n=40, positive_fraction=0.5)
    assert int(split.y_train.sum() + split.y_val.sum()) == 20

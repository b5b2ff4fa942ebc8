"""Bad input gets a ValueError that names the argument and the problem, in every
backend."""

from __future__ import annotations

import numpy as np
import pytest
from _backends import load

Z = np.zeros((4, 3))  # logits of 4 rows, 3 classes
T = np.array([0, 1, 2, 0])  # class indices
P = np.full((4, 3), 1 / 3)  # class probabilities
Y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])

# (function, args, keyword arguments, words the message must contain)
CASES = [
    # shapes of logits and target
    (
        "cross_entropy",
        (Z, np.array([0, 1, 2])),
        {},
        ["target", "(3,)", "logits", "(4, 3)"],
    ),
    (
        "cross_entropy",
        (Z, np.zeros((4, 2, 2), dtype=int)),
        {},
        ["target", "does not match"],
    ),
    ("cross_entropy", (Z, np.full((4, 5), 0.2)), {}, ["last dimension 5", "3 classes"]),
    ("cross_entropy", (Z, np.full((2, 3), 0.2)), {}, ["target", "(2, 3)", "(4, 3)"]),
    ("cross_entropy", (np.float64(1.0), np.array(0)), {}, ["logits", "class axis"]),
    (
        "cross_entropy",
        (np.zeros((4, 0)), np.zeros(4, dtype=int)),
        {},
        ["logits", "one class"],
    ),
    # dtypes
    ("cross_entropy", (np.zeros((4, 3), dtype=int), T), {}, ["logits", "floating"]),
    ("cross_entropy", (Z, T.astype(float)), {}, ["target", "integer"]),
    ("cross_entropy", (Z, P.astype(int)), {}, ["target", "floating"]),
    # class indices outside [0, C)
    (
        "cross_entropy",
        (Z, np.array([0, 1, 3, 0])),
        {},
        ["target", "[0, 3)", "ignore_index", "3"],
    ),
    ("cross_entropy", (Z, np.array([0, -1, 2, 0])), {}, ["target", "[0, 3)", "-1"]),
    (
        "cross_entropy",
        (Z, np.array([0, 1, 5, 0])),
        {"ignore_index": 4},
        ["ignore_index=4", "5"],
    ),
    ("nll_loss", (Z, np.array([0, 1, 3, 0])), {}, ["target", "[0, 3)"]),
    # probabilities
    (
        "cross_entropy",
        (Z, np.full((4, 3), 0.5) * [[1, 1, -1]]),
        {},
        ["target", "[0, 1]"],
    ),
    ("cross_entropy", (Z, P), {"ignore_index": 1}, ["ignore_index", "class-index"]),
    ("nll_loss", (Z, P), {}, ["target", "class indices"]),
    # weight
    ("cross_entropy", (Z, T), {"weight": np.ones(4)}, ["weight", "(3,)", "(4,)"]),
    (
        "cross_entropy",
        (Z, T),
        {"weight": np.ones((1, 3))},
        ["weight", "(3,)", "(1, 3)"],
    ),
    ("cross_entropy", (Z, P), {"weight": np.ones(2)}, ["weight", "(3,)"]),
    ("nll_loss", (Z, T), {"weight": np.ones(5)}, ["weight", "(3,)"]),
    # label smoothing, reduction, ignore_index
    (
        "cross_entropy",
        (Z, T),
        {"label_smoothing": 1.5},
        ["label_smoothing must be a number in [0, 1]; got 1.5"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"label_smoothing": -0.1},
        ["label_smoothing must be a number in [0, 1]; got -0.1"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"label_smoothing": float("nan")},
        ["label_smoothing must be a number in [0, 1]; got nan"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"label_smoothing": "0.1"},
        ["label_smoothing must be a number in [0, 1]; got '0.1'"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"label_smoothing": True},
        ["label_smoothing must be a number in [0, 1]; got True"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"z_loss_scale": float("inf")},
        ["z_loss_scale must be a finite number >= 0; got inf"],
    ),
    (
        "cross_entropy",
        (Z, T),
        {"softcap": 0.0},
        ["softcap must be None or a finite number > 0; got 0.0"],
    ),
    ("cross_entropy", (Z, T), {"reduction": "avg"}, ["reduction", "'avg'", "'mean'"]),
    ("nll_loss", (Z, T), {"reduction": None}, ["reduction", "None"]),
    ("cross_entropy", (Z, T), {"ignore_index": 1.5}, ["ignore_index", "integer"]),
    # binary losses
    (
        "binary_cross_entropy_with_logits",
        (Z, np.zeros((4, 2))),
        {},
        ["target", "(4, 2)", "(4, 3)"],
    ),
    ("binary_cross_entropy_with_logits", (Z, Y * 2), {}, ["target", "[0, 1]", "2.0"]),
    (
        "binary_cross_entropy_with_logits",
        (Z, Y),
        {"pos_weight": np.ones(2)},
        ["pos_weight", "broadcast"],
    ),
    (
        "binary_cross_entropy_with_logits",
        (Z, Y),
        {"weight": np.ones((5, 3))},
        ["weight", "broadcast"],
    ),
    (
        "binary_cross_entropy_with_logits",
        (Z.astype(int), Y),
        {},
        ["logits", "floating"],
    ),
    (
        "binary_cross_entropy_with_logits",
        (Z, Y),
        {"reduction": "batchmean"},
        ["reduction"],
    ),
    ("binary_cross_entropy", (Y * 1.5, Y), {}, ["probs", "[0, 1]", "1.5"]),
    ("binary_cross_entropy", (Y - 0.5, Y), {}, ["probs", "[0, 1]", "-0.5"]),
    ("binary_cross_entropy", (Y, Y + 1), {}, ["target", "[0, 1]"]),
    ("binary_cross_entropy", (Y, Y[:2]), {}, ["target", "(2, 3)", "probs"]),
    ("binary_cross_entropy", (Y, Y), {"weight": np.ones(2)}, ["weight", "broadcast"]),
    (
        "sigmoid_focal_loss",
        (Z, Y),
        {"alpha": 1.5},
        ["alpha must be a number in [0, 1], or negative to turn it off; got 1.5"],
    ),
    (
        "sigmoid_focal_loss",
        (Z, Y),
        {"alpha": float("nan")},
        ["alpha must be a real number; got nan"],
    ),
    (
        "sigmoid_focal_loss",
        (Z, Y),
        {"gamma": -1.0},
        ["gamma must be a finite number >= 0; got -1.0"],
    ),
    ("sigmoid_focal_loss", (Z, Y), {"reduction": "max"}, ["reduction"]),
    ("sigmoid_focal_loss", (Z, Y[:, :2]), {}, ["target", "(4, 2)"]),
    # building blocks
    ("logsumexp", (np.array([1, 2, 3]),), {}, ["x", "floating"]),
    ("softmax", (np.array([True, False]),), {}, ["x", "floating"]),
    ("log_softmax", (np.array([1, 2]),), {}, ["x", "floating"]),
]
# an axis the input does not have, or not an integer: PyTorch raises IndexError or
# TypeError, TensorFlow InvalidArgumentError; xent names the argument and the range
for function in ("logsumexp", "log_softmax", "softmax"):
    CASES += [
        (function, (Z,), {"axis": 2}, ["axis must be an integer in [-2, 1]", "2-d"]),
        (function, (Z,), {"axis": -3}, ["axis must be an integer in [-2, 1]", "-3"]),
        (function, (np.float64(1.0),), {"axis": 1}, ["[-1, 0] for a 0-d input"]),
        (function, (Z,), {"axis": 1.0}, ["axis must be an integer; got 1.0"]),
        (function, (Z,), {"axis": True}, ["axis must be an integer; got True"]),
    ]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "words"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_raises_a_clear_value_error(backend, function, args, kwargs, words):
    args = [backend.arr(a) for a in args]
    kwargs = {
        k: backend.arr(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    with pytest.raises(ValueError) as info:
        getattr(backend.mod, function)(*args, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_ignored_targets_may_lie_outside_the_classes(backend):
    out = backend.mod.cross_entropy(
        backend.arr(Z), backend.arr(np.array([0, 255, 2, 255])), ignore_index=255
    )
    np.testing.assert_allclose(float(backend.np(out)), np.log(3))


NUMPY_ONLY = [
    ("entropy", (np.array([0.5, 1.5]),), {}, ["p", "[0, 1]"]),
    ("entropy", (np.array([1, 0]),), {}, ["p", "floating"]),
    ("entropy", (np.array([0.5, 0.5]),), {"base": 1}, ["base"]),
    ("entropy", (np.array([0.5, 0.5]),), {"base": -2.0}, ["base"]),
    (
        "kl_divergence",
        (np.array([0.5, 0.5]), np.array([0.2, 0.3, 0.5])),
        {},
        ["q", "p", "shape"],
    ),
    (
        "kl_divergence",
        (np.array([0.5, 0.5]), np.array([-0.2, 1.2])),
        {},
        ["q", "[0, 1]"],
    ),
    ("cross_entropy_grad", (Z, np.array([0, 1, 3, 0])), {}, ["target", "[0, 3)"]),
    ("cross_entropy_grad", (Z, T), {"label_smoothing": 2}, ["label_smoothing"]),
    ("cross_entropy_grad", (Z, T), {"weight": np.ones(2)}, ["weight"]),
    ("entropy", (np.array([0.5, 0.5]),), {"axis": 1}, ["axis", "[-1, 0]", "1-d"]),
    ("kl_divergence", (P, P), {"axis": 2}, ["axis", "[-2, 1]", "2-d"]),
]


@pytest.mark.parametrize(("function", "args", "kwargs", "words"), NUMPY_ONLY)
def test_numpy_only_functions_check_their_input(function, args, kwargs, words):
    xn = load("numpy").mod
    with pytest.raises(ValueError) as info:
        getattr(xn, function)(*args, **kwargs)
    for word in words:
        assert word in str(info.value)

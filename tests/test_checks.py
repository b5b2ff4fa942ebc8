"""The scalar validators of ``xent._checks``: what each accepts, what it returns, and
the words of what it refuses ("<name> must ...; got <repr>")."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from xent import _checks
from xent._checks import numpy as array_checks

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (7, 7), (np.int64(3), 3), (np.uint8(2), 2)],
)
def test_positive_int_accepts_integers_and_returns_int(value, expected):
    out = _checks.positive_int("n", value)
    assert out == expected and type(out) is int


@pytest.mark.parametrize(
    "value", [0, -3, True, False, 2.0, "3", None, NAN, np.float64(2)]
)
def test_positive_int_refuses(value):
    message = f"n must be a positive integer; got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _checks.positive_int("n", value)


def test_integer_minimum_is_in_the_message():
    assert _checks.integer("k", 0) == 0 and _checks.integer("k", -5) == -5
    assert _checks.integer("n", 6, minimum=6) == 6
    with pytest.raises(ValueError, match=r"^n must be an integer >= 6; got 5$"):
        _checks.integer("n", 5, minimum=6)
    with pytest.raises(ValueError, match=r"^k must be an integer; got True$"):
        _checks.integer("k", True)
    with pytest.raises(ValueError, match=r"^k must be an integer; got 1\.5$"):
        _checks.integer("k", 1.5)


@pytest.mark.parametrize("value", [0, 1, 2**40, np.int32(5)])
def test_seed_accepts_non_negative_integers(value):
    assert _checks.seed(value) == int(value) and type(_checks.seed(value)) is int


@pytest.mark.parametrize("value", [-1, True, 0.0, "0", None])
def test_seed_refuses(value):
    message = f"seed must be a non-negative integer; got {value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _checks.seed(value)


def test_flag_takes_booleans_only():
    assert _checks.flag("f", True) is True and _checks.flag("f", False) is False
    for value in (0, 1, None, "yes", np.int64(1)):
        message = f"f must be True or False; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.flag("f", value)


@pytest.mark.parametrize(
    ("check", "good", "bad", "requirement"),
    [
        (
            _checks.finite_number,
            [-2.5, 0, 3, np.float32(1.5), Fraction(1, 4)],
            [NAN, INF, -INF, True, "1", None, 1j],
            "a finite number",
        ),
        (
            _checks.positive_number,
            [1e-300, 2, 0.5, np.float64(4.0), np.int64(3)],
            [0, -1.0, INF, NAN, True, "2", None],
            "a finite number > 0",
        ),
        (
            _checks.non_negative,
            [0, 0.0, 2.5, np.int16(1)],
            [-1e-12, -1, INF, NAN, False, "0", None],
            "a finite number >= 0",
        ),
        (
            _checks.fraction,
            [0, 0.0, 0.25, 1, 1.0, np.float32(0.5)],
            [-0.01, 1.01, NAN, INF, True, False, "0.5", None],
            "a number in [0, 1]",
        ),
    ],
    ids=["finite_number", "positive_number", "non_negative", "fraction"],
)
def test_real_validators(check, good, bad, requirement):
    for value in good:
        out = check("x", value)
        assert type(out) is float and out == float(value)
    for value in bad:
        message = f"x must be {requirement}; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            check("x", value)


def test_interval_ends_open_or_closed():
    assert _checks.interval("p", 0.5, 0, 0.5, low_open=True) == 0.5
    assert _checks.interval("p", 0.0, 0, 1) == 0.0
    for value, kwargs, shown in [
        (0.0, {"low_open": True}, "(0, 0.5]"),
        (0.5, {"high_open": True}, "[0, 0.5)"),
        (0.6, {}, "[0, 0.5]"),
        (NAN, {"low_open": True, "high_open": True}, "(0, 0.5)"),
    ]:
        message = f"p must be a number in {shown}; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.interval("p", value, 0, 0.5, **kwargs)


def test_temperature_is_a_positive_finite_number():
    assert _checks.temperature(2) == 2.0
    for value in (0, -1.0, INF, NAN, True, "1"):
        message = f"temperature must be a finite number > 0; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.temperature(value)


def test_base_is_none_or_a_positive_number_other_than_one():
    assert _checks.base(None) is None and _checks.base(2) == 2.0
    assert _checks.base(np.float64(10)) == 10.0
    for value in (1, 1.0, 0, -2, INF, NAN, True, "2"):
        message = (
            f"base must be None or a finite number > 0 other than 1; got {value!r}"
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.base(value)


def test_real_number_allows_infinities_but_not_nan():
    assert _checks.real_number("alpha", -INF) == -INF
    for value in (NAN, True, "1", None):
        message = f"alpha must be a real number; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.real_number("alpha", value)


def test_pair_of_bounds():
    assert _checks.pair("bounds", (0.5, 2)) == (0.5, 2.0)
    assert _checks.pair("bounds", [np.float32(1), 3]) == (1.0, 3.0)
    for value in ((2, 1), (0, 1), (1, INF), (NAN, 1), (1, 2, 3), 1.0, "ab", (True, 2)):
        message = (
            "bounds must be a pair (low, high) of finite numbers with 0 < low < high; "
            f"got {value!r}"
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.pair("bounds", value)


def test_instance_names_the_type_it_got():
    assert _checks.instance("x", 3, int, "an int") == 3
    with pytest.raises(ValueError, match=r"^x must be an int; got str$"):
        _checks.instance("x", "3", int, "an int")


def test_vector_shape_and_kind():
    _checks.vector("prior", (3,), "f", "float32", 3, "positive numbers")
    _checks.vector("drawn", (2,), "i", "int64", 2, "indices", kinds="iu")
    cases = [
        ((4,), "f", "float32", "fiu", "got shape (4,) and dtype float32"),
        ((3, 1), "f", "float32", "fiu", "got shape (3, 1) and dtype float32"),
        ((3,), "f", "float32", "iu", "got shape (3,) and dtype float32"),
        ((3,), "b", "bool", "fiu", "got shape (3,) and dtype bool"),
    ]
    for shape, kind, dtype, kinds, got in cases:
        message = f"v must hold (3,) positive numbers; {got}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.vector("v", shape, kind, dtype, 3, "positive numbers", kinds=kinds)


def test_old_option_checks_share_the_scalar_messages():
    assert _checks.label_smoothing(0) == 0.0 and _checks.z_loss_scale(0) == 0.0
    assert _checks.softcap(None) is None and _checks.softcap(30) == 30.0
    assert _checks.focal_params(-1, 0) == (-1.0, 0.0)
    for check, value, message in [
        (
            _checks.label_smoothing,
            2,
            "label_smoothing must be a number in [0, 1]; got 2",
        ),
        (_checks.z_loss_scale, -1, "z_loss_scale must be a finite number >= 0; got -1"),
        (_checks.softcap, INF, "softcap must be None or a finite number > 0; got inf"),
        (
            _checks.softcap,
            True,
            "softcap must be None or a finite number > 0; got True",
        ),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            check(value)
    with pytest.raises(
        ValueError, match=r"^gamma must be a finite number >= 0; got inf$"
    ):
        _checks.focal_params(0.25, INF)


# --------------------------------------------------------------------------------------
# xent._checks.numpy: checks that read NumPy values
# --------------------------------------------------------------------------------------


def test_finite_and_broadcast():
    out = array_checks.finite("x", [1, 2])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    with pytest.raises(
        ValueError, match=r"^x must hold finite numbers; got inf among them$"
    ):
        array_checks.finite("x", [1.0, np.inf, np.nan])
    array_checks.same_shape_after_broadcast({"a": np.zeros((2, 1)), "b": np.zeros(3)})
    message = "a, b must broadcast to one shape; got (2,), (3,)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        array_checks.same_shape_after_broadcast({"a": np.zeros(2), "b": np.zeros(3)})


def test_probabilities_and_labels():
    probs = array_checks.probabilities("probs", [[0.25, 0.75], [1, 0]])
    assert probs.dtype == np.float64
    y = array_checks.labels(np.array([1.0, 0.0]), 2, 2, "probs")
    assert y.dtype == np.int64 and y.tolist() == [1, 0]
    assert array_checks.labels(np.array([True, False]), 2, 2, "probs").tolist() == [
        1,
        0,
    ]
    cases = [
        (
            lambda: array_checks.probabilities("probs", np.zeros((0, 2))),
            "probs must have shape (n,) (binary) or (n, C) (multi-class) with n > 0; "
            "got shape (0, 2)",
        ),
        (
            lambda: array_checks.probabilities("probs", [0.5, np.nan]),
            "probs must hold probabilities in [0, 1]; got nan among them",
        ),
        (
            lambda: array_checks.probabilities("probs", [[0.5, 0.5], [0.5, 0.25]]),
            "probs of shape (n, C) must have rows that sum to 1; got a row sum of 0.75 "
            "among them",
        ),
        (
            lambda: array_checks.labels([0, 1, 2], 2, 2, "probs"),
            "y must have shape (2,), one label per row of probs; got shape (3,)",
        ),
        (
            lambda: array_checks.labels([0, 1.5], 2, 2, "probs"),
            "y must hold integer class labels; got 1.5 among them",
        ),
        (
            lambda: array_checks.labels([0, -1], 2, 2, "probs"),
            "y must hold class labels in [0, 2); got -1 among them",
        ),
        (
            lambda: array_checks.logits("logits", 1.0),
            "logits must have shape (n,) (binary) or (n, C) (multi-class) with n > 0; "
            "got shape ()",
        ),
        (
            lambda: array_checks.binary("z", np.zeros((2, 2)), "one score per example"),
            "z must have shape (n,), one score per example (binary); got shape (2, 2)",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()


def test_ids_and_joint():
    assert (
        array_checks.ids("ids", np.array([0, 2], dtype=np.int32), 3).dtype == np.int64
    )
    assert array_checks.joint([[0.5, 0.25], [0.25, 0]]).shape == (2, 2)
    cases = [
        (
            lambda: array_checks.ids("ids", np.array([1]), 3),
            "ids must be a 1-D integer array of at least 2 characters; got shape (1,), "
            "dtype int64",
        ),
        (
            lambda: array_checks.ids("ids", np.array([0.0, 1.0]), 3),
            "ids must be a 1-D integer array of at least 2 characters; got shape (2,), "
            "dtype float64",
        ),
        (
            lambda: array_checks.ids("ids", np.array([0, 3, 1]), 3),
            "ids must hold class indices in [0, 3); got 3 among them",
        ),
        (
            lambda: array_checks.joint([0.5, 0.5]),
            "joint must be a 2-D table P(X = a, Y = b); got shape (2,)",
        ),
        (
            lambda: array_checks.joint(np.zeros((0, 2))),
            "joint must have at least one entry; got shape (0, 2)",
        ),
        (
            lambda: array_checks.joint([[1.5, -0.5]]),
            "joint must hold probabilities in [0, 1]; got 1.5 among them",
        ),
        (
            lambda: array_checks.joint([[0.5, 0.25]]),
            "joint must sum to 1; got 0.75",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()


def test_at_least():
    array_checks.at_least("var", np.array([0.0, 2.0]), 0)
    array_checks.at_least("scale", np.array([1e-9]), 0, strict=True)
    for array, strict, message in [
        (
            np.array([1.0, -0.5]),
            False,
            "var must hold numbers >= 0; got -0.5 among them",
        ),
        (np.array([1.0, 0.0]), True, "var must hold numbers > 0; got 0.0 among them"),
        (np.array([np.nan]), False, "var must hold numbers >= 0; got nan among them"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            array_checks.at_least("var", array, 0, strict=strict)


def test_non_empty_string():
    assert _checks.non_empty_string("text", "a") == "a"
    assert _checks.non_empty_string("text", "x" * 100) == "x" * 100
    long = b"x" * 100  # not a str: shown cut to 40 characters
    for value, shown in [("", "''"), (None, "None"), (long, repr(long)[:40])]:
        message = f"text must be a non-empty string; got {shown}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.non_empty_string("text", value)


def test_ignore_index_takes_any_integer():
    assert _checks.ignore_index(-100) == -100 and _checks.ignore_index(np.int64(3)) == 3
    for value in (True, 1.5, "1", None):
        message = f"ignore_index must be an integer; got {value!r}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            _checks.ignore_index(value)


def test_the_package_re_exports_every_scalar_check():
    from xent._checks import scalars

    public = [
        n
        for n in vars(scalars)
        if not n.startswith("_") and callable(getattr(scalars, n))
    ]
    public = [n for n in public if getattr(scalars, n).__module__ == scalars.__name__]
    assert "positive_int" in public and "softcap" in public
    for name in public:
        assert getattr(_checks, name) is getattr(scalars, name)
        assert name in _checks.__all__

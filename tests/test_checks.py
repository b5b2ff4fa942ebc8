"""The scalar validators of ``xent._checks``: what each accepts, what it returns, and
the words of what it refuses ("<name> must ...; got <repr>")."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from xent import _checks

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

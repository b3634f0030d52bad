"""autolr.checks: one set of rules, and messages that name the field and the bad value."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from autolr.checks import (
    CheckError,
    check_choice,
    check_int,
    check_nonnegative,
    check_number,
    check_path,
    check_positive,
    check_range,
)


def test_bools_and_strings_are_never_numbers():
    for check in (check_number, check_positive, check_nonnegative, check_int):
        for value in (True, False, np.bool_(True), "3", "3e-4", None, [1]):
            with pytest.raises(CheckError, match=r"^x must be (a number|an integer >= 0), got "):
                check("x", value)


def test_numbers_are_finite_floats():
    assert check_number("x", np.float32(0.5)) == 0.5 and type(check_number("x", 3)) is float
    assert check_positive("lr", np.int64(2)) == 2.0
    with pytest.raises(ValueError, match=r"^lr must be > 0, got -1\.0$"):
        check_positive("lr", -1)
    with pytest.raises(ValueError, match=r"^lr must be finite and > 0, got inf$"):
        check_positive("lr", math.inf)
    with pytest.raises(ValueError, match=r"^x must be finite, got nan$"):
        check_number("x", math.nan)
    assert check_nonnegative("wd", 0) == 0.0
    with pytest.raises(ValueError, match=r"^wd must be >= 0, got -0\.5$"):
        check_nonnegative("wd", -0.5)
    assert check_range("p", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"^p must be in \(0, 1\), got 1\.0$"):
        check_range("p", 1, 0, 1, low_open=True, high_open=True)


def test_integers_take_integral_floats_only():
    assert check_int("n", 3.0) == 3 and type(check_int("n", 3.0)) is int
    assert check_int("n", 1000.0, 1) == 1000  # YAML's 1e3
    assert check_int("n", np.int64(7), 1) == 7 and type(check_int("n", np.int64(7))) is int
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 3\.5$"):
        check_int("n", 3.5, 1)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 0$"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 0, got inf$"):
        check_int("n", math.inf)


def test_choices_suggest_a_near_miss():
    assert check_choice("optimizer", "adam", ("sgd", "adam")) == "adam"
    with pytest.raises(
        ValueError,
        match=r"^optimizer must be one of sgd, adam, got 'adma' \(did you mean 'adam'\?\)$",
    ):
        check_choice("optimizer", "adma", ("sgd", "adam"))
    with pytest.raises(ValueError, match=r"^k must be one of a, b, got 3$"):
        check_choice("k", 3, ("a", "b"))


def test_paths():
    assert check_path("path", "~/x") == Path("~/x").expanduser()
    with pytest.raises(ValueError, match="path is required"):
        check_path("path", None)
    with pytest.raises(ValueError, match=r"^path must be a file-system path, got 3$"):
        check_path("path", 3)


def test_the_error_keeps_its_parts():
    err = CheckError("lr", -1.0, "> 0")
    assert (err.name, err.value, err.requirement) == ("lr", -1.0, "> 0")
    assert err.message("task.lr") == "task.lr must be > 0, got -1.0"

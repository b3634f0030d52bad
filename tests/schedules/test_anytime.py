"""`wsm` and `infinite`: hand-computed values at the phase boundaries, and the checks.

No upstream library implements either schedule, so the expected numbers are worked out by
hand from the formulas (Tian et al. 2025; Ibrahim et al. 2024, arXiv 2403.08763).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from autolr.schedules import build, constant, infinite, wsm

# warmup 4, cosine cooldown 8 to c = 0.5, constant until 20, exp anneal over 10 to 0.05
PAPER = {
    "lr": 1.0,
    "warmup_steps": 4,
    "cooldown_steps": 8,
    "constant_ratio": 0.5,
    "anneal_start": 20,
    "anneal_steps": 10,
    "min_lr": 0.05,
}


def test_infinite_paper_shape_by_hand() -> None:
    s = infinite(**PAPER)
    steps = [0, 2, 4, 8, 11, 12, 19, 20, 25, 29, 30, 10_000]
    expected = [
        0.0,  # warmup from 0
        0.5,  # halfway up
        1.0,  # the peak: cooldown at p = 0
        0.75,  # cosine cooldown at p = 1/2: 0.5 + 0.5 * 0.5
        0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi * 7 / 8)),  # last cooldown step
        0.5,  # constant from w + C = 12
        0.5,
        0.5,  # anneal at p = 0
        0.5 * 0.1**0.5,  # exp anneal halfway: c * (min/c)^p
        0.5 * 0.1**0.9,
        0.05,  # min_lr from A + D on
        0.05,
    ]
    np.testing.assert_allclose(s.values(steps), expected, rtol=1e-12, atol=1e-15)


def test_infinite_without_anneal_stays_constant_forever() -> None:
    s = infinite(lr=0.2, cooldown_steps=10, constant_lr=0.05)
    np.testing.assert_allclose(s.values([0, 5, 10, 11, 10**7]), [0.2, 0.125, 0.05, 0.05, 0.05])


def test_infinite_other_shapes_by_hand() -> None:
    s = infinite(
        lr=1.0,
        cooldown_steps=8,
        constant_ratio=0.5,
        cooldown="sqrt",
        anneal_start=10,
        anneal_steps=4,
        anneal="linear",
        warmup_steps=0,
    )
    # sqrt cooldown: 0.5 + 0.5 * (1 - sqrt(p)); linear anneal to min_lr = 0
    np.testing.assert_allclose(
        s.values([0, 2, 6, 8, 9, 10, 12, 13, 14, 99]),
        [1.0, 0.75, 0.5 + 0.5 * (1 - math.sqrt(0.75)), 0.5, 0.5, 0.5, 0.25, 0.125, 0.0, 0.0],
        rtol=1e-12,
        atol=1e-15,
    )
    # no cooldown: the constant right after the warmup; cosine anneal
    t = infinite(
        lr=1.0,
        cooldown_steps=0,
        constant_lr=0.4,
        anneal_start=5,
        anneal_steps=2,
        anneal="cosine",
        min_lr=0.1,
        warmup_steps=5,
    )
    np.testing.assert_allclose(t.values([4, 5, 6, 7]), [0.8, 0.4, 0.25, 0.1], rtol=1e-12)


def test_wsm_is_warmup_then_constant() -> None:
    s = wsm(0.1, warmup_steps=4)
    np.testing.assert_allclose(s.values([0, 2, 4, 5, 10**6]), [0.0, 0.05, 0.1, 0.1, 0.1])
    same = constant(0.1, warmup_steps=4, warmup="cosine", warmup_start_lr=0.01)
    other = wsm(0.1, warmup_steps=4, warmup="cosine", warmup_start_lr=0.01)
    assert other.values(np.arange(20)).tolist() == same.values(np.arange(20)).tolist()
    assert other.spec == {
        "name": "wsm",
        "lr": 0.1,
        "warmup_steps": 4,
        "warmup_start_lr": 0.01,
        "warmup": "cosine",
    }


@pytest.mark.parametrize(
    ("bad", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"cooldown_steps": -1}, "cooldown_steps"),
        ({"cooldown_steps": 2.5}, "cooldown_steps"),
        ({"constant_lr": 0.3}, "constant_lr"),  # both given
        ({"constant_ratio": None}, "constant_ratio"),  # neither given
        ({"constant_ratio": 1.5}, "constant_ratio"),
        ({"constant_ratio": 0.0}, "constant_ratio"),
        ({"constant_ratio": None, "constant_lr": 2.0}, "constant_lr"),  # above the peak
        ({"anneal_start": 11}, "anneal_start"),  # inside the cooldown (ends at 12)
        ({"anneal_steps": None}, "anneal_steps"),
        ({"anneal_steps": 0}, "anneal_steps"),
        ({"anneal_start": None}, "anneal_steps"),  # anneal_steps without a start
        ({"min_lr": 0.0}, "min_lr"),  # exp needs min_lr > 0
        ({"min_lr": 0.6}, "min_lr"),  # above the constant
        ({"cooldown": "exp"}, "cooldown"),
        ({"anneal": "step"}, "anneal"),
        ({"warmup_steps": -2}, "warmup_steps"),
        ({"warmup": "cos"}, "warmup"),
    ],
)
def test_infinite_bad_arguments_name_the_parameter(bad: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        infinite(**{**PAPER, **bad})


def test_wsm_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="lr must be > 0"):
        wsm(-1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        wsm(0.1, warmup_steps=-1)
    with pytest.raises(ValueError, match="did you mean 'cosine'"):
        infinite(**{**PAPER, "cooldown": "cosin"})


@pytest.mark.parametrize(
    "sched",
    [
        infinite(**PAPER),
        infinite(**{**PAPER, "anneal": "sqrt", "cooldown": "linear", "warmup": "cosine"}),
        infinite(lr=0.3, cooldown_steps=5, constant_lr=0.1),
        wsm(0.1, warmup_steps=7),
    ],
    ids=repr,
)
def test_build_roundtrip_and_vectorised_values(sched: Any) -> None:
    t = np.arange(60)
    rebuilt = build(sched.spec)
    assert rebuilt == sched
    np.testing.assert_array_equal(rebuilt.values(t), sched.values(t))
    np.testing.assert_array_equal(sched.values(t), [sched(int(i)) for i in t])
    assert np.all(np.isfinite(sched.values(t))) and np.all(sched.values(t) >= 0)

"""`cyclic` and `one_cycle`: parity with torch's CyclicLR / OneCycleLR, LR and momentum."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from autolr.schedules.base import Schedule, build
from autolr.schedules.cyclical import cyclic, one_cycle


def _optimizer(kind: str = "sgd") -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1))]
    if kind == "adam":
        return torch.optim.Adam(params, lr=0.1)
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def _trace(opt: torch.optim.Optimizer, sched: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """lr and momentum (SGD momentum or Adam beta1) in effect at steps 0..n-1."""
    lrs, moms = [], []
    for _ in range(n):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["betas"][0] if "betas" in group else group["momentum"])
        opt.step()  # no grads: a no-op, but keeps torch's step-order warning quiet
        sched.step()
    return np.array(lrs), np.array(moms)


def _check(ours: Schedule, lrs: np.ndarray, moms: np.ndarray) -> None:
    t = np.arange(len(lrs))
    np.testing.assert_allclose(ours.values(t), lrs, rtol=1e-12, atol=0)
    assert ours.momentum is not None
    np.testing.assert_allclose(ours.momentum.values(t), moms, rtol=1e-12, atol=0)


# ---- cyclic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "gamma"), [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.99)]
)
@pytest.mark.parametrize("step_size_down", [None, 7])
def test_cyclic_matches_torch(mode: str, gamma: float, step_size_down: int | None) -> None:
    up = 10
    n = 4 * (up + (step_size_down or up)) + 50
    kwargs = {
        "step_size_up": up,
        "step_size_down": step_size_down,
        "mode": mode,
        "gamma": gamma,
        "base_momentum": 0.82,
        "max_momentum": 0.93,
    }
    opt = _optimizer()
    lrs, moms = _trace(opt, torch.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.2, **kwargs), n)
    _check(cyclic(0.01, 0.2, **kwargs), lrs, moms)


def test_cyclic_drives_adam_beta1_like_torch() -> None:
    opt = _optimizer("adam")
    torch_sched = torch.optim.lr_scheduler.CyclicLR(opt, 0.001, 0.01, step_size_up=5)
    lrs, betas = _trace(opt, torch_sched, 40)
    _check(cyclic(0.001, 0.01, 5), lrs, betas)


def test_cyclic_hand_values() -> None:
    s = cyclic(0.1, 0.5, step_size_up=4, mode="triangular2")
    # cycle 1 peaks at max_lr, cycle 2 at half the amplitude; lows are always base_lr
    np.testing.assert_allclose(
        s.values([0, 2, 4, 6, 8, 12, 16]), [0.1, 0.3, 0.5, 0.3, 0.1, 0.3, 0.1], rtol=1e-12
    )
    assert s.momentum is not None
    np.testing.assert_allclose(s.momentum.values([0, 4, 8, 12]), [0.9, 0.8, 0.9, 0.85])
    asym = cyclic(0.0, 1.0, step_size_up=2, step_size_down=8)
    np.testing.assert_allclose(asym.values([0, 1, 2, 6, 10]), [0.0, 0.5, 1.0, 0.5, 0.0])
    exp = cyclic(0.0, 1.0, step_size_up=5, mode="exp_range", gamma=0.9)
    assert exp(5) == pytest.approx(0.9**5, rel=1e-12)


# ---- one_cycle ---------------------------------------------------------------------------


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("pct_start", [0.3, 0.25, 0.123])
def test_one_cycle_matches_torch(anneal: str, three_phase: bool, pct_start: float) -> None:
    total = 97
    kwargs = {
        "pct_start": pct_start,
        "div_factor": 20.0,
        "final_div_factor": 300.0,
        "three_phase": three_phase,
        "base_momentum": 0.8,
        "max_momentum": 0.97,
    }
    opt = _optimizer()
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, 0.3, total_steps=total, anneal_strategy=anneal, **kwargs
    )
    lrs, moms = _trace(opt, torch_sched, total)
    _check(one_cycle(0.3, total, anneal=anneal, **kwargs), lrs, moms)


def test_one_cycle_drives_adam_beta1_like_torch() -> None:
    opt = _optimizer("adam")
    lrs, betas = _trace(opt, torch.optim.lr_scheduler.OneCycleLR(opt, 0.01, total_steps=50), 50)
    _check(one_cycle(0.01, 50), lrs, betas)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_holds_final_value_after_total_steps(anneal: str, three_phase: bool) -> None:
    s = one_cycle(1.0, 40, anneal=anneal, three_phase=three_phase)
    assert s.momentum is not None
    last = s(39)
    assert last == pytest.approx(1.0 / 25 / 1e4, rel=1e-12)
    np.testing.assert_array_equal(s.values(np.arange(39, 200)), last)
    np.testing.assert_array_equal(s.momentum.values(np.arange(39, 200)), s.momentum(39))
    assert s.momentum(39) == pytest.approx(0.95, rel=1e-12)


def test_one_cycle_hand_values() -> None:
    # T=101, pct_start=0.2: the rise ends at step 0.2*101 - 1 = 19.2, the decay at 100
    s = one_cycle(2.5, 101, pct_start=0.2, anneal="linear", div_factor=25.0)
    assert s(0) == pytest.approx(0.1, rel=1e-12)
    assert s(10) == pytest.approx(0.1 + (2.5 - 0.1) * 10 / 19.2, rel=1e-12)
    assert s.momentum is not None
    assert s.momentum(0) == pytest.approx(0.95, rel=1e-12)
    assert s.momentum(10) == pytest.approx(0.95 - 0.1 * 10 / 19.2, rel=1e-12)
    cos = one_cycle(1.0, 100, pct_start=0.5, div_factor=10.0)
    # halfway up the cosine rise (step 24.5 of 0..49) would be the mean of 0.1 and 1
    assert cos(0) == pytest.approx(0.1, rel=1e-12)
    assert cos(49) == pytest.approx(1.0, rel=1e-12)
    assert cos.momentum is not None
    assert cos.momentum(49) == pytest.approx(0.85, rel=1e-12)
    assert cos(24) < 0.55 < cos(25)


# ---- arguments, spec, vectorisation -------------------------------------------------------

CYCLIC = {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10}
ONE_CYCLE = {"max_lr": 0.1, "total_steps": 100}


@pytest.mark.parametrize(
    ("factory", "base", "bad", "name"),
    [
        (cyclic, CYCLIC, {"base_lr": -0.1}, "base_lr"),
        (cyclic, CYCLIC, {"base_lr": 0.5}, "base_lr"),
        (cyclic, CYCLIC, {"max_lr": 0.0}, "max_lr"),
        (cyclic, CYCLIC, {"max_lr": float("nan")}, "max_lr"),
        (cyclic, CYCLIC, {"step_size_up": 0}, "step_size_up"),
        (cyclic, CYCLIC, {"step_size_up": 2.5}, "step_size_up"),
        (cyclic, CYCLIC, {"step_size_down": 0}, "step_size_down"),
        (cyclic, CYCLIC, {"mode": "triangle"}, "mode"),
        (cyclic, CYCLIC, {"gamma": 0.0}, "gamma"),
        (cyclic, CYCLIC, {"gamma": 1.5}, "gamma"),
        (cyclic, CYCLIC, {"base_momentum": 0.95}, "base_momentum"),
        (cyclic, CYCLIC, {"base_momentum": -0.1}, "base_momentum"),
        (cyclic, CYCLIC, {"max_momentum": 1.5}, "max_momentum"),
        (one_cycle, ONE_CYCLE, {"max_lr": -1.0}, "max_lr"),
        (one_cycle, ONE_CYCLE, {"total_steps": 0}, "total_steps"),
        (one_cycle, ONE_CYCLE, {"total_steps": "100"}, "total_steps"),
        (one_cycle, ONE_CYCLE, {"pct_start": 0.0}, "pct_start"),
        (one_cycle, ONE_CYCLE, {"pct_start": 1.0}, "pct_start"),
        (one_cycle, ONE_CYCLE, {"pct_start": 0.01}, "pct_start"),
        (one_cycle, ONE_CYCLE, {"pct_start": 0.6, "three_phase": True}, "pct_start"),
        (one_cycle, ONE_CYCLE, {"anneal": "cosine"}, "anneal"),
        (one_cycle, ONE_CYCLE, {"div_factor": 0}, "div_factor"),
        (one_cycle, ONE_CYCLE, {"final_div_factor": -1.0}, "final_div_factor"),
        (one_cycle, ONE_CYCLE, {"three_phase": "yes"}, "three_phase"),
        (one_cycle, ONE_CYCLE, {"base_momentum": 0.99}, "base_momentum"),
        (one_cycle, ONE_CYCLE, {"max_momentum": 2.0}, "max_momentum"),
    ],
)
def test_bad_arguments_name_the_parameter(
    factory: Any, base: dict[str, Any], bad: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        factory(**{**base, **bad})


def test_choices_suggest_a_fix() -> None:
    with pytest.raises(ValueError, match="did you mean 'cos'"):
        one_cycle(0.1, 100, anneal="coss")
    with pytest.raises(ValueError, match="did you mean 'exp_range'"):
        cyclic(0.01, 0.1, 10, mode="exp_rang")


SCHEDULES = [
    cyclic(0.01, 0.1, 10, 3, mode="exp_range", gamma=0.97),
    cyclic(0.0, 0.1, 6, mode="triangular2"),
    one_cycle(0.1, 60, pct_start=0.4, anneal="linear", three_phase=True),
    one_cycle(0.1, 60),
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=repr)
def test_build_roundtrip_and_vectorised_values(sched: Schedule) -> None:
    t = np.arange(150)
    rebuilt = build(sched.spec)
    assert rebuilt == sched
    np.testing.assert_array_equal(rebuilt.values(t), sched.values(t))
    np.testing.assert_array_equal(sched.values(t), [sched(int(i)) for i in t])
    assert sched.momentum is not None and rebuilt.momentum is not None
    np.testing.assert_array_equal(rebuilt.momentum.values(t), sched.momentum.values(t))
    np.testing.assert_array_equal(sched.momentum.values(t), [sched.momentum(int(i)) for i in t])
    assert sched.momentum.spec["name"] == f"{sched.spec['name']}.momentum"
    assert np.all(np.isfinite(sched.values(t))) and not math.isnan(sched(10**9))


def test_spec_records_every_argument() -> None:
    assert cyclic(0.01, 0.1, 10).spec == {
        "name": "cyclic",
        "base_lr": 0.01,
        "max_lr": 0.1,
        "step_size_up": 10,
        "step_size_down": None,
        "mode": "triangular",
        "gamma": 1.0,
        "base_momentum": 0.8,
        "max_momentum": 0.9,
    }
    assert build({"name": "one_cycle", "max_lr": 0.1, "total_steps": 30})(29) == pytest.approx(
        0.1 / 25 / 1e4, rel=1e-12
    )

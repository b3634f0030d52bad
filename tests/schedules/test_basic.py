"""constant, step, multistep, exponential, piecewise: parity with torch and HF, warmup, checks."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from transformers import get_constant_schedule_with_warmup

from autolr.schedules.base import Schedule, build
from autolr.schedules.basic import (
    constant,
    exponential,
    multistep,
    piecewise,
    piecewise_linear,
    step,
)


def reference_lrs(make: Callable[[torch.optim.Optimizer], object], lr: float, n: int) -> np.ndarray:
    """The lr a torch scheduler sets before each of its first n steps."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out, dtype=np.float64)


def assert_same(ours: np.ndarray, ref: np.ndarray) -> None:
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


# ---- parity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lr", "step_size", "gamma"),
    [(0.1, 10, 0.1), (1.0, 1, 0.5), (0.3, 7, 1.0), (2.0, 30, 0.9), (0.05, 200, 0.1)],
)
def test_step_matches_torch(lr: float, step_size: int, gamma: float) -> None:
    n = 250
    ref = reference_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), lr, n)
    assert_same(step(lr, step_size, gamma).values(np.arange(n)), ref)


@pytest.mark.parametrize(
    ("lr", "milestones", "gamma"),
    [
        (0.1, [30, 80], 0.1),
        (0.1, [80, 30], 0.1),  # unsorted
        (0.5, [10, 10, 50], 0.5),  # repeated: decays twice at 10
        (1.0, [1], 0.3),
        (0.2, [5, 20, 20, 20, 100], 1.0),
    ],
)
def test_multistep_matches_torch(lr: float, milestones: list[int], gamma: float) -> None:
    n = 150
    ref = reference_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma), lr, n)
    assert_same(multistep(lr, milestones, gamma).values(np.arange(n)), ref)


def test_multistep_repeated_milestone_decays_twice() -> None:
    s = multistep(1.0, [10, 10], gamma=0.5)
    assert [s(9), s(10), s(11)] == [1.0, 0.25, 0.25]


@pytest.mark.parametrize(("lr", "gamma"), [(0.1, 0.9), (1.0, 0.99), (0.3, 1.0), (0.01, 1.01)])
def test_exponential_matches_torch(lr: float, gamma: float) -> None:
    n = 300
    ref = reference_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma), lr, n)
    assert_same(exponential(lr, gamma).values(np.arange(n)), ref)


@pytest.mark.parametrize(("lr", "warmup_steps"), [(0.1, 0), (0.1, 1), (3e-4, 10), (1.0, 37)])
def test_constant_matches_hf_constant_with_warmup(lr: float, warmup_steps: int) -> None:
    n = warmup_steps + 50
    ref = reference_lrs(lambda o: get_constant_schedule_with_warmup(o, warmup_steps), lr, n)
    assert_same(constant(lr, warmup_steps=warmup_steps).values(np.arange(n)), ref)


def test_piecewise_values() -> None:
    s = piecewise([3, 5], [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(s.values(np.arange(8)), [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25])
    assert piecewise([], [0.7]).values(np.arange(4)).tolist() == [0.7] * 4
    assert piecewise([1], [0.0, 2.0]).values(np.arange(3)).tolist() == [0.0, 2.0, 2.0]


def test_piecewise_linear_values() -> None:
    s = piecewise_linear([2, 4, 8], [1.0, 0.5, 0.1])
    np.testing.assert_allclose(
        s.values(np.arange(10)), [1, 1, 1, 0.75, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1], rtol=1e-12
    )
    assert piecewise_linear([0], [0.3]).values(np.arange(3)).tolist() == [0.3] * 3


# ---- warmup -----------------------------------------------------------------------------


def test_warmup_ramps() -> None:
    lr, start, w = 0.11, 0.01, 10
    t = np.arange(w)
    lin = constant(lr, warmup_steps=w, warmup_start_lr=start).values(t)
    cos = constant(lr, warmup_steps=w, warmup_start_lr=start, warmup="cosine").values(t)
    exp = constant(lr, warmup_steps=w, warmup_start_lr=start, warmup="exp").values(t)
    np.testing.assert_allclose(lin, [start + 0.01 * k for k in t], rtol=1e-12)
    np.testing.assert_allclose(
        cos, [start + 0.1 * (1 - math.cos(math.pi * k / w)) / 2 for k in t], rtol=1e-12
    )
    np.testing.assert_allclose(exp, [start * 11.0 ** (k / w) for k in t], rtol=1e-12)
    assert lin[0] == cos[0] == exp[0] == start
    np.testing.assert_allclose([lin[5], cos[5]], [0.06, 0.06], rtol=1e-12)
    for kind in ("linear", "cosine", "exp"):
        s = constant(lr, warmup_steps=w, warmup_start_lr=start, warmup=kind)
        assert s(w) == s(w + 100) == lr


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: step(0.1, 7, 0.5, **kw),
        lambda **kw: multistep(0.1, [3, 20, 20], 0.3, **kw),
        lambda **kw: exponential(0.1, 0.95, **kw),
    ],
)
@pytest.mark.parametrize("kind", ["linear", "cosine", "exp"])
def test_decay_after_warmup_is_shifted(make: Callable[..., Schedule], kind: str) -> None:
    w, t = 12, np.arange(80)
    warmed = make(warmup_steps=w, warmup_start_lr=1e-3, warmup=kind)
    np.testing.assert_array_equal(warmed.values(t + w), make().values(t))
    assert warmed(0) == 1e-3
    assert np.all(np.diff(warmed.values(np.arange(w + 1))) > 0)


# ---- argument checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (constant, {"lr": 0}, "lr"),
        (constant, {"lr": float("nan")}, "lr"),
        (constant, {"lr": "0.1"}, "lr"),
        (constant, {"lr": 0.1, "warmup_steps": -1}, "warmup_steps"),
        (constant, {"lr": 0.1, "warmup_steps": 2.5}, "warmup_steps"),
        (constant, {"lr": 0.1, "warmup_start_lr": -0.1}, "warmup_start_lr"),
        (constant, {"lr": 0.1, "warmup": "quadratic"}, "warmup"),
        (constant, {"lr": 0.1, "warmup_steps": 5, "warmup": "exp"}, "warmup_start_lr"),
        (step, {"lr": -1, "step_size": 10}, "lr"),
        (step, {"lr": 0.1, "step_size": 0}, "step_size"),
        (step, {"lr": 0.1, "step_size": 1.5}, "step_size"),
        (step, {"lr": 0.1, "step_size": 10, "gamma": 0}, "gamma"),
        (step, {"lr": 0.1, "step_size": 10, "gamma": -0.5}, "gamma"),
        (multistep, {"lr": 0.1, "milestones": []}, "milestones"),
        (multistep, {"lr": 0.1, "milestones": 10}, "milestones"),
        (multistep, {"lr": 0.1, "milestones": [10, 0]}, "milestones"),
        (multistep, {"lr": 0.1, "milestones": [10, 2.5]}, "milestones"),
        (multistep, {"lr": 0.1, "milestones": [10], "gamma": 0}, "gamma"),
        (exponential, {"lr": 0.1, "gamma": 0}, "gamma"),
        (exponential, {"lr": 0.1, "gamma": float("inf")}, "gamma"),
        (exponential, {"lr": 0, "gamma": 0.9}, "lr"),
        (piecewise, {"boundaries": [5, 5], "values": [1, 2, 3]}, "boundaries"),
        (piecewise, {"boundaries": [5, 3], "values": [1, 2, 3]}, "boundaries"),
        (piecewise, {"boundaries": [0, 3], "values": [1, 2, 3]}, "boundaries"),
        (piecewise, {"boundaries": 5, "values": [1, 2]}, "boundaries"),
        (piecewise, {"boundaries": [5], "values": [1, 2, 3]}, "values"),
        (piecewise, {"boundaries": [5], "values": [1, -2]}, "values"),
        (piecewise, {"boundaries": [5], "values": 1.0}, "values"),
        (piecewise_linear, {"steps": [], "values": []}, "steps"),
        (piecewise_linear, {"steps": [3, 3], "values": [1, 2]}, "steps"),
        (piecewise_linear, {"steps": [-1, 3], "values": [1, 2]}, "steps"),
        (piecewise_linear, {"steps": [0, 3], "values": [1]}, "values"),
        (piecewise_linear, {"steps": [0, 3], "values": [1, -2]}, "values"),
    ],
)
def test_bad_arguments_name_the_parameter(
    factory: Callable[..., Schedule], kwargs: dict, name: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        factory(**kwargs)


def test_error_message_names_value() -> None:
    with pytest.raises(ValueError, match=r"^lr must be > 0, got -1\.0$"):
        step(lr=-1, step_size=10)


def test_missing_or_unknown_argument_is_value_error() -> None:
    with pytest.raises(ValueError, match="step_size"):
        step(0.1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="step_sz"):
        build({"name": "step", "lr": 0.1, "step_sz": 3})


# ---- build, spec and vectorisation ------------------------------------------------------

CASES = [
    {"name": "constant", "lr": 0.2, "warmup_steps": 5, "warmup": "cosine"},
    {"name": "step", "lr": 0.1, "step_size": 7, "gamma": 0.5},
    {"name": "multistep", "lr": 0.1, "milestones": [20, 5, 5], "warmup_steps": 3},
    {
        "name": "exponential",
        "lr": 0.1,
        "gamma": 0.97,
        "warmup_steps": 4,
        "warmup_start_lr": 0.01,
        "warmup": "exp",
    },
    {"name": "piecewise", "boundaries": [10, 25], "values": [0.1, 0.01, 0.001]},
    {"name": "piecewise_linear", "steps": [0, 10, 40], "values": [0.0, 0.1, 0.001]},
]
FACTORIES = {
    "constant": constant,
    "step": step,
    "multistep": multistep,
    "exponential": exponential,
    "piecewise": piecewise,
    "piecewise_linear": piecewise_linear,
}


@pytest.mark.parametrize("spec", CASES, ids=lambda s: s["name"])
def test_build_and_spec_round_trip(spec: dict) -> None:
    t = np.arange(60)
    params = {k: v for k, v in spec.items() if k != "name"}
    direct = FACTORIES[spec["name"]](**params)
    built = build(spec)
    np.testing.assert_array_equal(built.values(t), direct.values(t))
    np.testing.assert_array_equal(build(built.spec).values(t), direct.values(t))
    assert build(built.spec) == built
    assert built.spec["name"] == spec["name"]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: s["name"])
def test_values_equal_scalar_calls(spec: dict) -> None:
    s = build(spec)
    n = 60
    scalar = np.array([s(t) for t in range(n)])
    np.testing.assert_array_equal(s.values(np.arange(n)), scalar)
    assert s.values(np.arange(n)).dtype == np.float64

"""`inverse_sqrt`, `noam`, `wsd`: parity with Hugging Face, the paper formulas, the checks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from transformers import get_inverse_sqrt_schedule, get_wsd_schedule

from autolr.schedules.base import Schedule, build
from autolr.schedules.transformer import inverse_sqrt, noam, wsd


def _hf_trace(make: Any, lr: float, n: int) -> np.ndarray:
    """HF's lr at steps 0..n-1 for a scheduler made by ``make(optimizer)``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


# ---- inverse_sqrt ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup_steps", "timescale"), [(10, None), (0, None), (10, 30), (25, 4), (1, None)]
)
def test_inverse_sqrt_matches_hf(warmup_steps: int, timescale: int | None) -> None:
    n = max(warmup_steps, 100) + 50
    hf = _hf_trace(lambda o: get_inverse_sqrt_schedule(o, warmup_steps, timescale), 0.3, n)
    ours = inverse_sqrt(0.3, warmup_steps, timescale).values(np.arange(n))
    np.testing.assert_allclose(ours, hf, rtol=1e-12, atol=0)


def test_inverse_sqrt_hand_values() -> None:
    s = inverse_sqrt(1.0, 4)  # timescale defaults to warmup_steps
    np.testing.assert_allclose(s.values([0, 2, 4, 16]), [0.0, 0.5, 1.0, 0.5], rtol=1e-12)
    assert inverse_sqrt(1.0, 0)(30_000) == pytest.approx(0.5, rel=1e-12)  # timescale 10_000


# ---- noam --------------------------------------------------------------------------------


def _paper(s: int, d_model: int, w: int, factor: float) -> float:
    """Vaswani et al. (2017), eq. 3, with the paper's step s >= 1."""
    return factor * d_model**-0.5 * min(s**-0.5, s * w**-1.5)


@pytest.mark.parametrize(("d_model", "w", "factor"), [(512, 4000, 1.0), (64, 10, 2.0), (7, 1, 0.5)])
def test_noam_is_the_paper_formula_with_s_equal_t_plus_1(d_model: int, w: int, factor: float):
    t = np.arange(3 * w + 50)
    expected = [_paper(int(i) + 1, d_model, w, factor) for i in t]
    np.testing.assert_allclose(noam(d_model, w, factor).values(t), expected, rtol=1e-12, atol=0)


def test_noam_step_convention() -> None:
    s = noam(512, 4000)
    assert s(0) == pytest.approx(512**-0.5 * 4000**-1.5, rel=1e-12)  # s = 1, not 0
    peak = s.values(np.arange(10_000)).argmax()
    assert peak == 3999  # t = w - 1 is the paper's s = w
    assert s(3999) == pytest.approx((512 * 4000) ** -0.5, rel=1e-12)


# ---- wsd ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decay", "hf_decay"), [("linear", "linear"), ("cosine", "cosine"), ("sqrt", "1-sqrt")]
)
@pytest.mark.parametrize("min_lr", [0.0, 0.004])
@pytest.mark.parametrize(("warmup_steps", "warmup"), [(0, "linear"), (10, "linear"), (7, "cosine")])
def test_wsd_matches_hf(
    decay: str, hf_decay: str, min_lr: float, warmup_steps: int, warmup: str
) -> None:
    lr, total, decay_steps = 0.2, 100, 30

    def make(opt: torch.optim.Optimizer) -> Any:
        return get_wsd_schedule(
            opt,
            num_warmup_steps=warmup_steps,
            num_decay_steps=decay_steps,
            num_training_steps=total,
            warmup_type=warmup,
            decay_type=hf_decay,
            min_lr_ratio=min_lr / lr,
        )

    hf = _hf_trace(make, lr, total + 50)
    # HF's warmup rises from min_lr, and so does ours by default
    ours = wsd(lr, total, warmup_steps, decay_steps, decay, min_lr, warmup=warmup)
    np.testing.assert_allclose(ours.values(np.arange(total + 50)), hf, rtol=1e-12, atol=0)


def test_wsd_phases_by_hand() -> None:
    s = wsd(1.0, total_steps=20, warmup_steps=4, decay_steps=8, min_lr=0.2, warmup_start_lr=0)
    t = [0, 2, 4, 11, 12, 16, 19, 20, 100]
    np.testing.assert_allclose(
        s.values(t), [0.0, 0.5, 1.0, 1.0, 1.0, 0.6, 0.3, 0.2, 0.2], rtol=1e-12, atol=1e-15
    )
    no_decay = wsd(1.0, total_steps=10, warmup_steps=0, decay_steps=0, min_lr=0.1)
    np.testing.assert_allclose(no_decay.values([0, 9, 10]), [1.0, 1.0, 0.1], rtol=1e-12)


def test_wsd_exp_decay_is_the_documented_minicpm_anneal() -> None:
    # lr * (min_lr/lr)^p over the last 20 of 100 steps, p = (t - 80) / 20
    s = wsd(1.0, total_steps=100, warmup_steps=0, decay_steps=20, decay="exp", min_lr=0.01)
    np.testing.assert_allclose(
        s.values([0, 79, 80, 85, 90, 95, 99, 100, 500]),
        [
            1.0,
            1.0,
            1.0,
            0.31622776601683794,
            0.1,
            0.031622776601683794,
            0.01 ** (19 / 20),
            0.01,
            0.01,
        ],
        rtol=1e-12,
    )
    # ...which is 0.5^((t - 80) / h) with half-life h = 20 ln 2 / ln(100)
    h = 20 * math.log(2) / math.log(100)
    t = np.arange(80, 100)
    np.testing.assert_allclose(s.values(t), 0.5 ** ((t - 80) / h), rtol=1e-12)


def test_wsd_default_warmup_starts_at_min_lr_and_supports_exp() -> None:
    s = wsd(1.0, 100, 10, 10, min_lr=0.1)
    assert s(0) == pytest.approx(0.1) and s(5) == pytest.approx(0.55, rel=1e-12)
    z = wsd(1.0, 100, 10, 10)
    assert z(0) == 0.0 and z(5) == pytest.approx(0.5, rel=1e-12)
    e = wsd(1.0, 100, 10, 10, warmup_start_lr=0.01, warmup="exp")
    assert e(0) == pytest.approx(0.01) and e(5) == pytest.approx(0.1, rel=1e-12)
    assert e(10) == 1.0


# ---- arguments, spec, vectorisation -------------------------------------------------------

ISQRT = {"lr": 0.1, "warmup_steps": 10}
NOAM = {"d_model": 512, "warmup_steps": 100}
WSD = {"lr": 0.1, "total_steps": 100, "warmup_steps": 10, "decay_steps": 20}


@pytest.mark.parametrize(
    ("factory", "base", "bad", "name"),
    [
        (inverse_sqrt, ISQRT, {"lr": 0.0}, "lr"),
        (inverse_sqrt, ISQRT, {"warmup_steps": -1}, "warmup_steps"),
        (inverse_sqrt, ISQRT, {"warmup_steps": 1.5}, "warmup_steps"),
        (inverse_sqrt, ISQRT, {"timescale": 0}, "timescale"),
        (noam, NOAM, {"d_model": 0}, "d_model"),
        (noam, NOAM, {"d_model": 512.5}, "d_model"),
        (noam, NOAM, {"warmup_steps": 0}, "warmup_steps"),
        (noam, NOAM, {"factor": -1.0}, "factor"),
        (wsd, WSD, {"lr": -0.1}, "lr"),
        (wsd, WSD, {"total_steps": 0}, "total_steps"),
        (wsd, WSD, {"warmup_steps": 101}, "warmup_steps"),
        (wsd, WSD, {"decay_steps": 91}, "decay_steps"),
        (wsd, WSD, {"decay_steps": -1}, "decay_steps"),
        (wsd, WSD, {"decay": "1-sqrt"}, "decay"),
        (wsd, WSD, {"min_lr": -0.01}, "min_lr"),
        (wsd, WSD, {"min_lr": 0.2}, "min_lr"),
        (wsd, WSD, {"decay": "exp"}, "min_lr"),
        (wsd, WSD, {"warmup_start_lr": -1.0}, "warmup_start_lr"),
        (wsd, WSD, {"warmup_start_lr": 0.5}, "warmup_start_lr"),
        (wsd, WSD, {"warmup": "exp"}, "warmup_start_lr"),
        (wsd, WSD, {"warmup": "cos"}, "warmup"),
    ],
)
def test_bad_arguments_name_the_parameter(
    factory: Any, base: dict[str, Any], bad: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        factory(**{**base, **bad})


def test_decay_choice_suggests_a_fix() -> None:
    with pytest.raises(ValueError, match="did you mean 'cosine'"):
        wsd(0.1, 100, 10, 20, decay="cosin")


SCHEDULES = [
    inverse_sqrt(0.1, 10),
    inverse_sqrt(0.1, 0, timescale=7),
    noam(256, 20, factor=2.0),
    wsd(0.1, 100, 10, 30, decay="cosine", min_lr=0.001, warmup="cosine"),
    wsd(0.1, 100, 5, 20, decay="exp", min_lr=0.001, warmup_start_lr=0.001, warmup="exp"),
    wsd(0.1, 100, 0, 100, decay="sqrt"),
]


@pytest.mark.parametrize("sched", SCHEDULES, ids=repr)
def test_build_roundtrip_and_vectorised_values(sched: Schedule) -> None:
    t = np.arange(160)
    rebuilt = build(sched.spec)
    assert rebuilt == sched
    np.testing.assert_array_equal(rebuilt.values(t), sched.values(t))
    np.testing.assert_array_equal(sched.values(t), [sched(int(i)) for i in t])
    assert sched.momentum is None
    assert np.all(np.isfinite(sched.values(t))) and np.all(sched.values(t) >= 0)

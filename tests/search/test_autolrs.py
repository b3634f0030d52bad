import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from autolr.controllers.base import build_controller
from autolr.loop.probe import ProbeResult
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from search.autolrs import AutoLRS
from tests.toy import ToyTrainee


def _params(trainee: ToyTrainee) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainee.model.state_dict().items()}


def test_probes_are_charged_and_leave_the_model_restored() -> None:
    trainee = ToyTrainee(seed=0)
    ctrl = AutoLRS(k=3, tau0=20, trial_fraction=0.2, budget_steps=300)
    session = Session(trainee, ctrl, 300, 10)
    before = _params(trainee)
    opt_before = str(trainee.optimizer.state_dict())
    segment = ctrl.propose(session.state, session.probe)
    after = _params(trainee)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert str(trainee.optimizer.state_dict()) == opt_before
    ledger = session.ledger
    assert ledger.kept == 0
    assert ledger.range_test == ctrl.range_steps > 0  # no lr_range given: range test, charged
    assert ledger.probe == 3 * 4  # k trials of 0.2 * 20 steps
    assert segment.steps == 20
    assert ctrl.lo < segment.lrs()[0] <= ctrl.hi * 2


def test_identical_batches_give_identical_trials() -> None:
    trainee = ToyTrainee(seed=0)
    session = Session(trainee, AutoLRS(lr_range=(1e-3, 1e-1)), 300, 10)
    a = session.probe.run(0.01, 8)
    b = session.probe.run(0.01, 8)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert session.ledger.probe == 16


@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_full_run_charges_every_step_and_learns(preset: str) -> None:
    ctrl = AutoLRS(
        preset=preset, k=3, tau0=30, trial_fraction=0.25, lr_range=(1e-3, 0.2), budget_steps=300
    )
    session = Session(ToyTrainee(seed=0), ctrl, 300, 10)
    start = session.state.loss_mean
    session.run()
    led = session.ledger
    assert led.charged == 300
    assert led.kept + led.probe + led.range_test + led.lost == 300
    assert led.range_test == 0 and led.probe > 0
    assert session.state.loss_mean < 0.3 * start
    # fast: tau_max = budget / 4 leaves room for 3 stages; paper: tau doubles up to 8 * tau0
    assert len(ctrl.forecasts) == len(ctrl.log) >= (3 if preset == "fast" else 2)
    assert all(entry["lr"] > 0 for entry in ctrl.log)


def test_summary_reports_forecast_quality_and_gp_time() -> None:
    from autolr.running.runner import run

    cfg = {
        "task": {"name": "toy"},
        "controller": {"name": "autolrs", "k": 3, "tau0": 30, "trial_fraction": 0.25},
        "budget_steps": 300,
        "eval_every": 50,
    }
    res = run(cfg)
    ctrl, stats = res.session.controller, res.summary["controller_stats"]
    assert stats["stages"] == ctrl.stage >= 2
    assert stats["gp_seconds"] == ctrl.gp_seconds > 0
    rho = ctrl.forecast_quality()
    assert stats["forecast_rho"] == (None if math.isnan(rho) else rho)
    assert run({**cfg, "controller": {"name": "plateau"}}).summary["controller_stats"] == {}


class FakeProbe:
    """Losses a * exp(-lr t) + 0.1; NaN (diverged) for lr above ``limit``."""

    def __init__(self, limit: float, budget: int = 10_000) -> None:
        self.limit, self.remaining, self.calls = limit, budget, []

    def run(self, lr, steps=None, *, validate=False, kind="probe"):
        lr = float(lr.lrs()[0]) if isinstance(lr, Segment) else float(lr)
        self.calls.append(lr)
        self.remaining -= steps
        if lr > self.limit:
            return ProbeResult(np.array([1.0, np.nan]), 2, True)
        t = np.arange(steps)
        return ProbeResult(np.exp(-lr * 20 * t) + 0.1, steps, False)


def _state(session_budget: int = 10_000):
    return Session(ToyTrainee(seed=0), AutoLRS(lr_range=(0.01, 1.0)), session_budget, 10).state


def test_nan_trials_are_never_chosen() -> None:
    ctrl = AutoLRS(k=6, tau0=50, lr_range=(1e-3, 1.0))
    probe = FakeProbe(limit=0.05)
    segment = ctrl.propose(_state(), probe)
    chosen = segment.lrs()[0]
    assert chosen <= 0.05
    assert any(lr > 0.05 for lr in probe.calls)  # some trials did diverge
    scores = ctrl.log[0]["scores"]
    assert all(math.isinf(s) for lr, s in zip(ctrl.log[0]["lrs"], scores, strict=True) if lr > 0.05)
    assert chosen == max(lr for lr in probe.calls if lr <= 0.05) or chosen >= 0.01


def test_all_trials_diverging_picks_below_every_trial() -> None:
    ctrl = AutoLRS(k=3, tau0=50, lr_range=(0.1, 1.0))
    probe = FakeProbe(limit=1e-6)
    segment = ctrl.propose(_state(), probe)
    assert segment.lrs()[0] < min(probe.calls)
    assert math.isnan(ctrl.forecasts[0])


def test_warmup_comes_first() -> None:
    ctrl = AutoLRS(lr=0.05, k=3, tau0=20, lr_range=(1e-3, 0.2), warmup_steps=15)
    session = Session(ToyTrainee(seed=0), ctrl, 300, 10)
    seg = ctrl.propose(session.state, session.probe)
    assert seg.steps == 15 and session.ledger.probe == 0
    assert seg.lrs()[0] < seg.lrs()[-1] <= 0.05


def test_adaptive_run_and_state_dict_roundtrip() -> None:
    ctrl = AutoLRS(k=3, tau0=20, lr_range=(1e-3, 0.2), adaptive=True, budget_steps=130)
    session = Session(ToyTrainee(seed=0), ctrl, 130, 10)
    session.run()
    assert session.ledger.charged == 130
    assert ctrl.stage >= 2 and len(ctrl.log[1]["lrs"]) == 3
    assert ctrl.log[1]["lrs"][0] == pytest.approx(ctrl.log[0]["lr"])  # warm start
    buf = io.BytesIO()
    torch.save(ctrl.state_dict(), buf)
    buf.seek(0)
    other = AutoLRS()
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert other.stage == ctrl.stage and other.log == ctrl.log


def test_build_from_config_gets_budget() -> None:
    spec = {"name": "autolrs", "preset": "fast"}
    ctrl = build_controller(spec, default_lr=0.1, budget_steps=4000)
    assert isinstance(ctrl, AutoLRS)
    assert (ctrl.k, ctrl.tau0, ctrl.tau_max, ctrl.lr) == (4, 250, 1000, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"k": 1}, "k"),
        ({"tau0": 100, "tau_max": 50}, "tau_max"),
        ({"trial_fraction": 0.0}, "trial_fraction"),
        ({"acquisition": "pi"}, "acquisition"),
        ({"forecaster": "spline"}, "forecaster"),
        ({"lr_range": (1.0, 0.1)}, "lr_range"),
        ({"val_after": 2.0}, "val_after"),
        ({"adaptive": "yes"}, "adaptive"),
        ({"undo": 0.0}, "undo"),
    ],
)
def test_constructor_validates(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        AutoLRS(**kwargs)


def test_needs_a_probe() -> None:
    with pytest.raises(ValueError, match="probes"):
        AutoLRS(lr_range=(0.01, 0.1)).propose(_state(), None)


def test_range_test_never_starts_far_above_the_task_lr() -> None:
    ctrl = AutoLRS(preset="fast", lr=0.002, k=2, tau0=20, trial_fraction=0.2, budget_steps=300)
    session = Session(ToyTrainee(seed=0), ctrl, 300, 10)
    ctrl.propose(session.state, session.probe)
    assert 0 < session.ledger.range_test == ctrl.range_steps <= 30
    assert ctrl.hi <= 2 * 10 * 0.002  # capped at 10 x lr (then at most one 2x move)
    assert ctrl.lo == pytest.approx(ctrl.hi / 100)


def test_stages_carry_the_collapse_guard_and_a_rollback_caps_the_range() -> None:
    ctrl = AutoLRS(
        preset="fast", k=3, tau0=20, trial_fraction=0.2, budget_steps=300, lr_range=(1e-3, 0.1)
    )
    session = Session(ToyTrainee(seed=0), ctrl, 300, 10)
    segment = ctrl.propose(session.state, session.probe)
    assert segment.undo == 0.5
    chosen = ctrl.chosen_lr
    ctrl.observe(dataclasses.replace(session.state, rolled_back=True))
    assert ctrl.hi == chosen and math.isnan(ctrl.chosen_lr)
    assert len(ctrl.forecasts) == len(ctrl.reached) == 0  # the lost stage reached nothing
    off = AutoLRS(preset="fast", k=3, tau0=20, budget_steps=300, lr_range=(1e-3, 0.1), undo=None)
    assert off.propose(session.state, session.probe).undo is None

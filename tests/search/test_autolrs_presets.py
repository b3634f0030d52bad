"""AutoLRS's presets: "paper" pins the paper's constants (scaled to the budget), "fast" the
controller's earlier defaults; explicit parameters win over both."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from autolr.loop.probe import ProbeResult
from autolr.loop.session import Session
from search import gp
from search.autolrs import (
    PAPER_BETA,
    PAPER_INITIAL_X,
    PAPER_K,
    PAPER_KAPPA,
    PAPER_TAU0_STEPS,
    PAPER_TAU_MAX_STEPS,
    PAPER_TAU_RATIO,
    PAPER_TRIAL_FRACTION,
    AutoLRS,
)
from tests.resume import whole_and_resumed
from tests.search.test_autolrs import FakeProbe, _state
from tests.toy import ToyTrainee


def test_the_papers_constants() -> None:
    assert (PAPER_K, PAPER_TRIAL_FRACTION, PAPER_KAPPA) == (10, 0.1, 1e6)
    assert (PAPER_TAU0_STEPS, PAPER_TAU_MAX_STEPS, PAPER_TAU_RATIO) == (1000, 8000, 8)
    assert PAPER_BETA == 1e12 == PAPER_KAPPA**2
    assert PAPER_INITIAL_X == (0.5,)


def test_paper_is_the_default_and_pins_the_papers_values() -> None:
    ctrl = AutoLRS(budget_steps=3000)
    assert ctrl.preset == "paper"
    assert ctrl.k == PAPER_K
    assert ctrl.trial_fraction == PAPER_TRIAL_FRACTION
    assert ctrl.acquisition == "ucb" and ctrl.beta == PAPER_KAPPA**2
    assert ctrl.initial_x == PAPER_INITIAL_X and ctrl.choose == "forecast"
    # budget scaling: tau0 = max(10 / trial_fraction, budget // 16), tau_max = 8 * tau0
    assert ctrl.tau0 == max(100, 3000 // 16) == 187
    assert ctrl.tau_max == PAPER_TAU_RATIO * 187 == 1496
    assert ctrl.val_after == "tau_max"
    assert ctrl.max_decay is None  # no floor
    assert ctrl.final_decay is False
    assert ctrl.undo is None
    assert ctrl.widen is False and ctrl.adaptive is False


@pytest.mark.parametrize(
    ("budget", "tau0", "tau_max", "trial"),
    [(1000, 100, 800, 10), (3000, 187, 1496, 19), (None, 1000, 8000, 100)],
)
def test_paper_budget_scaling(budget: int | None, tau0: int, tau_max: int, trial: int) -> None:
    ctrl = AutoLRS(budget_steps=budget, lr_range=(1e-3, 1.0))
    assert (ctrl.tau0, ctrl.tau_max) == (tau0, tau_max)
    assert ctrl._plan(_state(), 10**6)[1:] == (trial, PAPER_K)  # trials of >= 10 steps


def test_paper_beta_is_the_papers_lcb() -> None:
    """BoTorch's UCB on -loss with beta = kappa**2 is -(mean - kappa * sigma) of the loss."""
    from botorch.acquisition import UpperConfidenceBound

    model = gp.fit_gp([0.1, 0.5, 0.9], [1.0, 0.5, 0.8])
    x = torch.linspace(0.0, 1.0, 11, dtype=torch.float64).reshape(-1, 1, 1)
    with torch.no_grad():
        ucb = UpperConfidenceBound(model, beta=PAPER_BETA)(x).numpy()
        post = model.posterior(x.squeeze(1))
        mean = -post.mean.reshape(-1).numpy()  # of the loss
        sigma = post.variance.clamp_min(1e-9).sqrt().reshape(-1).numpy()
    np.testing.assert_allclose(ucb, -(mean - PAPER_KAPPA * sigma), rtol=1e-7)


def test_fast_is_the_earlier_behaviour() -> None:
    ctrl = AutoLRS(preset="fast", budget_steps=4000)
    assert (ctrl.k, ctrl.trial_fraction, ctrl.tau0, ctrl.tau_max) == (4, 0.05, 250, 1000)
    assert (ctrl.acquisition, ctrl.beta, ctrl.initial_x) == ("ucb", 2.0, (0.25, 0.75))
    assert (ctrl.choose, ctrl.val_after, ctrl.max_decay) == ("gp_mean", 0.75, 2.0)
    assert (ctrl.final_decay, ctrl.undo, ctrl.widen, ctrl.adaptive) == (True, 0.5, True, False)
    short = AutoLRS(preset="fast", budget_steps=3000)
    assert (short.tau0, short.tau_max) == (187, 750)
    assert (AutoLRS(preset="fast").tau0, AutoLRS(preset="fast").tau_max) == (250, 1000)


def test_explicit_parameters_win_over_the_preset() -> None:
    ctrl = AutoLRS(
        budget_steps=3000,
        k=3,
        trial_fraction=0.2,
        tau0=50,
        beta=2.0,
        initial_x=[0.1, 0.9],
        choose="gp_mean",
        val_after=0.5,
        max_decay=3.0,
        final_decay=True,
        undo=0.4,
        widen=True,
    )
    assert (ctrl.k, ctrl.trial_fraction, ctrl.tau0, ctrl.tau_max) == (3, 0.2, 50, 400)
    assert (ctrl.beta, ctrl.initial_x, ctrl.choose, ctrl.val_after) == (
        2.0,
        (0.1, 0.9),
        "gp_mean",
        0.5,
    )
    assert (ctrl.max_decay, ctrl.final_decay, ctrl.undo, ctrl.widen) == (3.0, True, 0.4, True)
    fast = AutoLRS(preset="fast", max_decay=None, undo=None, final_decay=False, val_after=1.0)
    assert (fast.max_decay, fast.undo, fast.final_decay, fast.val_after) == (None, None, False, 1.0)
    assert AutoLRS(preset="fast", val_after="tau_max").val_after == "tau_max"
    # paper with a given trial_fraction keeps trials of >= 10 steps
    assert AutoLRS(budget_steps=1000, trial_fraction=0.05).tau0 == 200


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"preset": "papr"}, "preset"),
        ({"preset": None}, "preset"),
        ({"choose": "mean"}, "choose"),
        ({"initial_x": []}, "initial_x"),
        ({"initial_x": [1.5]}, "initial_x"),
        ({"initial_x": 0.5}, "initial_x"),
        ({"val_after": "later"}, "val_after"),
        ({"widen": "yes"}, "widen"),
        ({"final_decay": 1}, "final_decay"),
        ({"max_decay": 0.5}, "max_decay"),
        ({"beta": 0.0}, "beta"),
    ],
)
def test_bad_values_name_the_field(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got "):
        AutoLRS(**kwargs)


def test_a_bad_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match=r"preset must be one of paper, fast, got 'papr'"):
        AutoLRS(preset="papr")


class RecordingProbe(FakeProbe):
    """A FakeProbe that records each trial's ``validate`` flag."""

    def __init__(self, limit: float, budget: int = 10_000) -> None:
        super().__init__(limit, budget)
        self.validated: list[bool] = []

    def run(
        self, lr: Any, steps: int | None = None, *, validate: bool = False, kind: str = "probe"
    ) -> ProbeResult:
        self.validated.append(validate)
        res = super().run(lr, steps, validate=validate, kind=kind)
        return ProbeResult(res.losses, res.steps, res.diverged, 0.5 if validate else None)


def test_paper_first_trial_at_the_log_midpoint_and_choice_by_observed_forecast() -> None:
    ctrl = AutoLRS(lr_range=(1e-3, 1e-1), tau0=100, budget_steps=5000)
    probe = FakeProbe(limit=0.05)
    segment = ctrl.propose(_state(), probe)
    assert probe.calls[0] == pytest.approx(1e-2)
    assert len(probe.calls) == PAPER_K
    entry = ctrl.log[0]
    best = int(np.argmin(entry["scores"]))
    assert segment.lrs()[0] == entry["lr"] == entry["lrs"][best]
    assert ctrl.trial_steps == sum(10 if lr <= 0.05 else 2 for lr in probe.calls)  # 2: NaN


def test_paper_validates_once_tau_reaches_tau_max() -> None:
    ctrl = AutoLRS(lr_range=(0.01, 1.0), k=2, tau0=20)  # trials of 2 steps, tau_max 160
    probe = RecordingProbe(limit=10.0)
    taus, validated = [], []
    for _ in range(5):
        before = len(probe.validated)
        taus.append(ctrl.propose(_state(), probe).steps)
        validated.append(set(probe.validated[before:]))
    assert taus == [20, 40, 80, 160, 160]
    assert validated == [{False}, {False}, {False}, {True}, {True}]
    assert [e["validated"] for e in ctrl.log] == [False, False, False, True, True]


@pytest.mark.parametrize(("preset", "decays"), [("paper", False), ("fast", True)])
def test_the_last_stage_runs_to_the_end(preset: str, decays: bool) -> None:
    ctrl = AutoLRS(preset=preset, lr_range=(0.01, 1.0), k=2, tau0=20, trial_fraction=0.1)
    probe = FakeProbe(limit=10.0, budget=60)
    segment = ctrl.propose(_state(), probe)
    assert segment.steps == probe.remaining == 56  # no room for a 40-step stage after it
    lrs = segment.lrs()
    assert lrs[0] == pytest.approx(ctrl.chosen_lr)
    if decays:
        assert lrs[-1] < 0.05 * lrs[0]
    else:
        assert np.all(lrs == lrs[0])


@pytest.mark.parametrize(("widen", "hi"), [(None, 1.0), (True, 2.0)])
def test_paper_never_widens_the_range(widen: bool | None, hi: float) -> None:
    # higher LRs always fall faster here: the best trial sits at the top of the range
    ctrl = AutoLRS(lr_range=(1e-5, 1e-3), tau0=100, widen=widen)
    ctrl.propose(_state(), FakeProbe(limit=10.0))
    assert ctrl.log[0]["lr"] == pytest.approx(1e-3, rel=0.05)
    assert ctrl.hi == pytest.approx(hi * 1e-3)


@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_state_dict_resumes_a_session_exactly(preset: str) -> None:
    def session() -> Session:
        ctrl = AutoLRS(preset=preset, k=3, tau0=20, trial_fraction=0.2, budget_steps=200)
        return Session(ToyTrainee(seed=0), ctrl, 200, 10)

    full, resumed = whole_and_resumed(session, 2)
    a, b = full.controller, resumed.controller
    assert isinstance(a, AutoLRS) and isinstance(b, AutoLRS)
    assert b.log == a.log and b.stats()["probe_fraction"] == a.stats()["probe_fraction"]
    assert resumed.state.loss_mean == full.state.loss_mean
    assert resumed.ledger.probe == full.ledger.probe


def test_probe_fraction_is_the_trial_steps_over_the_budget() -> None:
    ctrl = AutoLRS(k=3, tau0=30, trial_fraction=0.25, lr_range=(1e-3, 0.2), budget_steps=300)
    session = Session(ToyTrainee(seed=0), ctrl, 300, 10)
    session.run()
    assert ctrl.stats()["probe_fraction"] == session.ledger.probe / 300 > 0
    assert AutoLRS().stats()["probe_fraction"] is None  # no budget known

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from autolr.controllers.base import build_controller
from autolr.loop.session import Session
from search.optuna_segments import OptunaController
from tests.resume import whole_and_resumed
from tests.search.test_autolrs import FakeProbe, _state
from tests.toy import ToyTrainee


def test_run_charges_probes_and_learns() -> None:
    ctrl = OptunaController(trials=3, lr_range=(1e-3, 0.2), trial_fraction=0.25)
    session = Session(ToyTrainee(seed=0), ctrl, 200, 40)
    start = session.state.loss_mean
    session.run()
    led = session.ledger
    assert led.charged == 200 and led.probe > 0 and led.range_test == 0
    assert led.probe == 3 * 10 * len(ctrl.log)
    assert session.state.loss_mean < 0.5 * start


def test_diverged_trials_are_failed_and_never_chosen() -> None:
    ctrl = OptunaController(trials=6, lr_range=(1e-3, 1.0), interval=40)
    probe = FakeProbe(limit=0.05)
    seg = ctrl.propose(_state(), probe)
    assert seg.lrs()[0] <= 0.05
    assert any(lr > 0.05 for lr in probe.calls)
    assert sum(math.isinf(v) for v in ctrl.log[0]["values"]) >= 1


def test_linear_family_and_gp_sampler() -> None:
    ctrl = OptunaController(
        trials=3, lr_range=(1e-3, 1.0), family="linear", sampler="gp", interval=40
    )
    seg = ctrl.propose(_state(), FakeProbe(limit=10.0))
    lrs = seg.lrs()
    assert set(ctrl.best) == {"lr", "end_factor"}
    assert lrs[-1] == pytest.approx(lrs[0] * (1 + (ctrl.best["end_factor"] - 1) * 39 / 40))
    assert np.all(np.diff(lrs) <= 0)


def test_built_by_name() -> None:
    ctrl = build_controller({"name": "optuna", "trials": 4}, default_lr=0.1)
    assert isinstance(ctrl, OptunaController) and ctrl.lr == 0.1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"trials": 1}, "trials"),
        ({"sampler": "cma"}, "sampler"),
        ({"family": "x"}, "family"),
        ({"every": 0}, "every"),
        ({"every": 2.5}, "every"),
        ({"trial_fraction": 0.0}, "trial_fraction"),
        ({"trial_fraction": 1.5}, "trial_fraction"),
        ({"interval": 0}, "interval"),
    ],
)
def test_constructor_validates(kwargs: dict, name: str) -> None:
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {value!r}"):
        OptunaController(**kwargs)


def test_defaults_keep_probes_under_15_percent() -> None:
    ctrl = OptunaController()
    assert (ctrl.every, ctrl.trials, ctrl.trial_fraction) == (4, 4, 0.125)
    p = ctrl.trials * ctrl.trial_fraction / ctrl.every  # probe steps per kept step
    assert p == 0.125 and p / (1 + p) == pytest.approx(1 / 9)  # of the charged budget


def _probe_share(budget: int, **kwargs: Any) -> tuple[float, OptunaController, Session]:
    ctrl = OptunaController(lr_range=(1e-3, 0.2), **kwargs)
    session = Session(ToyTrainee(seed=0), ctrl, budget, 40)
    session.run()
    assert session.ledger.charged == budget and session.ledger.range_test == 0
    return session.ledger.probe / budget, ctrl, session


def test_a_run_with_the_defaults_charges_at_most_15_percent_to_probes() -> None:
    share, ctrl, session = _probe_share(800)
    # 40-step segments: 4 trials of 5 steps per search, a search every 4 segments
    assert session.ledger.probe == 4 * 5 * len(ctrl.log) > 0
    assert len(ctrl.log) == 5 and ctrl.segments == 5
    assert share == 100 / 800 <= 0.15
    # every=1, trials=6, trial_fraction=0.25: the earlier defaults, 60% in probes
    old, _, _ = _probe_share(800, every=1, trials=6, trial_fraction=0.25)
    assert old > 0.5


def test_segments_between_searches_reuse_the_last_choice() -> None:
    ctrl = OptunaController(lr_range=(1e-3, 1.0), interval=40, every=3, trials=2)
    probe = FakeProbe(limit=10.0)
    lrs = [ctrl.propose(_state(), probe).lrs()[0] for _ in range(7)]
    assert len(ctrl.log) == 3 and len(probe.calls) == 3 * 2
    assert lrs[0] == lrs[1] == lrs[2] == ctrl.log[0]["lr"]
    assert lrs[3] == lrs[4] == lrs[5] == ctrl.log[1]["lr"]
    assert lrs[6] == ctrl.log[2]["lr"]


def test_a_rollback_makes_the_next_segment_search() -> None:
    ctrl = OptunaController(lr_range=(1e-3, 1.0), interval=40, every=4, trials=2)
    probe = FakeProbe(limit=10.0)
    state = _state()
    ctrl.propose(state, probe)
    assert ctrl.wait == 3
    ctrl.observe(dataclasses.replace(state, rolled_back=True))
    assert ctrl.wait == 0
    ctrl.propose(state, probe)
    assert len(ctrl.log) == 2


@pytest.mark.parametrize("every", [1, 4])
def test_state_dict_resumes_a_session_exactly(every: int) -> None:
    def session() -> Session:
        ctrl = OptunaController(lr_range=(1e-3, 0.2), every=every, trials=2)
        return Session(ToyTrainee(seed=0), ctrl, 300, 20)

    full, resumed = whole_and_resumed(session, 3)  # with every=4, stops between two searches
    a, b = full.controller, resumed.controller
    assert isinstance(a, OptunaController) and isinstance(b, OptunaController)
    assert b.log == a.log and b.segments == a.segments and b.wait == a.wait
    assert resumed.state.loss_mean == full.state.loss_mean
    assert resumed.ledger.probe == full.ledger.probe


@pytest.mark.parametrize("name", ["autolrs", "optuna"])
@pytest.mark.parametrize("bad", [[0.1], [0.2, 0.1], [0.0, 1.0], "0.1-1"])
def test_bad_lr_range_names_the_field(name, bad):
    from autolr.controllers.base import build_controller

    with pytest.raises(ValueError, match="lr_range"):
        build_controller({"name": name, "lr_range": bad}, default_lr=0.1)

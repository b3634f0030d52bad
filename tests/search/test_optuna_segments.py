import math

import numpy as np
import pytest

from autolr.controllers.base import build_controller
from autolr.loop.session import Session
from search.optuna_segments import OptunaController
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
    [({"trials": 1}, "trials"), ({"sampler": "cma"}, "sampler"), ({"family": "x"}, "family")],
)
def test_constructor_validates(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        OptunaController(**kwargs)


@pytest.mark.parametrize("name", ["autolrs", "optuna"])
@pytest.mark.parametrize("bad", [[0.1], [0.2, 0.1], [0.0, 1.0], "0.1-1"])
def test_bad_lr_range_names_the_field(name, bad):
    from autolr.controllers.base import build_controller

    with pytest.raises(ValueError, match="lr_range"):
        build_controller({"name": name, "lr_range": bad}, default_lr=0.1)

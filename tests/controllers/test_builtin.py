import math

import numpy as np
import pytest
import torch

from autolr.controllers import CONTROLLERS, Fixed, Greedy, Hypergradient, Plateau, PlateauRule
from autolr.controllers.base import build_controller
from autolr.loop.session import Session
from autolr.loop.state import TrainingState
from tests.toy import ToyTrainee


def torch_plateau_lrs(stream, **kw):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=kw.pop("lr"))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    out = []
    for v in stream:
        sched.step(v)
        out.append(opt.param_groups[0]["lr"])
    return out


STREAMS = {
    "noisy_decay": list(1.0 / np.sqrt(np.arange(1, 120)) + 0.05 * np.sin(np.arange(119) * 1.7)),
    "flat": [1.0] * 60,
    "up_down": list(
        np.concatenate(
            [np.linspace(1, 0.5, 20), np.linspace(0.5, 0.9, 30), np.linspace(0.9, 0.1, 40)]
        )
    ),
}


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize(
    "kw",
    [
        {"lr": 0.1},
        {
            "lr": 0.1,
            "mode": "max",
            "factor": 0.5,
            "patience": 2,
            "threshold_mode": "abs",
            "threshold": 0.01,
        },
        {"lr": 1.0, "factor": 0.3, "patience": 3, "cooldown": 4, "min_lr": 0.05},
        {"lr": 0.1, "patience": 0, "threshold": 0.0, "eps": 1e-3},
    ],
)
def test_plateau_rule_equals_torch(stream, kw):
    values = STREAMS[stream]
    expected = torch_plateau_lrs(values, **dict(kw))
    rule = PlateauRule(**kw)
    assert [rule.step(v) for v in values] == expected


def _state(loss: float, **kw) -> TrainingState:
    base = dict(
        step=10,
        budget=100,
        charged=10,
        interval=10,
        lr=0.1,
        group_lrs=(0.1,),
        initial_lr=0.1,
        initial_loss=2.0,
        loss_mean=loss,
    )
    base.update(kw)
    return TrainingState(**base)


def test_plateau_controller_feeds_the_interval_mean_train_loss():
    ctrl = Plateau(lr=0.1, patience=1, factor=0.5)
    for loss in [1.0, 1.0, 1.0]:
        ctrl.observe(_state(loss))
    assert ctrl.propose(_state(1.0), None).lrs()[0] == pytest.approx(0.05)


def test_plateau_on_val_metric_counts_evaluations_once():
    ctrl = Plateau(lr=0.1, monitor="val_metric", patience=0, factor=0.5)
    assert ctrl.rule.mode == "max"
    ctrl.observe(_state(1.0, val_metric=0.5, val_step=10))
    ctrl.observe(_state(1.0, val_metric=0.5, val_step=10))  # same evaluation: ignored
    assert ctrl.rule.lr == pytest.approx(0.1)
    ctrl.observe(_state(1.0, val_metric=0.5, val_step=20))
    assert ctrl.rule.lr == pytest.approx(0.05)


def test_greedy_raises_on_improvement_and_cuts_on_stall():
    ctrl = Greedy(lr=0.1, factor=0.5, patience=1)
    for loss in [1.0, 0.9, 0.8]:
        ctrl.observe(_state(loss))
    assert ctrl.lr == pytest.approx(0.2)
    for loss in [0.9, 0.9, 0.9]:
        ctrl.observe(_state(loss))
    assert ctrl.lr == pytest.approx(0.1)
    ctrl.observe(_state(0.9, rolled_back=True))
    assert ctrl.lr == pytest.approx(0.05)


def test_hypergradient_follows_the_sign_and_stays_clamped():
    ctrl = Hypergradient(lr=0.1, beta=0.5, min_lr=0.01, max_lr=1.0)
    ctrl.observe(_state(1.0, hypergrad_cos=1.0))
    assert ctrl.lr == pytest.approx(0.1 * math.exp(0.5))
    for _ in range(50):
        ctrl.observe(_state(1.0, hypergrad_cos=1.0))
    assert ctrl.lr == 1.0
    for _ in range(200):
        ctrl.observe(_state(1.0, hypergrad_cos=-1.0))
    assert ctrl.lr == 0.01 > 0


def test_fixed_hands_out_the_global_schedule():
    ctrl = Fixed({"name": "linear", "lr": 1.0, "total_steps": 100})
    seg = ctrl.propose(_state(1.0, step=30, interval=10), None)
    np.testing.assert_allclose(seg.lrs(), 1.0 - np.arange(30, 40) / 100, rtol=1e-12)


@pytest.mark.parametrize("name", ["plateau", "greedy", "hypergradient"])
def test_controllers_take_the_task_lr_when_given_none(name):
    ctrl = build_controller({"name": name}, default_lr=0.3)
    assert ctrl.propose(_state(1.0), None).lrs()[0] == pytest.approx(0.3, rel=0.5)
    assert ctrl.lr == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"name": "platoe"}, "did you mean 'plateau'"),
        ({"name": "plateau", "patiense": 3}, "patiense"),
        ({"name": "plateau", "factor": 2.0}, "factor"),
        ({"name": "fixed", "schedule": {"name": "cosine", "lr": -1, "total_steps": 5}}, "lr"),
        ({"name": "greedy", "min_lr": 1.0, "max_lr": 0.5}, "min_lr"),
        ({"patience": 3}, "name"),
    ],
)
def test_bad_controller_configs_name_the_field(spec, needle):
    with pytest.raises(ValueError, match=needle):
        build_controller(spec, default_lr=0.1)


@pytest.mark.parametrize("name", ["fixed", "plateau", "greedy", "hypergradient"])
def test_controller_state_round_trip_resumes_identically(name):
    spec = {"name": name}
    if name == "fixed":
        spec["schedule"] = {"name": "cosine", "lr": 0.05, "total_steps": 120}
    runs = []
    for cut in (None, 60):
        s = Session(ToyTrainee(seed=1), build_controller(spec, 0.05), 120, 20)
        if cut is not None:
            while s.step < cut:
                s.advance(s.controller.propose(s.state, s.probe))
                s.controller.observe(s.state)
            saved = s.state_dict()
            s = Session(ToyTrainee(seed=1), build_controller(spec, 0.05), 120, 20)
            s.load_state_dict(saved)
        s.run()
        runs.append(s.history.step_array("train_loss"))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_registry_lists_the_builtins():
    assert {"fixed", "plateau", "greedy", "hypergradient"} <= set(CONTROLLERS.names())

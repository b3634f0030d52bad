"""`lr_finder`: fastai's suggestions by hand, the range test charged, the shape at its peak."""

import numpy as np
import pytest

import autolr
from autolr.controllers import CONTROLLERS, LRFinder
from autolr.controllers.base import build_controller
from autolr.loop.attach import attach
from autolr.loop.range_test import fastai_window, range_test, steep_lr, suggest_lr, valley_lr
from autolr.running.runner import build_session, load_config
from autolr.schedules import cosine, one_cycle

# lr_i = 10 ** (i - 7), i = 0..10; the loss rises once, falls for 8 points, then blows up
LRS = 10.0 ** np.arange(-7, 4)
LOSS = np.array([1.0, 2.5, 2.4, 1.9, 1.6, 1.3, 0.7, 0.5, 0.4, 0.9, 3.0])


def test_valley_by_hand():
    # longest strictly decreasing subsequence: 2.5 2.4 1.9 1.6 1.3 0.7 0.5 0.4 (i = 1..8), 8
    # long, ending at 8; fastai's start is end - length = 0, sections = 8 / 3, and
    # idx = 0 + int(8 / 3) + int(8 / 6) = 2 + 1 = 3
    assert valley_lr(LRS, LOSS) == LRS[3] == pytest.approx(1e-4)


def test_steep_by_hand_is_per_unit_of_log_lr():
    # slopes per decade: 1.5 -0.1 -0.5 -0.3 -0.3 -0.6 -0.2 -0.1 0.5 2.1: steepest from i = 5
    assert steep_lr(LRS, LOSS) == pytest.approx(1e-2)
    # stretch the step 5 -> 6 over three decades: its slope per decade is now -0.2, and the
    # steepest is the -0.5 step from i = 2 (index-wise it is still the one from 5)
    lrs = LRS.copy()
    lrs[6:] *= 100.0
    assert steep_lr(lrs, LOSS) == pytest.approx(1e-5)


def test_fastai_window_skips_a_tenth_and_the_last_five():
    lrs, loss = np.logspace(-7, 1, 100), np.linspace(5.0, 1.0, 100)
    w_lrs, w_loss = fastai_window(lrs, loss, 100)
    np.testing.assert_array_equal(w_lrs, lrs[10:95])
    np.testing.assert_array_equal(w_loss, loss[10:95])
    # a sweep of 100 planned steps that blew up after 12: too few points, the whole curve
    w_lrs, _ = fastai_window(lrs[:12], loss[:12], 100)
    np.testing.assert_array_equal(w_lrs, lrs[:12])
    # suggest_lr is valley / steep on that window
    assert suggest_lr(LRS, LOSS, 10, "valley") == valley_lr(LRS[1:6], LOSS[1:6])
    assert suggest_lr(LRS, LOSS, 10, "steepest") == steep_lr(LRS[1:6], LOSS[1:6])
    with pytest.raises(ValueError, match="suggestion must be one of valley, steepest"):
        suggest_lr(LRS, LOSS, 10, "minimum")


def _config(**controller):
    return {
        "task": {"name": "toy"},
        "controller": {"name": "lr_finder", "num_steps": 40, **controller},
        "budget_steps": 300,
        "interval": 20,
        "seed": 3,
    }


def _expected_peak(cfg, suggestion):
    """The suggestion of the same range test, run on a fresh session of the same config."""
    session = build_session(load_config(cfg))
    res = range_test(session, 1e-7, 10.0, 40, beta=0.98, diverge_th=4.0)
    used = res.lrs[: res.smoothed.size]
    return suggest_lr(used, res.smoothed, 40, suggestion), res.steps


@pytest.mark.parametrize(("then", "suggestion"), [("one_cycle", "valley"), ("cosine", "steepest")])
def test_the_range_test_is_charged_and_the_shape_runs_at_its_suggestion(then, suggestion):
    cfg = _config(then=then, suggestion=suggestion)
    result = autolr.run(cfg)
    ctrl, ledger = result.session.controller, result.session.ledger
    peak, n = _expected_peak(cfg, suggestion)
    assert 2 <= n <= 40 and ctrl.suggested_lr == peak
    # the ledger: the sweep's steps as range_test, the rest kept; the whole budget charged
    assert ledger.range_test == n and ledger.probe == 0 and ledger.kept == 300 - n
    s = result.summary
    assert s["steps_charged"] == 300 and s["steps_probed"] == n and s["steps_trained"] == 300 - n
    assert s["controller_stats"]["range_test_steps"] == n
    assert s["controller_stats"]["suggested_lr"] == peak
    # the trace after the test is the shape over the remaining 300 - n steps at that peak
    r = 300 - n
    if then == "one_cycle":
        shape = one_cycle(max_lr=peak, total_steps=r)
    else:
        shape = cosine(lr=peak, total_steps=r, warmup_steps=round(0.05 * r))
    info = result.session.trainee.info
    expected = np.clip(shape.values(np.arange(r)), info.min_lr, info.max_lr)
    np.testing.assert_array_equal(result.history.steps["lr"], expected)


def test_state_dict_resumes_the_same_schedule():
    result = autolr.run(_config())
    ctrl = result.session.controller
    fresh = LRFinder(num_steps=40)
    fresh.load_state_dict(ctrl.state_dict())
    state = result.session.state
    a = ctrl.propose(state, None).lrs()
    np.testing.assert_array_equal(fresh.propose(state, None).lrs(), a)
    assert fresh.stats() == ctrl.stats()


def test_defaults_registration_and_peer_marker():
    ctrl = build_controller({"name": "lr_finder"}, default_lr=0.1, budget_steps=1000)
    assert (ctrl.then, ctrl.suggestion, ctrl.num_steps) == ("one_cycle", "valley", 100)
    assert (ctrl.start_lr, ctrl.end_lr) == (1e-7, 10.0)
    assert CONTROLLERS.get("lr_finder") is LRFinder and LRFinder.peer is True
    assert ctrl.needs_probe and ctrl.stats()["suggested_lr"] is None
    assert not any(getattr(CONTROLLERS.get(n), "peer", False) for n in ("plateau", "autolrs"))


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"then": "linear"}, "then must be one of one_cycle, cosine"),
        ({"suggestion": "minimum"}, "suggestion must be one of valley, steepest"),
        ({"num_steps": 10}, "num_steps must be an integer >= 20"),
        ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr must be > start_lr"),
        ({"start_lr": -1.0}, "start_lr"),
        ({"num_steps": 95}, r"num_steps \(95\) must leave at least 10 steps of budget_steps"),
        ({"schedule": "cosine"}, "unknown parameter .schedule. for controller .lr_finder."),
    ],
)
def test_bad_params_fail_naming_them(params, needle):
    with pytest.raises(ValueError, match=needle):
        build_controller({"name": "lr_finder", **params}, default_lr=0.1, budget_steps=100)


def test_without_a_probe_it_says_so():
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="'lr_finder' needs probes"):
        attach(opt, LRFinder(), interval=5)
    state = build_session(load_config(_config())).state
    with pytest.raises(ValueError, match="cannot run where no probe is given"):
        LRFinder().propose(state, None)

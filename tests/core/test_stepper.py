import math

import numpy as np
import pytest
import torch

from autolr.controllers import Fixed
from autolr.loop.attach import attach
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.loop.stepper import Divergence, Plan, Stepper
from tests.toy import ToyTrainee


def _opt(groups: int = 2, adam: bool = False) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    param_groups = [{"params": [p]} for p in params]
    if adam:
        return torch.optim.Adam(param_groups, lr=1.0)
    return torch.optim.SGD(param_groups, lr=1.0, momentum=0.5)


def test_run_writes_each_step_lr_times_scale_before_the_step() -> None:
    opt = _opt()
    seen: list[tuple[float, float, float]] = []

    def step(k: int) -> float:
        g = opt.param_groups
        seen.append((g[0]["lr"], g[1]["lr"], g[0]["momentum"]))
        return 1.0 + k

    plan = Plan(np.array([0.1, 0.2, 0.4]), np.array([0.9, 0.8, 0.7]), (1.0, 0.5))
    out = Stepper(opt).run(plan, step, Divergence())
    assert seen == [(0.1, 0.05, 0.9), (0.2, 0.1, 0.8), (0.4, 0.2, 0.7)]
    assert out.steps_run == 3 and not out.stopped
    np.testing.assert_array_equal(out.losses, [1.0, 2.0, 3.0])
    assert len(out.times) == 3 and out.times == sorted(out.times)


def test_momentum_reaches_adam_beta1() -> None:
    opt = _opt(groups=1, adam=True)
    plan = Plan(np.array([0.1]), np.array([0.85]), (1.0,))
    Stepper(opt).run(plan, lambda k: 0.0, Divergence())
    assert opt.param_groups[0]["betas"][0] == 0.85 and opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize(
    ("losses", "threshold", "ran"),
    [
        ([1.0, 2.0, math.nan, 1.0], math.inf, 3),
        ([1.0, math.inf, 1.0], math.inf, 2),
        ([1.0, 5.0, 1e12, 1.0], 10.0, 3),  # the smoothed log loss jumps above log(10)
        ([1.0, 5.0, 11.0, 1.0], 10.0, 4),  # one loss above 10x is no blow-up
    ],
)
def test_stop_rule_cuts_the_stretch(losses, threshold, ran) -> None:
    plan = Plan(np.full(len(losses), 0.1), None, (1.0, 1.0))
    out = Stepper(_opt()).run(plan, lambda k: losses[k], Divergence(threshold))
    assert out.steps_run == ran and out.stopped == (ran < len(losses))
    assert np.isnan(out.losses[ran:]).all() and out.ran.size == ran


def test_extra_rule_sees_only_finite_losses() -> None:
    seen: list[float] = []

    def extra(x: float) -> bool:
        seen.append(x)
        return x > 3

    out = Stepper(_opt()).run(
        Plan(np.full(5, 0.1), None, (1.0, 1.0)),
        lambda k: [1, 2, 4, 1, 1][k],
        Divergence(math.inf, extra),
    )
    assert seen == [1, 2, 4] and out.steps_run == 3


def test_at_is_called_on_the_global_schedule() -> None:
    calls: list[int] = []
    plan = Plan(np.full(10, 0.1), None, (1.0, 1.0))
    Stepper(_opt()).run(plan, lambda k: 0.0, Divergence(), every=4, offset=6, at=calls.append)
    assert calls == [1, 5, 9]  # global steps 8, 12, 16


def test_push_mode_writes_the_next_lr_after_each_record() -> None:
    opt = _opt()
    stepper = Stepper(opt)
    stepper.begin(Plan(np.array([0.3, 0.2, 0.1]), None, (1.0, 2.0)))
    lrs = [opt.param_groups[1]["lr"]]
    for loss in (1.0, 2.0, 3.0):
        stepper.record(loss)
        lrs.append(opt.param_groups[1]["lr"])
    assert lrs == [0.6, 0.4, 0.2, 0.2] and stepper.finished
    np.testing.assert_array_equal(stepper.losses(), [1.0, 2.0, 3.0])


def test_writes_survive_a_restore_that_replaces_the_groups() -> None:
    opt = _opt()
    state = opt.state_dict()
    stepper = Stepper(opt)
    stepper.run(Plan(np.array([0.1]), None, (1.0, 1.0)), lambda k: 0.0, Divergence())
    opt.load_state_dict(state)  # new group dicts, lr 1.0 again
    stepper.run(Plan(np.array([0.1]), None, (1.0, 1.0)), lambda k: 0.0, Divergence())
    assert opt.param_groups[0]["lr"] == 0.1


def test_layerwise_lr_means_the_same_in_session_and_attach() -> None:
    """A group's lr_scale scales its LR in a Session exactly as in attach."""
    spec = {"name": "constant", "lr": 0.05}
    a = ToyTrainee(seed=0, groups=2)
    a.optimizer.param_groups[1]["lr_scale"] = 0.1
    session = Session(a, Fixed(spec), 40, 20, eval_every=0)
    torch.manual_seed(7)  # the same dropout masks in both loops
    session.advance(Segment.constant(0.05, 20))
    b = ToyTrainee(seed=0, groups=2)
    b.optimizer.param_groups[1]["lr_scale"] = 0.1
    handle = attach(b.optimizer, {"name": "fixed", "schedule": spec}, interval=20)
    torch.manual_seed(7)
    for i in range(20):
        b.optimizer.zero_grad()
        loss = b.loss(b.batch(i))
        loss.backward()
        b.optimizer.step()
        handle.step(loss)
    assert [g["lr"] for g in a.optimizer.param_groups] == [0.05, 0.05 * 0.1]
    assert [g["lr"] for g in b.optimizer.param_groups] == [0.05, 0.05 * 0.1]
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert session.state.group_lrs == handle.state.group_lrs == (0.05, 0.05 * 0.1)


def _trips(losses: list[float], threshold: float = 10.0, level: float = 1.0) -> int | None:
    rule = Divergence(threshold, log_ema=math.log(level))
    for k, loss in enumerate(losses):
        if rule(loss):
            return k
    return None


def test_one_hard_batch_is_not_divergence() -> None:
    """The audit's case: one batch at 11.8x the best interval mean, then back to normal."""
    assert _trips([1.0] * 20 + [11.8] + [1.0] * 20) is None
    assert _trips([1.0] * 20 + [1e6] + [1.0] * 20) is None  # even a million times the level
    # the old rule (one loss above 10x the best) fired on the first of these


def test_a_sustained_blow_up_is_divergence_within_14_steps() -> None:
    assert _trips([1.0] * 10 + [20.0] * 30) == 10 + 13
    assert _trips([1.0] * 10 + [2.0**k for k in range(1, 40)]) is not None


def test_a_non_finite_loss_is_divergence_at_once() -> None:
    rule = Divergence()
    assert not rule(5.0) and rule(math.nan) and rule.tripped == "non-finite"
    assert Divergence()(math.inf)


def test_the_smoothed_level_starts_from_the_runs_level() -> None:
    # threshold 10 (10x a best of 1): a stretch at 12 is a blow-up from a level of 1 (after
    # the EMA has climbed), and at once from a level already at 12
    assert _trips([12.0] * 40, level=1.0) == 24
    assert _trips([12.0] * 40, level=12.0) == 0
    assert _trips([12.0] * 40, threshold=120.0, level=12.0) is None

import numpy as np
import pytest
import torch

import autolr
from tests.toy import ToyTrainee


def loop(handle, trainee, steps):
    seen = []
    for i in range(steps):
        seen.append(trainee.optimizer.param_groups[0]["lr"])
        trainee.optimizer.zero_grad()
        loss = trainee.loss(trainee.batch(i))
        loss.backward()
        trainee.optimizer.step()
        handle.step(loss)
    return seen


def test_attach_fixed_schedule_drives_the_optimizer_exactly():
    t = ToyTrainee(seed=0)
    spec = {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.05, "total_steps": 40}}
    handle = autolr.attach(t.optimizer, spec, interval=7)
    seen = loop(handle, t, 40)
    expected = autolr.schedules.cosine(lr=0.05, total_steps=40).values(np.arange(40))
    np.testing.assert_allclose(seen, expected, rtol=1e-15)


def test_attach_plateau_reacts_to_the_users_losses():
    t = ToyTrainee(seed=0)
    handle = autolr.attach(
        t.optimizer,
        {"name": "plateau", "patience": 0, "factor": 0.5, "threshold": 10.0},
        interval=5,
    )
    seen = loop(handle, t, 20)
    # threshold=10 makes every interval "not better" after the first: halve each interval
    assert seen[:5] == [0.05] * 5
    assert seen[5] == pytest.approx(0.025) and seen[10] == pytest.approx(0.0125)
    assert handle.state.step == 20 and np.isfinite(handle.state.grad_norm)


def test_attach_respects_lr_scale_of_groups():
    t = ToyTrainee(seed=0, groups=2)
    t.optimizer.param_groups[1]["lr_scale"] = 0.1
    handle = autolr.attach(t.optimizer, {"name": "plateau", "lr": 0.2}, interval=3)
    loop(handle, t, 4)
    lrs = [g["lr"] for g in t.optimizer.param_groups]
    assert lrs == pytest.approx([0.2, 0.02])


def test_attach_rejects_bad_interval():
    t = ToyTrainee(seed=0)
    with pytest.raises(ValueError, match="interval"):
        autolr.attach(t.optimizer, {"name": "plateau"}, interval=0)


def test_attach_handles_a_tensor_or_float_loss():
    t = ToyTrainee(seed=0)
    handle = autolr.attach(t.optimizer, {"name": "greedy"}, interval=2)
    handle.step(torch.tensor(1.0))
    handle.step(0.5)
    assert handle.state.loss_mean == pytest.approx(0.75)


def test_attach_warns_on_non_finite_losses_and_flags_the_state():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    handle = autolr.attach(opt, {"name": "plateau", "patience": 3}, interval=4)
    for value in (1.0, 0.9, 0.8, 0.7):
        handle.step(value)
    assert not handle.state.diverged
    with pytest.warns(
        RuntimeWarning, match=r"1 non-finite loss\(es\) in steps 5-8 \(first at step 7\)"
    ):
        for value in (0.6, 0.5, float("nan"), 0.4):
            handle.step(value)
    assert handle.state.diverged and handle.state.step == 8


def test_attach_evaluated_feeds_the_controller_validation_numbers():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    spec = {"name": "plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5}
    handle = autolr.attach(opt, spec, interval=2)
    for val_loss in (1.0, 2.0):  # better, then worse: one cut, at the decision after it
        handle.evaluated(val_loss=val_loss, val_metric=0.5)
        handle.step(1.0)
        assert handle.lr == 0.1
        handle.step(1.0)
    assert handle.lr == pytest.approx(0.05)
    assert (handle.state.val_loss, handle.state.val_metric) == (2.0, 0.5)
    assert handle.state.val_step == 2  # evaluated after the first two steps
    with pytest.raises(ValueError, match="val_metric must be a number or None, got 'high'"):
        handle.evaluated(val_metric="high")

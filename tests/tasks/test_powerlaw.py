"""powerlaw: seeded generated data, a falling loss, named errors; plain SGD for all tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autolr.loop.trainee import make_task, task_info
from tasks import powerlaw


def _steps(trainee, n: int) -> None:
    for i in range(n):
        trainee.optimizer.zero_grad(set_to_none=True)
        trainee.loss(trainee.batch(i)).backward()
        trainee.optimizer.step()


def test_data_is_a_function_of_its_parameters_and_data_seed():
    a = make_task({"name": "powerlaw", "dim": 16}, seed=0)
    b = make_task({"name": "powerlaw", "dim": 16}, seed=7)
    c = make_task({"name": "powerlaw", "dim": 16, "data_seed": 1}, seed=0)
    assert a.data_checksum() == b.data_checksum() != c.data_checksum()
    assert torch.equal(
        a.batch(3)[0], make_task({"name": "powerlaw", "dim": 16}, seed=0).batch(3)[0]
    )
    assert not torch.equal(a.batch(3)[0], b.batch(3)[0])  # the run seed orders the batches
    x, y = a.splits.train
    assert x.shape == (4096, 16) and y.shape == (4096,) and x.dtype == np.float32
    assert [len(p[1]) for p in (a.splits.val, a.splits.test)] == [1024, 1024]


def test_covariance_and_signal_follow_the_power_laws():
    splits = powerlaw.load(8, 2.0, 1.0, 0.0, 0)
    x = np.concatenate([splits.train[0], splits.val[0], splits.test[0]]).astype(np.float64)
    y = np.concatenate([splits.train[1], splits.val[1], splits.test[1]]).astype(np.float64)
    variances = x.var(0)
    want = np.arange(1, 9) ** -2.0
    assert np.allclose(variances, want, rtol=0.06)
    assert y.var() == pytest.approx(1.0, rel=0.06)  # signal variance 1, no noise
    w, *_ = np.linalg.lstsq(x, y, rcond=None)  # noise-free: the coefficients exactly
    w_star = np.arange(1, 9) ** -1.0
    w_star /= np.sqrt(np.sum(want * w_star**2))
    assert np.allclose(w, w_star, atol=1e-4)


def test_loss_falls_with_a_sane_lr_and_the_target_is_the_noise_floor_plus_a_margin():
    trainee = make_task({"name": "powerlaw", "dim": 50, "noise": 0.2}, seed=0)
    before = trainee.evaluate("val")[1]
    _steps(trainee, 30)
    after = trainee.evaluate("val")[1]
    assert after < 0.5 * before
    assert trainee.info.metric == "loss" and trainee.info.mode == "min"
    assert trainee.info.target == pytest.approx(0.5 * 0.2**2 + 0.005)
    assert trainee.evaluate("test") != trainee.evaluate("val")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"dim": 0}, ["dim", "0"]),
        ({"alpha": 0}, ["alpha", "0"]),
        ({"alpha": -1.5}, ["alpha", "-1.5"]),
        ({"beta": -0.5}, ["beta", "-0.5"]),
        ({"noise": -0.1}, ["noise", "-0.1"]),
        ({"noise": float("nan")}, ["noise", "nan"]),
        ({"batch_size": 5000}, ["batch_size", "5000"]),
        ({"optimizer": "sgd_plain"}, ["optimizer", "sgd_plain", "sgd-plain"]),
        ({"weight_decay": -1}, ["weight_decay"]),
        ({"alhpa": 2}, ["unknown parameter", "alhpa", "alpha"]),
    ],
)
def test_bad_parameters_are_named(params, words):
    for build in (
        lambda: task_info({"name": "powerlaw", **params}),
        lambda: make_task({"name": "powerlaw", **params}, seed=0),
    ):
        with pytest.raises(ValueError) as err:
            build()
        for word in words:
            assert word in str(err.value)


@pytest.mark.parametrize("name", ["digits-cnn", "mnist1d-mlp", "stdlib-lm", "powerlaw"])
def test_plain_sgd_has_no_momentum_and_the_default_is_unchanged(name):
    small = {
        "stdlib-lm": {"width": 16, "heads": 2, "depth": 1, "seq_len": 16, "corpus_bytes": 600_000}
    }.get(name, {})
    plain = make_task({"name": name, **small, "optimizer": "sgd-plain"}, seed=0)
    group = plain.optimizer.param_groups[0]
    assert isinstance(plain.optimizer, torch.optim.SGD)
    assert group["momentum"] == 0.0 and group["nesterov"] is False
    assert plain.info.optimizer.startswith("sgd(momentum=0,")
    if name in ("digits-cnn", "mnist1d-mlp"):  # their default: SGD with momentum 0.9
        default = make_task({"name": name}, seed=0)
        assert default.optimizer.param_groups[0]["momentum"] == 0.9
        assert default.info.optimizer == "sgd(momentum=0.9, weight_decay=0)"
    sgd = make_task({"name": name, **small, "optimizer": "sgd"}, seed=0)
    assert sgd.optimizer.param_groups[0]["momentum"] == 0.9

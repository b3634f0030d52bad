import numpy as np
import pytest
import torch

import autolr
from autolr.controllers import Fixed
from autolr.loop.range_test import range_test, steepest_lr, valley_lr
from autolr.loop.session import Session
from tests.toy import ToyTrainee


def test_steepest_and_valley_on_a_known_curve():
    lrs = np.logspace(-5, 0, 100)
    x = np.log10(lrs)
    loss = 1.0 / (1.0 + np.exp(4 * (x + 2.5)))  # falls fastest at lr = 10**-2.5
    loss = np.concatenate([loss[:90], loss[89] + np.linspace(0, 3, 10)])  # then blows up
    assert steepest_lr(lrs, loss) == pytest.approx(10**-2.5, rel=0.07)
    # the longest decreasing run is [0, 89]; fastai takes start + 1/3 + 1/6 of it
    assert valley_lr(lrs, loss) == pytest.approx(lrs[44])


def test_range_test_is_charged_restores_and_stops_at_divergence():
    t = ToyTrainee(seed=0)
    s = Session(t, Fixed({"name": "constant", "lr": 0.05}), 500, 20)
    before = [p.detach().clone() for p in t.model.parameters()]
    res = range_test(s, start_lr=1e-4, end_lr=100.0, num_steps=200)
    assert res.stopped_early and res.steps < 200
    assert s.ledger.range_test == res.steps and s.ledger.kept == 0
    assert s.state.probe_steps == 0 or s.ledger.range_test > 0
    for a, b in zip(before, t.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert 1e-4 <= res.valley <= 100.0 and 1e-4 <= res.steepest <= 100.0
    np.testing.assert_allclose(res.lrs[:3], 1e-4 * (1e6) ** (np.arange(3) / 199))


def test_find_lr_on_a_registered_task_suggests_a_sane_lr():
    res = autolr.find_lr("toy", start_lr=1e-4, end_lr=10.0, num_steps=100)
    assert 1e-3 < res.valley < 5.0


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"start_lr": -1.0}, "start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr"),
        ({"num_steps": 1}, "num_steps"),
        ({"diverge_th": 1.0}, "diverge_th"),
    ],
)
def test_range_test_bad_arguments(kw, needle):
    s = Session(ToyTrainee(seed=0), Fixed({"name": "constant", "lr": 0.05}), 500, 20)
    with pytest.raises(ValueError, match=needle):
        range_test(s, **kw)


def test_debiased_ema_by_hand():
    from autolr.loop.range_test import debiased_ema

    np.testing.assert_allclose(debiased_ema(np.array([2.0, 2.0, 2.0])), [2.0, 2.0, 2.0])
    # beta 0.5: avg 0.5, then 0.5*0.5 + 0.5*3 = 1.75; debiased 1.0 and 1.75 / 0.75
    np.testing.assert_allclose(debiased_ema(np.array([1.0, 3.0]), beta=0.5), [1.0, 1.75 / 0.75])

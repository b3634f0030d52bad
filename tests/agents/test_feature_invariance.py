"""The step features mean the same under every optimizer (feature version 2, issue #16 §1):
``decrease_pred`` is the first-order decrease of the step the optimizer took, so it predicts
the loss decrease that step really made, under plain SGD, momentum and Adam alike; version 1's
``η ‖g‖²`` does so for plain SGD only."""

from __future__ import annotations

import math

import pytest
import torch

from autolr.loop.stepstats import StepStats

N_STEPS = 20


def _problem() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(256, 1, generator=g)
    torch.manual_seed(0)
    return torch.nn.Linear(8, 1), x, y


OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.01),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.003),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.003, weight_decay=0.1),
}


def _last_step(name: str) -> tuple[StepStats, float, float]:
    """StepStats of a 20-step full-batch segment, the realised decrease of its last step,
    and the optimizer's LR."""
    model, x, y = _problem()
    opt = OPTIMIZERS[name](model.parameters())
    stats = StepStats(model, N_STEPS)
    before = math.nan
    for k in range(N_STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        before = float(loss.detach())
        stats.before_step(k)
        opt.step()
        stats.after_step(k)
    with torch.no_grad():
        after = float(torch.nn.functional.mse_loss(model(x), y))
    return stats, before - after, opt.param_groups[0]["lr"]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_decrease_predicts_the_realised_decrease_under_every_optimizer(name):
    stats, realised, _ = _last_step(name)
    assert stats.step_decrease == pytest.approx(realised, rel=0.15)
    assert -1.0 <= stats.step_cos <= 1.0


def test_plain_sgd_keeps_version_1s_value_and_a_downhill_cosine_of_one():
    stats, _, lr = _last_step("sgd")
    assert stats.step_decrease == pytest.approx(lr * stats.grad_norm**2, rel=1e-4)
    assert stats.step_cos == pytest.approx(1.0, abs=1e-5)


def test_version_1s_plain_sgd_formula_misjudges_the_other_optimizers():
    # momentum at this LR oscillates: its last step went uphill, which version 2 sees (a
    # negative decrease and cosine) and version 1's eta ||g||^2 reports as a decrease
    stats, realised, lr = _last_step("sgd-momentum")
    assert realised < 0 and stats.step_decrease < 0 and stats.step_cos < 0
    assert lr * stats.grad_norm**2 > 0
    # Adam's step is not along g: version 1 overstates its decrease by more than 2x
    stats, realised, lr = _last_step("adam")
    assert lr * stats.grad_norm**2 / realised > 2.0
    assert 0 < stats.step_cos < 0.95

import numpy as np
import pytest
import torch

from search import AutoLRSLoop
from tests.toy import ToyTrainee


def _setup() -> tuple[ToyTrainee, list]:
    trainee = ToyTrainee(seed=0)
    batches = [trainee.batch(i) for i in range(40)]  # a small "loader", cycled
    return trainee, batches


def test_dropin_trains_within_budget_and_learns() -> None:
    trainee, batches = _setup()
    opt = trainee.optimizer

    def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        opt.zero_grad()
        loss = trainee.loss(batch)
        loss.backward()
        opt.step()
        return loss.item()

    with torch.no_grad():
        start = float(trainee.loss(batches[0]))
    loop = AutoLRSLoop(
        trainee.model,
        opt,
        train_step,
        batches,
        budget_steps=200,
        preset="fast",
        k=3,
        tau0=30,
        trial_fraction=0.25,
        lr_range=(1e-3, 0.2),
    )
    trace = loop.fit()
    led = loop.ledger
    assert led.charged == 200 and led.kept == len(trace) and led.probe > 0
    assert [s for s, _, _ in trace] == list(range(1, led.kept + 1))
    assert np.mean([loss for _, _, loss in trace[-10:]]) < 0.3 * start
    assert all(0 <= lr <= 0.4 for _, lr, _ in trace)
    assert trace[-1][1] < 0.05 * max(lr for _, lr, _ in trace)  # the final decay


def test_dropin_probe_restores_and_replays_batches() -> None:
    trainee, batches = _setup()
    opt = trainee.optimizer

    def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        opt.zero_grad()
        loss = trainee.loss(batch)
        loss.backward()
        opt.step()
        return loss.item()

    loop = AutoLRSLoop(trainee.model, opt, train_step, iter(batches), budget_steps=100)
    before = {k: v.clone() for k, v in trainee.model.state_dict().items()}
    a, b = loop.probe.run(0.01, 5), loop.probe.run(0.01, 5)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert all(torch.equal(before[k], v) for k, v in trainee.model.state_dict().items())
    assert loop.ledger.probe == 10 and loop.ledger.kept == 0


def test_dropin_validates() -> None:
    trainee, batches = _setup()
    with pytest.raises(ValueError, match="train_step"):
        AutoLRSLoop(trainee.model, trainee.optimizer, None, batches, budget_steps=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k"):
        AutoLRSLoop(trainee.model, trainee.optimizer, print, batches, budget_steps=10, k=0)


def test_dropin_is_a_session_that_honours_lr_scale() -> None:
    """The drop-in loop writes LRs through the session's stepper: lr_scale holds there too."""
    trainee = ToyTrainee(seed=0, groups=2)
    opt = trainee.optimizer
    opt.param_groups[1]["lr_scale"] = 0.25
    seen: list[tuple[float, float]] = []

    def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        opt.zero_grad()
        loss = trainee.loss(batch)
        loss.backward()
        opt.step()
        return loss.item()

    batches = [trainee.batch(i) for i in range(10)]
    loop = AutoLRSLoop(trainee.model, opt, train_step, batches, budget_steps=60, k=3, tau0=20)
    loop.fit()
    assert loop.session.ledger.charged == 60 and len(seen) == 60
    assert all(b == pytest.approx(0.25 * a, rel=1e-12) for a, b in seen)


def test_dropin_refuses_an_exhausted_iterator() -> None:
    trainee, batches = _setup()
    loop = AutoLRSLoop(
        trainee.model, trainee.optimizer, lambda b: 0.0, iter(batches[:3]), budget_steps=50
    )
    with pytest.raises(ValueError, match="re-iterable"):
        loop.probe.run(0.01, 5)

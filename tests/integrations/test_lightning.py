"""``AutoLRCallback`` in a ``lightning.Trainer``: the LR every step trains with is the
controller's, LearningRateMonitor logs it, the controller gets the losses and validation
numbers, and probing controllers train through the module's ``training_step``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import autolr
from tests.integrations import need, plateau_lrs

need("lightning")
import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.callbacks import LearningRateMonitor  # noqa: E402
from lightning.pytorch.loggers import Logger  # noqa: E402

from autolr.integrations.lightning import AutoLRCallback  # noqa: E402


class MemoryLogger(Logger):
    """Keeps what the Trainer logs: ``metrics[name]`` is a list of (step, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, list[tuple[int, float]]] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append((int(step or 0), float(value)))


class Regression(pl.LightningModule):
    """A linear model on y = x @ w; records the LR and loss of every step it trains."""

    def __init__(self, scheduler: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.scheduler = scheduler
        self.lrs: list[float] = []
        self.losses: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        self.losses.append(loss.item())
        self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("val_loss", loss)
        self.log("val_score", -loss)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.scheduler:
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, 10)]
        return opt


def loader(seed: int, n: int = 64) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def fit(module: Regression, callback: AutoLRCallback, **options: Any) -> tuple[pl.Trainer, Any]:
    logger = MemoryLogger()
    settings: dict[str, Any] = {
        "max_steps": 24,
        "accelerator": "cpu",
        "devices": 1,
        "logger": logger,
        "log_every_n_steps": 1,
        "num_sanity_val_steps": 0,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    settings.update(options)
    # the monitor first: it reads the LR before the callback runs, and must see the step's LR
    trainer = pl.Trainer(
        callbacks=[LearningRateMonitor(logging_interval="step"), callback], **settings
    )
    trainer.fit(module, loader(0), loader(1, 16))
    return trainer, logger


def test_a_fixed_schedule_drives_every_step_and_learning_rate_monitor_logs_it():
    spec = {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.05, "total_steps": 24}}
    module, callback = Regression(), AutoLRCallback(spec, interval=5)
    trainer, logger = fit(module, callback)
    expected = autolr.schedules.cosine(lr=0.05, total_steps=24).values(np.arange(24))
    np.testing.assert_allclose(module.lrs, expected, rtol=1e-15)
    steps, logged = zip(*logger.metrics["lr-SGD"], strict=True)
    assert list(steps) == list(range(24))
    np.testing.assert_allclose(logged, expected, rtol=1e-15)
    assert trainer.global_step == 24 and callback.handle.step_count == 24


def test_the_controller_gets_the_losses_and_the_validation_numbers():
    spec = {"name": "plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5}
    spec["threshold"] = 0.74  # better: below 0.26 times the best (it falls ~4x a validation)
    module = Regression()
    callback = AutoLRCallback(spec, interval=4, val_metric="val_score")
    trainer, logger = fit(module, callback, val_check_interval=4)
    state = callback.handle.state
    np.testing.assert_allclose(state.losses, module.losses[-4:], rtol=1e-6)
    assert state.loss_last == pytest.approx(module.losses[-1], rel=1e-6)
    assert state.val_loss == pytest.approx(float(trainer.callback_metrics["val_loss"]))
    assert state.val_metric == pytest.approx(float(trainer.callback_metrics["val_score"]))
    assert state.val_step == 24  # the last validation, after the last step
    # plateau on the validations: halved after each one that was no better than the best.
    # Lightning validates after the step's decision, so the decision after step 4(k + 2)
    # is the first to see validation k (after step 4(k + 1)); the one after step 4 sees none.
    evals = [v for _, v in logger.metrics["val_loss"]]
    assert len(evals) == 6
    expected = plateau_lrs(evals[:-2], 0.1, better=0.26)
    np.testing.assert_allclose(module.lrs[8::4], expected, rtol=1e-12)
    assert module.lrs[:8] == [0.1] * 8


def test_gradient_accumulation_feeds_one_mean_loss_per_optimizer_step():
    spec = {"name": "fixed", "schedule": {"name": "linear", "lr": 0.05, "total_steps": 6}}
    module = Regression()
    callback = AutoLRCallback(spec, interval=3)
    trainer, _ = fit(module, callback, max_steps=6, accumulate_grad_batches=2)
    assert trainer.global_step == callback.handle.step_count == 6
    pairs = np.array(module.losses).reshape(6, 2).mean(axis=1)
    np.testing.assert_allclose(callback.handle.state.losses, pairs[3:], rtol=1e-6)
    # both batches of an optimizer step train at its LR
    expected = autolr.schedules.linear(lr=0.05, total_steps=6).values(np.arange(6))
    np.testing.assert_allclose(module.lrs, np.repeat(expected, 2), rtol=1e-15)


def test_a_probing_controller_trains_probes_through_training_step_within_the_budget():
    module = Regression()
    callback = AutoLRCallback({"name": "lr_finder", "num_steps": 20}, interval=10)
    trainer, logger = fit(module, callback, max_steps=60)
    handle = callback.handle
    probes = handle.ledger.probes
    assert probes == 20  # the range test, charged
    # kept + probe steps spend the budget (the Trainer's max_steps), then the Trainer stops
    assert trainer.global_step == handle.step_count == 60 - probes
    assert handle.charged == 60
    # the probes were undone: the kept run starts from the module's initial weights
    torch.manual_seed(0)
    fresh = torch.nn.Linear(4, 1)
    first = module.losses[len(module.losses) - trainer.global_step]
    x, y = next(iter(loader(0)))
    assert first == pytest.approx(torch.nn.functional.mse_loss(fresh(x), y).item(), rel=1e-6)
    # the probes' training_step calls did not log; the kept steps' did, at the LR chosen
    assert len(logger.metrics["train_loss"]) == trainer.global_step
    # ... and the controller's one-cycle peaks at the range test's suggestion
    kept_lrs = module.lrs[probes:]
    assert max(kept_lrs) == pytest.approx(handle.controller.stats()["suggested_lr"], rel=1e-12)
    assert [v for _, v in logger.metrics["lr-SGD"]] == kept_lrs


def test_misuse_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="interval must be an integer >= 1, got 0"):
        AutoLRCallback("plateau", interval=0)
    with pytest.raises(ValueError, match="unknown controller 'platoe'"):
        AutoLRCallback("platoe", interval=4)
    endless = {"max_steps": -1, "max_epochs": -1}
    with pytest.raises(ValueError, match=r"'auto' needs probes, .* give AutoLRCallback budget"):
        fit(Regression(), AutoLRCallback("auto", interval=4), **endless)
    with pytest.raises(ValueError, match=r"LR schedulers \['StepLR'\]"):
        fit(Regression(scheduler=True), AutoLRCallback("plateau", interval=4))
    with pytest.raises(ValueError, match="val_metric='accuracy' is not among the logged"):
        fit(Regression(), AutoLRCallback("plateau", 4, val_metric="accuracy"), max_steps=8)
    with pytest.raises(ValueError, match="cannot resume a run from a checkpoint"):
        AutoLRCallback("plateau", interval=4).load_state_dict({"steps": 3})

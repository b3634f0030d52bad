"""The Hugging Face Trainer pair: every step trains at the controller's LR, the Trainer
logs that LR, and the controller gets each step's loss and the evaluations' metrics."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import autolr
from tests.integrations import need, plateau_lrs

need("transformers")
need("accelerate")
import transformers  # noqa: E402

from autolr.integrations.transformers import (  # noqa: E402
    ControllerLR,
    TrainerProbeSteps,
    attach,
)


class Tiny(torch.nn.Module):
    """A linear regression whose forward returns {"loss", "logits"}; records the loss of
    every training forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.losses: list[float] = []

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = self.net(x)
        loss = torch.nn.functional.mse_loss(pred, labels)
        if self.training:
            self.losses.append(loss.item())
        return {"loss": loss, "logits": pred}


def rows(seed: int, n: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


class LRSeen(transformers.TrainerCallback):
    """The LR of the optimizer's param group when each step is taken."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append(kw["optimizer"].param_groups[0]["lr"])


def train(
    tmp_path: Path, controller: Any, interval: int, **options: Any
) -> tuple[transformers.Trainer, Any, LRSeen, Tiny]:
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    feed = {k: options.pop(k) for k in ("val_loss", "val_metric", "budget_steps") if k in options}
    budget = feed.pop("budget_steps", None)
    scheduler, callback = attach(optimizer, controller, interval, budget, **feed)
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / "hf"),
        "max_steps": 24,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        "remove_unused_columns": False,
        "seed": 0,
    }
    settings.update(options)
    seen = LRSeen()
    trainer = transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(**settings),
        train_dataset=rows(0, 64),
        eval_dataset=rows(1, 16),
        optimizers=(optimizer, scheduler),
        callbacks=[callback, seen],
    )
    trainer.train()
    return trainer, callback, seen, model


def logged(trainer: transformers.Trainer, key: str) -> list[float]:
    return [entry[key] for entry in trainer.state.log_history if key in entry]


def test_a_fixed_schedule_drives_every_step_and_the_trainer_logs_it(tmp_path):
    spec = {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.05, "total_steps": 24}}
    trainer, callback, seen, _ = train(tmp_path, spec, interval=5)
    expected = autolr.schedules.cosine(lr=0.05, total_steps=24).values(np.arange(24))
    np.testing.assert_allclose(seen.lrs, expected, rtol=1e-15)
    np.testing.assert_allclose(logged(trainer, "learning_rate"), expected, rtol=1e-15)
    assert trainer.state.global_step == callback.handle.step_count == 24


def test_the_controller_gets_each_steps_loss_and_the_evaluations(tmp_path):
    spec = {"name": "plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5}
    spec["threshold"] = 0.2  # better: 20% below the best
    trainer, callback, seen, model = train(
        tmp_path, spec, interval=4, eval_strategy="steps", eval_steps=4
    )
    state = callback.handle.state
    np.testing.assert_allclose(state.losses, model.losses[-4:], rtol=1e-6)
    evals = logged(trainer, "eval_loss")
    assert len(evals) == 6 and state.val_loss == pytest.approx(evals[-1], rel=1e-12)
    assert state.val_metric is None and state.val_step == 24
    # plateau on the evaluations: halved after each one that was no better than the best.
    # The Trainer evaluates after the step's decision, so the decision after step 4(k + 2)
    # is the first to see evals[k] (at step 4(k + 1)); the one after step 4 sees none.
    expected = plateau_lrs(evals[:-2], 0.1, better=0.8)
    np.testing.assert_allclose(seen.lrs[8::4], expected, rtol=1e-12)
    assert seen.lrs[:8] == [0.1] * 8


def test_gradient_accumulation_feeds_one_mean_loss_per_optimizer_step(tmp_path):
    spec = {"name": "fixed", "schedule": {"name": "linear", "lr": 0.05, "total_steps": 6}}
    trainer, callback, seen, model = train(
        tmp_path, spec, interval=3, max_steps=6, gradient_accumulation_steps=2
    )
    assert trainer.state.global_step == callback.handle.step_count == 6
    pairs = np.array(model.losses).reshape(6, 2).mean(axis=1)
    np.testing.assert_allclose(callback.handle.state.losses, pairs[3:], rtol=1e-6)
    expected = autolr.schedules.linear(lr=0.05, total_steps=6).values(np.arange(6))
    np.testing.assert_allclose(seen.lrs, expected, rtol=1e-15)


def test_budget_steps_stops_the_trainer(tmp_path):
    trainer, callback, _, _ = train(tmp_path, "greedy", interval=5, budget_steps=10)
    assert trainer.state.global_step == callback.handle.step_count == 10 and callback.handle.done


def replayed(tmp_path: Path, lrs: list[float], max_steps: int) -> Tiny:
    """The same Trainer run at ``lrs`` given by a plain torch scheduler (no controller)."""
    model = Tiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: lrs[min(i, len(lrs) - 1)])
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "replay"),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=0,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows(0, 64),
        optimizers=(optimizer, schedule),
    )
    trainer.train()
    return model


def test_auto_probes_are_charged_undone_and_leave_the_run_its_batches(tmp_path):
    spec = {"name": "auto", "lr": 0.02, "coarse_frac": 0.05}
    trainer, callback, seen, model = train(tmp_path, spec, interval=5, max_steps=80)
    handle = callback.handle
    stats = handle.controller.stats()
    probes = int(stats["probe_steps"])
    assert probes > 0 and handle.charged == 80 == handle.step_count + probes
    # the Trainer stopped when kept and probe steps had spent max_steps
    assert trainer.state.global_step == handle.step_count == len(seen.lrs) < 80
    # the probes chose a peak other than the initial LR, and the steps followed it
    assert stats["peak_lr"] != pytest.approx(0.02) and max(seen.lrs) == pytest.approx(
        stats["peak_lr"], rel=1e-12
    )
    # each training forward of a probe went to the model, none to the controller's losses
    assert len(model.losses) == handle.step_count + probes
    np.testing.assert_allclose(handle.state.losses, model.losses[-len(handle.state.losses) :])
    # undone: the same run at the same LRs without a controller ends at the same weights
    replay = replayed(tmp_path, seen.lrs, trainer.state.global_step)
    for ours, theirs in zip(model.parameters(), replay.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_probe_step_accumulates_clips_and_steps_as_the_trainer_does(tmp_path):
    data = rows(1, 16)
    loader = torch.utils.data.DataLoader(data, batch_size=4)  # stands for the Trainer's
    args = transformers.TrainingArguments(
        str(tmp_path / "p"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_grad_norm=0.5,
        use_cpu=True,
        seed=3,
        report_to=[],
    )
    model = Tiny()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = TrainerProbeSteps(model, optimizer, loader, args)
    loss = probe()
    # the same two micro-batches, drawn by the probe's own loader seeded by args.seed
    seeded = torch.Generator().manual_seed(3)
    batches = iter(torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, generator=seeded))
    losses = [reference(**next(batches))["loss"] for _ in range(2)]
    (sum(losses) / 2).backward()
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
    assert norm > 0.5  # the clipping mattered
    with torch.no_grad():
        for w in reference.parameters():
            w -= 0.1 * w.grad
    assert loss == pytest.approx(float(sum(losses).detach()) / 2, rel=1e-6)
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)
    assert not probe.running and all(w.grad is None for w in model.parameters())


def sequences(seed: int, n: int) -> list[dict[str, torch.Tensor]]:
    """Token sequences of arithmetic progressions mod 32: next-token prediction learnable."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 4, (n, 1), generator=g) * torch.arange(16) + torch.randint(
        0, 32, (n, 1), generator=g
    )
    return [{"input_ids": row % 32, "labels": row % 32} for row in ids]


def train_gpt2(
    tmp_path: Path, controller: Any, interval: int, max_steps: int, **options: Any
) -> tuple[transformers.Trainer, Any, LRSeen]:
    """A one-layer GPT-2 built from its config (no download) under AdamW and the pair."""
    config = transformers.GPT2Config(
        vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler, callback = attach(optimizer, controller, interval)
    seen = LRSeen()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "gpt2"),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        **options,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=sequences(0, 128),
        eval_dataset=sequences(1, 32),
        optimizers=(optimizer, scheduler),
        callbacks=[callback, seen],
    )
    trainer.train()
    return trainer, callback, seen


def test_a_gpt2_from_a_config_follows_plateau_on_its_evaluations(tmp_path):
    spec = {"name": "plateau", "monitor": "val_loss", "patience": 0, "factor": 0.5}
    spec["threshold"] = 0.1
    trainer, callback, seen = train_gpt2(
        tmp_path, spec, interval=4, max_steps=32, eval_strategy="steps", eval_steps=4
    )
    handle = callback.handle
    assert trainer.state.global_step == handle.step_count == len(seen.lrs) == 32
    # GPT-2 takes num_items_in_batch: the model's per-step loss is the one the Trainer logs
    np.testing.assert_allclose(
        handle.state.losses, logged(trainer, "loss")[-len(handle.state.losses) :], rtol=1e-5
    )
    evals = logged(trainer, "eval_loss")
    expected = plateau_lrs(evals[:-2], 0.01, better=0.9)
    np.testing.assert_allclose(seen.lrs[8::4], expected, rtol=1e-12)
    assert seen.lrs[:8] == [0.01] * 8


def test_a_gpt2_from_a_config_trains_under_auto_with_its_probes_charged(tmp_path):
    spec = {"name": "auto", "lr": 0.01, "coarse_frac": 0.05}
    trainer, callback, seen = train_gpt2(tmp_path, spec, interval=5, max_steps=60)
    handle = callback.handle
    stats = handle.controller.stats()
    assert stats["probe_steps"] > 0 and handle.charged == 60
    assert trainer.state.global_step == handle.step_count == len(seen.lrs) < 60
    assert handle.step_count + stats["probe_steps"] == 60
    # the steps trained at the controller's LRs: its peak is the largest the Trainer took
    assert max(seen.lrs) == pytest.approx(stats["peak_lr"], rel=1e-12)
    np.testing.assert_allclose(logged(trainer, "learning_rate"), seen.lrs, rtol=1e-15)
    assert np.isfinite(handle.state.losses).all()


def test_misuse_is_refused_with_the_reason(tmp_path):
    opt = torch.optim.SGD(Tiny().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="controller 'auto' needs probes: start it through"):
        ControllerLR(opt, "auto", interval=10).start(100)
    with pytest.raises(ValueError, match="cannot run a probing controller with fp16=True"):
        TrainerProbeSteps(Tiny(), opt, None, transformers.TrainingArguments("x", fp16=True))
    with pytest.raises(ValueError, match="unknown controller 'platoe'"):
        attach(opt, "platoe", interval=10)
    with pytest.raises(ValueError, match="interval must be an integer >= 1, got 0"):
        attach(opt, "plateau", interval=0)
    with pytest.raises(ValueError, match="val_metric='eval_accuracy' is not among"):
        train(
            tmp_path,
            "plateau",
            4,
            val_metric="eval_accuracy",
            eval_strategy="steps",
            eval_steps=4,
            max_steps=4,
        )
    with pytest.raises(ValueError, match="cannot resume a run from a checkpoint"):
        ControllerLR(opt, "plateau", 4).load_state_dict({"last_epoch": 3})

"""``AutoLRCallback``: a controller drives the LR of a ``lightning.Trainer`` run.

Needs the ``lightning`` package: ``pip install 'autolr[lightning]'``.

```python
from autolr.integrations.lightning import AutoLRCallback

trainer = lightning.Trainer(max_steps=3000, callbacks=[AutoLRCallback("auto", interval=50)])
trainer.fit(module, datamodule)
```
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from autolr.integrations.controllers import ControllerSpec, needs_probe, spec_name
from autolr.integrations.extras import require
from autolr.integrations.metrics import validation_numbers
from autolr.loop.attach import Handle, attach

require("lightning", "lightning", "autolr.integrations.lightning")
import lightning.pytorch as pl  # noqa: E402  (after the check that names the extra)


class AutoLRCallback(pl.Callback):
    """Drives ``controller`` (a controller, its config dict or its name) over the Trainer's
    optimizer, deciding every ``interval`` optimizer steps, through ``autolr.attach``.

    - **LR.** At ``on_train_start`` the callback attaches the controller to
      ``trainer.optimizers[0]`` and writes the first LR into its param groups; after each
      optimizer step it writes the next one. ``LearningRateMonitor`` reads the param
      groups before each step, so it logs the LR every step trains with. The module's
      ``configure_optimizers`` must return one optimizer and no LR scheduler.
    - **Losses.** Each optimizer step's loss is ``training_step``'s loss (the mean over the
      batches of a gradient-accumulation step); validation numbers are read from
      ``trainer.callback_metrics`` at the end of each validation (not the sanity check):
      ``val_loss`` and ``val_metric`` name the logged keys (None: not fed).
    - **Budget.** ``budget_steps`` defaults to ``trainer.estimated_stepping_batches`` (from
      ``max_steps`` or ``max_epochs``). Once kept and probe steps have spent it, the
      callback stops the Trainer (``trainer.should_stop``).
    - **Probes.** A controller that needs them (``auto``, ``lr_finder``) gets a
      ``train_step`` closure: one whole optimizer step of the module's ``training_step`` on
      the next batch of a stream of its own over ``trainer.train_dataloader``, through the
      strategy (DDP's forward, the precision plugin, gradient clipping), with the module's
      ``self.log`` calls dropped. Probes are undone (``autolr.loop.closure_probe``) and
      charged to the budget; the Trainer's own batches are not spent.

    A run resumed from a checkpoint cannot continue the controller (its state is not in
    the checkpoint): ``load_state_dict`` refuses it.
    """

    def __init__(
        self,
        controller: ControllerSpec,
        interval: int,
        budget_steps: int | None = None,
        *,
        val_loss: str | None = "val_loss",
        val_metric: str | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        self.probing = needs_probe(controller)  # an unknown name is refused here
        self.controller = controller
        self.interval = interval
        self.budget_steps = budget_steps
        self.val_loss, self.val_metric = val_loss, val_metric
        self.handle: Handle | None = None
        self._loss = 0.0  # the loss summed over the batches of the optimizer step under way
        self._global_step = 0

    # ---- the Trainer's hooks -----------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizer = _one_optimizer(trainer, pl_module)
        budget = self.budget_steps
        if budget is None:
            estimated = trainer.estimated_stepping_batches
            budget = int(estimated) if math.isfinite(estimated) else None
        if budget is None and self.probing:
            raise ValueError(
                f"controller {spec_name(self.controller)!r} needs probes, which are charged "
                "to the budget: give AutoLRCallback budget_steps, or the Trainer max_steps "
                "or max_epochs"
            )
        self.handle = attach(
            optimizer,
            self.controller,
            self.interval,
            budget,
            train_step=_ProbeSteps(trainer, pl_module, optimizer) if self.probing else None,
            model=pl_module,
        )
        self._global_step = trainer.global_step

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        handle = self._attached()
        if outputs is not None:  # None: training_step skipped the batch
            self._loss += float(_loss_of(outputs).detach())
        if trainer.global_step == self._global_step:  # accumulating gradients
            return
        self._global_step = trainer.global_step
        loss, self._loss = self._loss, 0.0
        handle.step(loss)
        if handle.done:
            trainer.should_stop = True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.handle is None:
            return
        metrics = trainer.callback_metrics

        def missing(field: str, key: str) -> str:
            return (
                f"AutoLRCallback {field}={key!r} is not among the logged metrics "
                f"{sorted(metrics)}: log it in validation_step, or pass {field}=None"
            )

        self.handle.evaluated(
            **validation_numbers(metrics, self.val_loss, self.val_metric, missing)
        )

    def state_dict(self) -> dict[str, Any]:
        return {"steps": 0 if self.handle is None else self.handle.step_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        raise ValueError(
            "AutoLRCallback cannot resume a run from a checkpoint: the controller's state is "
            f"not saved (the checkpoint was taken after {state_dict.get('steps')} steps); "
            "start the run again, or fit without ckpt_path"
        )

    def _attached(self) -> Handle:
        if self.handle is None:
            raise RuntimeError("AutoLRCallback: a training batch ended before on_train_start")
        return self.handle


class _ProbeSteps:
    """``train_step()`` for probes: one optimizer step of ``training_step`` on the next
    batch of its own pass over ``trainer.train_dataloader`` (restarted when it ends)."""

    def __init__(
        self, trainer: pl.Trainer, module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        self.trainer, self.module, self.optimizer = trainer, module, optimizer
        self._batches: Iterator[Any] | None = None
        self.calls = 0

    def __call__(self) -> float:
        strategy = self.trainer.strategy
        batch = strategy.batch_to_device(self._next_batch())
        index, self.calls = self.calls, self.calls + 1
        losses: list[torch.Tensor] = []

        def closure() -> torch.Tensor:
            loss = _loss_of(strategy.training_step(batch, index))
            self.optimizer.zero_grad()
            strategy.backward(loss, self.optimizer)
            losses.append(loss.detach())
            return loss

        with _muted(self.module):
            strategy.optimizer_step(self.optimizer, closure)
        return float(losses[-1])

    def _next_batch(self) -> Any:
        loader = self.trainer.train_dataloader
        if loader is None:
            raise ValueError("AutoLRCallback: probes need the Trainer's train_dataloader")
        if self._batches is None:
            self._batches = iter(loader)
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(loader)
            return next(self._batches)


@contextlib.contextmanager
def _muted(module: pl.LightningModule) -> Iterator[None]:
    """``module.log`` and ``log_dict`` do nothing inside: a probe's numbers are not the
    run's (and ``on_train_start`` may not log)."""
    ignore: Callable[..., None] = lambda *args, **kwargs: None  # noqa: E731
    module.log = ignore  # type: ignore[method-assign]
    module.log_dict = ignore  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.log, module.log_dict


def _one_optimizer(trainer: pl.Trainer, module: pl.LightningModule) -> torch.optim.Optimizer:
    if not module.automatic_optimization:
        raise ValueError(
            "AutoLRCallback needs automatic optimization (automatic_optimization=False is set): "
            "with manual optimization, use autolr.attach in training_step"
        )
    if len(trainer.optimizers) != 1:
        raise ValueError(
            f"AutoLRCallback drives one optimizer; configure_optimizers gave "
            f"{len(trainer.optimizers)}"
        )
    if trainer.lr_scheduler_configs:
        names = [type(c.scheduler).__name__ for c in trainer.lr_scheduler_configs]
        raise ValueError(
            f"AutoLRCallback sets the LR, but configure_optimizers also gave LR schedulers "
            f"{names}: return the optimizer alone"
        )
    return trainer.optimizers[0]


def _loss_of(output: Any) -> torch.Tensor:
    """The loss in what ``training_step`` returned: a tensor, or a mapping's ``"loss"``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("loss"), torch.Tensor):
        return output["loss"]
    raise ValueError(
        f"AutoLRCallback reads the loss that training_step returns (a tensor, or a dict with "
        f"'loss'), got {type(output).__name__}"
    )

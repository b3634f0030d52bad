"""A controller drives the LR of a Hugging Face ``Trainer``: a scheduler and callback pair.

Needs ``transformers`` and ``accelerate`` (which the Trainer runs on): ``pip install
'autolr[hf]'``.

```python
from autolr.integrations.transformers import attach

scheduler, callback = attach(optimizer, "plateau", interval=50, val_metric="eval_accuracy")
trainer = Trainer(model, args, train_dataset=train, eval_dataset=val,
                  optimizers=(optimizer, scheduler), callbacks=[callback])
trainer.train()
```

A probing controller (``"auto"``) works the same way: the callback trains its probes on
batches of its own from the Trainer's training dataset, charged to the budget and undone
(``TrainerProbeSteps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from autolr.integrations.controllers import ControllerSpec, needs_probe, spec_name
from autolr.integrations.extras import require
from autolr.integrations.metrics import validation_numbers
from autolr.loop.attach import Handle
from autolr.loop.attach import attach as attach_handle

require("transformers", "hf", "autolr.integrations.transformers")
require("accelerate", "hf", "the Hugging Face Trainer")
import transformers  # noqa: E402  (after the checks that name the extra)


class ControllerLR(LRScheduler):
    """The scheduler half: the Trainer's ``lr_scheduler``, which reports the LR the
    controller set and sets none itself.

    ``start(max_steps)`` (the callback's ``on_train_begin``) attaches the controller to the
    optimizer (``autolr.attach``, with ``budget_steps`` or else the Trainer's max_steps),
    which writes the first LR into the param groups; the callback then steps the handle
    after every optimizer step, before the Trainer calls ``step()`` here. So
    ``get_last_lr()``, which the Trainer logs as ``learning_rate``, is the LR of the step
    just taken. Before ``start``, the param groups keep their LR.

    Its checkpoint (``state_dict``) holds the step count alone; a Trainer resumed from one
    cannot continue the controller, whose state is not in it: ``load_state_dict`` refuses.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        controller: ControllerSpec,
        interval: int,
        budget_steps: int | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        self.probing = needs_probe(controller)  # an unknown name is refused here
        self.controller = controller
        self.interval = interval
        self.budget_steps = budget_steps
        self.handle: Handle | None = None
        super().__init__(optimizer)

    def start(
        self,
        max_steps: int,
        train_step: Callable[[], float] | None = None,
        model: torch.nn.Module | None = None,
    ) -> Handle:
        """Attach the controller (once); its budget is ``budget_steps`` or ``max_steps``.
        A controller that needs probes trains them through ``train_step`` (the callback's
        ``TrainerProbeSteps``), undoing them on ``model`` and the optimizer."""
        if self.handle is None:
            if self.probing and train_step is None:
                raise ValueError(
                    f"controller {spec_name(self.controller)!r} needs probes: start it through "
                    "AutoLRTrainerCallback (autolr.integrations.transformers.attach), which "
                    "trains them"
                )
            budget = self.budget_steps if self.budget_steps is not None else max_steps
            self.handle = attach_handle(
                self.optimizer,
                self.controller,
                self.interval,
                budget,
                train_step=train_step,
                model=model,
            )
            self._last_lr = self.get_lr()
        return self.handle

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Count a step and read the LRs the handle wrote for the next one."""
        if epoch is not None:
            raise ValueError("ControllerLR.step takes no epoch; the controller sets the LR")
        self._step_count += 1
        self.last_epoch += 1
        self._last_lr = self.get_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_step_count": self._step_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        raise ValueError(
            "ControllerLR cannot resume a run from a checkpoint: the controller's state is "
            f"not saved (the checkpoint was taken after {state_dict.get('last_epoch')} steps); "
            "train again without resume_from_checkpoint"
        )


class AutoLRTrainerCallback(transformers.TrainerCallback):
    """The callback half: feeds the controller each optimizer step's loss and the
    evaluations' metrics, and stops training when the budget is spent.

    - **Losses.** The loss of a step is read from the model's output (``outputs["loss"]``
      or ``.loss``) on its training forwards: the mean over the micro-batches of a
      gradient-accumulation step, or their sum where the Trainer passed the model
      ``num_items_in_batch`` (the model then normalised each part by the step's total). A
      model that computes no loss itself (``label_smoothing_factor``, ``compute_loss_func``)
      is refused at the first step.
    - **Evaluations.** ``on_evaluate``'s metrics named by ``val_loss`` (default
      ``"eval_loss"``) and ``val_metric`` (e.g. ``"eval_accuracy"``; None: not fed) reach the
      controller as ``state.val_loss`` and ``state.val_metric``.
    """

    def __init__(
        self,
        scheduler: ControllerLR,
        val_loss: str | None = "eval_loss",
        val_metric: str | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.val_loss, self.val_metric = val_loss, val_metric
        self._losses: list[torch.Tensor] = []
        self._summed = False  # the model got num_items_in_batch: its losses add up
        self._hook: Any = None
        self._probes: TrainerProbeSteps | None = None  # a probing controller's steps

    @property
    def handle(self) -> Handle | None:
        return self.scheduler.handle

    def on_train_begin(
        self,
        args: Any,
        state: Any,
        control: Any,
        model: torch.nn.Module | None = None,
        train_dataloader: Any = None,
        **_: Any,
    ) -> None:
        if model is None:
            raise ValueError("AutoLRTrainerCallback needs the Trainer's model")
        probes = None
        if self.scheduler.probing:  # refused (fp16, several processes) before any hook
            probes = TrainerProbeSteps(model, self.scheduler.optimizer, train_dataloader, args)
            self._probes = probes
        self.scheduler.start(int(state.max_steps), train_step=probes, model=model)
        self._hook = model.register_forward_hook(self._record, with_kwargs=True)

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if not self._losses:
            raise ValueError(
                "AutoLRTrainerCallback reads each step's loss from the model's output "
                "('loss'), and the model returned none in training: let the model compute "
                "its loss (no label_smoothing_factor or compute_loss_func)"
            )
        losses = torch.stack(self._losses)
        loss = losses.sum() if self._summed else losses.mean()
        self._losses = []
        self._started().step(float(loss))

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._started().done:
            control.should_training_stop = True

    def on_evaluate(
        self,
        args: Any,
        state: Any,
        control: Any,
        metrics: Mapping[str, float] | None = None,
        **_: Any,
    ) -> None:
        handle = self.handle
        if handle is None:  # an evaluation outside train()
            return
        metrics = metrics or {}

        def missing(field: str, key: str) -> str:
            return (
                f"AutoLRTrainerCallback {field}={key!r} is not among the evaluation's "
                f"metrics {sorted(metrics)}: name one of them, or pass {field}=None"
            )

        handle.evaluated(**validation_numbers(metrics, self.val_loss, self.val_metric, missing))

    def _record(
        self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any], output: Any
    ) -> None:
        if not module.training:  # an evaluation's forward
            return
        if self._probes is not None and self._probes.running:  # a probe's, not the run's
            return
        loss = _output_loss(output)
        if loss is not None:
            self._losses.append(loss.detach().float())
            self._summed = kwargs.get("num_items_in_batch") is not None

    def _started(self) -> Handle:
        if self.handle is None:
            raise RuntimeError("AutoLRTrainerCallback: a step ended before on_train_begin")
        return self.handle


class TrainerProbeSteps:
    """``train_step()`` for a probing controller's probes (``auto``, ``lr_finder``): one
    optimizer step as the Trainer takes it, on batches of a stream of its own.

    - **Batches.** A ``DataLoader`` over the Trainer's training dataset (after its column
      removal) with its collator, ``per_device_train_batch_size`` and a shuffle seeded by
      ``args.seed`` (in order for an iterable dataset), restarted when it ends. The
      Trainer's own loader, its sampler and accelerate's state are not touched, so the run
      sees the batches it would have seen.
    - **A step.** ``gradient_accumulation_steps`` micro-batches, each loss divided by
      their number, ``backward``, clipping to ``max_grad_norm`` (when above 0), then the
      optimizer's step. The loss is the model's (``outputs["loss"]`` or ``.loss``).
    - **Refused:** several processes (the probes' gradients would not be all-reduced: use
      ``autolr.integrations.lightning`` or ``autolr.attach`` under DDP) and ``fp16`` (the
      probes would train outside the Trainer's loss scaler). Probes run without the
      Trainer's autocast, in the model's own dtype.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loader: Any,
        args: Any,
    ) -> None:
        if int(getattr(args, "world_size", 1)) > 1:
            raise ValueError(
                f"AutoLRTrainerCallback runs a probing controller in one process only (world "
                f"size {args.world_size}): use autolr.integrations.lightning or autolr.attach "
                "under DDP"
            )
        if getattr(args, "fp16", False):
            raise ValueError(
                "AutoLRTrainerCallback cannot run a probing controller with fp16=True (its "
                "probes would train outside the Trainer's loss scaler): use bf16 or fp32"
            )
        dataset = getattr(loader, "dataset", None)
        if dataset is None:
            raise ValueError("AutoLRTrainerCallback: probes need the Trainer's train_dataloader")
        shuffle = not isinstance(dataset, torch.utils.data.IterableDataset)
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=int(args.per_device_train_batch_size),
            shuffle=shuffle,
            collate_fn=loader.collate_fn,
            drop_last=bool(args.dataloader_drop_last),
            generator=torch.Generator().manual_seed(int(args.seed)) if shuffle else None,
        )
        self.model, self.optimizer = model, optimizer
        self.device = args.device
        self.accumulation = int(args.gradient_accumulation_steps)
        self.max_grad_norm = float(args.max_grad_norm or 0.0)
        self.running = False  # inside a probe step: the callback records no loss
        self._batches: Iterator[Any] | None = None

    def __call__(self) -> float:
        self.running = True
        try:
            self.model.train()
            self.optimizer.zero_grad()
            total = 0.0
            for _ in range(self.accumulation):
                loss = _model_loss(self.model(**_on_device(self._next_batch(), self.device)))
                (loss / self.accumulation).backward()
                total += float(loss.detach()) / self.accumulation
            if self.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
            return total
        finally:
            self.running = False

    def _next_batch(self) -> Mapping[str, Any]:
        if self._batches is None:
            self._batches = iter(self.loader)
        try:
            batch = next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            batch = next(self._batches)
        if not isinstance(batch, Mapping):
            raise ValueError(
                "AutoLRTrainerCallback's probes call the model with the collated batch's "
                f"fields as keywords, as the Trainer does; the collator gave a "
                f"{type(batch).__name__}, not a mapping"
            )
        return batch


def _on_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _output_loss(output: Any) -> torch.Tensor | None:
    """The loss in a model's output (``outputs["loss"]`` or ``.loss``), if it has one."""
    loss = output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss", None)
    return loss if isinstance(loss, torch.Tensor) else None


def _model_loss(output: Any) -> torch.Tensor:
    loss = _output_loss(output)
    if loss is None:
        raise ValueError(
            "AutoLRTrainerCallback's probes read the loss from the model's output ('loss'), "
            "and the model returned none: let the model compute its loss"
        )
    return loss


def attach(
    optimizer: torch.optim.Optimizer,
    controller: ControllerSpec,
    interval: int,
    budget_steps: int | None = None,
    *,
    val_loss: str | None = "eval_loss",
    val_metric: str | None = None,
) -> tuple[ControllerLR, AutoLRTrainerCallback]:
    """The pair for ``Trainer(..., optimizers=(optimizer, scheduler), callbacks=[callback])``:
    ``controller`` (a controller, its config dict or its name) decides every ``interval``
    optimizer steps, as ``autolr.attach`` does in a user's loop. A probing controller
    (``auto``) trains its probes through ``TrainerProbeSteps``, charged to the budget."""
    scheduler = ControllerLR(optimizer, controller, interval, budget_steps)
    return scheduler, AutoLRTrainerCallback(scheduler, val_loss=val_loss, val_metric=val_metric)

"""Probes in a user's own loop (``autolr.attach(..., train_step=...)``).

A ClosureProbe is a Probe whose trials call the user's ``train_step()`` closure: one whole
optimizer step on the user's next batch. It snapshots what training changes, runs the trial
through the handle's stepper, charges the steps to the handle's ledger and restores the
snapshot, so the user's loop goes on from where it was.

The data differ from a Session's: there a probe replays the batches the run will see, here
``train_step`` draws the next batches of the user's stream, so the candidates see different
batches from each other and from the kept steps. Only batches drawn from torch's global RNG
inside ``train_step`` are replayed, as that RNG is restored after every probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from autolr.loop import ddp
from autolr.loop.ledger import Ledger
from autolr.loop.probe import Probe, check_kind
from autolr.loop.segment import Segment
from autolr.loop.snapshot import copy_state
from autolr.loop.stepper import Outcome, Plan, Stepper, StopRule


class ProbeHost(Protocol):
    """What a ClosureProbe needs from its handle (``autolr.loop.attach.Handle``)."""

    ledger: Ledger
    stepper: Stepper

    @property
    def lr_scale(self) -> tuple[float, ...]: ...

    def plan(self, segment: Segment, n: int) -> Plan: ...

    def divergence(self) -> StopRule: ...


@dataclass
class Saved:
    """What a trial changes: the optimizer's parameters and state, the model's state dict
    (buffers such as BatchNorm's statistics) when there is a model, and torch's RNGs."""

    params: list[torch.Tensor]
    optimizer: dict[str, Any]
    model: dict[str, torch.Tensor] | None
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None


class ClosureProbe(Probe):
    """Trial training through ``train_step() -> loss``, charged to the handle's ledger and
    undone: parameters, optimizer state (momenta, Adam moments, param groups), the model's
    buffers (given ``model``) and torch's RNG states come back bit-identical, and the handle's
    stepper writes its planned LR again. Gradients are not restored (the next step zeroes
    them), nor is the user's data iterator: the probe's batches are spent.

    ``run``, ``sweep`` and ``trial`` are the Session's Probe's: a trial stops on a non-finite
    loss or a sustained blow-up (the handle's divergence rule), and ``remaining`` is the
    handle's. ``validate=True`` has no evaluation to run here: its ``val_loss`` and
    ``val_metric`` are None.
    """

    def __init__(
        self,
        host: ProbeHost,
        train_step: Callable[[], float | torch.Tensor],
        model: torch.nn.Module | None = None,
    ) -> None:
        if not callable(train_step):
            raise ValueError(f"train_step must be callable, got {train_step!r}")
        # Probe reads only ledger, lr_scale, plan and divergence; _charged is replaced here
        super().__init__(host)  # type: ignore[arg-type]
        self._host = host
        self.train_step = train_step
        self.model = model

    def snapshot(self) -> Saved:
        opt = self._host.stepper.optimizer
        params = [p for group in opt.param_groups for p in group["params"]]
        model = None
        if self.model is not None:
            model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return Saved(
            params=[p.detach().clone() for p in params],
            optimizer=copy_state(opt.state_dict()),
            model=model,
            torch_rng=torch.get_rng_state(),
            cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        )

    def restore(self, saved: Saved) -> None:
        opt = self._host.stepper.optimizer
        params = [p for group in opt.param_groups for p in group["params"]]
        with torch.no_grad():
            for p, value in zip(params, saved.params, strict=True):
                p.copy_(value)
        # a copy: load_state_dict keeps matching tensors, which the optimizer then updates
        opt.load_state_dict(copy_state(saved.optimizer))
        if self.model is not None and saved.model is not None:
            self.model.load_state_dict(saved.model)
        torch.set_rng_state(saved.torch_rng)
        if saved.cuda_rng is not None:
            torch.cuda.set_rng_state_all(saved.cuda_rng)

    def _charged(
        self, plan: Plan, stop: StopRule, kind: str, validate: bool
    ) -> tuple[Outcome, tuple[float | None, float | None]]:
        check_kind(kind)
        host, train_step = self._host, self.train_step
        start = time.perf_counter()
        plan = ddp.agree(plan)  # under DDP every rank probes rank 0's LRs, in lockstep
        saved = self.snapshot()
        out: Outcome | None = None
        # under DDP the stop rule and the controller see the ranks' mean loss at each step
        reduce: Callable[[float], float] = ddp.mean if ddp.active() else float
        try:
            out = host.stepper.run(plan, lambda _k: reduce(float(train_step())), stop)
        finally:
            self.restore(saved)
            host.stepper.rewrite()
            steps = 0 if out is None else out.steps_run
            host.ledger.charge(kind, steps, time.perf_counter() - start)
        return out, (None, None)

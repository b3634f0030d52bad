"""D-Adaptation's family: Prodigy (``prodigyopt``) and D-Adapt Adam (``dadaptation``).

Both estimate the step size ``d`` themselves and read ``group["lr"]`` as a multiplier on it
(the stepper writes the schedule's value there before each step). Their ``d`` and
accumulators live in the param groups and the optimizer state, so a snapshot or checkpoint
(``optimizer.state_dict()``) holds them. Momentum is not written: their schedules carry
none, so ``betas`` stay as configured.

Defaults, from the packages' READMEs and docstrings:

- ``prodigy``: ``Prodigy(lr=1.0)`` at the package's defaults ("We recommend using lr=1.
  (default) for all networks"), under cosine annealing to zero over the run ("We also
  recommend using cosine annealing with the method": ``CosineAnnealingLR(T_max=total
  steps)``). No warmup by default; with one (``warmup_steps`` or ``warmup_steps_frac``),
  ``safeguard_warmup=True`` ("To avoid issues with warm-up, use option
  safeguard_warmup=True") unless the spec sets it.
- ``dadapt-adam``: ``DAdaptAdam(lr=1.0)`` at the package's defaults ("Leave LR set to 1
  unless you encounter instability"), with the cosine decay the README's "use the
  scheduler you would normally use" means here: the same cosine to zero as Prodigy's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from autolr.peers.base import PEERS, Peer


class CosineMultiplier(Peer):
    """lr(t) = lr · (1 + cos(π t / T)) / 2 over the budget T (after an optional warmup): the
    multiplier on the optimizer's own step-size estimate."""

    own: ClassVar[dict[str, Any]] = {"warmup_steps": 0, "warmup_steps_frac": 0.0}
    max_lr = 10.0  # ten times the documented multiplier of 1

    def check(self) -> None:
        super().check()
        self.check_steps("warmup_steps")

    def schedule(self, budget: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": "cosine", "lr": self.lr, "total_steps": budget}
        warmup = self.steps("warmup_steps", budget)
        if warmup:
            spec["warmup_steps"] = warmup
        return spec


@PEERS.register("prodigy")
class ProdigyPeer(CosineMultiplier):
    """Prodigy(lr=1.0) under cosine annealing, safeguard_warmup with a warmup (prodigyopt)."""

    name = "prodigy"
    package = "prodigyopt"
    module = "prodigyopt"
    attr = "Prodigy"

    def constructor(self, model: nn.Module, budget: int) -> dict[str, Any]:
        kwargs = super().constructor(model, budget)
        if "safeguard_warmup" not in self.given:
            kwargs["safeguard_warmup"] = self.steps("warmup_steps", budget) > 0
        return kwargs


@PEERS.register("dadapt-adam")
class DAdaptAdamPeer(CosineMultiplier):
    """D-Adapt Adam(lr=1.0) under cosine annealing (dadaptation.DAdaptAdam)."""

    name = "dadapt-adam"
    package = "dadaptation"
    module = "dadaptation"
    attr = "DAdaptAdam"

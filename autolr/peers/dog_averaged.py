"""DoG and LDoG (Ivgi, Hinder and Carmon 2023, "DoG is SGD's Best Friend"; the
``dog-optimizer`` package, imported as ``dog``), with the package's iterate averaging.

η_t = lr · max_{i≤t} ‖x_i − x_0‖ / √(Σ_{i≤t} ‖g_i‖² + eps), x_{t+1} = x_t − η_t g_t; ``lr``
is the paper's c, a multiplier ("changing it is not recommended"), written by the stepper
under a constant schedule. The package says that "for best performance, DoG must be
combined with iterate averaging" and ships ``PolynomialDecayAverager`` (Shamir and Zhang
2013: x̄_t = (1 − (1+γ)/(t+γ)) x̄_{t−1} + (1+γ)/(t+γ) x_t, γ = 8, "its default
configuration should work well out of the box"). The averager steps after every optimizer
step (a step post-hook), its state rides in the optimizer's ``state_dict`` (so snapshots
and checkpoints hold it), and evaluations happen at the averaged parameters.

Defaults: the package's (lr 1.0, weight_decay 0, eps 1e-8), the averager's γ = 8, and
``reps_rel`` as the DoG docstring documents it: "Suggested value is 1e-6, unless the model
uses batch-normalization, in which case suggested value is 1e-4" (the spec may set it).
``layerwise: true`` runs LDoG (one step size per parameter tensor) instead of DoG.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from autolr.checks import bad, check_nonnegative
from autolr.peers.base import PEERS, EvalPoint, Peer, has_batchnorm, require

REPS_REL = 1e-6
REPS_REL_BATCHNORM = 1e-4
GAMMA = 8.0  # PolynomialDecayAverager's default


class AveragedPoint:
    """DoG's evaluation point: the averager's parameters copied into the model's (buffers,
    such as BatchNorm statistics, are the model's own, re-estimated by the caller)."""

    def __init__(self, model: nn.Module, averager: Any) -> None:
        self.model = model
        self.averager = averager

    @torch.no_grad()
    def enter(self) -> None:
        averaged = dict(self.averager.averaged_model.named_parameters())
        for name, p in self.model.named_parameters():
            p.copy_(averaged[name])

    def leave(self) -> None:
        pass


def attach_averager(optimizer: torch.optim.Optimizer, averager: Any) -> None:
    """Step ``averager`` after each of ``optimizer``'s steps, and keep its state under the
    ``"averager"`` key of the optimizer's ``state_dict`` (saved and loaded with it)."""

    def after_step(opt: Any, args: Any, kwargs: Any) -> None:
        averager.step()

    def save(opt: Any, state: dict[str, Any]) -> dict[str, Any]:
        state["averager"] = averager.state_dict()
        return state

    def load(opt: Any, state: dict[str, Any]) -> dict[str, Any]:
        if "averager" not in state:
            raise ValueError("this DoG state_dict holds no 'averager' (iterate averaging) state")
        state = dict(state)
        averager.load_state_dict(state.pop("averager"))
        return state

    optimizer.register_step_post_hook(after_step)
    optimizer.register_state_dict_post_hook(save)
    optimizer.register_load_state_dict_pre_hook(load)


@PEERS.register("dog")
class DoGPeer(Peer):
    """DoG (or LDoG) with the package's polynomial-decay iterate averaging (dog-optimizer)."""

    name = "dog"
    package = "dog-optimizer"
    module = "dog"
    attr = "DoG"
    own: ClassVar[dict[str, Any]] = {"layerwise": False, "gamma": GAMMA}
    max_lr = 10.0  # ten times the documented multiplier of 1

    def check(self) -> None:
        super().check()
        if not isinstance(self.extra["layerwise"], bool):
            raise bad("layerwise", self.extra["layerwise"], "true or false")
        check_nonnegative("gamma", self.extra["gamma"])

    def optimizer_name(self) -> str:
        return "LDoG" if self.extra["layerwise"] else "DoG"

    def schedule(self, budget: int) -> dict[str, Any]:
        return {"name": "constant", "lr": self.lr}

    def constructor(self, model: nn.Module, budget: int) -> dict[str, Any]:
        kwargs = super().constructor(model, budget)
        if "reps_rel" not in kwargs:
            kwargs["reps_rel"] = REPS_REL_BATCHNORM if has_batchnorm(model) else REPS_REL
        return kwargs

    def build_optimizer(self, model: nn.Module, kwargs: dict[str, Any]) -> torch.optim.Optimizer:
        cls = getattr(require(self.module, self.package), self.optimizer_name())
        return cls(model.parameters(), **kwargs)  # type: ignore[no-any-return]

    def eval_point(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> EvalPoint:
        averager = require(self.module, self.package).PolynomialDecayAverager(
            model, gamma=float(self.extra["gamma"])
        )
        attach_averager(optimizer, averager)
        return AveragedPoint(model, averager)

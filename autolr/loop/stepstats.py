"""Cheap per-segment statistics: gradient norm, update ratio, hypergradient.

They are measured on the last two steps of a segment only, so the hot loop pays one
integer comparison per step for them.
"""

from __future__ import annotations

import math

import torch


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


class StepStats:
    """Measures, at the end of an ``n``-step segment:

    grad_norm      = ||g_n||
    update_ratio   = ||θ_n - θ_{n-1}|| / ||θ_n||
    hypergrad_cos  = cos(-g_n, θ_{n-1} - θ_{n-2}); > 0 means a larger LR would have helped
                     (the sign of -∂f(θ_n)/∂lr, Baydin et al. 2018), NaN if n < 2.
    step_decrease  = -g_n · (θ_n - θ_{n-1}): the loss decrease a linear model predicts for the
                     step the optimizer took with g_n, whatever the optimizer (η ||g_n||² for
                     plain SGD; momentum, Adam's preconditioning and weight decay change it)
    step_cos       = cos(-g_n, θ_n - θ_{n-1}): how much of that step goes downhill (1 for plain
                     SGD without weight decay)
    """

    def __init__(self, model: torch.nn.Module, n: int) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.first = max(0, n - 2)
        self.last = n - 1
        self.grad_norm = math.nan
        self.update_ratio = math.nan
        self.hypergrad_cos = math.nan
        self.step_decrease = math.nan
        self.step_cos = math.nan
        self._prev: torch.Tensor | None = None
        self._delta: torch.Tensor | None = None
        self._grad: torch.Tensor | None = None

    def _grads(self) -> torch.Tensor:
        return _flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params])

    def before_step(self, k: int) -> None:
        if k < self.first:
            return
        if k == self.last:
            g = self._grads()
            self._grad = g
            self.grad_norm = float(g.norm())
            if self._delta is not None:
                denom = float(g.norm() * self._delta.norm())
                self.hypergrad_cos = float(-(g @ self._delta)) / denom if denom > 0 else 0.0
        self._prev = _flat(self.params)

    def after_step(self, k: int) -> None:
        if k < self.first or self._prev is None:
            return
        now = _flat(self.params)
        delta = now - self._prev
        if k == self.last:
            norm = float(now.norm())
            step = float(delta.norm())
            self.update_ratio = step / norm if norm > 0 else math.nan
            if self._grad is not None:
                self.step_decrease = float(-(self._grad @ delta))
                denom = self.grad_norm * step
                cos = self.step_decrease / denom if denom > 0 else 0.0
                self.step_cos = min(1.0, max(-1.0, cos))  # rounding can pass 1
                self._grad = None
        else:
            self._delta = delta


def grad_norm(optimizer: torch.optim.Optimizer) -> float:
    """The norm of the gradients present in ``optimizer``'s groups (NaN if none is)."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return float(_flat(grads).norm()) if grads else math.nan

"""Cheap per-segment statistics: gradient norm, update ratio, hypergradient, sharpness.

They are measured on the last two steps of a segment only, so the hot loop pays one
integer comparison per step for them.
"""

from __future__ import annotations

import math

import torch

from autolr.loop.trainee import Trainee


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


class StepStats:
    """Measures, at the end of an ``n``-step segment:

    grad_norm      = ||g_n||
    update_ratio   = ||θ_n - θ_{n-1}|| / ||θ_n||
    hypergrad_cos  = cos(-g_n, θ_{n-1} - θ_{n-2}); > 0 means a larger LR would have helped
                     (the sign of -∂f(θ_n)/∂lr, Baydin et al. 2018), NaN if n < 2.
    """

    def __init__(self, model: torch.nn.Module, n: int) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.first = max(0, n - 2)
        self.last = n - 1
        self.grad_norm = math.nan
        self.update_ratio = math.nan
        self.hypergrad_cos = math.nan
        self._prev: torch.Tensor | None = None
        self._delta: torch.Tensor | None = None

    def _grads(self) -> torch.Tensor:
        return _flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params])

    def before_step(self, k: int) -> None:
        if k < self.first:
            return
        if k == self.last:
            g = self._grads()
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
            self.update_ratio = float(delta.norm()) / norm if norm > 0 else math.nan
        else:
            self._delta = delta


def grad_norm(optimizer: torch.optim.Optimizer) -> float:
    """The norm of the gradients present in ``optimizer``'s groups (NaN if none is)."""
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return float(_flat(grads).norm()) if grads else math.nan


def sharpness(trainee: Trainee, batch: object, iters: int = 20) -> float:
    """The largest Hessian eigenvalue of the loss on ``batch``, by power iteration on
    Hessian-vector products. Takes no optimizer step and leaves the torch RNG as it was."""
    params = [p for p in trainee.model.parameters() if p.requires_grad]
    rng = torch.get_rng_state()
    try:
        loss = trainee.loss(batch)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        gen = torch.Generator(device="cpu").manual_seed(0)
        v = [torch.randn(p.shape, generator=gen).to(p.device, p.dtype) for p in params]
        norm = torch.sqrt(sum((x * x).sum() for x in v))
        v = [x / norm for x in v]
        eig = 0.0
        for _ in range(iters):
            hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
            eig = float(sum((h * x).sum() for h, x in zip(hv, v, strict=True)))
            norm = torch.sqrt(sum((h * h).sum() for h in hv))
            if float(norm) == 0:
                return 0.0
            v = [h / norm for h in hv]
        return eig
    finally:
        torch.set_rng_state(rng)

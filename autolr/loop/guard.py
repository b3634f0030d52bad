"""The sharpness guard: caps the LR below the optimizer's stability edge from a λmax estimate.

Run key ``guard: {sharpness: {every: N, factor: c}}``. At every kept step that is a multiple
of N (step 0 included) the guard measures the top eigenvalue λ of the loss Hessian, scaled
for the optimizer (``autolr.loop.sharpness``: warm-started power iteration on a fixed probe
batch), and from then on caps the base LR at

    cap = min(c · edge / λ, rise · previous cap)

``c · edge / λ`` is c times the largest LR at which the optimizer is stable on the local
quadratic model. ``rise`` (default 1) bounds how fast the cap may grow back: with 1 it never
rises, so (with a constant edge) the cap is ``c · edge`` over the largest λ seen so far;
``rise: null`` drops the memory. Why a memory: λ is measured on training data, and as a
cross-entropy model fits the probe batch its λ falls towards 0 (measured on digits-cnn at lr
0.4: from 13 to 0.2 within 30 steps at train loss 0.002), which would lift a memoryless cap
back to the LR that made the landscape sharp, and the next steps spike the loss (they leave
the flat basin the quadratic model describes). The cap bounds the run like ``max_lr`` does:
every step the stepper writes, and the plans probes try. It never goes below ``min_lr``
(``min_lr <= lr <= max_lr`` holds always), and λ <= 0 caps nothing.

The edge, for a quadratic with curvature λ along the top eigenvector, where group g trains
at ``lr · s_g`` (its ``lr_scale``; λ is measured on ``S^(1/2) H S^(1/2)``, ``S = diag(s_g)``):

- SGD, no momentum: ``2`` (Cohen et al. 2021, arXiv 2103.00065: gradient descent is
  stable iff lr < 2/λ).
- SGD, heavy-ball momentum μ (torch's ``buf = μ·buf + (1 − τ)·g``, τ the dampening):
  ``(2 + 2μ) / (1 − τ)``. The iteration on the top eigendirection is
  ``x_(t+1) = x_t − lr(1 − τ)λ x_t + μ(x_t − x_(t−1))``, stable iff
  ``0 < lr(1 − τ)λ < 2 + 2μ``; Cohen et al. 2021 (appendix) give ``(2 + 2μ)/lr`` as the
  edge of stability of heavy ball. With μ = 0.9 the edge is 3.8/λ, not 2/λ: a cap of
  ``c·2/λ`` would be ``c·0.53`` of the real edge, and ``factor`` is the one place to be
  conservative.
- SGD, Nesterov momentum μ: ``(2 + 2μ) / (1 + 2μ)`` (the same appendix).
- Adam and AdamW (β1): ``(2 + 2β1) / (1 − β1)`` on the preconditioned sharpness
  ``λmax(P⁻¹H)``, ``P = (1 − β1^t) · diag(sqrt(v_t / (1 − β2^t)) + ε)`` (Cohen et al. 2022,
  arXiv 2207.14484: 38/lr for β1 = 0.9). This P is exactly torch's: Adam's step is
  ``lr · m_t / ((1 − β1^t)(sqrt(v_t/(1 − β2^t)) + ε))`` with m the EMA of gradients, so it
  is preconditioned EMA-momentum, stable iff ``lr·λmax(P⁻¹H) < (2 + 2β1)/(1 − β1)``. The
  guard caps the steps to come, so it uses the next step's P: t + 1 and
  ``v_(t+1) = β2·v_t + (1 − β2)·g²``, with the probe batch's gradient g for the next
  one. (With the current ``v_t``, as Cohen et al. measure in full batch, a weight whose
  gradients were all 0 so far has ``P = (1 − β1^t)·ε``, P⁻¹ ≈ 10⁸, although its very next
  gradient would raise its v: on digits-cnn with Adam that gave λmax(P⁻¹H) ≈ 2·10⁶ at step
  25, about a thousand times the later values.) Weights with ``v_(t+1) = 0`` do not move
  (their m is 0 too) and are left out. Before Adam's first step the guard measures
  nothing, and its cap starts at the first multiple of N after step 0: there v would be
  one squared gradient (P = (1 − β1)(|g| + ε)) and the first step is sign descent, the
  frozen-P model at its worst (digits-cnn: λmax(P⁻¹H) ≈ 79,000 at step 0, ≈ 2,000 at
  step 25, so a cap never allowed to rise would have stayed 40× too low).

These edges are full-batch ones. Minibatch SGD with momentum turns unstable well below them
(Andreyev et al. 2026, arXiv 2604.14108, report a plateau at 2(1 − μ)/lr for small batches,
in a directional batch sharpness), hence a factor below 1. The defaults (every 25, factor
0.5, rise 1) were chosen on digits-cnn and mnist1d-cnn at LRs 4–8× their default, the runs
``benchmarks/sharpness.py`` reports: that benchmark is not an independent test of them.
Coupled weight decay (SGD's and Adam's ``weight_decay``) adds ``wd·I`` to the Hessian and is
measured with it; AdamW's decoupled decay shrinks the weights and is left out. With
different momenta in different groups the smallest edge is used. Any other optimizer is
refused when the guard is built (its stability edge is not known).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from autolr.checks import Int, Positive, Range
from autolr.loop.sharpness import (
    SharpnessMeter,
    flat,
    gradients,
    hessian_operator,
    probe_loss,
    trainable,
)
from autolr.loop.stepper import Ceiling

if TYPE_CHECKING:
    from autolr.loop.ledger import Ledger
    from autolr.loop.trainee import Trainee

RECORD_COLUMNS = ("step", "sharpness", "edge", "cap", "iterations", "seconds")


class SharpnessGuardConfig(BaseModel):
    """``guard.sharpness``: ``every`` (kept steps between measurements), ``factor`` (c in
    ``c · edge / λ``), ``rise`` (the most the cap may grow from one measurement to the next,
    as a factor; null: no limit), ``batches`` (probe batches), ``iters`` and ``tol`` (power
    iteration's most Hessian-vector products per measurement, and its relative tolerance:
    the cap needs no more than a percent)."""

    model_config = ConfigDict(extra="forbid")

    every: Int(1) = 25
    factor: Positive() = 0.5
    rise: Range(1.0, math.inf, high_open=True) | None = 1.0
    batches: Int(1) = 1
    iters: Int(1) = 20
    tol: Positive() = 1e-2


class GuardConfig(BaseModel):
    """The run key ``guard``: one mapping per guard (only ``sharpness`` so far)."""

    model_config = ConfigDict(extra="forbid")

    sharpness: SharpnessGuardConfig


@dataclass(frozen=True)
class Stability:
    """What the guard measures for an optimizer: ``λmax(D (H + W) D)`` with ``D =
    diag(scale)`` and ``W = diag(decay)`` (None: I and 0), stable iff lr < ``edge`` / λ."""

    scale: torch.Tensor | None
    decay: torch.Tensor | None
    edge: float


def stability(
    optimizer: torch.optim.Optimizer,
    params: Sequence[torch.Tensor],
    lr_scale: Sequence[float],
    grad: torch.Tensor,
) -> Stability:
    """The scaling, decay and edge of ``optimizer``'s next step (see the module docstring),
    over ``params`` (each once, in order), when group g trains at ``lr · lr_scale[g]``;
    ``grad`` (flat, over ``params``) stands in for the next step's gradient (Adam's P)."""
    check_supported(optimizer)
    adam = isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW)
    where = {id(p): i for i, p in enumerate(params)}
    offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
    d2 = [torch.zeros(0)] * len(params)  # D² per parameter, flat
    wd = [torch.zeros(0)] * len(params)
    edges = []
    for group, group_scale in zip(optimizer.param_groups, lr_scale, strict=True):
        s = float(group_scale)
        decay = float(group.get("weight_decay", 0.0))
        decoupled = isinstance(optimizer, torch.optim.AdamW) or group.get("decoupled_weight_decay")
        if adam:
            beta1 = float(group["betas"][0])
            edges.append((2 + 2 * beta1) / (1 - beta1))
        else:
            mu, damp = float(group.get("momentum", 0.0)), float(group.get("dampening", 0.0))
            if mu == 0:
                edges.append(2.0)
            elif group.get("nesterov"):
                edges.append((2 + 2 * mu) / (1 + 2 * mu))
            else:
                s *= 1 - damp  # heavy ball steps lr·(1 − τ)·buf in gradient units
                edges.append(2 + 2 * mu)
        for p in group["params"]:
            i = where.get(id(p))
            if i is None:
                continue
            d2_p = torch.full((p.numel(),), s, dtype=p.dtype, device=p.device)
            if adam:
                g = grad[offsets[i] : offsets[i + 1]]
                if not decoupled and decay:
                    g = g + decay * p.detach().reshape(-1)
                d2_p = d2_p / _adam_p(optimizer.state.get(p), group, p, g)
            d2[i] = d2_p
            wd[i] = torch.full_like(d2_p, 0.0 if adam and decoupled else decay)
    scale = torch.cat(d2).sqrt()
    decay_all = torch.cat(wd)
    return Stability(
        None if bool((scale == 1).all()) else scale,
        decay_all if bool(decay_all.any()) else None,
        min(edges),
    )


def _adam_p(
    state: Mapping[str, Any] | None,
    group: Mapping[str, Any],
    p: torch.Tensor,
    g: torch.Tensor,
) -> torch.Tensor:
    """Adam's P for ``p``'s next step, flat: ``(1 − β1^(t+1))(sqrt(v_(t+1)/(1 − β2^(t+1))) + ε)``
    with ``v_(t+1) = β2·v_t + (1 − β2)·g²`` (``g``: the probe batch's gradient standing in for
    the next one). Where ``v_(t+1) = 0`` every gradient so far was 0, so m is 0 too and the
    step does not move ``p``: P is inf there (D = 0)."""
    beta1, beta2 = (float(b) for b in group["betas"])
    t, v = 0.0, torch.zeros_like(g)
    if state and "exp_avg_sq" in state:
        t = float(state["step"])
        v = state["exp_avg_sq"].detach().reshape(-1).to(g.dtype)
    v = beta2 * v + (1 - beta2) * g * g
    if group.get("amsgrad") and state and "max_exp_avg_sq" in state:
        v = torch.maximum(v, state["max_exp_avg_sq"].detach().reshape(-1).to(g.dtype))
    t += 1
    out = (1 - beta1**t) * ((v / (1 - beta2**t)).sqrt() + float(group["eps"]))
    return torch.where(v > 0, out, torch.full_like(out, math.inf))


def _adam_unstepped(optimizer: torch.optim.Optimizer) -> bool:
    """Adam before its first step: its v would be one squared gradient, and its first step
    is sign descent, P changing fastest of all (see the module docstring)."""
    if not isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        return False
    return not any(s.get("step", 0) for s in optimizer.state.values())


SUPPORTED = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


def check_supported(optimizer: torch.optim.Optimizer) -> None:
    """A ValueError unless the guard knows ``optimizer``'s stability edge."""
    if not isinstance(optimizer, SUPPORTED):
        raise ValueError(
            "guard.sharpness knows the stability edge of torch.optim.SGD, Adam and AdamW "
            f"only; this run's optimizer is {type(optimizer).__name__}"
        )


class SharpnessGuard:
    """Caps the base LR at ``min(factor · edge / λ, rise · previous cap)``, λ measured every
    ``every`` kept steps (the keys and defaults of ``SharpnessGuardConfig``).

    ``cap`` is the current cap (inf before the first measurement, never below the floor
    ``min_lr`` given to ``bind``); ``record`` holds one row per measurement
    (``RECORD_COLUMNS``); ``capped_steps`` counts the kept steps whose LR the cap lowered.
    Its state (the warm-start vector, cap, record, counts) is in ``state_dict``.
    """

    def __init__(
        self,
        every: int = 25,
        factor: float = 0.5,
        rise: float | None = 1.0,
        batches: int = 1,
        iters: int = 20,
        tol: float = 1e-2,
    ) -> None:
        spec = SharpnessGuardConfig(
            every=every, factor=factor, batches=batches, iters=iters, tol=tol, rise=rise
        )
        self.every, self.factor, self.rise = spec.every, spec.factor, spec.rise
        self.meter = SharpnessMeter(spec.batches, spec.iters, spec.tol)
        self.floor = 0.0
        self.cap = math.inf
        self.capped_steps = 0
        self.record: dict[str, list[float]] = {c: [] for c in RECORD_COLUMNS}

    @classmethod
    def from_config(cls, spec: GuardConfig | Mapping[str, Any] | None) -> SharpnessGuard | None:
        """The guard a run's ``guard`` key asks for (None: no guard)."""
        if spec is None:
            return None
        if not isinstance(spec, GuardConfig):
            spec = GuardConfig.model_validate(dict(spec))
        return cls(**spec.sharpness.model_dump())

    def bind(self, optimizer: torch.optim.Optimizer, min_lr: float) -> None:
        """Check that ``optimizer`` is one the guard knows; the cap's floor is ``min_lr``."""
        check_supported(optimizer)
        self.floor = float(min_lr)

    # ---- measuring ----------------------------------------------------------------------

    def measure(self, trainee: Trainee, step: int, lr_scale: Sequence[float]) -> float:
        """Measure λ at kept step ``step`` (the model as it is), record it and set the cap.
        A measurement with nothing to measure (no parameter would move) or a non-finite one
        (a diverging model) leaves the cap as it was."""
        start = time.perf_counter()
        if _adam_unstepped(trainee.optimizer):
            return self.cap
        params = trainable(trainee)
        grads = gradients(probe_loss(trainee, step, self.meter.batches), params)
        grad = flat(grads, params)
        stab = stability(trainee.optimizer, params, lr_scale, grad)
        if stab.scale is not None and not bool(stab.scale.any()):
            return self.cap
        eig = self.meter.top(hessian_operator(grads, params, stab.scale, stab.decay), grad)
        if not math.isfinite(eig.value):
            return self.cap
        cap = self.factor * stab.edge / eig.value if eig.value > 0 else math.inf
        if self.rise is not None and math.isfinite(self.cap):
            cap = min(cap, self.rise * self.cap)
        self.cap = max(cap, self.floor)
        seconds = time.perf_counter() - start
        row = (step, eig.value, stab.edge, self.cap, eig.iterations, seconds)
        for column, value in zip(RECORD_COLUMNS, row, strict=True):
            self.record[column].append(float(value))
        return self.cap

    def ceiling(self, trainee: Trainee, lr_scale: Sequence[float], ledger: Ledger) -> Ceiling:
        """The stepper's Ceiling for one stretch; each measurement's seconds are charged to
        ``ledger.sharpness_seconds`` (they are part of the run's wall time already)."""

        def update(step: int) -> float:
            start = time.perf_counter()
            try:
                return self.measure(trainee, step, lr_scale)
            finally:
                ledger.sharpness_seconds += time.perf_counter() - start

        return Ceiling(self.cap, self.every, update)

    def kept(self, planned: np.ndarray, written: np.ndarray) -> None:
        """Count the kept steps whose LR the cap lowered (``written`` below ``planned``)."""
        self.capped_steps += int(np.count_nonzero(written < planned))

    # ---- reporting and checkpoints ------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The run summary's ``guard_*`` entries."""
        sharp = np.asarray(self.record["sharpness"])
        caps = np.asarray(self.record["cap"])
        finite = caps[np.isfinite(caps)]
        return {
            "guard_capped_steps": self.capped_steps,
            "guard_measurements": len(sharp),
            "guard_last_cap": _num(self.cap),
            "guard_min_cap": _num(finite.min()) if finite.size else None,
            "guard_max_sharpness": _num(sharp.max()) if sharp.size else None,
            "guard_mean_iterations": (
                float(np.mean(self.record["iterations"])) if sharp.size else None
            ),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter.state_dict(),
            "cap": self.cap,
            "capped_steps": self.capped_steps,
            "record": {c: list(v) for c, v in self.record.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.meter.load_state_dict(state["meter"])
        self.cap = float(state["cap"])
        self.capped_steps = int(state["capped_steps"])
        self.record = {c: [float(x) for x in state["record"][c]] for c in RECORD_COLUMNS}


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None

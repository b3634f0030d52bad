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
  guard measures with the optimizer's current ``v_t`` and ``t`` (the next step's P is not
  known before its gradient). Parameters Adam has not stepped yet do not move and are left
  out, so before Adam's first step there is nothing to measure: the cap starts at the first
  multiple of N after step 0.

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
from autolr.loop.sharpness import SharpnessMeter, trainable
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
    optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], lr_scale: Sequence[float]
) -> Stability:
    """The scaling, decay and edge of ``optimizer`` now (see the module docstring), over
    ``params`` (each once, in order), when group g trains at ``lr · lr_scale[g]``."""
    check_supported(optimizer)
    adam = isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW)
    where = {id(p): i for i, p in enumerate(params)}
    d2 = [torch.zeros(0)] * len(params)  # D² per parameter, flat
    wd = [torch.zeros(0)] * len(params)
    edges = []
    for group, s in zip(optimizer.param_groups, lr_scale, strict=True):
        decay = float(group.get("weight_decay", 0.0))
        if adam:
            beta1 = float(group["betas"][0])
            edges.append((2 + 2 * beta1) / (1 - beta1))
            if isinstance(optimizer, torch.optim.AdamW) or group.get("decoupled_weight_decay"):
                decay = 0.0
        else:
            mu, damp = float(group.get("momentum", 0.0)), float(group.get("dampening", 0.0))
            if mu == 0:
                edges.append(2.0)
            elif group.get("nesterov"):
                edges.append((2 + 2 * mu) / (1 + 2 * mu))
            else:
                s = s * (1 - damp)
                edges.append(2 + 2 * mu)
        for p in group["params"]:
            i = where.get(id(p))
            if i is None:
                continue
            flat = torch.full((p.numel(),), float(s), dtype=p.dtype, device=p.device)
            if adam:
                flat = flat / _adam_p(optimizer.state.get(p), group, p)
            d2[i] = flat
            wd[i] = torch.full_like(flat, decay)
    scale = torch.cat(d2).sqrt()
    decay_all = torch.cat(wd)
    return Stability(
        None if bool((scale == 1).all()) else scale,
        decay_all if bool(decay_all.any()) else None,
        min(edges),
    )


def _adam_p(state: Mapping[str, Any] | None, group: Mapping[str, Any], p: torch.Tensor):
    """Adam's preconditioner P for ``p``, flat: ``(1 − β1^t)(sqrt(v_t/(1 − β2^t)) + ε)``;
    inf where Adam has not stepped ``p`` (it does not move: D = 0 there)."""
    if not state or "exp_avg_sq" not in state:
        return torch.full((p.numel(),), math.inf, dtype=p.dtype, device=p.device)
    t = float(state["step"])
    beta1, beta2 = (float(b) for b in group["betas"])
    v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
    v = v.detach().reshape(-1).to(p.dtype)
    return (1 - beta1**t) * ((v / (1 - beta2**t)).sqrt() + float(group["eps"]))


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
        A measurement with nothing to measure (Adam before its first step) or a non-finite
        one (a diverging model) leaves the cap as it was."""
        start = time.perf_counter()
        params = trainable(trainee)
        stab = stability(trainee.optimizer, params, lr_scale)
        if stab.scale is not None and not bool(stab.scale.any()):
            return self.cap  # nothing moves yet: Adam before its first step
        eig = self.meter.measure(trainee, step, params, stab.scale, stab.decay)
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

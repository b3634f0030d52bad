"""Sharpness: the top eigenvalue of the loss Hessian, by warm-started power iteration.

The operator is ``A = D (H + W) D`` on the flattened parameters, where ``H`` is the Hessian
of the training loss on a fixed probe batch, ``W = diag(w)`` a coupled weight decay and
``D = diag(d)`` an optional diagonal scaling. With ``d = 1`` and ``w = 0`` its top eigenvalue
is the sharpness ``λmax(H)`` (Cohen et al. 2021, arXiv 2103.00065); with ``d² = P⁻¹`` it is the
preconditioned sharpness ``λmax(P⁻¹H)`` (Cohen et al. 2022, arXiv 2207.14484): ``P⁻¹H`` is
similar to the symmetric ``P^(-1/2) H P^(-1/2)``, so the two have the same eigenvalues.

Power iteration: ``v ← A v / ‖A v‖`` with the Rayleigh quotient ``λ = vᵀ A v`` (‖v‖ = 1),
stopped once ``|λ_k − λ_(k−1)| <= tol·|λ_k|`` or after ``iters`` Hessian-vector products.
It finds the eigenvalue of largest *magnitude*; when that one is negative, a second run on
``A − λ I`` (whose eigenvalues are all >= 0) finds the largest one. Each measurement starts
from the previous one's eigenvector (a warm start: the landscape moves little between
measurements, so a few products suffice), the first from a fixed random vector.

A measurement is deterministic, a function of the parameters and the step: the loss is on
the fixed probe batches ``trainee.batch(0) .. trainee.batch(batches − 1)``, and torch's RNG
(dropout) is seeded from ``(trainee.seed, step)`` inside a fork, so the run's own RNG
stream is untouched. It takes no optimizer step and changes no ``.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autolr.checks import check_int, check_positive
from autolr.loop.trainee import Trainee

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Eigen:
    """A top eigenpair estimate: ``value`` (λ), the unit ``vector`` (flat) and the number
    of operator applications (Hessian-vector products) it took."""

    value: float
    vector: torch.Tensor
    iterations: int


def power_iteration(apply: Operator, v0: torch.Tensor, iters: int = 20, tol: float = 1e-3) -> Eigen:
    """The eigenpair of largest magnitude of the symmetric operator ``apply``, from ``v0``.

    ``λ_k = v_kᵀ A v_k`` with ``v_(k+1) = A v_k / ‖A v_k‖``; stops once two successive
    quotients agree to ``tol`` (relative), or after ``iters`` applications. A zero ``A v``
    gives λ = 0.
    """
    norm = float(v0.norm())
    v = v0 / norm if norm > 0 else torch.ones_like(v0) / math.sqrt(v0.numel())
    value, k = math.nan, 0
    while k < iters:
        av = apply(v)
        k += 1
        previous, value = value, float(av @ v)
        size = float(av.norm())
        if size == 0:
            return Eigen(0.0, v, k)
        v = av / size
        if abs(value - previous) <= tol * abs(value):  # False while previous is NaN
            break
    return Eigen(value, v, k)


def top_eigenvalue(apply: Operator, v0: torch.Tensor, iters: int = 20, tol: float = 1e-3) -> Eigen:
    """The largest (algebraic) eigenpair of ``apply``: ``power_iteration``, then, if the
    dominant eigenvalue μ is negative, power iteration on ``A − μ I`` from the same start
    (its top eigenvalue is λmax − μ). ``iterations`` counts both runs."""
    first = power_iteration(apply, v0, iters, tol)
    if first.value >= 0:
        return first
    mu = first.value
    shifted = power_iteration(lambda v: apply(v) - mu * v, v0, iters, tol)
    return Eigen(shifted.value + mu, shifted.vector, first.iterations + shifted.iterations)


def gradients(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """The gradient of ``loss`` in each of ``params`` with its graph (for Hessian-vector
    products); None where the loss does not depend on the parameter."""
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    if all(g is None for g in grads):
        raise ValueError("the loss does not depend on any of the parameters measured")
    return list(grads)


def flat(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``grads`` detached and flattened into one vector (zeros where None)."""
    parts = [
        torch.zeros(p.numel(), dtype=p.dtype, device=p.device) if g is None else g.reshape(-1)
        for g, p in zip(grads, params, strict=True)
    ]
    return torch.cat(parts).detach()


def hessian_operator(
    grads: Sequence[torch.Tensor | None],
    params: Sequence[torch.Tensor],
    scale: torch.Tensor | None = None,
    decay: torch.Tensor | None = None,
) -> Operator:
    """``v -> D (H + W) D v`` on flat vectors: ``H`` the Hessian whose gradients (with
    graph, from ``gradients``) are ``grads``, ``D = diag(scale)`` (default I) and
    ``W = diag(decay)`` (default 0)."""
    index = [i for i, g in enumerate(grads) if g is not None]
    live_grads = [grads[i] for i in index]
    live_params = [params[i] for i in index]
    sizes = [p.numel() for p in params]

    def apply(v: torch.Tensor) -> torch.Tensor:
        u = v if scale is None else scale * v
        parts = list(torch.split(u, sizes))
        hv = torch.autograd.grad(
            live_grads,
            live_params,
            grad_outputs=[parts[i].view_as(params[i]) for i in index],
            retain_graph=True,
            allow_unused=True,
        )
        out = [torch.zeros_like(part) for part in parts]
        for i, h in zip(index, hv, strict=True):
            if h is not None:
                out[i] = h.reshape(-1)
        result = torch.cat(out)
        if decay is not None:
            result = result + decay * u
        return result if scale is None else scale * result

    return apply


def probe_loss(trainee: Trainee, step: int, batches: int) -> torch.Tensor:
    """The mean training loss over the probe batches ``0 .. batches − 1``, with torch's RNG
    seeded from ``(trainee.seed, step)`` (dropout) inside a fork. The graph is kept for
    Hessian-vector products; the caller's RNG state is as before."""
    device = getattr(trainee, "device", torch.device("cpu"))
    devices = [device] if torch.device(device).type == "cuda" else []
    seed = np.random.SeedSequence([int(getattr(trainee, "seed", 0)), int(step)])
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed.generate_state(1)[0]))
        total = trainee.loss(trainee.batch(0))
        for i in range(1, batches):
            total = total + trainee.loss(trainee.batch(i))
    return total / batches


class SharpnessMeter:
    """Warm-started top-eigenvalue measurements of one operator family over a run.

    ``measure(trainee, step)`` returns the Eigen of the probe loss's Hessian; ``top(apply)``
    that of any operator (the guard's ``D (H + W) D``). Each keeps its vector as the next
    start.
    ``batches``: probe batches averaged into the loss; ``iters``, ``tol``: power iteration's.
    The warm-start vector is the meter's only state (``state_dict``): a resumed run measures
    exactly what the uninterrupted one did.
    """

    def __init__(self, batches: int = 1, iters: int = 20, tol: float = 1e-3) -> None:
        self.batches = check_int("batches", batches, 1)
        self.iters = check_int("iters", iters, 1)
        self.tol = check_positive("tol", tol)
        self.vector: torch.Tensor | None = None

    def measure(
        self,
        trainee: Trainee,
        step: int,
        params: Sequence[torch.Tensor] | None = None,
    ) -> Eigen:
        """λmax(H) of the probe loss at ``step`` in ``params`` (default: the trained ones)."""
        params = trainable(trainee) if params is None else list(params)
        grads = gradients(probe_loss(trainee, step, self.batches), params)
        return self.top(hessian_operator(grads, params), flat(grads, params))

    def top(self, apply: Operator, like: torch.Tensor) -> Eigen:
        """The top eigenpair of ``apply`` (on vectors shaped as ``like``) from the warm
        start, or from a fixed random vector the first time; its vector is kept as the next
        start when its value is finite."""
        v0 = self.vector
        if v0 is None or v0.numel() != like.numel():
            gen = torch.Generator(device="cpu").manual_seed(0)
            v0 = torch.randn(like.numel(), generator=gen).to(like.device, like.dtype)
        eig = top_eigenvalue(apply, v0, self.iters, self.tol)
        if math.isfinite(eig.value):  # a non-finite model would poison the next warm start
            self.vector = eig.vector.detach()
        return eig

    def state_dict(self) -> dict[str, Any]:
        return {"vector": None if self.vector is None else self.vector.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vector = state.get("vector")
        self.vector = None if vector is None else vector.clone()


def trainable(trainee: Trainee) -> list[torch.Tensor]:
    """The parameters the optimizer trains, in its groups' order (each once)."""
    seen: set[int] = set()
    out = []
    for group in trainee.optimizer.param_groups:
        for p in group["params"]:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out

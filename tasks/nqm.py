"""nqm: the noisy quadratic model (Zhang et al., 2019, "Which algorithmic choices matter at
which batch sizes? Insights from a noisy quadratic model").

A diagonal quadratic over ``dim`` coordinates with curvatures ``h_i = 1 / i`` (i = 1..dim)::

    L(θ) = 0.5 Σ_i h_i θ_i²         (the exact loss: validation and test loss and metric)

Minibatch ``i`` is a vector ``ξ ~ N(0, I)`` drawn from ``(seed, i)``; it moves the minimum::

    L_B(θ; ξ) = 0.5 Σ_i h_i (θ_i − ξ_i / sqrt(h_i B))²

so the stochastic gradient ``h θ − sqrt(h / B) ξ`` is unbiased with covariance ``H / B``, the
NQM's gradient noise for batch size ``B``. The training loss stays >= 0 and has mean
``L(θ) + dim / (2B)``: the offset is the irreducible noise floor, as in a real training
loss. θ starts at ``N(0, I)`` drawn from ``seed``. Plain SGD (no momentum); SGD is stable
for ``lr < 2 / max(h) = 2``. There is no data, so thousands of steps run per second.

There is no data split either: the exact loss is the expectation over all data, so
``evaluate("test")`` equals ``evaluate("val")`` (a held-out noise draw would only add noise
to a number known exactly). The data checksum covers the curvatures ``h``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autolr.checks import check_int, check_positive
from autolr.loop.trainee import TaskInfo, Trainee, check_split
from tasks.base import seeded_model
from tasks.describe import describes
from tasks.splits import sha256_arrays


class NoisyQuadratic(nn.Module):
    """The parameter vector θ, with curvatures ``h`` and noise scales ``1/sqrt(h B)``."""

    def __init__(self, dim: int, batch_size: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.randn(dim))
        h = 1.0 / torch.arange(1, dim + 1, dtype=torch.float32)
        self.register_buffer("h", h)
        self.register_buffer("shift", 1.0 / torch.sqrt(h * batch_size))

    def forward(self, xi: torch.Tensor) -> torch.Tensor:
        """The minibatch loss ``L_B(θ; ξ)``."""
        return 0.5 * (self.h * (self.theta - self.shift * xi) ** 2).sum()

    def exact_loss(self) -> torch.Tensor:
        """The noise-free loss ``L(θ)``."""
        return 0.5 * (self.h * self.theta**2).sum()


class NQMTrainee(Trainee):
    """The NQM as a Trainee: ``batch(i)`` is ``ξ`` from ``default_rng([seed, i])``."""

    uses_global_rng = False  # batches come from seeded generators, dropout from torch

    def __init__(self, info: TaskInfo, dim: int, seed: int, device: str) -> None:
        self.info = info
        self.seed = seed
        self.device = torch.device(device)
        self.dim = dim
        self.model = seeded_model(lambda: NoisyQuadratic(dim, info.batch_size), seed, device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=info.lr)

    def batch(self, i: int) -> torch.Tensor:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < 0:
            raise ValueError(f"batch index must be an integer >= 0, got {i!r}")
        xi = np.random.default_rng([self.seed, int(i)]).standard_normal(self.dim, np.float32)
        return torch.from_numpy(xi).to(self.device)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """``(L(θ), L(θ))``: the exact loss is the loss and the metric, on either split."""
        check_split(split)
        with torch.no_grad():
            value = float(self.model.exact_loss())
        return value, value

    def data_checksum(self) -> str:
        """SHA-256 of the curvatures ``h`` (float32): the only data the NQM has."""
        return sha256_arrays([("h", self.model.h.cpu().numpy())])


def _info(*, dim: int, batch_size: int, lr: float) -> TaskInfo:
    check_int("dim", dim, 1)
    return TaskInfo(
        name="nqm",
        kind="synthetic",
        budget_steps=1000,
        batch_size=check_int("batch_size", batch_size, 1),
        eval_every=50,
        metric="loss",
        mode="min",
        target=0.005,
        lr=check_positive("lr", lr),
        optimizer="sgd(momentum=0)",
        min_lr=1e-4,
        max_lr=10.0,
    )


@describes("nqm", _info)
def make(
    seed: int,
    device: str = "cpu",
    *,
    dim: int = 100,
    batch_size: int = 32,
    lr: float = 0.5,
) -> NQMTrainee:
    """The NQM over ``dim`` coordinates with gradient noise for batch size ``batch_size``."""
    info = _info(dim=dim, batch_size=batch_size, lr=lr)
    return NQMTrainee(info, dim, check_int("seed", seed, 0), device)

"""powerlaw: linear regression with a power-law spectrum (a solvable model of scaling laws).

Data, generated from ``data_seed`` (nothing downloaded): ``x ~ N(0, Σ)`` in ``dim``
dimensions with a diagonal covariance of eigenvalues ``λ_i = i^-alpha`` (i = 1..dim), and a
target ``y = x · w* + noise · ε`` with ``ε ~ N(0, 1)`` and power-law coefficients
``w*_i ∝ i^-beta``, scaled so that the signal's variance ``Σ_i λ_i w*_i²`` is 1 (``noise``
is then the noise-to-signal ratio of standard deviations). 6,144 rows are drawn at once
from ``numpy.random.default_rng(data_seed)`` and cut in order into 4,096 training, 1,024
validation and 1,024 test rows (the rows are i.i.d., so the order is as good as a shuffle).

The model is ``x ↦ x · w`` (``nn.Linear(dim, 1, bias=False)``, torch's default
initialisation from ``seed``); the loss is half the mean squared error, so its Hessian is
``Σ`` with largest eigenvalue 1 and plain SGD is stable for ``lr`` below about 2 (less at
small batches). The best possible loss is ``noise² / 2``; the metric is the loss itself
(lower is better) and the target ``noise² / 2 + 0.005`` (1% of the zero predictor's excess
loss ``1 / 2``). Modes with small ``λ_i`` are learnt late, so the loss falls as a power of
the step count, with exponents set by ``alpha`` and ``beta`` (e.g. Paquette et al. 2024,
"4+3 phases of compute-optimal neural scaling laws"). Thousands of steps run per second.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive
from autolr.loop.trainee import TaskInfo, check_split
from tasks.base import (
    LR_RANGE,
    OPTIMIZERS,
    SupervisedTrainee,
    build_supervised,
    describe_optimizer,
)
from tasks.describe import describes
from tasks.splits import Splits

# (train, val, test) rows
SIZES = (4096, 1024, 1024)
EXCESS_TARGET = 0.005  # the target: the best loss plus this


@functools.lru_cache(maxsize=8)
def load(dim: int, alpha: float, beta: float, noise: float, data_seed: int) -> Splits:
    """The splits of ``(x, y)``: float32 features (N, dim) and float32 targets (N,)."""
    i = np.arange(1, dim + 1, dtype=np.float64)
    eigen = i**-alpha
    w = i**-beta
    w /= np.sqrt(np.sum(eigen * w**2))  # signal variance 1
    rng = np.random.default_rng(data_seed)
    n = sum(SIZES)
    x = rng.standard_normal((n, dim)) * np.sqrt(eigen)
    y = x @ w + noise * rng.standard_normal(n)
    idx = tuple(np.split(np.arange(n), np.cumsum(SIZES)[:-1]))
    return Splits.by_index((x.astype(np.float32), y.astype(np.float32)), idx)


class _Linear(nn.Module):
    """``x · w``: one output, no bias, squeezed to shape (N,)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


class PowerLawTrainee(SupervisedTrainee):
    """Regression: half the mean squared error; ``evaluate`` gives ``(loss, loss)``."""

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return 0.5 * torch.mean((self.model(x) - y) ** 2)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        x, y = self.held_out[check_split(split)]
        with torch.no_grad():
            value = float(0.5 * torch.mean((self.model(x).double() - y.double()) ** 2))
        return value, value


def _info(
    *,
    dim: int,
    alpha: float,
    beta: float,
    noise: float,
    batch_size: int,
    data_seed: int,
    lr: float,
    optimizer: str,
    weight_decay: float,
) -> TaskInfo:
    check_int("dim", dim, 1)
    check_positive("alpha", alpha)
    check_nonnegative("beta", beta)
    noise = check_nonnegative("noise", noise)
    check_int("batch_size", batch_size, 1)
    if batch_size > SIZES[0]:
        raise ValueError(
            f"batch_size must be in [1, {SIZES[0]}] (the training rows), got {batch_size}"
        )
    check_int("data_seed", data_seed, 0)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    decay = check_nonnegative("weight_decay", weight_decay)
    min_lr, max_lr = LR_RANGE[optimizer]
    return TaskInfo(
        name="powerlaw",
        kind="synthetic",
        budget_steps=1000,
        batch_size=batch_size,
        eval_every=50,
        metric="loss",
        mode="min",
        target=0.5 * noise**2 + EXCESS_TARGET,
        lr=check_positive("lr", lr),
        optimizer=describe_optimizer(optimizer, decay),
        min_lr=min_lr,
        max_lr=max_lr,
    )


@describes("powerlaw", _info)
def make(
    seed: int,
    device: str = "cpu",
    *,
    dim: int = 100,
    alpha: float = 1.5,
    beta: float = 1.0,
    noise: float = 0.1,
    batch_size: int = 32,
    data_seed: int = 0,
    lr: float = 0.5,
    optimizer: str = "sgd-plain",
    weight_decay: float = 0.0,
) -> PowerLawTrainee:
    """Linear regression on ``dim`` features with covariance spectrum ``i^-alpha`` and
    target coefficients ``∝ i^-beta``, label noise ``noise`` (module docstring)."""
    info = _info(
        dim=dim,
        alpha=alpha,
        beta=beta,
        noise=noise,
        batch_size=batch_size,
        data_seed=data_seed,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
    )
    splits = load(dim, float(alpha), float(beta), float(noise), data_seed)
    trainee = build_supervised(
        info,
        lambda: _Linear(dim),
        splits,
        seed,
        device,
        optimizer,
        weight_decay,
        trainee=PowerLawTrainee,
    )
    assert isinstance(trainee, PowerLawTrainee)
    return trainee

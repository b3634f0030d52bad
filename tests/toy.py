"""A tiny deterministic trainee for core tests (independent of the tasks package)."""

from __future__ import annotations

import math

import numpy as np
import torch

from autolr.loop.trainee import TASKS, TaskInfo, Trainee, check_split

INFO = TaskInfo(
    name="toy",
    kind="synthetic",
    budget_steps=200,
    batch_size=16,
    eval_every=20,
    metric="neg_loss",
    mode="max",
    target=-0.05,
    lr=0.05,
    optimizer="sgd(momentum=0.9)",
    min_lr=1e-6,
    max_lr=10.0,
)


class ToyTrainee(Trainee):
    """Regression y = x @ w* + noise with a dropout MLP; batch i = f(seed, i)."""

    def __init__(
        self, seed: int = 0, groups: int = 1, nan_at: int | None = None, optimizer: str = "sgd"
    ) -> None:
        self.info = INFO
        self.seed = seed
        self.device = torch.device("cpu")
        self.nan_at = nan_at
        torch.manual_seed(seed)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1)
        )
        params = list(self.model.parameters())
        if groups == 2:
            param_groups = [{"params": params[:2]}, {"params": params[2:]}]
        else:
            param_groups = [{"params": params}]
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(param_groups, lr=INFO.lr)
        else:
            self.optimizer = torch.optim.SGD(param_groups, lr=INFO.lr, momentum=0.9)
        rng = np.random.default_rng(1234)
        self.w = torch.from_numpy(rng.normal(size=(8, 1))).float()
        xv = torch.from_numpy(rng.normal(size=(64, 8))).float()
        self.val = (xv, xv @ self.w)
        xt = torch.from_numpy(np.random.default_rng(4321).normal(size=(64, 8))).float()
        self.test = (xt, xt @ self.w)  # its own draw: the validation numbers stay as they were

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, i])
        x = torch.from_numpy(rng.normal(size=(16, 8))).float()
        y = x @ self.w + 0.1 * torch.from_numpy(rng.normal(size=(16, 1))).float()
        if self.nan_at is not None and i == self.nan_at:
            y = y * math.nan
        return x, y

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.model(x), y)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        x, y = {"val": self.val, "test": self.test}[check_split(split)]
        self.model.eval()
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(self.model(x), y))
        self.model.train()
        return loss, -loss


def make_toy(
    seed: int,
    device: str = "cpu",
    *,
    groups: int = 1,
    nan_at: int | None = None,
    lr: float | None = None,
) -> ToyTrainee:
    """Registry factory for the toy task (tests only)."""
    if groups not in (1, 2):
        raise ValueError(f"groups must be 1 or 2, got {groups!r}")
    return ToyTrainee(seed=seed, groups=groups, nan_at=nan_at)


make_toy.describe = lambda **params: INFO  # type: ignore[attr-defined]

if "toy" not in TASKS:  # importing this module (or AUTOLR_PLUGINS=tests.toy) registers it
    TASKS.add("toy", make_toy)

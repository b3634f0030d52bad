"""A tiny deterministic trainee with a BatchNorm layer (not registered: tests build it)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autolr.loop.trainee import TaskInfo, Trainee, check_split

INFO = TaskInfo(
    name="toy-bn",
    kind="synthetic",
    budget_steps=60,
    batch_size=16,
    eval_every=20,
    metric="neg_loss",
    mode="max",
    target=-0.05,
    lr=0.05,
    optimizer="sgd",
)


class BatchNormTrainee(Trainee):
    """Regression through Linear → BatchNorm1d → ReLU → Dropout → Linear; batch i = f(seed, i)."""

    uses_global_rng = False

    def __init__(self, seed: int = 0) -> None:
        self.info = INFO
        self.seed = seed
        self.device = torch.device("cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = nn.Sequential(
                nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)
            )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=INFO.lr)
        rng = np.random.default_rng(99)
        self.w = torch.from_numpy(rng.normal(size=(4, 1))).float()
        xv = torch.from_numpy(rng.normal(size=(32, 4))).float()
        self.held_out = {"val": (xv, xv @ self.w), "test": (xv[:16], xv[:16] @ self.w)}

    def inputs(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, i])
        return torch.from_numpy(rng.normal(1.0, 2.0, size=(16, 4))).float()

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs(i)
        return x, x @ self.w

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        x, y = self.held_out[check_split(split)]
        self.model.eval()
        with torch.no_grad():
            loss = float(nn.functional.mse_loss(self.model(x), y))
        self.model.train()
        return loss, -loss

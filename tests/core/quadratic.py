"""A quadratic trainee with a known Hessian, for the sharpness and guard tests."""

from __future__ import annotations

import torch

from autolr.loop.trainee import Trainee
from tests.toy import INFO


class Quadratic(Trainee):
    """``L(w) = 0.5 wᵀ A w`` (every batch alike): the Hessian is ``A`` wherever w is."""

    uses_global_rng = False

    def __init__(self, a: torch.Tensor, w0: torch.Tensor, optimizer: str = "sgd", **opt) -> None:
        self.info = INFO
        self.seed = 0
        self.device = torch.device("cpu")
        self.a = a.float()
        self.model = torch.nn.Linear(len(w0), 1, bias=False)
        with torch.no_grad():
            self.model.weight.copy_(w0.reshape(1, -1))
        params = self.model.parameters()
        kinds = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        self.optimizer = kinds[optimizer](params, **{"lr": 0.01, **opt})

    @classmethod
    def diagonal(cls, h: list[float], w0: list[float] | None = None, **kw) -> Quadratic:
        w = torch.ones(len(h)) if w0 is None else torch.tensor(w0)
        return cls(torch.diag(torch.tensor(h)), w, **kw)

    def batch(self, i: int) -> int:
        return i

    def loss(self, batch: object) -> torch.Tensor:
        w = self.model.weight.reshape(-1)
        return 0.5 * w @ (self.a @ w)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        with torch.no_grad():
            value = float(self.loss(None))
        return value, -value

    def steps(self, n: int, lr: float | None = None) -> None:
        """``n`` optimizer steps (at ``lr``, if given)."""
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        for _ in range(n):
            self.optimizer.zero_grad()
            self.loss(None).backward()
            self.optimizer.step()

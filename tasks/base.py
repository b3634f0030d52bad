"""What the tasks share: seeded model construction, optimizers and a supervised Trainee."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autolr.checks import check_choice, check_int, check_nonnegative, check_positive
from autolr.loop.trainee import SplitSizes, TaskInfo, Trainee, check_split
from tasks.splits import Splits
from tasks.streams import ArrayStream

# ``sgd`` is SGD with momentum 0.9 (the tasks' default), ``sgd-plain`` SGD without momentum.
OPTIMIZERS = ("sgd", "sgd-plain", "adam", "adamw")
MOMENTUM = 0.9

# The LR range that controllers and range tests may search, per optimizer family.
LR_RANGE = {
    "sgd": (1e-4, 10.0),
    "sgd-plain": (1e-4, 10.0),
    "adam": (1e-6, 1.0),
    "adamw": (1e-6, 1.0),
}


def describe_optimizer(name: str, weight_decay: float) -> str:
    """A short description, e.g. ``"sgd(momentum=0.9, weight_decay=0.0005)"``; plain SGD
    is ``"sgd(momentum=0, weight_decay=...)"``."""
    if name == "sgd":
        return f"sgd(momentum={MOMENTUM}, weight_decay={weight_decay:g})"
    if name == "sgd-plain":
        return f"sgd(momentum=0, weight_decay={weight_decay:g})"
    return f"{name}(weight_decay={weight_decay:g})"


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """SGD with momentum 0.9 (``sgd``) or none (``sgd-plain``), Adam or AdamW (decoupled
    decay), at initial LR ``lr``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
    if name == "sgd-plain":
        return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def seeded_model(build: Callable[[], nn.Module], seed: int, device: str) -> nn.Module:
    """``build()`` with torch's RNG seeded by ``seed``, moved to ``device``, in train mode.

    The global RNG is forked, so building a model leaves the caller's RNG state untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    return model.to(device).train()


class SupervisedTrainee(Trainee):
    """Classification: cross-entropy loss on minibatches, accuracy on fixed held-out sets.

    ``batch(i)`` is ``stream.batch(i)``, then ``augment(x, seed, i)`` if given (which must
    itself be a pure function of its arguments). ``evaluate(split)`` returns ``(mean
    cross-entropy, accuracy)`` over the whole validation or test set, in chunks of
    ``eval_batch``. ``splits`` is the host copy of the data, kept for the checksum (the
    tasks' loaders cache it anyway, so it costs no memory).
    """

    uses_global_rng = False  # batches come from seeded generators, dropout from torch

    def __init__(
        self,
        info: TaskInfo,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        stream: ArrayStream,
        held_out: dict[str, tuple[torch.Tensor, torch.Tensor]],
        seed: int,
        device: torch.device,
        splits: Splits,
        augment: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None,
        eval_batch: int = 1000,
    ) -> None:
        self.info = info
        self.model = model
        self.optimizer = optimizer
        self.stream = stream
        self.held_out = held_out
        self.seed = seed
        self.device = device
        self.splits = splits
        self.augment = augment
        self.eval_batch = eval_batch
        self._checksum: str | None = None

    @property
    def val(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.held_out["val"]

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.held_out["test"]

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.stream.batch(i)
        if self.augment is not None:
            x = self.augment(x, self.seed, i)
        return x, y

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        x_all, y_all = self.held_out[check_split(split)]
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self.model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(y_all), self.eval_batch):
                    x = x_all[start : start + self.eval_batch]
                    y = y_all[start : start + self.eval_batch]
                    logits = self.model(x)
                    total_loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
                    correct += (logits.argmax(dim=1) == y).sum()
        finally:
            self.model.train()
        n = len(y_all)
        return float(total_loss) / n, float(correct) / n

    def split_sizes(self) -> SplitSizes:
        return self.splits.sizes("examples")

    def data_checksum(self) -> str:
        if self._checksum is None:  # hashed once, when first asked (a summary asks)
            self._checksum = self.splits.checksum()
        return self._checksum


def build_supervised(
    info: TaskInfo,
    build_model: Callable[[], nn.Module],
    splits: Splits,
    seed: int,
    device: str,
    optimizer: str,
    weight_decay: float,
    augment: Callable[[torch.Tensor, int, int], torch.Tensor] | None = None,
    eval_batch: int = 1000,
    trainee: type[SupervisedTrainee] = SupervisedTrainee,
) -> SupervisedTrainee:
    """A SupervisedTrainee (or the subclass ``trainee``) from ``splits`` of ``(x, y)``
    arrays, copied to ``device`` once.

    The model is built with ``seed``, the optimizer starts at ``info.lr`` and the stream
    draws ``info.batch_size`` rows per batch.
    """
    seed = check_int("seed", seed, 0)
    dev = torch.device(device)

    def on_device(part: tuple[np.ndarray, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (torch.from_numpy(a).to(dev) for a in part)
        return x, y

    model = seeded_model(build_model, seed, device)
    return trainee(
        info=info,
        model=model,
        optimizer=build_optimizer(optimizer, model.parameters(), info.lr, weight_decay),
        stream=ArrayStream(on_device(splits.train), info.batch_size, seed),
        held_out={"val": on_device(splits.val), "test": on_device(splits.test)},
        seed=seed,
        device=dev,
        splits=splits,
        augment=augment,
        eval_batch=eval_batch,
    )


def classifier_info(
    name: str,
    *,
    budget: int,
    eval_every: int,
    target: float,
    width: int,
    depth: int,
    batch_size: int,
    lr: float,
    optimizer: str,
    weight_decay: float,
) -> TaskInfo:
    """The TaskInfo of an image classifier, after checking the shared parameters."""
    check_int("width", width, 1)
    check_int("depth", depth, 1)
    check_int("batch_size", batch_size, 1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    decay = check_nonnegative("weight_decay", weight_decay)
    min_lr, max_lr = LR_RANGE[optimizer]
    return TaskInfo(
        name=name,
        kind="vision",
        budget_steps=budget,
        batch_size=batch_size,
        eval_every=eval_every,
        metric="accuracy",
        mode="max",
        target=target,
        lr=check_positive("lr", lr),
        optimizer=describe_optimizer(optimizer, decay),
        min_lr=min_lr,
        max_lr=max_lr,
    )


def vision_info(name: str, budget: int, eval_every: int, target: float) -> Callable[..., TaskInfo]:
    """The ``describe`` of a generated-data classifier: ``classifier_info`` plus
    ``data_seed``, with the task's budget, evaluation period and accuracy target."""

    def info(*, data_seed: int, **params: Any) -> TaskInfo:
        check_int("data_seed", data_seed, 0)
        return classifier_info(name, budget=budget, eval_every=eval_every, target=target, **params)

    return info

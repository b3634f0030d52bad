"""The Trainee contract: what a task hands to a Session, and the task registry.

A Trainee owns a model, its optimizer and a deterministic batch stream: ``batch(i)`` is a
pure function of ``(seed, i)``, so a snapshot of the data stream is just the integer cursor.
Tasks live in the top-level ``tasks`` package and are reached here by name, lazily.

Data splits: ``evaluate("val")`` (the default) scores the validation data that training-time
evaluations, tuning, targets and controllers see; ``evaluate("test")`` scores held-out test
data, which the Session evaluates once, at the end of a run, for the report only.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from autolr.loop.direction import Direction
from autolr.registry import Registry, check_known

if TYPE_CHECKING:
    from autolr.loop.history import History

SPLITS = ("val", "test")


def check_split(split: str) -> str:
    """``split`` if it is "val" or "test", else a ValueError naming it."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


@dataclass(frozen=True)
class SplitSizes:
    """How much data a task's validation and test metrics average over.

    ``unit`` is "examples" for classifiers and "bytes" for language models (the bytes that
    are predicted and scored), so the report can say where a validation set is tiny: with
    ``val`` examples, one example moves an accuracy by ``1 / val``.
    """

    val: int
    test: int
    unit: str = "examples"


@dataclass(frozen=True)
class TaskInfo:
    """What a task declares about itself.

    Attributes:
        name: registry name.
        kind: "vision", "language" or "synthetic".
        budget_steps: the default budget, in optimizer steps.
        batch_size: the default batch size.
        eval_every: the default evaluation period, in steps.
        metric: the validation metric's name (e.g. "accuracy", "bits_per_byte").
        mode: "max" if a larger metric is better, else "min".
        target: the metric a good run reaches within the default budget.
        lr: the task's default initial (peak) learning rate.
        optimizer: a short description of the optimizer, e.g. "sgd(momentum=0.9)".
        min_lr, max_lr: the sensible LR range for controllers and range tests.
    """

    name: str
    kind: Literal["vision", "language", "synthetic"]
    budget_steps: int
    batch_size: int
    eval_every: int
    metric: str
    mode: Literal["max", "min"]
    target: float
    lr: float
    optimizer: str
    min_lr: float = 1e-6
    max_lr: float = 10.0

    @property
    def direction(self) -> Direction:
        """The metric's direction (``mode`` as an object: better, reached, worst, sign)."""
        return Direction(self.mode)

    def better(self, a: float, b: float) -> bool:
        """True if metric value ``a`` is strictly better than ``b``."""
        return bool(self.direction.better(a, b))

    def reached(self, value: float) -> bool:
        """True if ``value`` meets the target."""
        return bool(self.direction.reached(value, self.target))


class Trainee(abc.ABC):
    """A model, its optimizer and a deterministic batch stream for one seed."""

    info: TaskInfo
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    seed: int
    # A trainee that steps itself sets this to ``batch -> loss`` (zero_grad, forward,
    # backward and optimizer.step in one call: a user's closure); the Session then calls it
    # in place of ``loss`` + backward + step, and measures no gradient statistics.
    train_step: Callable[[Any], float] | None = None
    # False promises that training draws nothing from numpy's or Python's global RNG (the
    # built-in tasks draw batches from seeded generators and dropout from torch's RNG), so
    # snapshots need not copy those states: the copy costs more than a small model's step.
    uses_global_rng: bool = True

    @abc.abstractmethod
    def batch(self, i: int) -> Any:
        """Training batch ``i``, on ``self.device``: a pure function of ``(seed, i)``."""

    @abc.abstractmethod
    def loss(self, batch: Any) -> torch.Tensor:
        """The scalar training loss on ``batch`` (forward only; the caller backpropagates)."""

    @abc.abstractmethod
    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """``(loss, metric)`` on the validation (``"val"``) or test (``"test"``) data;
        leaves the model in train mode. Both are fixed sets, disjoint from training data."""

    def split_sizes(self) -> SplitSizes | None:
        """The sizes of the validation and test sets; None where there is no data split
        (a synthetic objective) or the sizes are unknown (a user's trainee)."""
        return None

    def data_checksum(self) -> str | None:
        """A SHA-256 (hex) of the task's data (train, val and test), so that a change in the
        generated or loaded data is detected; None where a trainee does not say."""
        return None

    # ---- optional hooks: the defaults do nothing -----------------------------------------

    def set_budget(self, budget_steps: int) -> None:
        """Told the run's budget: a Session calls it once, when it is built, before drawing
        any batch. A trainee whose stream depends on the run's length (``continual-lm``
        switches corpora at fractions of it) reads it; ``batch(i)`` is then a pure function
        of ``(seed, i, budget_steps)``. The default ignores it."""
        return None

    def extra_metrics(self) -> dict[str, float]:
        """Named numbers measured by the latest ``evaluate("val")``, which the Session
        records beside each evaluation (``History.extras``, extra columns of metrics.csv):
        e.g. the validation bits per byte of each corpus. The default has none."""
        return {}

    def summary_extras(self, history: History) -> dict[str, Any]:
        """Keys a run's summary gains, computed from its ``History`` after the run (e.g. a
        continual task's per-corpus curves and forgetting); they may not replace the
        summary's own keys. The default adds none."""
        return {}


# Packages declare their tasks under the ``autolr.tasks`` entry-point group (ours: the
# ``tasks`` package, in setup.cfg); autolr names none of them.
TASKS: Registry[Any] = Registry("task", group="autolr.tasks", shipped=True)


def task_info(spec: Mapping[str, Any] | str) -> TaskInfo:
    """The TaskInfo a task spec would produce, without building data or a model.

    Every task factory carries a ``describe(**params) -> TaskInfo`` attribute for this.
    """
    name, params = _split(spec)
    factory = TASKS.get(name)
    _check_params(name, factory, params)
    return factory.describe(**params)


def make_task(spec: Mapping[str, Any] | str, seed: int, device: str = "cpu") -> Trainee:
    """Build a Trainee from ``{"name": task, **params}`` for ``seed`` on ``device``."""
    name, params = _split(spec)
    factory = TASKS.get(name)
    _check_params(name, factory, params)
    return factory(seed=seed, device=device, **params)


def _split(spec: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ValueError(f"task must be a mapping with a 'name', got {spec!r}")
    params = dict(spec)
    return params.pop("name"), params


def _check_params(name: str, factory: Any, params: Mapping[str, Any]) -> None:
    accepted = [p for p in inspect.signature(factory).parameters if p not in ("seed", "device")]
    check_known(f"task {name!r}", params, accepted)

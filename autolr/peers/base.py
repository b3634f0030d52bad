"""What every optimizer peer shares: the registry, lazy imports, parameters and the build.

A peer is a self-tuning optimizer that replaces a task's optimizer. It declares the settings
its authors document for general use (``defaults``, each with its source in the peer's
module), the schedule it runs under (a ``fixed`` controller: constant or cosine), its LR
bounds, and, where it evaluates at another point than it trains at (schedule-free's ``x``,
DoG's averaged iterate), an ``EvalPoint``.

Parameters of a peer spec are its optimizer's constructor keywords (passed through) plus the
peer's own keys (``warmup_steps_frac``, ``bn_batches``, ...). An unknown key is refused with
a did-you-mean and the accepted names; the third-party package is imported on first use,
with an error that names what to ``pip install`` when it is missing.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import inspect
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from autolr.checks import check_int, check_positive, check_range
from autolr.registry import Registry, check_known

PEERS: Registry[type[Peer]] = Registry("optimizer peer")

# A key every peer takes besides its optimizer's: how many training batches re-estimate the
# BatchNorm statistics at an evaluation point that is not the training point (the
# schedule-free README's example uses 50); 0 switches the re-estimation off.
BN_BATCHES = 50


class MissingPackage(ImportError, ValueError):
    """A peer's package cannot be imported. A ValueError too, so that a config or suite that
    names the peer is refused like any other bad value (before anything is written)."""


def require(module: str, package: str) -> Any:
    """``import module``, or a MissingPackage error that says to ``pip install package``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingPackage(
            f"the optimizer peer needs the {package!r} package, which cannot be imported "
            f"({err}); install it with: pip install {package}"
        ) from None


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class EvalPoint(Protocol):
    """How a peer moves its model to the point it is evaluated at, and back.

    ``enter()`` puts the evaluation point's weights into the model's parameters; ``leave()``
    undoes any optimizer-side mode (schedule-free's ``train()``). The caller saves the
    model's state before ``enter`` and loads it back after ``leave``, so the training point
    comes back bit for bit whatever the round trip does to the floats.
    """

    def enter(self) -> None: ...

    def leave(self) -> None: ...


@dataclass
class Built:
    """A peer built on a model: its optimizer, its evaluation point (None: the training
    point), and the settings it runs with (every default resolved for the budget)."""

    optimizer: torch.optim.Optimizer
    eval_point: EvalPoint | None
    settings: dict[str, Any] = field(default_factory=dict)


def has_batchnorm(model: nn.Module) -> bool:
    """True if ``model`` has a BatchNorm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class Peer(abc.ABC):
    """A self-tuning optimizer, configured from a spec's parameters (checked on construction).

    Subclasses set ``name``, ``package`` (what to pip install), ``module`` and ``attr`` (the
    optimizer class), ``defaults`` (the documented constructor settings where they differ
    from the package's own), ``own`` (the peer's keys that are not constructor keywords,
    with their defaults), ``max_lr`` and ``schedule``.
    """

    name: ClassVar[str]
    package: ClassVar[str]
    module: ClassVar[str]
    attr: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    own: ClassVar[Mapping[str, Any]] = {}
    # The LR bounds of the run: [0, max_lr]. Zero, as the documented schedules decay to zero
    # (a task's floor would cut the cosine's tail); max_lr per peer, see each module.
    max_lr: ClassVar[float] = 10.0

    def __init__(self, **params: Any) -> None:
        own = self.own_keys()
        check_known(f"optimizer peer {self.name!r}", params, self.accepted())
        self.given = dict(params)
        self.options = {**self.defaults, **{k: v for k, v in params.items() if k not in own}}
        self.extra = {**own, **{k: v for k, v in params.items() if k in own}}
        # a CheckError (naming the key) goes out as it is: configs and suites put their key path
        self.options["lr"] = check_positive("lr", self.options.get("lr", self.package_lr()))
        self.check()

    @classmethod
    def own_keys(cls) -> dict[str, Any]:
        return {**cls.own, "bn_batches": BN_BATCHES}

    @classmethod
    def optimizer_class(cls) -> type[torch.optim.Optimizer]:
        return getattr(require(cls.module, cls.package), cls.attr)  # type: ignore[no-any-return]

    @classmethod
    def constructor_keys(cls) -> list[str]:
        """The optimizer's keyword parameters (``params`` is the model's, not a spec's)."""
        params = inspect.signature(cls.optimizer_class()).parameters
        return [p for p in params if p != "params"]

    @classmethod
    def accepted(cls) -> list[str]:
        return [*cls.constructor_keys(), *cls.own_keys()]

    @classmethod
    def package_lr(cls) -> float:
        return float(inspect.signature(cls.optimizer_class()).parameters["lr"].default)

    @property
    def lr(self) -> float:
        """The peak of the peer's schedule: its LR, or its step-size multiplier."""
        return float(self.options["lr"])

    @property
    def bn_batches(self) -> int:
        return int(self.extra["bn_batches"])

    def check(self) -> None:
        """Check the peer's own keys (subclasses add theirs; a ValueError names the key)."""
        check_int("bn_batches", self.extra["bn_batches"], 0)

    # ---- what a run needs ---------------------------------------------------------------

    @abc.abstractmethod
    def schedule(self, budget: int) -> dict[str, Any]:
        """The schedule spec the peer runs under (a ``fixed`` controller's), for ``budget``."""

    def controller(self, budget: int) -> dict[str, Any]:
        return {"name": "fixed", "schedule": self.schedule(budget)}

    def constructor(self, model: nn.Module, budget: int) -> dict[str, Any]:
        """The optimizer's keyword arguments (YAML lists become tuples: ``betas``)."""
        return {k: tuple(v) if isinstance(v, list) else v for k, v in self.options.items()}

    def build_optimizer(self, model: nn.Module, kwargs: dict[str, Any]) -> torch.optim.Optimizer:
        return self.optimizer_class()(model.parameters(), **kwargs)

    def build(self, model: nn.Module, budget: int) -> Built:
        """The optimizer on ``model``'s parameters, for a run of ``budget`` steps."""
        kwargs = self.constructor(model, budget)
        try:
            # Prodigy and D-Adapt print a line about weight decay: not on a run's stdout
            with contextlib.redirect_stdout(io.StringIO()):
                optimizer = self.build_optimizer(model, kwargs)
        except (ValueError, TypeError) as err:
            raise ValueError(f"optimizer peer {self.name!r}: {err}") from None
        settings = {**kwargs, **self.extra, "schedule": self.schedule(budget)}
        return Built(optimizer, self.eval_point(model, optimizer), settings)

    def eval_point(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> EvalPoint | None:
        """Where the peer is evaluated (None: where it trains)."""
        return None

    # ---- warmups given in steps or as a fraction of the budget ----------------------------

    def check_steps(self, key: str) -> None:
        """A spec gives ``key`` (steps) or ``{key}_frac`` (of the budget), not both."""
        if key in self.given and f"{key}_frac" in self.given:
            raise ValueError(
                f"optimizer peer {self.name!r}: give {key} or {key}_frac (a fraction of the "
                "budget), not both"
            )
        if key in self.given:
            check_int(key, self.given[key], 0)
        check_range(f"{key}_frac", self.extra[f"{key}_frac"], 0, 1)

    def steps(self, key: str, budget: int) -> int:
        """``key`` if the spec gives it, else ``round({key}_frac * budget)``."""
        if key in self.given:
            return check_int(key, self.given[key], 0)
        return round(float(self.extra[f"{key}_frac"]) * budget)

    # ---- what a run records ---------------------------------------------------------------

    def describe(self) -> str:
        """``name(key=value, ...)`` of the settings the spec gives (TaskInfo.optimizer)."""
        given = ", ".join(f"{k}={v!r}" for k, v in self.given.items())
        return f"{self.name}({given})"

    def summary(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """What a run's summary records about its optimizer (plain JSON values)."""
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
        return {
            "name": self.name,
            "package": self.package,
            "version": package_version(self.package),
            "settings": plain,
        }


def make_peer(spec: Mapping[str, Any] | str) -> Peer:
    """A Peer from ``{"name": peer, **params}`` (or a name), its parameters checked."""
    import autolr.peers  # noqa: F401  (registers the built-ins)

    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ValueError(f"optimizer must be a mapping with a 'name', got {spec!r}")
    params = dict(spec)
    cls = PEERS.get(params.pop("name"))
    return cls(**params)

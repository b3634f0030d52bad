"""Optuna samplers and pruners, chosen by name through registries.

A sampler factory takes ``(seed, n_startup)``: the seed, and how many trials sample at
random before the model kicks in (factories without a model ignore it). A pruner factory
takes no arguments. Other packages may add names with ``SAMPLERS.add(name, factory)``.
Storages are chosen by URL: see ``search.storage``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autolr.registry import Registry

SamplerFactory = Callable[[int, int], Any]
PrunerFactory = Callable[[], Any]

SAMPLERS: Registry[SamplerFactory] = Registry("sampler")
PRUNERS: Registry[PrunerFactory] = Registry("pruner")


@SAMPLERS.register("tpe")
def tpe(seed: int, n_startup: int) -> Any:
    """Optuna's TPESampler (the default)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)


@SAMPLERS.register("gp")
def gp(seed: int, n_startup: int) -> Any:
    """Optuna's GPSampler (Gaussian-process Bayesian optimisation)."""
    import optuna

    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup)


@SAMPLERS.register("random")
def random(seed: int, n_startup: int) -> Any:
    """Optuna's RandomSampler (``n_startup`` does not apply)."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


@PRUNERS.register("median")
def median() -> Any:
    """Prune a trial below the median of earlier trials at the same step, after 3 trials."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


@PRUNERS.register("hyperband")
def hyperband() -> Any:
    """Optuna's HyperbandPruner."""
    import optuna

    return optuna.pruners.HyperbandPruner()


@PRUNERS.register("none")
def none() -> Any:
    """Never prune."""
    import optuna

    return optuna.pruners.NopPruner()


def make_sampler(name: str, seed: int, n_startup: int) -> Any:
    """The sampler ``name`` (did-you-mean error naming the key ``sampler`` when unknown)."""
    return _lookup(SAMPLERS, "sampler", name)(seed, n_startup)


def make_pruner(name: str) -> Any:
    """The pruner ``name`` (did-you-mean error naming the key ``pruner`` when unknown)."""
    return _lookup(PRUNERS, "pruner", name)()


def _lookup(registry: Registry[Any], key: str, name: Any) -> Any:
    try:
        return registry.get(name)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None

"""Meta-training the ``meta`` policy by evolution strategies (numpy only).

The objective is the mean final score over task instances, with a penalty per divergence::

    J(θ) = mean_i [ s · ln(m_T / m_0) − penalty · diverged ]      (over instances i)

Each generation draws ``episodes`` instances from the train split (shared by every candidate:
common random numbers), samples ``population / 2`` antithetic pairs ``θ ± σ ε``, and
estimates the gradient from centred ranks (Salimans et al. 2017)::

    g = Σ_k (u(θ + σ ε_k) − u(θ − σ ε_k)) ε_k / (population · σ)

with ``u`` the centred rank in [-0.5, 0.5]; Adam ascends ``g`` with ``step_size``. One seed
fixes everything, so a run is reproducible. ``action`` (``continuous`` or ``residual``, with
``residual_range`` and ``residual_base``; ``agents.actions``) is how the policy's output sets
the LR; the policy file records it.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from agents.actions import BASES, ActionSpec
from agents.instances import Instance, InstanceSet, InstancesField
from agents.meta import META_ACTIONS, MetaController, MLPPolicy, save_policy
from agents.outputs import check_outputs
from agents.policy import rollout
from autolr.checks import CheckError, Choice, Int, NonNegative, Positive
from autolr.running.config import parse_model
from autolr.running.io import atomic_path

CURVE_SUFFIXES = (".csv", ".png")  # the learning curve, written beside the policy file


class MetaTrainConfig(BaseModel):
    """An ``agents meta-train`` config (the ES settings in the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    instances: InstancesField = None
    seed: Int(0) = 0
    hidden: Int(1) = 8
    generations: Int(1) = 30
    population: Int(1) = 12
    episodes: Int(1) = 3
    sigma: NonNegative() = 0.1
    step_size: NonNegative() = 0.05
    divergence_penalty: NonNegative() = 1.0
    action: Choice(*META_ACTIONS) = "continuous"
    residual_range: Positive() = 1.0
    residual_base: Choice(*BASES) = "wsd"
    workers: Int(1) = 1
    # under runs/: the shipped policy in agents/policies/ is written only by an explicit
    # --out (agents.outputs)
    out: str = "runs/agents/meta_policy.json"

    @field_validator("population")
    @classmethod
    def _even(cls, population: int) -> int:
        if population % 2:  # antithetic pairs
            raise CheckError("population", population, "even")
        return population


DEFAULTS: dict[str, Any] = MetaTrainConfig().model_dump()


def check_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config with defaults filled in; ValueError naming a bad key path or value."""
    return parse_model(MetaTrainConfig, config or {}, "meta-train").model_dump()


def fitness(
    params: np.ndarray,
    hidden: int,
    instances: Sequence[Instance],
    penalty: float,
    action: ActionSpec | None = None,
) -> float:
    """``J(θ)`` on these instances."""
    total = 0.0
    policy = MLPPolicy(hidden, params, action)
    for instance in instances:
        result = rollout(instance, MetaController(policy, lr=instance.lr))
        total += result.score - penalty * result.diverged
    return total / len(instances)


def action_spec(cfg: Mapping[str, Any]) -> ActionSpec:
    """The config's action kind as an ActionSpec."""
    return ActionSpec(cfg["action"], cfg["residual_range"], cfg["residual_base"])


def _fitness_job(args: tuple[np.ndarray, int, list[Instance], float, ActionSpec]) -> float:
    import torch

    torch.set_num_threads(1)
    return fitness(*args)


def centred_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of ``values`` mapped to [-0.5, 0.5] (ties broken by position)."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks / max(len(values) - 1, 1) - 0.5


def meta_train(
    config: Mapping[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[MLPPolicy, list[dict[str, float]]]:
    """Run ES; write the policy to ``out`` (or the config's), a CSV curve and a PNG plot.

    Refused before training (``agents.outputs.OutputRefused``) when a file exists and not
    ``overwrite``, or when the path is inside an installed package and ``out`` is None."""
    cfg = check_config(config)
    path = Path(out or cfg["out"])
    check_outputs(path, CURVE_SUFFIXES, overwrite=overwrite, explicit=out is not None)
    instances = InstanceSet(cfg["instances"])
    rng = np.random.default_rng(cfg["seed"])
    hidden, penalty, sigma = cfg["hidden"], float(cfg["divergence_penalty"]), cfg["sigma"]
    action = action_spec(cfg)
    theta = MLPPolicy.initial(hidden, rng).params
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    beta1, beta2 = 0.9, 0.999
    curve: list[dict[str, float]] = []
    pool = ProcessPoolExecutor(cfg["workers"]) if cfg["workers"] > 1 else None
    start = time.perf_counter()
    try:
        for gen in range(1, cfg["generations"] + 1):
            batch = [instances.sample("train", rng) for _ in range(cfg["episodes"])]
            eps = rng.standard_normal((cfg["population"] // 2, theta.size))
            cands = [theta] + [theta + s * sigma * e for e in eps for s in (1.0, -1.0)]
            jobs = [(c, hidden, batch, penalty, action) for c in cands]
            values = np.array(
                list(pool.map(_fitness_job, jobs) if pool else map(_fitness_job, jobs))
            )
            centre, pop = values[0], values[1:]
            u = centred_ranks(pop)
            grad = ((u[0::2] - u[1::2])[:, None] * eps).sum(0) / (
                cfg["population"] * max(sigma, 1e-12)
            )
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            mhat, vhat = m / (1 - beta1**gen), v / (1 - beta2**gen)
            theta = theta + cfg["step_size"] * mhat / (np.sqrt(vhat) + 1e-8)
            row = {
                "generation": gen,
                "centre": float(centre),
                "population_mean": float(pop.mean()),
                "population_best": float(pop.max()),
                "elapsed_s": time.perf_counter() - start,
            }
            curve.append(row)
            log(
                f"gen {gen:3d}/{cfg['generations']}  centre {centre:+.4f}  "
                f"mean {pop.mean():+.4f}  best {pop.max():+.4f}  ({row['elapsed_s']:.0f}s)"
            )
    finally:
        if pool is not None:
            pool.shutdown()
    policy = MLPPolicy(hidden, theta, action)
    plain = {k: v for k, v in cfg.items() if k != "out"}
    save_policy(policy, path, trained_by="autolr agents meta-train", config=plain)
    write_curve(curve, path.with_suffix(".csv"))
    plot_curve(curve, path.with_suffix(".png"), "generation", ["centre", "population_mean"])
    return policy, curve


def write_curve(rows: Sequence[Mapping[str, float]], path: Path) -> None:
    """A learning curve as CSV (one row per generation or episode)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def plot_curve(
    rows: Sequence[Mapping[str, float]],
    path: Path,
    x: str,
    ys: Sequence[str],
    smooth: int = 1,
) -> None:
    """A learning curve as PNG; with ``smooth`` > 1 (noisy per-episode rows) each series is
    drawn faint, under its moving mean over ``smooth`` rows (``autolr.running.plots.smooth``)."""
    from autolr.running.plots import pyplot, save
    from autolr.running.plots import smooth as moving_mean

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [r[x] for r in rows]
    for y in ys:
        values = [r[y] for r in rows]
        if smooth > 1:
            (raw,) = ax.plot(xs, values, alpha=0.25, linewidth=0.8)
            mean = moving_mean(np.asarray(values, dtype=float), smooth)
            ax.plot(xs, mean, color=raw.get_color(), label=f"{y} (mean of last {smooth})")
        else:
            ax.plot(xs, values, label=y)
    ax.set_xlabel(x)
    ax.set_ylabel("score")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, path)

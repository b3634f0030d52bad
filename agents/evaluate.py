"""Held-out evaluation of a policy controller against tuned baselines and its own replay.

For each test instance (a task config with an initial LR, the run seed aside):

1. **static**: the best constant LR from the 7-point grid ``η = lr_task · 2^k, k = -3..3``,
   picked on ``tune_seeds`` (disjoint from the evaluation seeds);
2. **cosine**: cosine decay from the best peak on the same grid, picked the same way;
3. **replay**: the policy's LR trace recorded on the first tuning seed, replayed open loop
   (a piecewise schedule of the recorded per-step LRs) on the evaluation seeds; a policy
   that only learned a shape ties with it, one that reacts to the run beats it;
4. **policy**: the controller itself, on the evaluation seeds.

Every method is scored by ``s · ln(m_T / m_0)`` (``agents.env.score``; higher is better). The
policy *matches or beats* a baseline on an instance when its mean score over the evaluation
seeds is at least the baseline's minus ``tolerance`` (0.01: 1% in the final metric).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.instances import Instance
from agents.policy import Rollout, rollout
from autolr.controllers.base import Controller
from autolr.controllers.fixed import Fixed
from autolr.loop.trainee import task_info

GRID = tuple(2.0**k for k in range(-3, 4))
METHODS = ("policy", "static", "cosine", "replay")


@dataclass
class InstanceResult:
    """Scores per method over the evaluation seeds of one instance."""

    key: str
    scores: dict[str, list[float]] = field(default_factory=dict)
    diverged: dict[str, int] = field(default_factory=dict)
    overhead: list[float] = field(default_factory=list)
    tuned: dict[str, float] = field(default_factory=dict)

    def mean(self, method: str) -> float:
        return float(np.mean(self.scores[method]))


def _fixed(schedule: dict[str, Any]) -> Fixed:
    return Fixed(schedule)


def _replay(lrs: np.ndarray) -> Fixed:
    """An open-loop schedule of a recorded per-step LR trace (constant after its end)."""
    if lrs.size == 0:
        raise ValueError("cannot replay an empty LR trace")
    change = np.flatnonzero(np.diff(lrs)) + 1
    values = [float(lrs[0])] + [float(lrs[i]) for i in change]
    return _fixed({"name": "piecewise", "boundaries": [int(i) for i in change], "values": values})


def _tune(instance: Instance, seeds: Sequence[int], kind: str) -> float:
    """The grid LR with the best mean score on ``seeds`` for ``constant`` or ``cosine``."""
    base = task_info(instance.task).lr
    best, best_lr = -math.inf, base
    for factor in GRID:
        lr = base * factor
        scores = []
        for seed in seeds:
            inst = _with(instance, seed=seed, lr=lr)
            spec = {"name": kind, "lr": lr}
            if kind == "cosine":
                spec["total_steps"] = inst.budget_steps
            r = rollout(inst, _fixed(spec))
            scores.append(r.score - 1e3 * r.diverged)
        if np.mean(scores) > best:
            best, best_lr = float(np.mean(scores)), lr
    return best_lr


def _with(instance: Instance, **changes: Any) -> Instance:
    fields = {
        "task": instance.task,
        "seed": instance.seed,
        "lr": instance.lr,
        "budget_steps": instance.budget_steps,
        "interval": instance.interval,
    }
    return Instance(**{**fields, **changes})


def evaluate_instance(
    instance: Instance,
    make_controller: Callable[[Instance], Controller],
    seeds: Sequence[int],
    tune_seeds: Sequence[int],
) -> InstanceResult:
    """All four methods on one instance (``instance.seed`` is ignored; ``seeds`` are used)."""
    if len(seeds) < 1 or set(seeds) & set(tune_seeds):
        raise ValueError(f"seeds must be non-empty and disjoint from tune_seeds, got {seeds!r}")
    res = InstanceResult(instance.key())
    static_lr = _tune(instance, tune_seeds, "constant")
    cosine_lr = _tune(instance, tune_seeds, "cosine")
    res.tuned = {"static": static_lr, "cosine": cosine_lr}
    traced = _with(instance, seed=tune_seeds[0])
    trace = rollout(traced, make_controller(traced)).lrs
    for method in METHODS:
        res.scores[method], res.diverged[method] = [], 0
    for seed in seeds:
        inst = _with(instance, seed=seed)
        runs: dict[str, Rollout] = {
            "policy": rollout(inst, make_controller(inst)),
            "static": rollout(
                _with(inst, lr=static_lr), _fixed({"name": "constant", "lr": static_lr})
            ),
            "cosine": rollout(
                _with(inst, lr=cosine_lr),
                _fixed({"name": "cosine", "lr": cosine_lr, "total_steps": inst.budget_steps}),
            ),
            "replay": rollout(_with(inst, lr=float(trace[0])), _replay(trace)),
        }
        for method, r in runs.items():
            res.scores[method].append(r.score)
            res.diverged[method] += int(r.diverged)
        res.overhead.append(runs["policy"].overhead)
    return res


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of a 95% normal-approximation confidence interval."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(1.96 * x.std(ddof=1) / math.sqrt(x.size))


def summarize(results: Sequence[InstanceResult], tolerance: float = 0.01) -> dict[str, Any]:
    """Win rates (match-or-beat), mean score with CI, divergences and overhead."""
    out: dict[str, Any] = {"instances": len(results), "tolerance": tolerance, "methods": {}}
    for method in METHODS:
        per_instance = [r.mean(method) for r in results]
        mean, ci = mean_ci([s for r in results for s in r.scores[method]])
        entry: dict[str, Any] = {
            "mean_score": mean,
            "ci95": ci,
            "divergences": sum(r.diverged[method] for r in results),
            "runs": sum(len(r.scores[method]) for r in results),
            "instance_means": per_instance,
        }
        if method != "policy":
            wins = [r.mean("policy") >= r.mean(method) - tolerance for r in results]
            entry["policy_win_rate"] = float(np.mean(wins))
        out["methods"][method] = entry
    overhead = [o for r in results for o in r.overhead]
    out["overhead_mean"] = float(np.mean(overhead)) if overhead else math.nan
    out["overhead_max"] = float(np.max(overhead)) if overhead else math.nan
    return out


def table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    lines = [
        "| method | mean score ± 95% CI | divergences | policy match-or-beat rate |",
        "|---|---|---|---|",
    ]
    for method, e in summary["methods"].items():
        win = "—" if "policy_win_rate" not in e else f"{100 * e['policy_win_rate']:.0f}%"
        lines.append(
            f"| {method} | {e['mean_score']:.4f} ± {e['ci95']:.4f} | "
            f"{e['divergences']}/{e['runs']} | {win} |"
        )
    lines.append("")
    lines.append(
        f"decision overhead: mean {100 * summary['overhead_mean']:.2f}% of wall time, "
        f"max {100 * summary['overhead_max']:.2f}% ({summary['instances']} instances)"
    )
    return "\n".join(lines)


def plot(results: Sequence[InstanceResult], path: Any) -> None:
    """Per-instance mean score of each method (one group of bars per instance)."""
    from autolr.running.plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(results)), 4.5))
    width = 0.8 / len(METHODS)
    x = np.arange(len(results))
    for i, method in enumerate(METHODS):
        ax.bar(x + i * width, [r.mean(method) for r in results], width, label=method)
    ax.set_xticks(
        x + 0.4 - width / 2, [r.key for r in results], rotation=30, ha="right", fontsize=7
    )
    ax.set_ylabel("score  s·ln(m_T/m_0)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


TUNE_SEEDS = (90000, 90001)


def evaluate_all(
    make_controller: Callable[[Instance], Controller],
    instances: Any = None,
    n_seeds: int = 5,
    out: Any = None,
    tune_seeds: Sequence[int] = TUNE_SEEDS,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], str]:
    """Evaluate on every test instance (``n_seeds`` seeds each); write into ``out`` if given."""
    import json
    from pathlib import Path

    from agents.instances import InstanceSet

    groups: dict[str, list[Instance]] = {}
    for inst in InstanceSet(instances).enumerate("test"):
        groups.setdefault(inst.key(), []).append(inst)
    results = []
    for i, (key, insts) in enumerate(groups.items(), 1):
        seeds = sorted({x.seed for x in insts})
        if len(seeds) < n_seeds:
            raise ValueError(f"test instance {key} has {len(seeds)} seeds, fewer than {n_seeds}")
        res = evaluate_instance(insts[0], make_controller, seeds[:n_seeds], tune_seeds)
        results.append(res)
        means = "  ".join(f"{m} {res.mean(m):+.4f}" for m in METHODS)
        log(f"[{i}/{len(groups)}] {key}: {means}")
    summary = summarize(results)
    summary["per_instance"] = [
        {"key": r.key, "tuned_lr": r.tuned, "scores": r.scores, "diverged": r.diverged}
        for r in results
    ]
    text = table(summary)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (out / "table.md").write_text(text + "\n")
        plot(results, out / "scores.png")
    return summary, text

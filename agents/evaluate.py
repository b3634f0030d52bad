"""Held-out evaluation of a policy controller against tuned baselines and its own replay.

For each test instance (a task config with an initial LR, the run seed aside):

1. **static**: the best constant LR from the 7-point grid ``η = lr_task · 2^k, k = -3..3``,
   picked on ``tune_seeds`` (disjoint from the evaluation seeds);
2. **cosine**: cosine decay from the best peak on the same grid, picked the same way;
3. **replay**: the policy's LR trace recorded on the first tuning seed, replayed open loop
   (a piecewise schedule of the recorded per-step LRs) on the evaluation seeds; a policy
   that only learned a shape ties with it, one that reacts to the run beats it;
4. **policy**: the controller itself, on the evaluation seeds.

Every run is a bench cell (``autolr.bench``): it is executed into the results store, so a
rerun skips finished cells and a killed one loses only the runs in flight. Methods are
scored from the store by ``s · ln(m_T / m_0)`` (``agents.env.score``; higher is better), with
``m_0`` the step-0 evaluation. The mean score carries a Student-t 95% confidence interval
(``autolr.bench.stats.mean_ci``). The policy *matches or beats* a baseline on an instance
when its mean score over the evaluation seeds is at least the baseline's minus ``tolerance``
(0.01: 1% in the final metric).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.env import score
from agents.instances import Instance, InstanceSet
from autolr.bench.execute import execute
from autolr.bench.report import markdown_table
from autolr.bench.stats import mean_ci
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.suite import Cell, trace_schedule
from autolr.bench.tuning import choose_peaks
from autolr.loop.trainee import task_info

SUITE = "agents-eval"
# exact powers of two (a span ** linspace grid differs from them in the last bits)
GRID = tuple(2.0**k for k in range(-3, 4))
METHODS = ("policy", "static", "cosine", "replay")
BASELINES = {"static": "constant", "cosine": "cosine"}  # method -> schedule family
TUNE_SEEDS = (90000, 90001)
DIVERGENCE_PENALTY = 1e3  # subtracted from a tuning run's score when it rolled back


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


def policy_salt(controller: Mapping[str, Any]) -> str:
    """The content hash of the controller's policy file ('' without one): a retrained policy
    at the same path makes new cells instead of reusing the old policy's runs."""
    path = controller.get("policy")
    if path is None:
        return ""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class InstanceCells:
    """The cells of one instance's evaluation, phase by phase.

    ``controller`` is a controller spec without ``lr`` (``{name: meta, policy: PATH}``); each
    run starts from the instance's LR.
    """

    def __init__(
        self,
        instance: Instance,
        controller: Mapping[str, Any],
        seeds: Sequence[int],
        tune_seeds: Sequence[int],
    ) -> None:
        if len(seeds) < 1 or set(seeds) & set(tune_seeds):
            raise ValueError(
                f"seeds must be non-empty and disjoint from tune_seeds, got {list(seeds)!r}"
            )
        self.instance, self.seeds, self.tune_seeds = instance, list(seeds), list(tune_seeds)
        self.key = instance.key()
        self.controller = {**controller, "lr": instance.lr}
        self.salt = policy_salt(controller)
        self.peaks: dict[str, float] = {}  # tuned LR per baseline, once the grid has run
        self.trace_lrs = np.zeros(0)  # the policy's LR trace, once it has run

    def _cell(
        self, method: str, track: str, seed: int, ctrl: dict[str, Any], peak: float | None = None
    ) -> Cell:
        """A run of ``ctrl`` on this instance; the policy's own runs carry its file's hash."""
        config = {
            "task": self.instance.task,
            "controller": ctrl,
            "seed": seed,
            "budget_steps": self.instance.budget_steps,
            "interval": self.instance.interval,
        }
        salt = self.salt if ctrl is self.controller else ""
        return Cell(SUITE, self.key, method, track, seed, config, peak, salt)

    def _baseline(self, method: str, lr: float) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": BASELINES[method], "lr": lr}
        if method == "cosine":
            spec["total_steps"] = self.instance.budget_steps
        return {"name": "fixed", "schedule": spec}

    def untuned_peaks(self) -> dict[str, float]:
        """Each baseline at the task's default LR (the grid's centre): a smoke run's peaks."""
        return {m: task_info(self.instance.task).lr for m in BASELINES}

    def tune(self) -> list[Cell]:
        """The grid runs of both baselines on the tuning seeds."""
        base = task_info(self.instance.task).lr
        return [
            self._cell(method, "tune", seed, self._baseline(method, base * f), base * f)
            for method in BASELINES
            for f in GRID
            for seed in self.tune_seeds
        ]

    def chosen_peaks(
        self, done: Mapping[str, Mapping[str, Any]], objective: Callable[[Any], float]
    ) -> dict[str, float]:
        """Each baseline's tuned LR from this instance's own grid runs, found by key.

        Two instances that differ only in their starting LR share their grid runs (the same
        configs, so the same cells, stored once under the first one's label): the runs are
        looked up by key and relabelled as this instance's, so each finds its peaks.
        """
        own = [{**done[c.key], "task": self.key} for c in self.tune()]
        peaks = choose_peaks(own, objective)
        return {m: peaks[(self.key, m)] for m in BASELINES}

    def trace(self) -> Cell:
        """The policy on the first tuning seed: the LR trace that ``replay`` plays back."""
        return self._cell("policy-trace", "self", self.tune_seeds[0], self.controller)

    def policy(self) -> list[Cell]:
        return [self._cell("policy", "self", s, self.controller) for s in self.seeds]

    def tuned(self, method: str) -> list[Cell]:
        """A baseline on the evaluation seeds at its tuned LR."""
        lr = self.peaks[method]
        return [self._cell(method, "eval", s, self._baseline(method, lr), lr) for s in self.seeds]

    def replay(self) -> list[Cell]:
        ctrl = {"name": "fixed", "schedule": trace_schedule(self.trace_lrs)}
        return [self._cell("policy-replay", "replay", s, ctrl) for s in self.seeds]

    def evaluated(self) -> dict[str, list[Cell]]:
        """The evaluation-seed cells per method (after tuning and tracing)."""
        return {
            "policy": self.policy(),
            **{m: self.tuned(m) for m in BASELINES},
            "replay": self.replay(),
        }


def cell_score(cell: Mapping[str, Any], curves: Mapping[str, np.ndarray]) -> float:
    """``s · ln(m_T / m_0)`` of a finished cell, ``m_0`` being its step-0 evaluation."""
    steps = curves["eval_step"]
    if steps.size == 0 or steps[0] != 0:
        raise ValueError(f"cell {cell['key']} has no evaluation at step 0 to normalise by")
    s = cell["summary"]
    return score(s["final_val_metric"], float(curves["eval_metric"][0]), s["mode"])


class _Done:
    """Finished cells of this evaluation, read from the store by key."""

    def __init__(self, store: ResultsStore, cells: Sequence[Cell]) -> None:
        done = {c["key"]: c for c in store.done_cells(SUITE)}
        missing = [c for c in cells if c.key not in done]
        if missing:
            c = missing[0]
            raise RuntimeError(
                f"{len(missing)} runs did not finish, e.g. {c.task} / {c.method} seed {c.seed} "
                f"(key {c.key}); the store's cells table holds their errors"
            )
        self.store, self.cells = store, [done[c.key] for c in cells]

    def score(self, cell: Mapping[str, Any]) -> float:
        return cell_score(cell, self.store.curves(cell["key"]))


def _tuning_objective(done: _Done) -> Callable[[Mapping[str, Any]], float]:
    # a diverged tuning run must not win on a lucky final metric
    def objective(cell: Mapping[str, Any]) -> float:
        return done.score(cell) - DIVERGENCE_PENALTY * (cell["summary"]["rollbacks"] > 0)

    return objective


def evaluate(
    store: ResultsStore,
    controller: Mapping[str, Any],
    groups: Mapping[str, Sequence[Instance]],
    n_seeds: int,
    tune_seeds: Sequence[int] = TUNE_SEEDS,
    workers: int = 1,
    tuned: bool = True,
) -> list[InstanceResult]:
    """Run every instance's cells into ``store`` (skipping finished ones); score them.

    ``groups`` maps an instance key to its instances (one per seed); the first ``n_seeds``
    seeds (sorted) are the evaluation seeds. ``tuned=False`` (a smoke run) skips the
    baselines' LR grid and runs them at the task's default LR.
    """
    plans = []
    for key, insts in groups.items():
        seeds = sorted({x.seed for x in insts})
        if len(seeds) < n_seeds:
            raise ValueError(f"test instance {key} has {len(seeds)} seeds, fewer than {n_seeds}")
        plans.append(InstanceCells(insts[0], controller, seeds[:n_seeds], tune_seeds))
    first = [c for p in plans for c in [*(p.tune() if tuned else []), p.trace(), *p.policy()]]
    execute(store, first, workers)
    done = _Done(store, first)
    objective = _tuning_objective(done)
    by_key = {c["key"]: c for c in done.cells}
    for p in plans:
        p.peaks = p.chosen_peaks(by_key, objective) if tuned else p.untuned_peaks()
        p.trace_lrs = store.curves(p.trace().key)["lr"]
    second = [c for p in plans for m in BASELINES for c in p.tuned(m)]
    second += [c for p in plans for c in p.replay()]
    execute(store, second, workers)
    done = _Done(store, first + second)
    by_key = {c["key"]: c for c in done.cells}
    results = []
    for p in plans:
        res = InstanceResult(p.key, tuned=dict(p.peaks))
        for method, cells in p.evaluated().items():
            rows = [by_key[c.key] for c in cells]
            res.scores[method] = [done.score(r) for r in rows]
            res.diverged[method] = sum(int(r["summary"]["rollbacks"] > 0) for r in rows)
            if method == "policy":
                res.overhead = [_overhead(r["summary"]) for r in rows]
        results.append(res)
    return results


def _overhead(summary: Mapping[str, Any]) -> float:
    """The policy's decision time as a fraction of the run's wall time."""
    spent = summary["controller_stats"].get("decision_time_s", 0.0)
    wall = summary["wall_time_s"]
    return spent / wall if wall > 0 else 0.0


def summarize(results: Sequence[InstanceResult], tolerance: float = 0.01) -> dict[str, Any]:
    """Win rates (match-or-beat), mean score with a Student-t 95% CI, divergences, overhead."""
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


SMOKE_BANNER = (
    "SMOKE run ({seeds} seed(s) per instance, baselines untuned at the task's LR): "
    "checks that the evaluation runs; NOT numbers to report"
)


def table(summary: Mapping[str, Any]) -> str:
    """The summary as a Markdown table, and a line on the decision overhead; a smoke run's
    table opens and closes with a SMOKE banner, so it cannot pass for a real one."""
    rows = []
    for method, e in summary["methods"].items():
        win = "—" if "policy_win_rate" not in e else f"{100 * e['policy_win_rate']:.0f}%"
        ci = f"{e['mean_score']:.4f} ± {e['ci95']:.4f}"
        rows.append([method, ci, f"{e['divergences']}/{e['runs']}", win])
    head = ["method", "mean score ± 95% CI", "divergences", "policy match-or-beat rate"]
    overhead = (
        f"decision overhead: mean {100 * summary['overhead_mean']:.2f}% of wall time, "
        f"max {100 * summary['overhead_max']:.2f}% ({summary['instances']} instances)"
    )
    lines = [markdown_table(head, rows), "", overhead]
    if summary.get("smoke"):
        banner = f"**{SMOKE_BANNER.format(seeds=summary['seeds'])}**"
        lines = [banner, "", *lines, "", banner]
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


def evaluate_all(
    controller: Mapping[str, Any],
    instances: Any = None,
    n_seeds: int = 5,
    out: str | Path = "runs/agents/eval",
    *,
    store: str | None = None,
    tune_seeds: Sequence[int] = TUNE_SEEDS,
    workers: int = 1,
    smoke: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], str]:
    """Evaluate ``controller`` on every test instance (``n_seeds`` seeds each).

    Runs go into the results store (``store``: a URL or a SQLite path; default
    ``out/results.db``); ``out`` receives summary.json, table.md and scores.png. ``smoke``
    skips the baselines' tuning grid (see ``evaluate``) and marks the summary and the
    table as a smoke run.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    groups: dict[str, list[Instance]] = {}
    for inst in InstanceSet(instances).enumerate("test"):
        groups.setdefault(inst.key(), []).append(inst)
    out_dir = Path(out)
    results_store = ResultsStore(store_url(store, out_dir))
    try:
        results = evaluate(
            results_store, controller, groups, n_seeds, tune_seeds, workers, tuned=not smoke
        )
    finally:
        results_store.close()
    for i, res in enumerate(results, 1):
        means = "  ".join(f"{m} {res.mean(m):+.4f}" for m in METHODS)
        log(f"[{i}/{len(results)}] {res.key}: {means}")
    summary = summarize(results)
    summary["smoke"], summary["seeds"] = smoke, n_seeds
    summary["per_instance"] = [
        {"key": r.key, "tuned_lr": r.tuned, "scores": r.scores, "diverged": r.diverged}
        for r in results
    ]
    text = table(summary)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "table.md").write_text(text + "\n")
    plot(results, out_dir / "scores.png")
    return summary, text

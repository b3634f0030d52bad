"""Held-out evaluation of a policy controller against tuned baselines and its own replay.

For each test instance (a task config with an initial LR, the run seed aside):

1. **static**: the best constant LR from the 7-point grid ``η = lr_task · 2^k, k = -3..3``,
   picked on ``tune_seeds`` (disjoint from the evaluation seeds);
2. **cosine**: cosine decay from the best peak on the same grid, picked the same way;
3. **replay**: the policy's LR trace recorded on the first tuning seed, replayed open loop
   (a piecewise schedule of the recorded per-step LRs) on the evaluation seeds; a policy
   that only learned a shape ties with it, one that reacts to the run beats it;
4. **policy**: the controller itself, on the evaluation seeds;
5. **base**: the policy's base schedule alone at the instance's LR (``agents.actions``: the
   residual base a residual policy modulates; ``wsd`` for a compounding one), the schedule
   whose gain the policy must show;
6. **default**: the untuned default, cosine with a 5% warmup at the instance's LR (what a
   user gets for free, as in the CPU suite);
7. **auto**: the ``auto`` controller from the instance's LR (``docs/auto.md``);
8. **the optimizer peers** (``PEERS``: schedule-free SGD and AdamW, Prodigy, D-Adaptation
   Adam, DoG), each replacing the instance's optimizer at its authors' general-use settings
   and under its own schedule, as in the CPU suite (``autolr.peers``).

Every run is a bench cell (``autolr.bench``): it is executed into the results store, so a
rerun skips finished cells and a killed one loses only the runs in flight. Methods are
scored from the store by ``s · ln(m_T / m_0)`` (``agents.env.score``; higher is better), with
``m_0`` the step-0 evaluation. The mean score carries a Student-t 95% confidence interval
(``autolr.bench.stats.mean_ci``). The policy *matches or beats* a baseline on an instance
when its mean score over the evaluation seeds is at least the baseline's minus ``tolerance``
(0.01: 1% in the final metric). The same rate on the held-out **test** split compares the
mean final test metrics, ``s · ln(policy / baseline) >= −tolerance``. The **paired**
difference policy − method pairs runs of the same instance and seed, and carries a
Student-t 95% CI over those pairs.
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

from agents.actions import base_spec
from agents.env import score
from agents.instances import Instance, InstanceSet
from autolr.bench.analysis import final_of
from autolr.bench.cells import Cell, trace_schedule
from autolr.bench.execute import execute
from autolr.bench.report import markdown_table
from autolr.bench.stats import mean_ci
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.tuning import choose_peaks
from autolr.controllers.base import build_controller
from autolr.loop.trainee import task_info

SUITE = "agents-eval"
# exact powers of two (a span ** linspace grid differs from them in the last bits)
GRID = tuple(2.0**k for k in range(-3, 4))
# the optimizer peers, as the CPU suite runs them (configs/bench/cpu.yaml's optimizers)
PEERS = ("schedulefree-sgd", "schedulefree-adamw", "prodigy", "dadapt-adam", "dog")
METHODS = ("policy", "base", "default", "static", "cosine", "auto", "replay", *PEERS)
BASELINES = {"static": "constant", "cosine": "cosine"}  # method -> schedule family
TUNE_SEEDS = (90000, 90001)
DIVERGENCE_PENALTY = 1e3  # subtracted from a tuning run's score when it rolled back
DEFAULT_WARMUP = 0.05  # the untuned default's warmup, a fraction of the budget (cpu.yaml's)


@dataclass
class InstanceResult:
    """Scores per method over the evaluation seeds of one instance."""

    key: str
    mode: str = "max"
    scores: dict[str, list[float]] = field(default_factory=dict)
    tests: dict[str, list[float]] = field(default_factory=dict)  # final test metrics
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
        base: str = "wsd",
    ) -> None:
        if len(seeds) < 1 or set(seeds) & set(tune_seeds):
            raise ValueError(
                f"seeds must be non-empty and disjoint from tune_seeds, got {list(seeds)!r}"
            )
        self.instance, self.seeds, self.tune_seeds = instance, list(seeds), list(tune_seeds)
        self.key = instance.key()
        self.base = base  # the residual base kind (agents.actions.BASES)
        self.controller = {**controller, "lr": instance.lr}
        self.salt = policy_salt(controller)
        self.peaks: dict[str, float] = {}  # tuned LR per baseline, once the grid has run
        self.trace_lrs = np.zeros(0)  # the policy's LR trace, once it has run

    def _cell(
        self,
        method: str,
        track: str,
        seed: int,
        ctrl: dict[str, Any] | None,
        peak: float | None = None,
        optimizer: str | None = None,
    ) -> Cell:
        """A run of ``ctrl`` on this instance (of the optimizer peer ``optimizer`` under its
        own schedule when ``ctrl`` is None); the policy's own runs carry its file's hash."""
        config: dict[str, Any] = {
            "task": self.instance.task,
            "controller": ctrl,
            "seed": seed,
            "budget_steps": self.instance.budget_steps,
            "interval": self.instance.interval,
        }
        if optimizer is not None:
            del config["controller"]
            config["optimizer"] = {"name": optimizer}
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

    def untuned(self) -> dict[str, list[Cell]]:
        """The methods that need no tuning, on the evaluation seeds from the instance's LR:
        the policy's base schedule, the untuned default and ``auto``."""
        lr, budget = self.instance.lr, self.instance.budget_steps
        default = {
            "name": "cosine",
            "lr": lr,
            "total_steps": budget,
            "warmup_steps": round(DEFAULT_WARMUP * budget),
        }
        ctrls = {
            "base": {"name": "fixed", "schedule": base_spec(self.base, lr, budget)},
            "default": {"name": "fixed", "schedule": default},
            "auto": {"name": "auto", "lr": lr},
        }
        return {m: [self._cell(m, "self", s, c) for s in self.seeds] for m, c in ctrls.items()}

    def peers(self) -> dict[str, list[Cell]]:
        """The optimizer peers on the evaluation seeds, replacing the instance's optimizer."""
        return {
            name: [self._cell(name, "peer", s, None, optimizer=name) for s in self.seeds]
            for name in PEERS
        }

    def replay(self) -> list[Cell]:
        ctrl = {"name": "fixed", "schedule": trace_schedule(self.trace_lrs)}
        return [self._cell("policy-replay", "replay", s, ctrl) for s in self.seeds]

    def evaluated(self) -> dict[str, list[Cell]]:
        """The evaluation-seed cells per method (after tuning and tracing)."""
        return {
            "policy": self.policy(),
            **self.untuned(),
            **{m: self.tuned(m) for m in BASELINES},
            "replay": self.replay(),
            **self.peers(),
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
    base = policy_base(controller)
    for key, insts in groups.items():
        seeds = sorted({x.seed for x in insts})
        if len(seeds) < n_seeds:
            raise ValueError(f"test instance {key} has {len(seeds)} seeds, fewer than {n_seeds}")
        plans.append(InstanceCells(insts[0], controller, seeds[:n_seeds], tune_seeds, base))
    first = [
        c
        for p in plans
        for c in [
            *(p.tune() if tuned else []),
            p.trace(),
            *p.policy(),
            *(c for cells in p.untuned().values() for c in cells),
            *(c for cells in p.peers().values() for c in cells),
        ]
    ]
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
        res = InstanceResult(p.key, task_info(p.instance.task).mode, tuned=dict(p.peaks))
        for method, cells in p.evaluated().items():
            rows = [by_key[c.key] for c in cells]
            res.scores[method] = [done.score(r) for r in rows]
            res.tests[method] = [final_of(r["summary"], "metric", "test") for r in rows]
            res.diverged[method] = sum(int(r["summary"]["rollbacks"] > 0) for r in rows)
            if method == "policy":
                res.overhead = [_overhead(r["summary"]) for r in rows]
        results.append(res)
    return results


def policy_base(controller: Mapping[str, Any]) -> str:
    """The residual base of ``controller``'s policy (its file records it), or ``wsd`` for a
    compounding policy or a controller without one: the schedule ``base`` runs."""
    built = build_controller(dict(controller), default_lr=1.0, budget_steps=1)
    spec = getattr(built, "action_spec", None)
    return spec.residual_base if spec is not None and not spec.compounding else "wsd"


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
            entry["policy_win_rate_test"] = _test_win_rate(results, method, tolerance)
            pairs = [
                p - q
                for r in results
                for p, q in zip(r.scores["policy"], r.scores[method], strict=True)
            ]
            entry["paired_diff"], entry["paired_ci95"] = mean_ci(pairs)
        out["methods"][method] = entry
    overhead = [o for r in results for o in r.overhead]
    out["overhead_mean"] = float(np.mean(overhead)) if overhead else math.nan
    out["overhead_max"] = float(np.max(overhead)) if overhead else math.nan
    return out


def _test_win_rate(results: Sequence[InstanceResult], method: str, tolerance: float) -> float:
    """The share of instances where the policy's mean final test metric matches or beats
    ``method``'s: ``s · ln(policy / method) >= −tolerance`` (NaN: no finite test metric)."""
    wins = []
    for r in results:
        mine, theirs = np.nanmean(r.tests["policy"]), np.nanmean(r.tests[method])
        if math.isfinite(mine) and math.isfinite(theirs):
            wins.append(score(float(mine), float(theirs), r.mode) >= -tolerance)
    return float(np.mean(wins)) if wins else math.nan


SMOKE_BANNER = (
    "SMOKE run ({seeds} seed(s) per instance, baselines untuned at the task's LR): "
    "checks that the evaluation runs; NOT numbers to report"
)


def table(summary: Mapping[str, Any]) -> str:
    """The summary as a Markdown table, and a line on the decision overhead; a smoke run's
    table opens and closes with a SMOKE banner, so it cannot pass for a real one."""
    rows = []
    for method, e in summary["methods"].items():
        ci = f"{e['mean_score']:.4f} ± {e['ci95']:.4f}"
        if "policy_win_rate" in e:
            win, test = _rate(e["policy_win_rate"]), _rate(e["policy_win_rate_test"])
            paired = f"{e['paired_diff']:+.4f} ± {e['paired_ci95']:.4f}"
        else:
            win = test = paired = "—"
        rows.append([method, ci, f"{e['divergences']}/{e['runs']}", win, test, paired])
    head = [
        "method",
        "mean score ± 95% CI",
        "divergences",
        "policy match-or-beat rate",
        "on test",
        "policy − method (paired) ± 95% CI",
    ]
    overhead = (
        f"decision overhead: mean {100 * summary['overhead_mean']:.2f}% of wall time, "
        f"max {100 * summary['overhead_max']:.2f}% ({summary['instances']} instances)"
    )
    lines = [markdown_table(head, rows), "", overhead]
    if summary.get("smoke"):
        banner = f"**{SMOKE_BANNER.format(seeds=summary['seeds'])}**"
        lines = [banner, "", *lines, "", banner]
    return "\n".join(lines)


def _rate(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{100 * value:.0f}%"


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

"""AutoLRS against the best of a 7-point LR grid, for cosine and for step decay.

    python -m benchmarks.autolrs --quick            # mnist1d-cnn at an 800-step budget
    python -m benchmarks.autolrs --workers 2        # mnist1d-cnn and stdlib-lm, default budgets
    python -m benchmarks.autolrs --from /root/bench-cpu --suite cpu --cosine cosine-warmup
                                                    # the same table from a finished bench store

The runs go through ``autolr bench`` (a suite named ``autolrs``), so they share its results
store, resume and protocol (every step charged; the ledger's budget is the same for every
method):
- tuning: cosine and step decay (x0.1 at a third and two thirds of the budget) each run a
  7-point grid, lr = task lr * 2**j for j = -3..3, on a tuning seed that is not an evaluation
  seed; the grid point with the best final metric wins;
- evaluation: the two tuned baselines and each AutoLRS variant on >= 3 evaluation seeds;
- reported: final metric (mean and 95% CI), charged steps to the target (the tuned cosine's
  mean final metric) per seed and as a ratio to the tuned cosine's, wall time and its ratio to
  the tuned cosine's, probe steps, time in the GP step, and the forecast rank correlation
  (Spearman between each stage's forecast and the loss the stage reached).
``--from`` reads the same numbers out of any store holding such runs, for example the CPU
suite's, whose cosine baseline is labelled ``cosine-warmup``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolr.bench import ResultsStore, bench
from autolr.bench.stats import mean_ci, steps_to_target
from autolr.bench.store_location import store_url
from autolr.bench.tuning import final_metric
from autolr.loop.trainee import task_info

VARIANTS: dict[str, dict[str, Any]] = {
    # the default preset, "paper" (search/autolrs.py): k = 10 trials of tau / 10, LCB with
    # kappa = 1e6, the lowest observed forecast, validation once tau reaches tau_max
    "autolrs": {"name": "autolrs"},
    # the same, named: a store holding runs of the earlier defaults keeps them apart
    "autolrs-paper": {"name": "autolrs", "preset": "paper"},
    # the earlier defaults: k = 4 trials of tau / 20, LR floor, final decay, collapse guard
    "autolrs-fast": {"name": "autolrs", "preset": "fast"},
    "autolrs-adaptive": {"name": "autolrs", "preset": "fast", "adaptive": True},
    # fewer, longer trials: forecasts from 5% of tau do not rank LRs (see --forecast-check)
    "autolrs-long": {"name": "autolrs", "preset": "fast", "k": 3, "trial_fraction": 0.2},
}
BASELINES = [
    {"name": "cosine"},
    {"name": "step", "step_size_frac": 0.34, "gamma": 0.1},
]


def suite(
    tasks: Sequence[str], budget: int | None, seeds: int, tuning_seed: int, variants: list[str]
) -> dict[str, Any]:
    """The benchmark as an ``autolr bench`` suite."""
    entries = []
    for task in tasks:
        entry: dict[str, Any] = {"name": task}
        if budget is not None:
            entry.update(budget_steps=budget, eval_every=max(10, budget // 20))
        entries.append(entry)
    return {
        "name": "autolrs",
        "seeds": list(range(seeds)),
        "tuning_seeds": [tuning_seed],
        "grid": {"points": 7, "span": 8},
        "tasks": entries,
        "baselines": BASELINES,
        "controllers": [{"label": v, **VARIANTS[v]} for v in variants],
        "replay": False,
    }


def table(
    store: ResultsStore, suite_name: str, cosine: str = "cosine", step: str = "step"
) -> list[str]:
    """Per task: the tuned cosine and step decay against every AutoLRS run of the suite."""
    cells = store.done_cells(suite_name)
    if not cells:
        raise ValueError(f"the results store holds no finished runs of suite {suite_name!r}")
    lines: list[str] = []
    for task in sorted({c["task"] for c in cells}):
        runs = [c for c in cells if c["task"] == task]
        groups: dict[str, list[dict[str, Any]]] = {}
        for c in sorted(runs, key=lambda c: c["seed"]):
            autolrs = c["track"] == "self" and c["config"]["controller"]["name"] == "autolrs"
            if (c["track"] == "eval" and c["method"] in (cosine, step)) or autolrs:
                groups.setdefault(c["method"], []).append(c)
        if cosine not in groups:
            lines += [f"### {task}: no evaluation runs of the tuned {cosine!r} yet", ""]
            continue
        lines += _task_table(store, task, groups, cosine)
    return lines


def _task_table(
    store: ResultsStore, task: str, groups: dict[str, list[dict[str, Any]]], cosine: str
) -> list[str]:
    first = groups[cosine][0]["summary"]
    mode, metric, budget = first["mode"], first["metric"], first["budget_steps"]
    target = float(np.mean([final_metric(c["summary"], mode) for c in groups[cosine]]))

    def to_target(c: dict[str, Any]) -> float:
        cv = store.curves(c["key"])
        return steps_to_target(cv["eval_charged"], cv["eval_metric"], target, mode)

    cos_wall = float(np.mean([c["summary"]["wall_time_s"] for c in groups[cosine]]))
    seeds = sorted({c["seed"] for g in groups.values() for c in g})
    lines = [
        f"### {task}, budget {budget} steps, evaluation seeds {seeds}",
        "",
        f"target = the tuned {cosine}'s mean final {metric}: {target:.4f}, which the tuned "
        f"{cosine} reaches, on average, at the end of its {budget}-step budget. 'vs budget' is "
        "the mean charged steps to the target over the seeds that reach it, over the budget: "
        "the goal is <= 0.8x on every seed with no loss in final metric.",
        "",
        "| method | peak lr | final (mean ± 95% CI) | charged steps to target | vs budget | "
        "wall s | vs cosine | probe steps | GP s | forecast rho |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, group in groups.items():
        s = [c["summary"] for c in group]
        m, h = mean_ci([final_metric(x, mode) for x in s])
        steps = [to_target(c) for c in group]
        hit = [x for x in steps if math.isfinite(x)]
        ratio = f"{np.mean(hit) / budget:.2f}x ({len(hit)}/{len(steps)})" if hit else "never"
        wall = float(np.mean([x["wall_time_s"] for x in s]))
        ctrl = [x.get("controller_stats") or {} for x in s]
        rho = [x["forecast_rho"] for x in ctrl if x.get("forecast_rho") is not None]
        gp = [x["gp_seconds"] for x in ctrl if "gp_seconds" in x]
        peak = group[0]["config"]["controller"].get("schedule", {})
        peak_lr = peak.get("lr")
        lines.append(
            f"| {name} | {'-' if peak_lr is None else f'{peak_lr:.3g}'} | {m:.4f} ± {h:.4f} | "
            f"{[int(x) if math.isfinite(x) else 'never' for x in steps]} | {ratio} | "
            f"{wall:.3g} | {wall / cos_wall:.2f}x | "
            f"{np.mean([x['steps_probed'] for x in s]):.0f} | "
            f"{f'{np.mean(gp):.1f}' if gp else '-'} | "
            f"{f'{np.mean(rho):.2f}' if rho else '-'} |"
        )
    return [*lines, ""]


def forecast_check(task: str, seed: int, budget: int, tau: int, trial: int) -> list[str]:
    """Forecast quality across candidates: train to budget / 4 with cosine at the task's lr,
    then run 7 LRs (task lr * 2**j, j = -3..3) for the full tau as probes; forecast each
    LR's loss at tau from its first ``trial`` losses; Spearman rho against the loss reached
    (the mean of the last quarter of the tau steps)."""
    from autolr.loop.segment import Segment
    from autolr.running.runner import build_session, load_config
    from search.forecast import FORECASTERS, rank_correlation

    info = task_info(task)
    schedule = {"name": "cosine", "lr": info.lr, "total_steps": budget}
    cfg = {
        "task": {"name": task},
        "controller": {"name": "fixed", "schedule": schedule},
        "budget_steps": budget * 10,
        "seed": seed,
        "eval_every": 0,
    }
    session = build_session(load_config(cfg))
    session.advance(Segment.constant(info.lr, budget // 4))
    reached, curves = [], []
    for j in range(-3, 4):
        res = session.probe.run(info.lr * 2.0**j, tau)
        curves.append(res.losses[:trial])
        reached.append(res.final_loss)
    lines = [
        f"forecast check on {task} (seed {seed}) at step {budget // 4}: 7 LRs, "
        f"forecast from {trial} steps to {tau}; reached = {np.round(reached, 3).tolist()}"
    ]
    for name, fn in FORECASTERS.items():
        preds = [fn(c, tau) for c in curves]
        lines.append(f"- {name}: rho = {rank_correlation(preds, reached):.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="mnist1d-cnn only, 800-step budget")
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--budget", type=int, default=None, help="override every task's budget")
    p.add_argument("--seeds", type=int, default=3, help="evaluation seeds (>= 3)")
    p.add_argument("--tuning-seed", type=int, default=1000)
    p.add_argument("--variants", nargs="*", default=["autolrs"], choices=list(VARIANTS))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/autolrs"))
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="run nothing; read this results store (a bench folder, a .db file or a URL)",
    )
    p.add_argument("--suite", default="autolrs", help="with --from: the suite to read")
    p.add_argument("--cosine", default="cosine", help="with --from: the cosine baseline's label")
    p.add_argument("--step", default="step", help="with --from: the step baseline's label")
    p.add_argument(
        "--forecast-check",
        action="store_true",
        help="only measure forecast rank correlation across 7 LRs",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    args = p.parse_args(argv)
    if args.seeds < 3:
        p.error(f"--seeds must be >= 3, got {args.seeds}")
    torch.set_num_threads(args.threads)
    tasks = args.tasks or (["mnist1d-cnn"] if args.quick else ["mnist1d-cnn", "stdlib-lm"])
    budget = args.budget or (800 if args.quick else None)
    if args.forecast_check:
        for task in tasks:
            b = budget or task_info(task).budget_steps
            for seed in range(args.seeds):
                print("\n".join(forecast_check(task, seed, b, b // 4, max(6, b // 80))))
        return 0
    if args.source is None:
        spec = suite(tasks, budget, args.seeds, args.tuning_seed, args.variants)
        bench(spec, out=args.out, workers=args.workers, progress=True)
        source, name = str(args.out), "autolrs"
    else:
        source, name = args.source, args.suite
    path = Path(source)
    store = ResultsStore(store_url(None if path.is_dir() else source, path), create=False)
    try:
        print("\n".join(table(store, name, args.cosine, args.step)))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

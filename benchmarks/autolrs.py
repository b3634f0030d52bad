"""AutoLRS against the best of a 7-point LR grid, for cosine and for step decay.

    python benchmarks/autolrs.py --quick                 # mnist1d-cnn at a small budget
    python benchmarks/autolrs.py          # mnist1d-cnn and stdlib-lm at default budgets

Protocol (every step charged; the ledger's budget is the same for every method):
- tuning: each baseline family runs a 7-point grid, lr = task lr * 2**j for j = -3..3, on a
  tuning seed that is not an evaluation seed; the grid point with the best final metric wins;
- evaluation: the tuned cosine, the tuned step decay and each AutoLRS variant run on >= 3
  evaluation seeds;
- reported: final metric (mean and 95% CI), charged steps to reach the target (the tuned
  cosine's mean final metric), wall time and its overhead against the tuned cosine, probe
  steps, and the forecast rank correlation (Spearman between each stage's forecast and the
  loss the stage reached).
Per-run results are saved to --out as JSON lines; a rerun skips finished runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autolr.bench.stats import mean_ci
from autolr.runner import run
from autolr.trainee import task_info

GRID = [2.0**j for j in range(-3, 4)]
VARIANTS: dict[str, dict[str, Any]] = {
    "autolrs": {"name": "autolrs"},
    "autolrs-adaptive": {"name": "autolrs", "adaptive": True},
    # fewer, longer trials: forecasts from 5% of tau do not rank LRs (see --forecast-check)
    "autolrs-long": {"name": "autolrs", "k": 3, "trial_fraction": 0.2},
    # the paper's settings: k = 10 trials of tau / 10, no LR floor, no final decay
    "autolrs-paper": {
        "name": "autolrs",
        "k": 10,
        "trial_fraction": 0.1,
        "max_decay": None,
        "final_decay": False,
    },
}


def baseline(family: str, lr: float, budget: int) -> dict[str, Any]:
    if family == "cosine":
        return {"name": "fixed", "schedule": {"name": "cosine", "lr": lr, "total_steps": budget}}
    step = {"name": "step", "lr": lr, "step_size": max(1, budget // 3), "gamma": 0.1}
    return {"name": "fixed", "schedule": step}


def one_run(task: str, controller: dict[str, Any], seed: int, budget: int, every: int) -> dict:
    cfg = {
        "task": {"name": task},
        "controller": controller,
        "budget_steps": budget,
        "seed": seed,
        "eval_every": every,
        "interval": 50,
    }
    start = time.perf_counter()
    res = run(cfg)
    s, hist = res.summary, res.history
    ctrl = res.session.controller
    quality = ctrl.forecast_quality() if hasattr(ctrl, "forecast_quality") else math.nan
    return {
        "final": s["final_val_metric"],
        "wall": time.perf_counter() - start,
        "probe": s["steps_probed"],
        "kept": s["steps_trained"],
        "evals": {
            "charged": list(map(int, hist.evals["charged"])),
            "metric": list(map(float, hist.evals["val_metric"])),
        },
        "rho": quality,
        "gp_s": float(getattr(ctrl, "gp_seconds", 0.0)),
        "lrs": [e["lr"] for e in getattr(ctrl, "log", [])],
    }


def to_target(r: dict, target: float, mode: str) -> int | None:
    for c, m in zip(r["evals"]["charged"], r["evals"]["metric"]):
        if (m >= target) if mode == "max" else (m <= target):
            return c
    return None


def bench_task(
    task: str,
    budget: int,
    seeds: list[int],
    tuning_seed: int,
    every: int,
    variants: list[str],
    done: dict[str, dict],
    log: Any,
) -> list[str]:
    info = task_info(task)

    def cell(key: str, controller: dict[str, Any], seed: int) -> dict:
        if key not in done:
            done[key] = one_run(task, controller, seed, budget, every)
            log.write(json.dumps({"key": key, **done[key]}) + "\n")
            log.flush()
            print(
                f"{key}: final {done[key]['final']:.4g} wall {done[key]['wall']:.0f}s", flush=True
            )
        return done[key]

    tuned = {}
    for fam in ("cosine", "step"):
        scores = {}
        for g in GRID:
            lr = info.lr * g
            r = cell(f"{task}/{budget}/tune/{fam}/{lr:.6g}", baseline(fam, lr, budget), tuning_seed)
            scores[lr] = r["final"] if r["final"] is not None else -math.inf
        sign = 1 if info.mode == "max" else -1
        tuned[fam] = max(scores, key=lambda lr: sign * scores[lr])
    methods: dict[str, list[dict]] = {}
    for seed in seeds:
        for fam in ("cosine", "step"):
            key = f"{task}/{budget}/eval/{fam}/{tuned[fam]:.6g}/s{seed}"
            methods.setdefault(f"{fam} (lr {tuned[fam]:.3g})", []).append(
                cell(key, baseline(fam, tuned[fam], budget), seed)
            )
        for v in variants:
            methods.setdefault(v, []).append(
                cell(f"{task}/{budget}/eval/{v}/s{seed}", VARIANTS[v], seed)
            )
    cos = next(v for k, v in methods.items() if k.startswith("cosine"))
    target = float(np.mean([r["final"] for r in cos]))
    cos_wall = float(np.mean([r["wall"] for r in cos]))
    cos_steps = [to_target(r, target, info.mode) for r in cos]
    lines = [
        f"### {task}, budget {budget} steps, seeds {seeds} (tuning seed {tuning_seed})",
        "",
        f"target = tuned cosine's mean final {info.metric}: {target:.4f}",
        "",
        "| method | final (mean ± 95% CI) | charged steps to target (per seed) | "
        "vs cosine | wall s | overhead | probe steps | forecast rho |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rs in methods.items():
        finals = [r["final"] for r in rs]
        m, h = mean_ci(finals)
        steps = [to_target(r, target, info.mode) for r in rs]
        ratios = [s / c for s, c in zip(steps, cos_steps) if s is not None and c]
        ratio = f"{np.mean(ratios):.2f}x ({len(ratios)}/{len(rs)} reached)" if ratios else "-"
        wall = float(np.mean([r["wall"] for r in rs]))
        rho = [r["rho"] for r in rs if r["rho"] is not None and not math.isnan(r["rho"])]
        lines.append(
            f"| {name} | {m:.4f} ± {h:.4f} | {steps} | {ratio} | {wall:.0f} | "
            f"{wall / cos_wall:.2f}x | {np.mean([r['probe'] for r in rs]):.0f} | "
            f"{np.mean(rho) if rho else float('nan'):.2f} |"
        )
    return lines


def forecast_check(task: str, seed: int, budget: int, tau: int, trial: int) -> list[str]:
    """Forecast quality across candidates: train to budget / 4 with cosine at the task's lr,
    then run 7 LRs (task lr * 2**j, j = -3..3) for the full tau as probes; forecast each
    LR's loss at tau from its first ``trial`` losses; Spearman rho against the loss reached
    (the mean of the last quarter of the tau steps)."""
    from autolr.runner import build_session, load_config
    from search.forecast import FORECASTERS, rank_correlation

    info = task_info(task)
    cfg = {
        "task": {"name": task},
        "controller": baseline("cosine", info.lr, budget),
        "budget_steps": budget * 10,
        "seed": seed,
        "eval_every": 0,
    }
    session = build_session(load_config(cfg))
    session.advance(
        session.controller.propose(session.state, session.probe).__class__.constant(
            info.lr, budget // 4
        )
    )
    reached, curves = [], []
    for g in GRID:
        res = session.probe.run(info.lr * g, tau)
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
    p.add_argument("--tuning-seed", type=int, default=100)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", type=Path, default=Path("runs/bench-autolrs.jsonl"))
    p.add_argument(
        "--forecast-check",
        action="store_true",
        help="only measure forecast rank correlation across 7 LRs",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tasks = args.tasks or (["mnist1d-cnn"] if args.quick else ["mnist1d-cnn", "stdlib-lm"])
    if args.forecast_check:
        for task in tasks:
            budget = args.budget or (800 if args.quick else task_info(task).budget_steps)
            tau = budget // 4
            for seed in range(args.seeds):
                print("\n".join(forecast_check(task, seed, budget, tau, max(6, tau // 20))))
        return 0
    done: dict[str, dict] = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done[row.pop("key")] = row
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = []
    with open(args.out, "a") as log:
        for task in tasks:
            budget = args.budget or (800 if args.quick else task_info(task).budget_steps)
            every = max(10, budget // 20)
            seeds = list(range(args.seeds))
            lines = bench_task(
                task, budget, seeds, args.tuning_seed, every, args.variants, done, log
            )
            report += [*lines, ""]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

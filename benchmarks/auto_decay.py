"""Where `auto`'s decay should start: fixed starts against the online plateau test, on the
tuning seeds.

Each row is one whole `auto` run (``autolr run``'s Session, one thread), at `auto`'s
defaults except for the decay's start: ``fine_at`` 0.1 (the version evaluated on
2026-12-01), 0.5 and 0.8 of the budget, and unset (the plateau test, ``docs/auto.md``). The
peak, its probes and every other choice are `auto`'s own, so the rows of a task and seed
differ only from the decay's start on. The tasks are the CPU suite's five and the
variants suite's (``configs/bench/variants.yaml``), whose baselines are tuned on the same
seed 1000. Prints one JSON line per run, then a table of the final validation metric.

    python -m benchmarks.auto_decay --seeds 1000 1001 --workers 2 > decay.jsonl

A few minutes a task and seed on 2 cores; stdlib-lm about 5 minutes a seed. ``--lr-mult``
multiplies the task's initial LR (0.1 and 10: the initial LR off by 10x) and
``--starts plateau`` runs the plateau test alone. Each row also has the best coarse probe's
score (the mean train loss at the end of its cooldown) and the run's mean train loss over
the plateau window before its decay started, the design data for a guard against a run
that stalls (docs/auto.md, "Open items").
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from autolr.loop.trainee import task_info
from autolr.running.runner import build_session, load_config
from benchmarks.auto_coarse import FIVE_POINT

# name -> (task config, run-level keys): the CPU suite's tasks and the variants suite's
TASKS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "nqm": ({"name": "nqm"}, {}),
    "digits-cnn": ({"name": "digits-cnn"}, {}),
    "mnist1d-mlp": ({"name": "mnist1d-mlp"}, {}),
    "mnist1d-cnn": ({"name": "mnist1d-cnn"}, {}),
    "stdlib-lm": ({"name": "stdlib-lm"}, {}),
    "powerlaw": ({"name": "powerlaw"}, {}),
    "nqm-200": ({"name": "nqm", "dim": 200, "batch_size": 64}, {}),
    "digits-cnn-adam": ({"name": "digits-cnn", "optimizer": "adam", "lr": 0.002, "width": 24}, {}),
    "mnist1d-mlp-adamw": (
        {"name": "mnist1d-mlp", "optimizer": "adamw", "lr": 0.003, "width": 64, "depth": 3},
        {},
    ),
    "mnist1d-cnn-sgd": ({"name": "mnist1d-cnn", "optimizer": "sgd-plain", "lr": 0.1}, {}),
    "stdlib-lm-nodecay": (
        {
            "name": "stdlib-lm",
            "optimizer": "adam",
            "lr": 0.001,
            "weight_decay": 0,
            "width": 32,
            "depth": 1,
        },
        {"budget_steps": 1000, "eval_every": 100},
    ),
}
STARTS: tuple[float | None, ...] = (0.1, 0.5, 0.8, None)


def run_one(task: str, seed: int, fine_at: float | None, lr_mult: float = 1.0) -> dict[str, Any]:
    """One `auto` run with the decay starting at ``fine_at`` (None: the plateau test), the
    task's initial LR times ``lr_mult``."""
    torch.set_num_threads(1)
    cfg, top = TASKS[task]
    if lr_mult != 1.0:  # the variant's own lr, or the task's default
        cfg = {**cfg, "lr": cfg.get("lr", task_info(cfg).lr) * lr_mult}
    # the grid this study was made with; the decay's start is what it varies
    ctrl: dict[str, Any] = {"name": "auto", **FIVE_POINT}
    if fine_at is not None:
        ctrl["fine_at"] = fine_at
    config = load_config({"task": cfg, **top, "seed": seed, "threads": 1, "controller": ctrl})
    session = build_session(config)
    t0 = time.perf_counter()
    session.run()
    c = session.controller
    losses = np.asarray(session.history.steps["train_loss"], dtype=np.float64)
    budget = session.state.budget
    # the kept steps before the decay started (no rollback: charged minus probes)
    before = round(c.decay_start * budget) - c.probe_steps if c.decay_start else 0
    window = losses[max(0, before - c.plateau_steps(budget)) : before]
    extra = {"lr_mult": lr_mult} if lr_mult != 1.0 else {}
    return {
        "task": task,
        "seed": seed,
        **extra,
        "fine_at": fine_at,
        "final_val_metric": float(session.state.val_metric),
        "peak": float(c.peak),
        "decay_start": c.decay_start,
        "rollbacks": int(c.rollbacks),
        "probe_steps": int(c.probe_steps),
        "coarse_best_score": float(min(c.coarse["scores"])),
        "decay_window_loss": float(window.mean()) if window.size and not c.rollbacks else None,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def table(rows: list[dict[str, Any]], starts: tuple[float | None, ...] = STARTS) -> str:
    """A markdown table: one line per task and seed, one column per decay start."""
    cells: dict[tuple[str, int], dict[float | None, dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["task"], r["seed"]), {})[r["fine_at"]] = r
    head = "| task | seed | " + " | ".join(
        "plateau (start)" if s is None else f"from {s:g}" for s in starts
    )
    lines = [head + " |", "|---|---|" + "---|" * len(starts)]
    for (task, seed), by in cells.items():
        out = []
        for s in starts:
            r = by.get(s)
            if r is None:
                out.append("–")
            elif s is None:
                out.append(f"{r['final_val_metric']:.4g} ({r['decay_start']:.2f})")
            else:
                out.append(f"{r['final_val_metric']:.4g}")
        lines.append(f"| {task} | {seed} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[1000, 1001])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--lr-mult", type=float, default=1.0, help="times the task's initial LR")
    p.add_argument(
        "--starts",
        choices=["all", "plateau"],
        default="all",
        help="the decay starts to run: 0.1, 0.5, 0.8 and the plateau test, or the test alone",
    )
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers must be at least 1, got {args.workers}")
    if not args.lr_mult > 0:
        p.error(f"--lr-mult must be > 0, got {args.lr_mult}")
    starts = STARTS if args.starts == "all" else (None,)
    jobs = [(t, s, f, args.lr_mult) for t in args.tasks for s in args.seeds for f in starts]
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run_one, *zip(*jobs, strict=True)):
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(table(rows, starts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``autolr find-lr --task NAME [--set key=value ...]``: the LR range test."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "find-lr",
        help="LR range test (exponential sweep) with suggestions",
        description="Sweep the LR exponentially from --start-lr to --end-lr on a task, stop "
        "at divergence, and suggest an LR by steepest descent and by valley.",
    )
    p.add_argument("--task", required=True, help="task name, e.g. digits-cnn")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task parameter, e.g. width=32",
    )
    p.add_argument("--seed", type=int, default=0, help="model init and batch order")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--start-lr", type=float, default=None, help="default: the task's min_lr")
    p.add_argument("--end-lr", type=float, default=None, help="default: the task's max_lr")
    p.add_argument(
        "--steps",
        type=int,
        default=100,
        help="sweep length (>= 20, find_lr.MIN_STEPS: fewer give no meaningful suggestion)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1, as autolr run)"
    )
    p.add_argument("--plot", type=Path, default=Path("lr_finder.png"), help="PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from autolr.running.config import apply_overrides
    from autolr.running.find_lr import MIN_STEPS, find_lr
    from autolr.running.io import terminate_cleanly
    from autolr.running.plots import plot_range_test

    if args.steps < MIN_STEPS:
        raise ValueError(
            f"--steps must be >= {MIN_STEPS} for a meaningful suggestion (the smoothing and the "
            f"steepest-descent rule need that many points), got {args.steps}"
        )
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    task = apply_overrides({"name": args.task}, args.overrides)
    with terminate_cleanly():
        result = find_lr(
            task,
            seed=args.seed,
            device=args.device,
            start_lr=args.start_lr,
            end_lr=args.end_lr,
            num_steps=args.steps,
        )
        plot_range_test(args.plot, result, args.task)
    stop = "stopped at divergence" if result.stopped_early else "ran the full sweep"
    print(f"{args.task}: {result.steps} steps, {stop}")
    print(f"suggested lr (steepest): {result.steepest:.4g}")
    print(f"suggested lr (valley):   {result.valley:.4g}")
    print(f"wrote {args.plot}")
    return 0

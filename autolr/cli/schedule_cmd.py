"""``autolr schedule SPEC... --steps N``: see a schedule before training with it."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from autolr.running.io import atomic_path, load_yaml_arg


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "schedule",
        help="print, save or plot schedules",
        description="Print a schedule, write it to CSV, or plot one or more schedules. "
        "SPEC is a YAML file or inline YAML, e.g. '{name: cosine, lr: 0.1, total_steps: 100}'.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="YAML file or inline YAML")
    p.add_argument("--steps", type=int, required=True, help="number of steps to evaluate")
    p.add_argument("--csv", type=Path, help="write step,lr[,momentum] columns to this file")
    p.add_argument("--plot", type=Path, help="write a PNG overlaying every SPEC")
    p.add_argument("--every", type=int, default=0, help="print every K-th step (default: ~20 rows)")
    p.set_defaults(func=run)


def _label(spec: dict[str, Any]) -> str:
    params = ", ".join(
        f"{k}={v}" for k, v in spec.items() if k != "name" and not isinstance(v, dict | list)
    )
    return f"{spec['name']}({params})"


def run(args: argparse.Namespace) -> int:
    from autolr.schedules import build

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.every < 0:
        raise ValueError(f"--every must be >= 0, got {args.every}")
    scheds = []
    for text in args.specs:
        try:
            scheds.append(build(load_yaml_arg(text)))
        except ValueError as err:
            raise ValueError(f"SPEC {text!r}: {err}") from None
    steps = np.arange(args.steps)
    columns: list[tuple[str, np.ndarray]] = []
    for i, s in enumerate(scheds):
        tag = "" if len(scheds) == 1 else f"_{i}"
        columns.append((f"lr{tag}", s.values(steps)))
        if s.momentum is not None:
            columns.append((f"momentum{tag}", s.momentum.values(steps)))
    if args.csv:
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["step", *(name for name, _ in columns)])
            for k in range(args.steps):
                writer.writerow([k, *(repr(float(col[k])) for _, col in columns)])
        print(f"wrote {args.csv}")
    if args.plot:
        from autolr.running.plots import plot_schedules

        plot_schedules(args.plot, steps, [(_label(s.spec), s) for s in scheds])
        print(f"wrote {args.plot}")
    if (not args.csv and not args.plot) or args.every:
        _print_table(steps, columns, args.every)
    return 0


def _print_table(steps: np.ndarray, columns: list[tuple[str, np.ndarray]], every: int) -> None:
    from rich.console import Console
    from rich.table import Table

    n = len(steps)
    every = every or max(1, n // 20)
    rows = sorted(set(range(0, n, every)) | {n - 1})
    table = Table("step", *(name for name, _ in columns))
    for k in rows:
        table.add_row(str(k), *(f"{col[k]:.6g}" for _, col in columns))
    Console().print(table)

"""The audit's false rollbacks: tuned baselines on mnist1d-cnn, seed 2, peak 0.1, one thread.

The old rule (one batch above 10x the best interval mean is divergence) rolled these runs
back hundreds of times at one step (437 rollbacks for cosine-warmup, 400 for constant) and
lost 40-58% of their budgets. This reruns both cells with today's rule (a non-finite loss or
a sustained blow-up of the smoothed loss) and prints what each lost, with and without
rescue.

    python benchmarks/divergence.py [--seed 2] [--rescue both]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

import autolr

CELLS: dict[str, dict[str, Any]] = {
    "constant": {"name": "constant", "lr": 0.1},
    "cosine-warmup": {"name": "cosine", "lr": 0.1, "total_steps": 3000, "warmup_steps": 150},
}


def run_cell(schedule: dict[str, Any], seed: int, rescue: bool) -> dict[str, Any]:
    config = {
        "task": {"name": "mnist1d-cnn"},
        "controller": {"name": "fixed", "schedule": schedule},
        "budget_steps": 3000,
        "interval": 50,
        "eval_every": 250,
        "seed": seed,
        "threads": 1,
        "rescue": rescue,
    }
    with tempfile.TemporaryDirectory() as out:
        summary = autolr.run(config, out=out, progress=False).summary
    keys = ("final_val_metric", "rollbacks", "steps_lost", "steps_trained", "halted", "diverged")
    return {k: summary.get(k) for k in keys}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--rescue", choices=("on", "off", "both"), default="both")
    args = p.parse_args()
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.rescue]
    for name, schedule in CELLS.items():
        for rescue in modes:
            row = run_cell(schedule, args.seed, rescue)
            lost = 100 * row["steps_lost"] / 3000
            print(f"{name:14s} rescue={rescue!s:5s} {json.dumps(row)}  lost {lost:.2f}%")


if __name__ == "__main__":
    main()

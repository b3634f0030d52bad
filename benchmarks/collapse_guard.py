"""AutoLRS with and without its collapse guard, on seeds no suite evaluates on.

    python -m benchmarks.collapse_guard --workers 2
    python -m benchmarks.collapse_guard --tasks digits-cnn --seeds 3 4 5

The guard (``autolr.loop.collapse``; AutoLRS's ``undo``, 0.5 in its "fast" preset, which
was the default then) was added after the CPU suite's first run showed AutoLRS collapsing
digits-cnn and mnist1d-mlp to chance on one of its three evaluation seeds. Those seeds
chose the fix, so they cannot judge it: this runs both versions of the "fast" preset,
through ``autolr bench`` (every step charged), on fresh seeds (default 100..109) and prints,
per task and version, the final metric (mean ± 95% CI), the worst seed, how many seeds end
below half-way between chance and the mean, and the rollbacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from autolr.bench import ResultsStore, bench
from autolr.bench.stats import mean_ci
from autolr.bench.store_location import store_url
from autolr.bench.tuning import final_metric
from autolr.loop.direction import Direction

# the guard belongs to the "fast" preset (the paper's preset has none)
VERSIONS = {
    "guarded": {"name": "autolrs", "preset": "fast"},
    "unguarded": {"name": "autolrs", "preset": "fast", "undo": None},
}


def suite(tasks: list[str], seeds: list[int]) -> dict[str, Any]:
    return {
        "name": "collapse-guard",
        "seeds": seeds,
        "tuning_seeds": [max(seeds) + 1],  # unused: no baselines
        "tasks": [{"name": t} for t in tasks],
        "baselines": [],
        "controllers": [{"label": k, **v} for k, v in VERSIONS.items()],
        "replay": False,
    }


def table(store: ResultsStore) -> list[str]:
    cells = store.done_cells("collapse-guard")
    lines = [
        "| task | version | final (mean ± 95% CI) | worst seed | collapsed seeds | rollbacks |",
        "|---|---|---|---|---|---|",
    ]
    for task in sorted({c["task"] for c in cells}):
        runs = [c for c in cells if c["task"] == task]
        mode = runs[0]["summary"]["mode"]
        median = float(np.median([final_metric(c["summary"], mode) for c in runs]))
        for version in VERSIONS:
            group = [c["summary"] for c in runs if c["method"] == version]
            finals = np.array([final_metric(s, mode) for s in group])
            m, h = mean_ci(finals)
            worst = Direction.of(mode).worst_of(finals)
            lines.append(
                f"| {task} | {version} | {m:.4f} ± {h:.4f} | {worst:.4f} | "
                f"{collapsed(finals, median, mode)}/{len(finals)} | "
                f"{sum(s['rollbacks'] for s in group)} |"
            )
    return lines


def collapsed(finals: np.ndarray, median: float, mode: str) -> int:
    """Seeds more than 0.1 worse than the task's median over every run (both versions)."""
    d = Direction.of(mode)
    return int(np.sum(d.better(median - d.sign * 0.1, finals)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="*", default=["digits-cnn", "mnist1d-mlp"])
    p.add_argument("--seeds", nargs="*", type=int, default=list(range(100, 110)))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/collapse-guard"))
    args = p.parse_args(argv)
    bench(suite(args.tasks, args.seeds), out=args.out, workers=args.workers, progress=True)
    store = ResultsStore(store_url(None, args.out), create=False)
    try:
        print("\n".join(table(store)))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What an executor costs: one small suite run by ``local``, ``pool`` and ``ray`` side by side.

Each executor runs the same suite (a task at a short budget, one baseline tuned on a grid,
``plateau``, several seeds) into its own fresh results store, in turns, and the table gives
each one's wall time for the whole ``bench`` (start-up included: the pool's processes, a
local Ray's ``ray.init``), per cell, and as a ratio to the pool's. The cells' final metrics
must come out the same under every executor (compared key by key), so the comparison is
of the same work. ``--repeats`` alternates the order of the executors between rounds and
reports each one's median.

    python -m benchmarks.executors --task digits-cnn --budget 300 --seeds 4 --repeats 2

Needs the ``[ray]`` extra for ``ray``; without it, that row says why.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from autolr.bench import ResultsStore, bench

EXECUTORS = ("local", "pool", "ray")


def suite(task: str, budget: int, seeds: int) -> dict[str, Any]:
    return {
        "name": "executors",
        "seeds": list(range(seeds)),
        "tuning_seeds": [1000],
        "interval": max(1, budget // 10),
        "grid": {"points": 3, "span": 4},
        "tasks": [{"name": task, "budget_steps": budget}],
        "baselines": [{"name": "cosine", "warmup_steps_frac": 0.05}],
        "controllers": [{"name": "plateau"}],
        "replay": False,
    }


def finals(out: Path) -> dict[str, Any]:
    store = ResultsStore(f"sqlite:///{out / 'results.db'}")
    try:
        return {
            c["key"]: (c["summary"]["final_val_metric"], c["summary"]["steps_charged"])
            for c in store.done_cells("executors")
        }
    finally:
        store.close()


def timed(spec: dict[str, Any], executor: str, workers: int, folder: Path) -> tuple[float, dict]:
    out = folder / executor
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the report's tables: not wanted here
        bench(spec, out=out, executor=executor, workers=1 if executor == "local" else workers)
    return time.perf_counter() - start, finals(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="digits-cnn", help="the suite's task")
    parser.add_argument("--budget", type=int, default=300, help="steps per cell")
    parser.add_argument("--seeds", type=int, default=4, help="evaluation seeds")
    parser.add_argument("--workers", type=int, default=2, help="pool and ray workers")
    parser.add_argument("--repeats", type=int, default=1, help="rounds, order alternating")
    parser.add_argument(
        "--executors",
        nargs="+",
        choices=EXECUTORS,
        default=list(EXECUTORS),
        metavar="NAME",
        help="which executors (the pool is the reference and always runs)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    spec = suite(args.task, args.budget, args.seeds)
    chosen = tuple(e for e in EXECUTORS if e in args.executors or e == "pool")
    walls: dict[str, list[float]] = {e: [] for e in chosen}
    results: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for round_ in range(args.repeats):
        order = chosen if round_ % 2 == 0 else chosen[::-1]
        for executor in order:
            if executor in missing:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    wall, got = timed(spec, executor, args.workers, Path(tmp))
                except ValueError as err:  # the executor's extra is not installed
                    missing[executor] = str(err)
                    continue
            print(f"round {round_ + 1}: {executor} {wall:.1f} s", file=sys.stderr, flush=True)
            walls[executor].append(wall)
            if executor in results and results[executor] != got:
                raise SystemExit(f"{executor}: two rounds gave different results")
            results[executor] = got
    reference = results.get("pool")
    for executor, got in results.items():
        if got != reference:
            raise SystemExit(f"{executor}'s cells differ from the pool's: not the same work")
    cells = len(reference or {})
    pool = statistics.median(walls["pool"])
    print(f"{args.task}, {args.budget} steps a cell, {cells} cells, {args.workers} workers")
    print("| executor | wall (s) | per cell (s) | × pool |")
    print("|---|---|---|---|")
    rows = {}
    for executor in chosen:
        if executor in missing:
            print(f"| {executor} | not run: {missing[executor]} | | |")
            continue
        wall = statistics.median(walls[executor])
        rows[executor] = {"wall_s": wall, "per_cell_s": wall / cells, "vs_pool": wall / pool}
        print(f"| {executor} | {wall:.1f} | {wall / cells:.2f} | {wall / pool:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": None}, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How often the divergence rule fired on a suite's fixed baselines, read from its store.

A fixed schedule is not rescued in a suite without ``rescue: true``: when the rule fires, the
run ends (``halted``). Per task, this counts the tuning-grid and evaluation runs of the
baselines that ended that way, or rolled back (with rescue on), and the steps they lost,
and prints each firing with its LR and reason, so that a reader can tell a real blow-up (at
the top of the grid) from a false positive (at a tuned peak).

    python benchmarks/divergence_count.py bench/cpu [--suite cpu]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url

BASELINE_TRACKS = ("tune", "eval")


def fired(summary: dict[str, Any]) -> bool:
    """The rule fired in this run: it rolled back, or it ended on a divergence."""
    halted = summary.get("halted") or ""
    return bool(summary.get("rollbacks")) or "diverged" in halted


def count(cells: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{task: {track: [fired, runs, steps lost, budget steps]}, "firings": [...]}``."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"tune": [0, 0, 0, 0], "eval": [0, 0, 0, 0], "firings": []}
    )
    for c in cells:
        if c["track"] not in BASELINE_TRACKS:
            continue
        s, row = c["summary"], out[c["task"]]
        tally = row[c["track"]]
        tally[1] += 1
        tally[3] += int(s["budget_steps"])
        if fired(s):
            tally[0] += 1
            tally[2] += int(s.get("steps_lost") or 0)
            row["firings"].append(
                f"{c['track']} {c['method']} seed {c['seed']} peak {c['peak_lr']:.4g}: "
                f"rollbacks {s.get('rollbacks')}, halted {s.get('halted')!r}, "
                f"kept {s.get('steps_trained')}, final {s.get('final_val_metric')}"
            )
    return dict(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="the suite's --out folder (its results.db)")
    p.add_argument("--suite", default="cpu")
    p.add_argument("--store", default=None, help="a database URL instead of OUT/results.db")
    args = p.parse_args()
    store = ResultsStore(store_url(args.store, Path(args.out)), create=False)
    try:
        counts = count(store.done_cells(args.suite))
    finally:
        store.close()
    print("| task | evaluation runs where the rule fired / runs | tuning-grid runs / runs |")
    print("|---|---|---|")
    for task, row in counts.items():
        e, t = row["eval"], row["tune"]
        print(f"| {task} | {e[0]} / {e[1]} | {t[0]} / {t[1]} |")
    for task, row in counts.items():
        for line in row["firings"]:
            print(f"{task}: {line}")


if __name__ == "__main__":
    main()

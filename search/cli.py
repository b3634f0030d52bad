"""``autolr tune CONFIG [--trials N] [--storage URL] [--workers N]``: offline schedule tuning.

The ``search`` package provides this verb to the ``autolr`` command through the
``autolr.cli`` entry-point group (``tune = search.cli`` in setup.cfg).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tune",
        help="tune a schedule family's parameters with an Optuna study",
        description="Tune a schedule family for a task (a tune config: see docs/search.md). "
        "The study lives in --storage (default: a journal file in the config's out folder); "
        "a re-run continues it. Writes the best schedule as an `autolr run` config to "
        "<out>/best.yaml.",
    )
    p.add_argument("config", help="tune config YAML (task, family, params, ...)")
    p.add_argument("--trials", type=int, help="finished trials the study should hold in all")
    p.add_argument(
        "--storage",
        help="Optuna storage: a journal file path, a URL (sqlite:///, postgresql://), or "
        "memory: (this process only)",
    )
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from search.tune import tune

    result = tune(args.config, trials=args.trials, storage=args.storage, workers=args.workers)
    print(
        json.dumps(
            {"best_value": result.value, "best_params": result.params, "trials": result.counts},
            indent=2,
        )
    )
    if result.dead_workers:
        print(
            f"warning: {result.dead_workers} worker(s) died; their trials were failed and "
            "re-queued: re-run to continue"
        )
    print(f"wrote {result.best_path} (run it with: autolr run {result.best_path})")
    return 1 if result.dead_workers else 0

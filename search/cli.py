"""``autolr tune CONFIG [--trials N] [--storage URL] [--workers N] [--quiet]``: offline
schedule tuning.

The ``search`` package provides this verb to the ``autolr`` command through the
``autolr.cli`` entry-point group (``tune = search.cli`` in setup.cfg).
"""

from __future__ import annotations

import argparse
import json
import sys
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
    p.add_argument(
        "--trials",
        type=int,
        help="finished trials (complete, pruned or failed) the study should hold in all",
    )
    p.add_argument(
        "--storage",
        help="Optuna storage: a journal file path, a URL (sqlite:///, postgresql://), or "
        "memory: (this process only)",
    )
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument(
        "--quiet", action="store_true", help="no progress line per finished trial (stderr)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from search.tune import TuneFailed, tune

    try:
        result = tune(
            args.config,
            trials=args.trials,
            storage=args.storage,
            workers=args.workers,
            log=None if args.quiet else _progress,
        )
    except TuneFailed as err:  # trials ran and failed: not a usage error (exit 2)
        print(f"autolr tune: error: {err}", file=sys.stderr)
        return 1
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


def _progress(line: str) -> None:
    # stderr: stdout keeps only the JSON summary and the path of best.yaml
    print(line, file=sys.stderr, flush=True)

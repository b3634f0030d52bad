"""``autolr bench SUITE.yaml [--workers N] [--executor NAME] [--ray-address ADDR] [--store URL]
[--out DIR]`` and ``autolr report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark suite and write its report",
        description="Tune the baselines' peak LR on tuning seeds, run them and the "
        "self-tuning controllers on the evaluation seeds, replay adaptive controllers open "
        "loop, and write DIR/report.md with PNGs. A rerun skips finished cells.",
    )
    p.add_argument("suite", help="suite YAML file")
    p.add_argument("--workers", type=int, default=1, help="cells run at once")
    p.add_argument(
        "--executor",
        default=None,
        metavar="NAME",
        help="where cells run: local (in-process), pool (local processes) or ray (Ray tasks; "
        'pip install -e ".[ray]"); default: local for --workers 1, else pool',
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: join the Ray cluster at ADDR (HOST:PORT, as `ray start "
        "--head` prints it; auto: the one on this machine) rather than start a local Ray "
        "of --workers CPUs",
    )
    p.add_argument(
        "--store",
        default=None,
        help="results store: a SQLAlchemy URL or a SQLite path (default DIR/results.db)",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default bench/<suite>)")
    p.add_argument(
        "--redo",
        action="append",
        default=[],
        metavar="METHOD",
        help="delete this method's stored runs (and its replays) and run them again; repeatable",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no line per finished cell (failed cells are still "
        "printed, on stderr)",
    )
    p.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write each run's LR, losses, metrics and controller stats as TensorBoard "
        "scalars into DIR/<task>/<method>/seed<k> (needs autolr[tensorboard])",
    )
    _plain_option(p)
    p.set_defaults(func=run_bench)

    r = sub.add_parser(
        "report",
        help="regenerate a benchmark report from its results store",
        description="Rebuild DIR/report.md, its PNGs and the terminal tables from the "
        "results store alone (no run is repeated). Failed cells are listed with their "
        "reasons.",
    )
    r.add_argument("dir", type=Path, help="the bench output folder (holds results.db)")
    r.add_argument("--store", default=None, help="results store URL (default DIR/results.db)")
    r.add_argument("--suite", default=None, help="which suite (default: the only one)")
    _plain_option(r)
    r.set_defaults(func=run_report)


def _plain_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plain",
        action="store_true",
        default=None,
        help="print the tables as markdown (as in report.md) rather than rich tables; "
        "the default when stdout is not a terminal",
    )


def run_bench(args: argparse.Namespace) -> int:
    from autolr.bench.harness import load_suite, run_suite
    from autolr.executor import make_executor

    suite = load_suite(args.suite)  # the whole suite is checked before anything is written
    out = args.out or Path("bench") / suite.name
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    options = {}
    if args.ray_address is not None:
        if args.executor != "ray":
            given = f", not --executor {args.executor}" if args.executor else ""
            raise ValueError(f"--ray-address needs --executor ray{given}")
        options["address"] = args.ray_address
    with make_executor(args.executor, args.workers, **options) as runner:
        done = run_suite(
            suite,
            out=out,
            store=args.store,
            workers=args.workers,
            executor=runner,
            progress=not args.quiet,
            redo=args.redo,
            plain=args.plain,
            tensorboard=args.tensorboard,
        )
    print(f"wrote {done.report}")
    if done.failed:
        print(
            f"autolr bench: {len(done.failed)} cells failed; their reasons are under "
            f"'Failed cells' in {done.report}",
            file=sys.stderr,
        )
        return 1
    return 0


def run_report(args: argparse.Namespace) -> int:
    from autolr.bench.report import write_report
    from autolr.bench.store import ResultsStore
    from autolr.bench.store_location import store_url

    if not args.dir.is_dir():
        raise FileNotFoundError(f"no such bench folder: {args.dir}")
    store = ResultsStore(store_url(args.store, args.dir), create=False)
    try:
        with store.guard():
            suites = store.suites()
            suite = args.suite or (suites[0] if len(suites) == 1 else None)
            if suite is None:
                raise ValueError(f"the store holds suites {suites}; choose one with --suite")
            path = write_report(store, suite, args.dir, console=True, plain=args.plain)
    finally:
        store.close()
    print(f"wrote {path}")
    return 0

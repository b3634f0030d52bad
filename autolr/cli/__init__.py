"""The ``autolr`` command line: one module per verb, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autolr import __version__
from autolr.cli import agents_cmd, bench_cmd, find_lr_cmd, run_cmd, schedule_cmd, tune_cmd

VERBS = [bench_cmd, run_cmd, find_lr_cmd, schedule_cmd, agents_cmd, tune_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autolr", description="Automatic learning-rate scheduling for PyTorch."
    )
    parser.add_argument("--version", action="version", version=f"autolr {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"autolr {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

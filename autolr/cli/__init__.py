"""The ``autolr`` command line: one module per verb.

autolr's own verbs are listed here. Other packages add theirs (``agents``: ``autolr agents``;
``search``: ``autolr tune``; third parties likewise) through the ``autolr.cli`` entry-point
group: each entry point names a module with ``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from autolr import __version__
from autolr.cli import bench_cmd, find_lr_cmd, law_cmd, list_cmd, run_cmd, schedule_cmd
from autolr.entrypoints import EntryPointError
from autolr.integrations.extras import MissingExtra
from autolr.registry import Registry, did_you_mean

BUILTIN = [bench_cmd, run_cmd, find_lr_cmd, schedule_cmd, law_cmd, list_cmd]
COMMANDS: Registry[ModuleType] = Registry("command", group="autolr.cli", shipped=True)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every verb that loads; ``parser.broken`` maps the name of each verb
    whose entry point failed to import to its error."""
    parser = argparse.ArgumentParser(
        prog="autolr", description="Automatic learning-rate scheduling for PyTorch."
    )
    parser.add_argument("--version", action="version", version=f"autolr {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in BUILTIN:
        verb.add_parser(sub)
    broken: dict[str, EntryPointError] = {}
    for name in COMMANDS.names():
        try:
            COMMANDS.get(name).add_parser(sub)
        except EntryPointError as err:  # one broken plugin must not take every verb down
            broken[name] = err
    if broken:
        names = ", ".join(broken)
        parser.epilog = f"not loaded: {names} (run `autolr VERB` to see why)"
    parser.broken = broken  # type: ignore[attr-defined]
    return parser


def _verb_problem(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str:
    """Why the verb in ``argv`` is unavailable (a broken or missing entry point), or ''."""
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb is None:
        return ""
    broken: dict[str, EntryPointError] = parser.broken  # type: ignore[attr-defined]
    if verb in broken:
        return str(broken[verb])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if verb not in sub.choices and COMMANDS.stale_hint():
        known = list(sub.choices)
        return f"unknown command {verb!r}{did_you_mean(verb, known)}; {COMMANDS.stale_hint()}"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    problem = _verb_problem(parser, argv)
    if problem:
        print(f"autolr: error: {problem}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, MissingExtra) as err:
        print(f"autolr {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The README's quickstart table, copied from the committed quickstart report.

README.md holds, between two ``<!-- quickstart-table -->`` markers, the first task's table
of ``docs/results/quickstart/report.md``, so the numbers the README shows are the ones the
committed report holds. After re-running the quickstart and committing its report::

    python -m autolr.bench.readme            # rewrite the README's block
    python -m autolr.bench.readme --check    # exit 1 if the block is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARKER = "<!-- quickstart-table -->"
README = Path("README.md")
REPORT = Path("docs/results/quickstart/report.md")


TASK_TABLE = "| method | track |"  # how a task's table begins (the summary's tables do not)


def report_table(report: str) -> str:
    """The first task's table of a report: the first markdown table (its lines starting
    with ``|``) whose header begins with ``TASK_TABLE``, as text. The report opens with its
    summary's tables, which are skipped."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(TASK_TABLE)), None)
    if start is None:
        raise ValueError(f"the report has no task table (a line starting {TASK_TABLE!r})")
    table: list[str] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return "\n".join(table)


def readme_block(readme: str) -> str:
    """The text between the README's two markers, without the blank lines around it."""
    parts = readme.split(MARKER)
    if len(parts) != 3:
        raise ValueError(f"README must hold exactly two {MARKER} markers, found {len(parts) - 1}")
    return parts[1].strip("\n")


def with_table(readme: str, table: str) -> str:
    """``readme`` with its marked block replaced by ``table``."""
    before, _, after = readme.split(MARKER)
    return f"{before}{MARKER}\n{table}\n{MARKER}{after}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autolr.bench.readme", description=__doc__)
    p.add_argument("--readme", type=Path, default=README, help="the README to update")
    p.add_argument("--report", type=Path, default=REPORT, help="the committed report")
    p.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = p.parse_args(argv)
    readme = args.readme.read_text()
    table = report_table(args.report.read_text())
    if readme_block(readme) == table:
        return 0
    if args.check:
        print(f"{args.readme}: the quickstart table differs from {args.report}", file=sys.stderr)
        return 1
    args.readme.write_text(with_table(readme, table))
    print(f"updated {args.readme} from {args.report}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``autolr report DIR``: report.md, its figures, and the tables and summary on a terminal.

report.md opens with the summary (the winner per task, and where each controller stands
against the best tuned baseline, the untuned default and the best peer) and the
compute-inclusive view, then gives each task's table and figures. The numbers come from
``autolr.bench.analysis``, ``views`` and ``standings``; the tables from
``autolr.bench.tables``; the figures from ``autolr.bench.figures``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autolr.bench import provenance_notes
from autolr.bench.analysis import COLLAPSE_MARGIN, TaskReport, analyse
from autolr.bench.standings import summarise
from autolr.bench.store import ResultsStore
from autolr.bench.styles import report_styles
from autolr.bench.tables import (
    R_MAX,
    SUMMARY_TEXT,
    TRACKS,
    compute_table,
    failures_table,
    markdown_table,
    per_corpus_table,
    replay_table,
    standings_table,
    summary_lines,
    summary_table,
    task_table,
    winners_table,
)
from autolr.bench.targets import RULE, RULE_CONFIRMED
from autolr.bench.views import profiles
from autolr.running.io import atomic_path

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "compute_table",
    "markdown_table",
    "print_tables",
    "summary_lines",
    "summary_table",
    "task_table",
    "write_report",
]


def write_report(
    store: ResultsStore,
    suite: str,
    out_dir: Path,
    console: bool = False,
    plain: bool | None = None,
    plan: Mapping[str, str] | None = None,
) -> Path:
    """Write report.md and its PNGs into ``out_dir``; optionally print the tables (as rich
    tables, or ``plain`` markdown; None: plain when stdout is not a terminal), then the
    summary as plain text. ``plan`` (cell key -> method label; ``autolr bench`` passes the
    suite's): report only the runs the suite plans now, as it labels them
    (``analysis.planned``), and say how many stored runs were left out."""
    from autolr.bench.figures import (
        curves_figure,
        detail_figure,
        per_corpus_figure,
        profiles_figure,
    )

    reports = analyse(store, suite, plan)
    mixed = provenance_notes.mixed_provenance(store, suite, plan)
    styles = report_styles(reports)  # one style per method, in every figure
    summaries = [summarise(rep) for rep in reports]
    split = "test" if any(rep.has_test for rep in reports) else "validation"
    parts = [
        f"# autolr bench: {suite}\n",
        "## Summary\n",
        SUMMARY_TEXT.format(split=split),
        markdown_table(*winners_table(summaries)) + "\n",
    ]
    head, rows = standings_table(summaries)
    if rows:
        parts.append(markdown_table(head, rows) + "\n")
    head, rows = compute_table(reports)
    if rows:
        parts += ["## Compute-inclusive view\n", COMPUTE_TEXT, markdown_table(head, rows) + "\n"]
    parts += ["## How to read the tables\n", intro(reports)]
    stale = _left_out(store, suite, plan)
    if stale:
        parts.append(
            f"Left out: {stale} stored runs of this suite that it no longer plans (runs of a "
            "method's earlier settings under the same label, or of entries since removed).\n"
        )
    for rep in reports:
        parts += [
            f"## {rep.task}\n",
            f"Metric: {rep.metric} ({rep.direction.adjective} is better); {_about(rep)}. "
            f"Tuning cost: {rep.tuning_steps} steps, {rep.tuning_wall:.1f} s.{_sizes(rep)}\n",
            markdown_table(*task_table(rep)) + "\n",
        ]
        if rep.task in mixed:
            parts.append(provenance_notes.note(mixed[rep.task]))
        curves = _save(curves_figure(rep, styles, TRACKS), out_dir / f"curves_{rep.task}.png")
        if curves is not None:
            parts += [f"![{rep.task} curves]({curves.name})\n", CURVES_TEXT]
        detail = _save(detail_figure(rep, styles), out_dir / f"detail_{rep.task}.png")
        if detail is not None:
            parts.append(f"Every method in its own panels: [{detail.name}]({detail.name}).\n")
        head, rows = per_corpus_table(rep)
        if rows:
            parts += [
                f"### {rep.task}: per corpus\n",
                PER_CORPUS_TEXT,
                markdown_table(head, rows) + "\n",
            ]
            fig = _save(per_corpus_figure(rep, styles), out_dir / f"corpora_{rep.task}.png")
            if fig is not None:
                parts.append(f"![{rep.task} per corpus]({fig.name})\n")
    prof = _save(profiles_figure(profiles(reports), styles, R_MAX), out_dir / "profiles.png")
    parts += [
        "## Across tasks\n",
        markdown_table(*summary_table(reports)) + "\n",
        f"![performance profiles]({prof.name})\n" if prof is not None else "",
    ]
    for table, title, text in (
        (replay_table, "Open-loop replay ablation", REPLAY_TEXT),
        (failures_table, "Failed cells", FAILED_TEXT),
    ):
        head, rows = table(reports)
        if rows:
            parts += [f"## {title}\n", text.format(n=len(rows)), markdown_table(head, rows) + "\n"]
    path = out_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(p for p in parts if p))
    if console:
        print_tables(reports, plain)
        provenance_notes.warn(mixed)
    return path


def _left_out(store: ResultsStore, suite: str, plan: Mapping[str, str] | None) -> int:
    """How many stored runs (done or failed) of ``suite`` are not in ``plan``."""
    if plan is None:
        return 0
    cells = store.done_cells(suite) + store.failed_cells(suite)
    return sum(c["key"] not in plan for c in cells)


def _save(fig: Any, path: Path) -> Path | None:
    """Save ``fig`` (None: no figure) as ``path``; the path, or None."""
    from autolr.running.plots import save

    if fig is None:
        return None
    save(fig, path)
    return path


CURVES_TEXT = (
    "Lines: the median over seeds; bands: min–max over seeds; x: charged steps (probes and "
    "rollbacks included). Shown: the best tuned baseline (dashed), untuned defaults "
    "(dotted), peers (dash-dot) and controllers (solid); each method keeps its colour and "
    "marker in every figure of this report.\n"
)
COMPUTE_TEXT = (
    "Charged steps to the target with tuning included: a tuned baseline's own tuning grid "
    "(every peak × tuning seed) plus its median steps to target; an untuned default's, a "
    "peer's or a controller's run alone; a population's (PBT, PB2) other members' steps "
    "until its selected member's lineage reached the target (all of them if it never did), "
    "plus the lineage's own. The last column divides by the best tuned "
    "baseline's (*) total: below 1, the method got there on less compute than tuning the "
    "baseline and running it.\n"
)
REPLAY_TEXT = (
    "Each adaptive controller's kept-step LR trace from seed s_i, replayed as a "
    "fixed schedule on seed s_(i+1) and compared with the closed-loop run on "
    "that seed (same seed on both sides of each pair). A positive advantage "
    "means the controller's reactions, not only its schedule's shape, "
    "helped; its CI is the paired one (Student t on the per-seed differences).\n"
)
PER_CORPUS_TEXT = (
    "The task's stream switches corpora (its metric is the mean over corpora). Per corpus: "
    "the final bits per byte on its test split; forgetting of each earlier corpus (one no "
    "longer trained at the end): its final validation bits per byte minus the lowest any "
    "evaluation of the run measured (≥ 0; Chaudhry et al. 2018). Mean ± 95% CI over seeds. "
    "The figure: each corpus's validation curve over kept steps, the switches dotted.\n"
)
FAILED_TEXT = (
    "{n} runs raised an error (full tracebacks: the `error` column of the "
    "results store's `cells` table). A method whose every run failed is listed "
    "above as failed.\n"
)

# how the targets were made, by the rule the stored (or computed) targets carry
TARGET_TEXT = {
    RULE: (
        "Target per task, fixed from the tuning runs before any evaluation run: the final "
        "validation metric of the worst tuning seed of the best tuned baseline (marked *; "
        "best mean over the tuning seeds at its tuned peak). "
    ),
    RULE_CONFIRMED: (
        "Target per task, fixed before any evaluation run: the best tuned baseline (marked "
        "*; best mean over the tuning seeds at its tuned peak) ran again at that peak on "
        "separate target seeds, and the target is the worst final validation metric of its "
        "runs there on the tuning seeds and the target seeds (a level each of them reached). "
    ),
}
# a task whose target line names no target seeds, in a report whose other tasks have them
TARGET_MIXED = (
    "Where a task's target line names no target-seed runs, its target is the final "
    "validation metric of the worst tuning seed of the best tuned baseline alone. "
)
INTRO = (
    "Every step a run spends (probes, range tests, rollbacks) is charged. Tuned baselines "
    "had their peak LR tuned on separate tuning seeds; untuned defaults ran at the task's "
    "default LR; peers (self-tuning optimizers, the LR range test), controllers and "
    "populations (PBT, PB2: charged every member's steps, their final metric their selected "
    "member's) had no per-task tuning. "
    "{target}Steps to target: the first evaluation "
    "that reaches the target and still reaches it at the next evaluation (or is the last), "
    "in charged steps; steps and time to target are medians over seeds (∞: at least half "
    "the seeds never reached it); speedup = best baseline's steps to target / the "
    "method's. Final metric: on the test split, validation beside it (runs without a test "
    "split: validation). Seeds: runs, with how many had a finite final metric (the mean and "
    "CI are over those) and how many failed. Diverged: the run ended on a divergence, or "
    "its final validation metric is non-finite or worse than at step 0. Collapsed: a "
    "finite final validation metric short of the method's median by more than "
    f"{COLLAPSE_MARGIN:g} of the median's progress from step 0. N/A: the method does not "
    "run on this task's kind.\n"
)


def intro(reports: list[TaskReport]) -> str:
    """``INTRO`` with the target rule the report's targets were made by (``RULE`` when none
    has a target: the rule of a suite without target seeds)."""
    rules = {rep.made.rule for rep in reports if rep.has_target and rep.made is not None}
    if RULE_CONFIRMED in rules:
        target = TARGET_TEXT[RULE_CONFIRMED] + (TARGET_MIXED if len(rules) > 1 else "")
    else:
        target = TARGET_TEXT[RULE]
    return INTRO.format(target=target)


def _about(rep: TaskReport) -> str:
    if not rep.has_target or rep.made is None:
        return "no target: no tuned baseline finished its tuning runs"
    made = rep.made
    confirmed = made.rule == RULE_CONFIRMED
    phase = "tuning or target-confirmation phase" if confirmed else "tuning phase"
    how = "stored" if made.stored else f"computed now: the {phase} is incomplete"
    extra = rep.target_seed_runs
    runs = _count(len(made.made_from) - extra, "tuning run")
    if extra:
        runs += " and " + _count(extra, "target-seed run")
    return f"target {rep.target:.4g} (from {made.method}'s {runs} at its tuned peak; {how})"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


TINY_SPLIT = 1000  # below this many examples, one example moves an accuracy by > 0.1%


def _sizes(rep: TaskReport) -> str:
    """The evaluation splits' sizes, when the runs recorded them; a tiny one is flagged."""
    parts = []
    for name, n in (("validation", rep.val_size), ("test", rep.test_size)):
        if n:
            tiny = f" (small: one example is {1 / n:.2g} of an accuracy)" if n < TINY_SPLIT else ""
            parts.append(f"{name} set: {n}{tiny}")
    return (" " + "; ".join(parts)[0].upper() + "; ".join(parts)[1:] + ".") if parts else ""


def pipe_width() -> int:
    """The console width when stdout is not a terminal: ``$COLUMNS`` if set, else 120
    (rich's 80 wraps every table of the report)."""
    try:
        return max(40, int(os.environ["COLUMNS"]))
    except (KeyError, ValueError):
        return 120


def terminal_console() -> Console:
    """A rich Console on stdout, ``pipe_width()`` wide when stdout is not a terminal."""
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=pipe_width())


def print_tables(
    reports: list[TaskReport], plain: bool | None = None, console: Console | None = None
) -> None:
    """The report's tables on stdout, then its summary as plain text: rich tables on a
    terminal (``rich_tables``: they fit 100 columns), else (or with ``plain``) the
    markdown tables of report.md, which a pipe or a log keeps unwrapped."""
    con = console or terminal_console()
    if plain is None:
        plain = not con.is_terminal
    for title, head, rows in terminal_tables(reports):
        if plain:
            print(f"{title}\n\n{markdown_table(head, rows)}\n", flush=True)
        else:
            con.print(_rich_table(title, head, rows))
    lines = summary_lines(reports)
    if plain:
        print("\n".join(lines), flush=True)
    else:
        for line in lines:
            con.print(line, markup=False, highlight=False)


def terminal_tables(reports: list[TaskReport]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of each table printed on the terminal: the tasks' (each with
    its per-corpus table, if its runs record one), across tasks, compute-inclusive, and the
    failed cells."""
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    for rep in reports:
        head, rows = task_table(rep)
        target = f"target {rep.metric} {rep.target:.4g}" if rep.has_target else "no target"
        tables.append((f"{rep.task}: {target}", head, rows))
        head, rows = per_corpus_table(rep)
        if rows:
            tables.append((f"{rep.task}: per corpus (forgetting: final − best)", head, rows))
    tables.append(("across tasks", *summary_table(reports)))
    head, rows = compute_table(reports)
    if rows:
        tables.append(("compute-inclusive: charged steps to target incl. tuning", head, rows))
    head, rows = failures_table(reports)
    if rows:
        tables.append((f"failed cells: {len(rows)}", head, rows))
    return tables


# the terminal's short header for each column of the tables (None: report.md only), so that
# a rich table fits 100 columns; a column not named here keeps its header
TERMINAL_HEADS: dict[str, str | None] = {
    # a task's table ("final ..." stands for the final metric's column)
    "seeds": None,
    "final": "final ± CI",
    "validation": None,
    "steps to target": "steps→target",
    "time to target (s)": None,
    "wall (s)": None,
    "probe steps": "probes",
    "rollbacks": None,
    "steps lost": None,
    "diverged": "div",
    "collapsed": None,
    "tuned peak lr": None,
    # across tasks
    f"profile score (r_max={R_MAX:g})": "profile score",
    "tasks reaching target / run with a target": "reached / with target",
    "tasks not applicable": "N/A tasks",
    # compute-inclusive
    "tuning steps": "tuning",
    "charged steps to target incl. tuning": "incl. tuning",
    "× best baseline's": "× best",
}
# the tracks' names on the terminal (report.md has the long ones)
TERMINAL_TRACKS = {"untuned default": "default", "self-tuning": "self"}


def _rich_table(title: str, head: list[str], rows: list[list[str]]) -> Table:
    from rich.table import Table

    short = [TERMINAL_HEADS.get("final" if h.startswith("final ") else h, h) for h in head]
    keep = [i for i, h in enumerate(short) if h is not None]
    track = head.index("track") if "track" in head else None
    table = Table(*(short[i] for i in keep), title=title)
    for column in table.columns:
        column.overflow = "fold"  # a long word breaks, it is never cut to "…"
    for r in rows:
        cells = list(r)
        if track is not None:  # "self-tuning, population 4" is "self, population 4"
            name, sep, rest = cells[track].partition(",")
            cells[track] = TERMINAL_TRACKS.get(name, name) + sep + rest
        table.add_row(*(cells[i] for i in keep))
    return table

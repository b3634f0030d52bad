"""``autolr report DIR``: the tables (markdown, rich) and figures of a benchmark.

The numbers come from ``autolr.bench.analysis`` and ``autolr.bench.views``; this module only
renders them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autolr.bench import provenance_notes, stats
from autolr.bench.analysis import COLLAPSE_MARGIN, Row, TaskReport, analyse
from autolr.bench.store import ResultsStore
from autolr.bench.views import compute_inclusive, profiles, replay_comparisons
from autolr.running.io import atomic_path

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

R_MAX = 4.0


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _ci(row: Row, val: bool = False) -> str:
    m, h = row.val_mean_ci if val else row.mean_ci
    return f"{_fmt(m)} ± {_fmt(h, 2)}" if not math.isnan(h) else _fmt(m)


def _seeds(row: Row) -> str:
    """Runs, and beside them how many had a non-finite final (left out of the mean and CI)
    and how many cells failed: ``3``, ``3 (2 finite)``, ``1 (+2 failed)``."""
    notes = []
    if row.n_finite < len(row.finals):
        notes.append(f"{row.n_finite} finite")
    if row.failed:
        notes.append(f"+{row.failed} failed")
    return f"{len(row.finals)}" + (f" ({', '.join(notes)})" if notes else "")


FAILED = "failed"
NA = "N/A"
TRACKS = {"eval": "tuned", "self": "self-tuning", "replay": "replay"}


def task_table(rep: TaskReport) -> tuple[list[str], list[list[str]]]:
    split = "test" if rep.has_test else "validation"
    head = [
        "method",
        "track",
        "seeds",
        f"final {rep.metric} ({split}, mean ± 95% CI)",
        *(["validation"] if rep.has_test else []),
        "steps to target",
        "time to target (s)",
        "speedup",
        "wall (s)",
        "probe steps",
        "rollbacks",
        "steps lost",
        "diverged",
        "collapsed",
        "tuned peak lr",
    ]
    best = rep.rows.get(rep.best_baseline or "")
    base_wall = np.median(best.walls) if best is not None and best.finished else math.nan
    rows = []
    for r in sorted(rep.rows.values(), key=lambda r: (r.track != "eval", r.method)):
        track = TRACKS.get(r.track, r.track)
        if not r.finished:  # every cell failed: say so where the numbers would be
            rows.append([r.method, track, _seeds(r), *[FAILED] * (len(head) - 4), _fmt(r.peak, 3)])
            continue
        wall = float(np.median(r.walls))
        ratio = f" ({wall / base_wall:.2f}×)" if math.isfinite(base_wall) else ""
        n = len(r.finals)
        rows.append(
            [
                r.method + (" *" if r.method == rep.best_baseline else ""),
                track,
                _seeds(r),
                _ci(r),
                *([_ci(r, val=True)] if rep.has_test else []),
                _fmt(r.median_steps),
                _fmt(r.median_time, 3),
                _fmt(rep.speedup(r.method), 3),
                f"{_fmt(wall, 3)}{ratio}",
                _fmt(float(np.mean(r.probes))),
                _fmt(float(np.mean(r.rollbacks)), 3),
                _fmt(float(np.mean(r.lost))),
                f"{r.diverged}/{n}",
                "–" if r.collapsed is None else f"{r.collapsed}/{n}",
                _fmt(r.peak, 3),
            ]
        )
    for method, track in rep.not_applicable:  # not run on this task (its kinds exclude it)
        rows.append([method, TRACKS.get(track, track), *[NA] * (len(head) - 2)])
    return head, rows


def summary_table(reports: list[TaskReport]) -> tuple[list[str], list[list[str]]]:
    """Per method: its profile score over the tasks it ran on that have a target, and how
    many of those it reached. No geometric-mean speedup: over the reached tasks alone it
    flatters a method that reached few (2.0 from 1 of 5 tasks), and the profile score
    already charges each miss (r = inf scores 0)."""
    ratios = profiles(reports)
    rows = []
    for method, per_task in sorted(ratios.items(), key=lambda kv: -stats.profile_score(kv[1])):
        failed_everywhere = all(
            not rep.rows[method].finished for rep in reports if method in rep.rows
        )
        na = sum(any(m == method for m, _ in rep.not_applicable) for rep in reports)
        reached = sum(math.isfinite(r) for r in per_task.values())
        score = FAILED if failed_everywhere else _fmt(stats.profile_score(per_task, R_MAX), 3)
        rows.append([method, score, f"{reached}/{len(per_task)}", str(na)])
    # a method with no target anywhere it ran (or no run at all) still gets its row
    for method in sorted({r.method for rep in reports for r in rep.rows.values()} - set(ratios)):
        if method.endswith("-replay"):
            continue
        finished = any(rep.rows[method].finished for rep in reports if method in rep.rows)
        na = sum(any(m == method for m, _ in rep.not_applicable) for rep in reports)
        label = "–" if finished else FAILED
        rows.append([method, label, "0/0", str(na)])
    return [
        "method",
        f"profile score (r_max={R_MAX:g})",
        "tasks reaching target / run with a target",
        "tasks not applicable",
    ], rows


def compute_table(reports: list[TaskReport]) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            c.task,
            c.method + (" *" if c.method == rep.best_baseline else ""),
            TRACKS.get(c.track, c.track),
            str(c.tuning),
            _fmt(c.steps),
            _fmt(c.total),
            _fmt(c.ratio, 3),
        ]
        for rep in reports
        for c in compute_inclusive(rep)
    ]
    return [
        "task",
        "method",
        "track",
        "tuning steps",
        "steps to target",
        "charged steps to target incl. tuning",
        "× best baseline's",
    ], rows


def failures_table(reports: list[TaskReport]) -> tuple[list[str], list[list[str]]]:
    """Every failed cell, with the one-line reason from its stored traceback."""
    rows = [
        [c["task"], c["method"], c["track"], str(c["seed"]), _fmt(c["peak_lr"], 3), c["reason"]]
        for rep in reports
        for c in rep.failures
    ]
    return ["task", "method", "track", "seed", "peak lr", "reason"], rows


def replay_table(reports: list[TaskReport]) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            c.task,
            c.closed.method,
            _ci(c.closed),
            _ci(c.replay),
            f"{_fmt(c.advantage, 3)} ± {_fmt(c.ci, 2)}",
            f"{c.wins}/{c.pairs}",
        ]
        for c in replay_comparisons(reports)
    ]
    return [
        "task",
        "controller",
        "closed loop",
        "open-loop replay",
        "advantage of reacting (paired mean ± 95% CI)",
        "seeds where closed loop wins",
    ], rows


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of ``head`` and ``rows`` (cells already formatted)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(
    store: ResultsStore,
    suite: str,
    out_dir: Path,
    console: bool = False,
    plain: bool | None = None,
) -> Path:
    """Write report.md and its PNGs into ``out_dir``; optionally print the tables (as rich
    tables, or ``plain`` markdown; None: plain when stdout is not a terminal)."""
    from autolr.bench.figures import plot_profiles, plot_task_curves

    reports = analyse(store, suite)
    mixed = provenance_notes.mixed_provenance(store, suite)
    parts = [f"# autolr bench: {suite}\n", INTRO]
    for rep in reports:
        img = plot_task_curves(rep, out_dir)
        parts += [
            f"## {rep.task}\n",
            f"Metric: {rep.metric} ({rep.direction.adjective} is better); {_about(rep)}. "
            f"Tuning cost: {rep.tuning_steps} steps, {rep.tuning_wall:.1f} s.{_sizes(rep)}\n",
            markdown_table(*task_table(rep)) + "\n",
        ]
        if rep.task in mixed:
            parts.append(provenance_notes.note(mixed[rep.task]))
        if img is not None:
            parts.append(f"![{rep.task} curves]({img.name})\n")
    prof = plot_profiles(profiles(reports), out_dir / "profiles.png", R_MAX)
    parts += [
        "## Across tasks\n",
        markdown_table(*summary_table(reports)) + "\n",
        f"![performance profiles]({prof.name})\n",
    ]
    for table, title, text in (
        (compute_table, "Compute-inclusive view", COMPUTE_TEXT),
        (replay_table, "Open-loop replay ablation", REPLAY_TEXT),
        (failures_table, "Failed cells", FAILED_TEXT),
    ):
        head, rows = table(reports)
        if rows:
            parts += [f"## {title}\n", text.format(n=len(rows)), markdown_table(head, rows) + "\n"]
    path = out_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    if console:
        print_tables(reports, plain)
        provenance_notes.warn(mixed)
    return path


COMPUTE_TEXT = (
    "Charged steps to the target with tuning included: a tuned baseline's own "
    "tuning grid (every peak × tuning seed) plus its median steps to target; a "
    "self-tuning method's run alone. The last column divides by the best tuned "
    "baseline's (*) total: below 1, the method got there on less compute than "
    "tuning the baseline and running it.\n"
)
REPLAY_TEXT = (
    "Each adaptive controller's kept-step LR trace from seed s_i, replayed as a "
    "fixed schedule on seed s_(i+1) and compared with the closed-loop run on "
    "that seed (same seed on both sides of each pair). A positive advantage "
    "means the controller's reactions, not only its schedule's shape, "
    "helped; its CI is the paired one (Student t on the per-seed differences).\n"
)
FAILED_TEXT = (
    "{n} runs raised an error (full tracebacks: the `error` column of the "
    "results store's `cells` table). A method whose every run failed is listed "
    "above as failed.\n"
)

INTRO = (
    "Every step a run spends (probes, range tests, rollbacks) is charged. Baselines had "
    "their peak LR tuned on separate tuning seeds; controllers had no per-task tuning. "
    "Target per task, fixed from the tuning runs before any evaluation run: the final "
    "validation metric of the worst tuning seed of the best tuned baseline (marked *; best "
    "mean over the tuning seeds at its tuned peak). Steps to target: the first evaluation "
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


def _about(rep: TaskReport) -> str:
    if not rep.has_target or rep.made is None:
        return "no target: no tuned baseline finished its tuning runs"
    how = "stored" if rep.made.stored else "computed now: the tuning phase is incomplete"
    runs = len(rep.made.made_from)
    return (
        f"target {rep.target:.4g} (from {rep.made.method}'s {runs} tuning "
        f"run{'s' if runs != 1 else ''} at its tuned peak; {how})"
    )


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


def print_tables(reports: list[TaskReport], plain: bool | None = None) -> None:
    """The report's tables on stdout: rich tables on a terminal, else (or with ``plain``)
    the markdown tables of report.md, which a pipe or a log keeps unwrapped."""
    con = terminal_console()
    if plain is None:
        plain = not con.is_terminal
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    for rep in reports:
        head, rows = task_table(rep)
        target = f"target {rep.metric} {rep.target:.4g}" if rep.has_target else "no target"
        tables.append((f"{rep.task}: {target}", head, rows))
    tables.append(("across tasks", *summary_table(reports)))
    head, rows = compute_table(reports)
    if rows:
        tables.append(("compute-inclusive: charged steps to target incl. tuning", head, rows))
    head, rows = failures_table(reports)
    if rows:
        tables.append((f"failed cells: {len(rows)}", head, rows))
    for title, head, rows in tables:
        if plain:
            print(f"{title}\n\n{markdown_table(head, rows)}\n", flush=True)
        else:
            con.print(_rich_table(title, head, rows))


# the task table's columns that fit a terminal, with short headers
_SHORT = {
    "method": "method",
    "track": "track",
    "seeds": None,
    "final": "final ± CI",
    "steps to target": "steps→target",
    "time to target (s)": None,
    "speedup": "speedup",
    "wall (s)": "wall (s)",
    "probe steps": "probes",
    "rollbacks": "rb",
    "diverged": "div",
    "collapsed": "coll",
    "tuned peak lr": None,
}


def _rich_table(title: str, head: list[str], rows: list[list[str]]) -> Table:
    from rich.table import Table

    if head[3].startswith("final "):  # a task table: keep the columns that fit
        short = [_SHORT.get("final" if i == 3 else h) for i, h in enumerate(head)]
        keep = [i for i, h in enumerate(short) if h is not None]
        head, rows = [short[i] for i in keep], [[r[i] for i in keep] for r in rows]
    table = Table(*head, title=title)
    for r in rows:
        table.add_row(*r)
    return table

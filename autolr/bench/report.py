"""``autolr report DIR``: the tables (markdown, rich) and figures of a benchmark.

The numbers come from ``autolr.bench.analysis``; this module only renders them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autolr.bench import provenance_notes, stats
from autolr.bench.analysis import Row, TaskReport, analyse, profiles, replay_comparisons
from autolr.bench.store import ResultsStore
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


def _ci(row: Row) -> str:
    m, h = row.mean_ci
    return f"{_fmt(m)} ± {_fmt(h, 2)}" if not math.isnan(h) else _fmt(m)


FAILED = "failed"


def task_table(rep: TaskReport) -> tuple[list[str], list[list[str]]]:
    head = [
        "method",
        "track",
        "seeds",
        f"final {rep.metric} (mean ± 95% CI)",
        "steps to target",
        "time to target (s)",
        "speedup",
        "wall (s)",
        "probe steps",
        "diverged",
        "tuned peak lr",
    ]
    base_wall = np.median(rep.rows[rep.best_baseline].walls) if rep.best_baseline else math.nan
    rows = []
    for r in sorted(rep.rows.values(), key=lambda r: (r.track != "eval", r.method)):
        track = {"eval": "tuned", "self": "self-tuning", "replay": "replay"}.get(r.track, r.track)
        seeds = str(len(r.finals)) + (f" (+{r.failed} failed)" if r.failed else "")
        if not r.finished:  # every cell failed: say so where the numbers would be
            rows.append([r.method, track, seeds, *[FAILED] * 7, _fmt(r.peak, 3)])
            continue
        wall = float(np.median(r.walls))
        ratio = f" ({wall / base_wall:.2f}×)" if math.isfinite(base_wall) else ""
        rows.append(
            [
                r.method + (" *" if r.method == rep.best_baseline else ""),
                track,
                seeds,
                _ci(r),
                _fmt(r.median_steps),
                _fmt(r.median_time, 3),
                _fmt(rep.speedup(r.method), 3),
                f"{_fmt(wall, 3)}{ratio}",
                _fmt(float(np.mean(r.probes))),
                f"{r.diverged}/{len(r.finals)}",
                _fmt(r.peak, 3),
            ]
        )
    return head, rows


def summary_table(reports: list[TaskReport]) -> tuple[list[str], list[list[str]]]:
    ratios = profiles(reports)
    rows = []
    for method, per_task in sorted(ratios.items(), key=lambda kv: -stats.profile_score(kv[1])):
        speedups = [rep.speedup(method) for rep in reports if method in rep.rows and rep.has_target]
        rows.append(
            [
                method,
                _fmt(stats.profile_score(per_task, R_MAX), 3),
                _fmt(stats.geometric_mean(speedups), 3),
                f"{sum(math.isfinite(s) and s > 0 for s in speedups)}/{len(speedups)}",
            ]
        )
    # a method with no finished run anywhere still gets its row
    failed = {
        r.method
        for rep in reports
        for r in rep.rows.values()
        if r.track != "replay" and not r.finished and r.method not in ratios
    }
    for method in sorted(failed):
        n = sum(method in rep.rows for rep in reports)
        rows.append([method, FAILED, FAILED, f"0/{n}"])
    return [
        "method",
        f"profile score (r_max={R_MAX:g})",
        "geo-mean speedup",
        "tasks reaching target",
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
            _fmt(c.advantage, 3),
            f"{c.wins}/{c.pairs}",
        ]
        for c in replay_comparisons(reports)
    ]
    return [
        "task",
        "controller",
        "closed loop",
        "open-loop replay",
        "advantage of reacting",
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
    parts = [
        f"# autolr bench: {suite}\n",
        "Every step a run spends (probes, range tests, rollbacks) is charged. Baselines "
        "had their peak LR tuned on separate tuning seeds; controllers had no per-task "
        "tuning. Target per task: the final metric that every evaluation seed of the best "
        "tuned baseline (marked *) reaches, i.e. its worst seed's. Steps and time to "
        "target are medians over "
        "seeds (∞: at least half the seeds never reached it); speedup = best baseline's "
        "steps to target / the method's.\n",
    ]
    for rep in reports:
        img = plot_task_curves(rep, out_dir)
        if rep.has_target:
            about = f"target {rep.target:.4g}"
        else:
            about = "no target: no tuned baseline finished"
        parts += [
            f"## {rep.task}\n",
            f"Metric: {rep.metric} ({rep.direction.adjective} is "
            f"better); {about}. Tuning cost: {rep.tuning_steps} steps, "
            f"{rep.tuning_wall:.1f} s.\n",
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
    head, rows = replay_table(reports)
    if rows:
        parts += [
            "## Open-loop replay ablation\n",
            "Each adaptive controller's kept-step LR trace from seed s_i, replayed as a "
            "fixed schedule on seed s_(i+1) and compared with the closed-loop run on "
            "that seed (same seed on both sides of each pair). A positive advantage "
            "means the controller's reactions, not only its schedule's shape, "
            "helped.\n",
            markdown_table(head, rows) + "\n",
        ]
    head, rows = failures_table(reports)
    if rows:
        parts += [
            "## Failed cells\n",
            f"{len(rows)} runs raised an error (full tracebacks: the `error` column of the "
            "results store's `cells` table). A method whose every run failed is listed "
            "above as failed.\n",
            markdown_table(head, rows) + "\n",
        ]
    path = out_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    if console:
        print_tables(reports, plain)
        provenance_notes.warn(mixed)
    return path


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
    "diverged": "div",
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

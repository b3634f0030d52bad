"""``autolr report DIR``: the tables (markdown, rich) and figures of a benchmark.

The numbers come from ``autolr.bench.analysis``; this module only renders them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from autolr.bench import stats
from autolr.bench.analysis import Row, TaskReport, analyse, profiles, replay_comparisons
from autolr.bench.store import ResultsStore
from autolr.running.io import atomic_path

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
    base_wall = np.median(rep.rows[rep.best_baseline].walls)
    rows = []
    for r in sorted(rep.rows.values(), key=lambda r: (r.track != "eval", r.method)):
        wall = float(np.median(r.walls))
        rows.append(
            [
                r.method + (" *" if r.method == rep.best_baseline else ""),
                {"eval": "tuned", "self": "self-tuning", "replay": "replay"}.get(r.track, r.track),
                str(len(r.finals)),
                _ci(r),
                _fmt(r.median_steps),
                _fmt(r.median_time, 3),
                _fmt(rep.speedup(r.method), 3),
                f"{_fmt(wall, 3)} ({wall / base_wall:.2f}×)",
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
        speedups = [rep.speedup(method) for rep in reports if method in rep.rows]
        rows.append(
            [
                method,
                _fmt(stats.profile_score(per_task, R_MAX), 3),
                _fmt(stats.geometric_mean(speedups), 3),
                f"{sum(math.isfinite(s) and s > 0 for s in speedups)}/{len(speedups)}",
            ]
        )
    return [
        "method",
        f"profile score (r_max={R_MAX:g})",
        "geo-mean speedup",
        "tasks reaching target",
    ], rows


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
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(store: ResultsStore, suite: str, out_dir: Path, console: bool = False) -> Path:
    """Write report.md and its PNGs into ``out_dir``; optionally print the tables."""
    from autolr.bench.figures import plot_profiles, plot_task_curves

    reports = analyse(store, suite)
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
        parts += [
            f"## {rep.task}\n",
            f"Metric: {rep.metric} ({rep.direction.adjective} is "
            f"better); target {rep.target:.4g}. Tuning cost: {rep.tuning_steps} steps, "
            f"{rep.tuning_wall:.1f} s.\n",
            markdown_table(*task_table(rep)) + "\n",
            f"![{rep.task} curves]({img.name})\n",
        ]
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
    path = out_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))
    if console:
        _print(reports)
    return path


def _print(reports: list[TaskReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    keep = (0, 1, 3, 4, 6, 7, 8, 9)  # the columns that fit a terminal
    short = [
        "method",
        "track",
        "final ± CI",
        "steps→target",
        "speedup",
        "wall (s)",
        "probes",
        "div",
    ]
    for rep in reports:
        _, rows = task_table(rep)
        table = Table(*short, title=f"{rep.task}: target {rep.metric} {rep.target:.4g}")
        for r in rows:
            table.add_row(*(r[i] for i in keep))
        con.print(table)
    head, rows = summary_table(reports)
    table = Table(*head, title="across tasks")
    for r in rows:
        table.add_row(*r)
    con.print(table)

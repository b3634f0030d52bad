"""``autolr report DIR``: statistics, tables and plots, computed from the results store alone."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autolr.bench import stats
from autolr.bench.harness import choose_peaks, final_metric
from autolr.bench.store import ResultsStore
from autolr.running.io import atomic_path

R_MAX = 4.0


@dataclass
class Row:
    """One method on one task, over its evaluation seeds."""

    method: str
    track: str
    finals: list[float]
    steps: list[float]  # charged steps to target, per seed (inf: never)
    times: list[float]  # wall seconds to target, per seed
    walls: list[float]
    probes: list[float]
    diverged: int
    curves: list[dict[str, np.ndarray]]
    seeds: list[int]
    peak: float | None = None

    @property
    def mean_ci(self) -> tuple[float, float]:
        return stats.mean_ci(self.finals)

    @property
    def median_steps(self) -> float:
        return stats.median_time(self.steps)

    @property
    def median_time(self) -> float:
        return stats.median_time(self.times)


@dataclass
class TaskReport:
    task: str
    metric: str
    mode: str
    target: float
    best_baseline: str
    rows: dict[str, Row] = field(default_factory=dict)
    tuning_steps: int = 0
    tuning_wall: float = 0.0

    def speedup(self, method: str) -> float:
        return stats.speedup(
            self.rows[self.best_baseline].median_steps, self.rows[method].median_steps
        )


def analyse(store: ResultsStore, suite: str) -> list[TaskReport]:
    cells = store.done_cells(suite)
    if not cells:
        raise ValueError(f"the results store holds no finished runs of suite {suite!r}")
    peaks = choose_peaks(cells)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        by_task[c["task"]].append(c)
    reports = []
    for task, runs in sorted(by_task.items()):
        mode, metric = runs[0]["summary"]["mode"], runs[0]["summary"]["metric"]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for c in runs:
            if c["track"] != "tune":
                groups[(c["method"], c["track"])].append(c)
        baselines = {m: g for (m, t), g in groups.items() if t == "eval"}
        if not baselines:
            continue
        sign = 1.0 if mode == "max" else -1.0
        best = max(
            baselines,
            key=lambda m: sign * np.mean([final_metric(c["summary"], mode) for c in baselines[m]]),
        )
        # the level every evaluation seed of the best tuned baseline reaches by its end
        finals = [final_metric(c["summary"], mode) for c in baselines[best]]
        target = float(min(finals) if mode == "max" else max(finals))
        rep = TaskReport(task, metric, mode, target, best)
        for (method, track), group in sorted(groups.items()):
            rep.rows[method] = _row(
                store, method, track, group, target, mode, peaks.get((task, method))
            )
        tune = [c["summary"] for c in runs if c["track"] == "tune"]
        rep.tuning_steps = int(sum(s["steps_charged"] for s in tune))
        rep.tuning_wall = float(sum(s["wall_time_s"] for s in tune))
        reports.append(rep)
    return reports


def _row(
    store: ResultsStore,
    method: str,
    track: str,
    group: list[dict[str, Any]],
    target: float,
    mode: str,
    peak: float | None,
) -> Row:
    row = Row(method, track, [], [], [], [], [], 0, [], [], peak)
    for c in sorted(group, key=lambda c: c["seed"]):
        s, cv = c["summary"], store.curves(c["key"])
        row.finals.append(final_metric(s, mode))
        row.steps.append(stats.steps_to_target(cv["eval_charged"], cv["eval_metric"], target, mode))
        t = stats.steps_to_target(cv["eval_wall"], cv["eval_metric"], target, mode)
        row.times.append(t)
        row.walls.append(s["wall_time_s"])
        row.probes.append(s["steps_probed"])
        row.diverged += int(s["rollbacks"] > 0)
        row.curves.append(cv)
        row.seeds.append(int(c["seed"]))
    return row


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


def profiles(reports: list[TaskReport]) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, float]] = defaultdict(dict)
    for rep in reports:
        for r in rep.rows.values():
            if r.track != "replay":
                times[r.method][rep.task] = r.median_steps
    return stats.performance_ratios(times)


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
    rows = []
    for rep in reports:
        for r in rep.rows.values():
            replay = rep.rows.get(f"{r.method}-replay")
            if r.track != "self" or replay is None:
                continue
            sign = 1.0 if rep.mode == "max" else -1.0
            closed = dict(zip(r.seeds, r.finals))
            pairs = [(closed[s], f) for s, f in zip(replay.seeds, replay.finals) if s in closed]
            wins = sum(sign * (a - b) > 0 for a, b in pairs)
            diff = sign * float(np.mean([a - b for a, b in pairs])) if pairs else math.nan
            rows.append(
                [
                    rep.task,
                    r.method,
                    _ci(r),
                    _ci(replay),
                    _fmt(float(diff), 3),
                    f"{wins}/{len(pairs)}",
                ]
            )
    return [
        "task",
        "controller",
        "closed loop",
        "open-loop replay",
        "advantage of reacting",
        "seeds where closed loop wins",
    ], rows


def _md(head: list[str], rows: list[list[str]]) -> str:
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
            f"Metric: {rep.metric} ({'higher' if rep.mode == 'max' else 'lower'} is "
            f"better); target {rep.target:.4g}. Tuning cost: {rep.tuning_steps} steps, "
            f"{rep.tuning_wall:.1f} s.\n",
            _md(*task_table(rep)) + "\n",
            f"![{rep.task} curves]({img.name})\n",
        ]
    prof = plot_profiles(profiles(reports), out_dir / "profiles.png", R_MAX)
    parts += [
        "## Across tasks\n",
        _md(*summary_table(reports)) + "\n",
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
            _md(head, rows) + "\n",
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

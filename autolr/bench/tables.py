"""The report's tables, as a header and rows of formatted cells: per task, across tasks,
compute-inclusive, the replay ablation, failed cells, and the summary (the winners and the
controllers' standings), which also comes as plain text lines.

The numbers come from ``autolr.bench.analysis``, ``autolr.bench.views`` and
``autolr.bench.standings``; this module only formats them.
"""

from __future__ import annotations

import math

import numpy as np

from autolr.bench import stats
from autolr.bench.analysis import Row, TaskReport, row_order
from autolr.bench.standings import Comparison, TaskSummary, summarise
from autolr.bench.views import compute_inclusive, profiles, replay_comparisons

R_MAX = 4.0


def fmt(x: float, digits: int = 4) -> str:
    """A number as the report prints it (``digits`` significant digits; "–" for NaN or
    None, "∞" for infinity)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _ci(row: Row, val: bool = False) -> str:
    m, h = row.val_mean_ci if val else row.mean_ci
    return f"{fmt(m)} ± {fmt(h, 2)}" if not math.isnan(h) else fmt(m)


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
TRACKS = {
    "eval": "tuned",
    "default": "untuned default",
    "peer": "peer",
    "self": "self-tuning",
    "replay": "replay",
}


def track_label(track: str, population: int | None = None) -> str:
    """A row's track as the tables name it; a population's says its size (its cost:
    ``self-tuning, population 4``)."""
    label = TRACKS.get(track, track)
    return label if population is None else f"{label}, population {population}"


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
    for r in sorted(rep.rows.values(), key=lambda r: row_order(r.track, r.method)):
        track = track_label(r.track, r.population)
        if not r.finished:  # every cell failed: say so where the numbers would be
            rows.append([r.method, track, _seeds(r), *[FAILED] * (len(head) - 4), fmt(r.peak, 3)])
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
                fmt(r.median_steps),
                fmt(r.median_time, 3),
                fmt(rep.speedup(r.method), 3),
                f"{fmt(wall, 3)}{ratio}",
                fmt(float(np.mean(r.probes))),
                fmt(float(np.mean(r.rollbacks)), 3),
                fmt(float(np.mean(r.lost))),
                f"{r.diverged}/{n}",
                "–" if r.collapsed is None else f"{r.collapsed}/{n}",
                fmt(r.peak, 3),
            ]
        )
    for method, track in rep.not_applicable:  # not run on this task (its kinds exclude it)
        rows.append([method, TRACKS.get(track, track), *[NA] * (len(head) - 2)])
    return head, rows


def per_corpus_table(rep: TaskReport) -> tuple[list[str], list[list[str]]]:
    """For a task whose runs record per-corpus numbers (the summary's ``per_corpus``, from
    continual-lm): per method, each corpus's final test bits per byte, then each earlier
    corpus's forgetting (final minus best validation bits per byte), mean ± 95% CI over
    seeds. No rows for other tasks."""
    rows_with = sorted(
        (r for r in rep.rows.values() if r.per_corpus), key=lambda r: row_order(r.track, r.method)
    )
    if not rows_with:
        return [], []
    runs = [pc for r in rows_with for pc in r.per_corpus]
    corpora = list(dict.fromkeys(c for pc in runs for c in pc["corpora"]))
    earlier = list(dict.fromkeys(c for pc in runs for c in pc["forgetting"]))
    head = [
        "method",
        "track",
        *(f"{c} (test)" for c in corpora),
        *(f"forgetting {c}" for c in earlier),
    ]

    def cell(r: Row, key: str, corpus: str) -> str:
        m, h = stats.mean_ci([pc[key].get(corpus) for pc in r.per_corpus])
        return f"{fmt(m)} ± {fmt(h, 2)}" if not math.isnan(h) else fmt(m)

    rows = [
        [
            r.method,
            TRACKS.get(r.track, r.track),
            *(cell(r, "final_test", c) for c in corpora),
            *(cell(r, "forgetting", c) for c in earlier),
        ]
        for r in rows_with
    ]
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
        score = FAILED if failed_everywhere else fmt(stats.profile_score(per_task, R_MAX), 3)
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
            track_label(c.track, c.population),
            str(c.tuning),
            fmt(c.steps),
            fmt(c.total),
            fmt(c.ratio, 3),
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
        [c["task"], c["method"], c["track"], str(c["seed"]), fmt(c["peak_lr"], 3), c["reason"]]
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
            f"{fmt(c.advantage, 3)} ± {fmt(c.ci, 2)}",
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


# the summary: each reference's column header, and how the summary names a verdict
REFERENCE_HEADS = {
    "tuned": "vs best tuned baseline",
    "default": "vs untuned default",
    "peer": "vs best peer",
}
NO_FINAL = "no finite final (every run failed or diverged)"
SUMMARY_TEXT = (
    "Final {split} metric, mean ± 95% CI over the evaluation seeds (replays left out). "
    "Winner: the best mean; *tied within CIs* when its 95% CI overlaps the runner-up's. "
    "Each controller against the best tuned baseline (the one the target came from, chosen "
    "on the tuning seeds), the best untuned default and the best peer (by mean): the "
    "difference of means, controller − reference, ± its 95% CI (Welch), and the word for "
    "it in the task's direction: *better* or *worse* when the interval excludes 0, *tied* "
    "when it holds 0, *no CI* with one seed.\n"
)


def _split(rep: TaskReport) -> str:
    return "test" if rep.has_test else "validation"


def _named(row: Row) -> str:
    return f"{row.method} {_ci(row)}"


def _winner_verdict(s: TaskSummary) -> str:
    if s.runner_up is None:
        return "the only method with a finite final"
    return {True: "tied within CIs", False: "ahead beyond CIs", None: "no CI (one seed)"}[s.tied]


def _comparison(c: Comparison) -> str:
    return f"{c.method}: {difference(c)}"


def winners_table(summaries: list[TaskSummary]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for s in summaries:
        rep = s.rep
        metric = f"{_split(rep)} {rep.metric} ({rep.direction.adjective} is better)"
        if s.winner is None:
            rows.append([rep.task, metric, "no finished run", "–", "–"])
            continue
        runner = _named(s.runner_up) if s.runner_up is not None else "–"
        rows.append([rep.task, metric, _named(s.winner), runner, _winner_verdict(s)])
    return [
        "task",
        "final metric",
        "winner (mean ± 95% CI)",
        "runner-up",
        "winner vs runner-up",
    ], rows


def standings_table(summaries: list[TaskSummary]) -> tuple[list[str], list[list[str]]]:
    """Per task and controller, its comparison with each reference; a reference that no
    task has (no untuned default in the suite, say) has no column."""
    refs = [
        ref
        for ref in REFERENCE_HEADS
        if any(c.reference == ref for s in summaries for cs in s.standings.values() for c in cs)
    ]
    rows = []
    for s in summaries:
        for method, comparisons in s.standings.items():
            by = {c.reference: _comparison(c) for c in comparisons}
            if not s.rep.rows[method].n_finite:
                by = dict.fromkeys(by, NO_FINAL)
            rows.append([s.rep.task, method, *(by.get(ref, "–") for ref in refs)])
    return ["task", "controller", *(REFERENCE_HEADS[ref] for ref in refs)], rows


def summary_lines(reports: list[TaskReport]) -> list[str]:
    """The summary as plain text: per task its winner, the references (the best tuned
    baseline, untuned default and peer), and one line per controller with its difference
    from each reference (controller − reference, ± 95% CI, Welch) and the verdict."""
    lines = ["Summary: final metric, mean ± 95% CI over seeds"]
    for s in map(summarise, reports):
        rep = s.rep
        better = f"{rep.direction.adjective} is better"
        lines.append(f"{rep.task} ({_split(rep)} {rep.metric}, {better})")
        if s.winner is None:
            lines.append("  no finished run")
            continue
        won = f"  winner: {_named(s.winner)}"
        if s.runner_up is not None:
            won += f", {_winner_verdict(s)} with {_named(s.runner_up)}"
        lines.append(won)
        refs = {c.reference: c.method for cs in s.standings.values() for c in cs}
        if refs:
            named = ", ".join(f"{ref} = {refs[ref]}" for ref in REFERENCE_HEADS if ref in refs)
            lines.append(f"  controller − reference: {named}")
        width = max((len(m) for m in s.standings), default=0)
        for method, comparisons in s.standings.items():
            vs = "; ".join(f"{c.reference} {difference(c)}" for c in comparisons)
            if not rep.rows[method].n_finite:
                vs = NO_FINAL
            lines.append(f"  {method:<{width}}  {vs or 'nothing to compare with'}")
    return lines


def difference(c: Comparison) -> str:
    """``+0.04 ± 0.023 better``; ``–`` without a difference."""
    if math.isnan(c.diff):
        return "–"
    ci = "" if math.isnan(c.ci) else f" ± {fmt(c.ci, 2)}"
    return f"{c.diff:+.3g}{ci} {c.verdict}"

r"""The learned policies on the CPU suite's tasks, against what issue #16 measures them by.

From one results store holding suite ``cpu-agents`` (configs/bench/cpu-agents.yaml: the
shipped ``meta`` and ``rl`` policies, their base schedule ``wsd-base``, the untuned default
``cosine-default``, the grid-tuned ``constant`` (the best static LR), ``cosine-warmup`` and
``wsd``, and each policy's open-loop replay)::

    autolr bench configs/bench/cpu-agents.yaml --workers 2 --out bench/cpu-agents
    python -m benchmarks.agents_report --store bench/cpu-agents/results.db \
        --out bench/cpu-agents/agents.md

**Per task and policy:** its final metric (test, else validation), mean ± 95% CI over the
evaluation seeds; policy − reference for each reference, ± its 95% CI (Welch, as the bench
report's summary), with the verdict in the task's direction; against its own replay, the
paired difference over the same seeds (``autolr.bench.views.replay_comparisons``: positive
means reacting helped). **Per policy, over the tasks:** how many it is strictly better than
its base and than the untuned default on, at least level with each tuned baseline on (by
mean), and its divergences, collapses and rollbacks. A reference that did not run shows
"–" and is left out of the counts.

Only the runs the suite file plans now are read (``autolr.bench.harness.suite_plan``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autolr.bench.analysis import TaskReport
from autolr.bench.harness import load_suite, suite_plan
from autolr.bench.standings import compare
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.tables import fmt, markdown_table
from autolr.bench.views import replay_comparisons
from benchmarks.auto_report import _count, _mean, _vs, cell, emit, reports

SUITE = "cpu-agents"
POLICIES = ("meta", "rl")
# (label in the suite, what it is to the policy, whether the policy must beat it strictly)
REFERENCES = (
    ("wsd-base", "its base", True),
    ("cosine-default", "untuned default", True),
    ("constant", "tuned static LR", False),
    ("cosine-warmup", "tuned cosine", False),
    ("wsd", "tuned WSD", False),
)


def _ahead(rep: TaskReport, policy: float, ref: float, strict: bool) -> bool | None:
    """Whether the policy's mean is better than (``strict``) or at least the reference's,
    in the task's direction; None when either mean is missing."""
    if not (math.isfinite(policy) and math.isfinite(ref)):
        return None
    gap = rep.direction.sign * (policy - ref)
    return gap > 0 if strict else gap >= 0


def policy_table(
    store: ResultsStore, suite: str = SUITE, plan: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """One dict per task (sorted) and policy that ran there: ``task``, ``metric``, ``mode``,
    ``policy`` (its ``cell``), ``refs`` (label -> the reference's ``cell``), ``vs`` (label ->
    ``standings.Comparison`` or None), ``ahead`` (label -> ``_ahead`` or None) and
    ``replay`` (the paired ``views.ReplayComparison``, or None)."""
    out = []
    reps = reports(store, suite, plan)
    for task in sorted(reps):
        rep = reps[task]
        replays = {c.closed.method: c for c in replay_comparisons([rep])}
        for name in POLICIES:
            row = rep.rows.get(name)
            if row is None:
                continue
            entry: dict[str, Any] = {
                "task": task,
                "metric": rep.metric,
                "mode": rep.mode,
                "policy": cell(row),
                "refs": {},
                "vs": {},
                "ahead": {},
                "replay": replays.get(name),
            }
            for label, _, strict in REFERENCES:
                ref = rep.rows.get(label)
                usable = ref is not None and ref.n_finite > 0 and row.n_finite > 0
                entry["refs"][label] = cell(ref)
                entry["vs"][label] = compare(rep, row, ref, label) if usable else None
                entry["ahead"][label] = (
                    _ahead(rep, row.mean_ci[0], ref.mean_ci[0], strict) if usable else None
                )
            out.append(entry)
    return out


def rates(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per policy: per reference label ``(tasks ahead, tasks compared)``, and its
    ``diverged``, ``collapsed`` (runs; None-judged tasks count 0), ``runs`` and
    ``rollbacks`` summed over tasks."""
    out: dict[str, dict[str, Any]] = {}
    for e in rows:
        r = out.setdefault(
            e["policy"]["method"],
            {
                "ahead": {label: [0, 0] for label, _, _ in REFERENCES},
                "diverged": 0,
                "collapsed": 0,
                "runs": 0,
                "rollbacks": 0.0,
            },
        )
        for label, ahead in e["ahead"].items():
            if ahead is not None:
                r["ahead"][label][0] += int(ahead)
                r["ahead"][label][1] += 1
        c = e["policy"]
        r["diverged"] += c["diverged"]
        r["collapsed"] += c["collapsed"] or 0
        r["runs"] += c["runs"]
        r["rollbacks"] += c["rollbacks"]
    return out


def _replay(c: Any) -> str:
    if c is None:
        return "–"
    ci = f" ± {fmt(c.ci, 2)}" if math.isfinite(c.ci) else ""
    return f"{fmt(c.advantage, 3)}{ci} ({c.wins}/{c.pairs} seeds ahead)"


def render(rows: list[dict[str, Any]]) -> str:
    """The tables as markdown: per task and policy, then the counts per policy."""
    head = ["task", "policy", "final (mean ± 95% CI)"]
    head += [f"− {label} ({what})" for label, what, _ in REFERENCES]
    head += ["vs its replay (paired)", "diverged", "collapsed", "rollbacks"]
    body = [
        [
            e["task"],
            e["policy"]["method"],
            _mean(e["policy"]),
            *(_vs(e["vs"][label]) for label, _, _ in REFERENCES),
            _replay(e["replay"]),
            _count(e["policy"], "diverged"),
            _count(e["policy"], "collapsed"),
            _count(e["policy"], "rollbacks"),
        ]
        for e in rows
    ]
    refs = [
        [
            e["task"],
            f"{e['metric']} ({'lower' if e['mode'] == 'min' else 'higher'} is better)",
            *(_mean(e["refs"][label]) for label, _, _ in REFERENCES),
        ]
        for e in {e["task"]: e for e in rows}.values()  # one row per task
    ]
    counts = [
        [
            policy,
            *(
                f"{a}/{n}" if n else "–"
                for label, _, _ in REFERENCES
                for a, n in [r["ahead"][label]]
            ),
            f"{r['diverged']}/{r['runs']}",
            f"{r['collapsed']}/{r['runs']}",
            fmt(r["rollbacks"]),
        ]
        for policy, r in rates(rows).items()
    ]
    if not rows:
        return f"## The learned policies on the CPU suite's tasks\n\nNo run of suite {SUITE}."
    return "\n\n".join(
        [
            "## The learned policies on the CPU suite's tasks",
            "The references' finals (test, else validation), mean ± 95% CI over the "
            "evaluation seeds:",
            markdown_table(["task", "final", *(label for label, _, _ in REFERENCES)], refs),
            "Each policy − reference, ± its 95% CI (Welch), and the verdict in the task's "
            "direction; against its own open-loop replay, the paired difference on the same "
            "seeds in the task's direction (positive: reacting helped).",
            markdown_table(head, body),
            "Tasks where the policy's mean is strictly better than its base and than the "
            "untuned default, and at least level with each tuned baseline (of the tasks "
            "where both ran); runs that diverged or collapsed; rollbacks summed over runs.",
            markdown_table(
                [
                    "policy",
                    *(f"{label} ({what})" for label, what, _ in REFERENCES),
                    "diverged",
                    "collapsed",
                    "rollbacks",
                ],
                counts,
            ),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument(
        "--store",
        default="bench/cpu-agents/results.db",
        help="the results store holding suite cpu-agents (a .db file or a URL)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    p.add_argument(
        "--suite",
        default="configs/bench/cpu-agents.yaml",
        help="the suite file whose current plan to read ('' : every stored run)",
    )
    args = p.parse_args(argv)
    store = ResultsStore(store_url(args.store, Path(".")), create=False)
    try:
        suite_name, plan = SUITE, None
        if args.suite:
            suite = load_suite(args.suite)
            suite_name, plan = suite.name, suite_plan(suite, store)
        text = render(policy_table(store, suite_name, plan))
    finally:
        store.close()
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

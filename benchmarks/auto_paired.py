r"""Two methods paired on the same seeds, per task, from one results store.

A changed ``auto`` is evaluated once on fresh seeds beside its previous version, both in the
same suite (``auto`` and, say, ``auto-v3``): on a seed where the change does not act, the two
runs are the same to the last bit, so their difference is exactly 0, and where it acts the
paired difference isolates it from the seed's noise, which a Welch CI between the two rows
does not.

    python -m benchmarks.auto_paired --store bench/cpu-fresh3/results.db \
        --suites configs/bench/cpu-fresh3.yaml configs/bench/cpu-fresh3-lr.yaml \
        --a auto --b auto-v3

Per task (of every suite given): the seeds both methods finished, the mean of ``a − b`` over
them ± the 95% CI half-width of that mean (Student t over the per-seed differences,
``stats.mean_ci``), the word for it in the task's direction (``standings.verdict``), and how
many seeds ``a`` is better on, equal (the same final to the last bit) and worse. A seed on
which either run's final is not finite is counted apart, as ``non-finite``. Beside them,
each method's divergences (runs that ended on the session's divergence rule) and rollbacks
(summed over its runs), as ``a / b``: a change that catches divergences shows there.

Only the runs each suite file plans now are read (``harness.suite_plan``, as ``autolr bench``
reports them).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autolr.bench.standings import verdict
from autolr.bench.stats import mean_ci
from autolr.bench.store import ResultsStore
from autolr.bench.store_location import store_url
from autolr.bench.tables import fmt, markdown_table
from benchmarks.auto_report import emit, plans_of, reports


def paired(
    store: ResultsStore,
    suites: Mapping[str, Mapping[str, str] | None],
    a: str,
    b: str,
) -> list[dict[str, Any]]:
    """One dict per task of each suite (in suite order, tasks sorted) where both ``a`` and
    ``b`` have rows: ``suite``, ``task``, ``mode``, ``seeds`` (paired, both finite),
    ``diff`` and ``ci`` (mean of a − b and its half-width; NaN without two pairs),
    ``verdict``, ``better``, ``equal``, ``worse`` and ``nonfinite`` (seeds either side's
    final is not finite), and ``diverged`` and ``rollbacks``: each a pair ``(a's, b's)``,
    counted over all of each method's runs of the task. ``suites``: suite name -> its plan
    (None: every stored run)."""
    out = []
    for suite, plan in suites.items():
        for task, rep in sorted(reports(store, suite, plan).items()):
            ra, rb = rep.rows.get(a), rep.rows.get(b)
            if ra is None or rb is None:
                continue
            fa = dict(zip(ra.seeds, ra.finals, strict=True))
            fb = dict(zip(rb.seeds, rb.finals, strict=True))
            common = sorted(set(fa) & set(fb))
            good = [s for s in common if math.isfinite(fa[s]) and math.isfinite(fb[s])]
            diffs = [fa[s] - fb[s] for s in good]
            sign = rep.direction.sign
            diff, ci = mean_ci(diffs) if diffs else (math.nan, math.nan)
            out.append(
                {
                    "suite": suite,
                    "task": task,
                    "mode": rep.mode,
                    "seeds": good,
                    "diff": diff,
                    "ci": ci,
                    "verdict": verdict(diff, ci, sign),
                    "better": sum(sign * d > 0 for d in diffs),
                    "equal": sum(d == 0 for d in diffs),
                    "worse": sum(sign * d < 0 for d in diffs),
                    "nonfinite": len(common) - len(good),
                    "diverged": (ra.diverged, rb.diverged),
                    "rollbacks": (sum(ra.rollbacks), sum(rb.rollbacks)),
                }
            )
    return out


def render(rows: Sequence[Mapping[str, Any]], a: str, b: str) -> str:
    """The rows as a markdown table, with the totals of better, equal and worse seeds, and
    of each method's divergences and rollbacks."""
    head = ["suite", "task", "paired seeds", f"{a} − {b}", "verdict", "better", "equal"]
    head += ["worse", "non-finite", f"diverged ({a} / {b})", f"rollbacks ({a} / {b})"]
    body = [
        [
            r["suite"],
            f"{r['task']} ({r['mode']})",
            str(len(r["seeds"])),
            f"{fmt(r['diff'])} ± {fmt(r['ci'])}",
            r["verdict"],
            str(r["better"]),
            str(r["equal"]),
            str(r["worse"]),
            str(r["nonfinite"]),
            "{} / {}".format(*r["diverged"]),
            "{:g} / {:g}".format(*r["rollbacks"]),
        ]
        for r in rows
    ]
    diverged = [sum(r["diverged"][i] for r in rows) for i in (0, 1)]
    rollbacks = [sum(r["rollbacks"][i] for r in rows) for i in (0, 1)]
    total = {k: sum(r[k] for r in rows) for k in ("better", "equal", "worse", "nonfinite")}
    pairs = sum(len(r["seeds"]) for r in rows)
    lines = [
        f"`{a}` − `{b}`, paired on the same seeds (test metric; mean ± 95% CI of the "
        "per-seed differences):",
        "",
        markdown_table(head, body),
        "",
        f"Over {pairs} pairs: `{a}` better on {total['better']}, equal on {total['equal']}, "
        f"worse on {total['worse']}; {total['nonfinite']} with a non-finite final. "
        f"Divergences: `{a}` {diverged[0]}, `{b}` {diverged[1]}; rollbacks: `{a}` "
        f"{rollbacks[0]:g}, `{b}` {rollbacks[1]:g}.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--store", required=True, help="the results store (a .db file or a URL)")
    p.add_argument("--suites", nargs="+", required=True, help="the suite files to read")
    p.add_argument("--a", default="auto", help="the method (label) under test")
    p.add_argument("--b", required=True, help="the method (label) it is paired with")
    p.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    store = ResultsStore(store_url(args.store, Path(".")), create=False)
    try:
        plans = plans_of(store, args.suites)
        rows = paired(store, plans, args.a, args.b)
    finally:
        store.close()
    if not rows:
        p.error(f"no task of {', '.join(plans)} has both {args.a!r} and {args.b!r} in the store")
    emit(render(rows, args.a, args.b), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

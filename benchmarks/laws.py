"""Loss-curve laws on real runs: fit, predict held-out schedules, run the law's optimum.

    python -m benchmarks.laws --store bench/cpu --suite cpu --workers 2 --out bench/laws

(``--store`` reads the tuned peaks of ``cosine-warmup`` and ``wsd`` from the CPU suite's
results store, ``configs/bench/cpu.yaml``; without it, give them:
``--peaks stdlib-lm:cosine-warmup=0.006 stdlib-lm:wsd=0.006 mnist1d-cnn:cosine-warmup=0.1
mnist1d-cnn:wsd=0.1``, the committed report's values; a task with neither runs at its
default LR, and the results say so.) About 30 task budgets per task (3 seeds): some 35
minutes on 2 free cores with ``--workers 2``, an hour with one (a stdlib-lm run is ~2 min).

Per task (default stdlib-lm and mnist1d-cnn at their budgets T) and seed (default 0 1 2),
every schedule at the tuned cosine peak P with a 5% linear warmup:

1. fit runs: constant, cosine, and a two-stage run (P, then P/10 from 70% of T);
2. held-out runs: WSD (linear decay over the last 20%), step (x0.1 every 34%), linear to
   zero, one-cycle (peak P), and cosine at twice the budget (another horizon).
3. The train loss is averaged over the seeds (the schedules are the same), then over
   windows of T/100 steps (``--points 100``; ``autolr.laws.data``; the first 5% left
   out). Each form (mpl, tissue) is fitted on the three fit curves and predicts the
   others: R² over the window means, the relative error of the final window's loss, and
   the Spearman rank correlation of predicted and actual final losses over the schedules
   that share the budget.
4. The mpl law's optimal schedule (peak P, the same warmup) runs on the same seeds and is
   compared on the final test metric with the tuned cosine (the fit's cosine run) and the
   tuned WSD (peak: the WSD's own tuned peak).

Writes ``OUT/laws.json``, ``OUT/laws.md`` (the tables), one LAW.json and PNG per task and
form, and each run's summary and curves under ``OUT/runs/`` (a rerun reuses them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from autolr.bench.stats import mean_ci
from autolr.executor import make_executor
from autolr.laws import Curve, fit
from autolr.laws.fit import r2
from autolr.laws.io import plain
from autolr.laws.plots import Line, plot_lines
from autolr.loop.trainee import task_info
from autolr.running.io import atomic_path

FIT = ("constant", "cosine", "two-stage")
HELD_OUT = ("wsd", "step", "linear", "one_cycle", "cosine-2x")
FORMS = ("mpl", "tissue")


def schedules(peak: float, budget: int) -> dict[str, tuple[dict[str, Any], int]]:
    """Each schedule's spec and budget."""
    w = max(1, round(0.05 * budget))
    cos = {"name": "cosine", "lr": peak, "total_steps": budget, "warmup_steps": w}
    return {
        "constant": ({"name": "constant", "lr": peak, "warmup_steps": w}, budget),
        "cosine": (cos, budget),
        "two-stage": (
            {
                "name": "multistep",
                "lr": peak,
                "milestones": [max(1, round(0.7 * budget) - w)],
                "gamma": 0.1,
                "warmup_steps": w,
            },
            budget,
        ),
        "wsd": (wsd(peak, budget), budget),
        "step": (
            {
                "name": "step",
                "lr": peak,
                "step_size": max(1, round(0.34 * budget)),
                "gamma": 0.1,
                "warmup_steps": w,
            },
            budget,
        ),
        "linear": (
            {"name": "linear", "lr": peak, "total_steps": budget, "warmup_steps": w},
            budget,
        ),
        "one_cycle": ({"name": "one_cycle", "max_lr": peak, "total_steps": budget}, budget),
        "cosine-2x": ({**cos, "total_steps": 2 * budget, "warmup_steps": 2 * w}, 2 * budget),
    }


def wsd(peak: float, budget: int) -> dict[str, Any]:
    w = max(1, round(0.05 * budget))
    return {
        "name": "wsd",
        "lr": peak,
        "total_steps": budget,
        "warmup_steps": w,
        "decay_steps": max(1, round(0.2 * budget)),
    }


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run (in a worker): its summary and per-step LR and train loss."""
    import autolr

    result = autolr.run(job["config"])
    h = result.history
    return {
        "summary": result.summary,
        "lrs": h.step_array("lr").tolist(),
        "losses": h.step_array("train_loss").tolist(),
    }


def run_all(jobs: dict[str, dict[str, Any]], out: Path, workers: int) -> dict[str, Any]:
    """Run the jobs not yet cached under OUT/runs (tag -> result)."""
    cache = out / "runs"
    done = {
        t: json.loads((cache / f"{t}.json").read_text())
        for t in jobs
        if (cache / f"{t}.json").is_file()
    }
    todo = [t for t in jobs if t not in done]
    executor = make_executor("pool" if workers > 1 else "local", workers)
    for i, result in executor.run(run_job, [jobs[t] for t in todo]):
        with atomic_path(cache / f"{todo[i]}.json") as tmp:
            tmp.write_text(json.dumps({**result, "config": jobs[todo[i]]["config"]}))
        done[todo[i]] = result
        print(f"  ran {todo[i]} ({len(done)}/{len(jobs)})", flush=True)
    return done


def config(task: str, spec: dict[str, Any], budget: int, seed: int) -> dict[str, Any]:
    return {
        "task": {"name": task},
        "controller": {"name": "fixed", "schedule": spec},
        "budget_steps": budget,
        "interval": min(50, budget),
        "seed": seed,
        "threads": 1,
    }


def seed_mean(results: list[dict[str, Any]], source: str) -> Curve:
    """The seeds' mean train loss per step (NaN where no seed has one)."""
    n = max(len(r["lrs"]) for r in results)
    losses = np.full((len(results), n), np.nan)
    for i, r in enumerate(results):
        losses[i, : len(r["losses"])] = r["losses"]
    lrs = max(results, key=lambda r: len(r["lrs"]))["lrs"]
    with np.errstate(all="ignore"):
        return Curve(np.array(lrs), np.nanmean(losses, 0), source)


def window(curve: Curve, points: int) -> int:
    return max(1, len(curve) // points)


def score(law: Any, curve: Curve, points: int) -> dict[str, float]:
    rows, means = curve.points(window(curve, points))
    pred = law.curve(curve.lrs)[rows]
    return {
        "r2": r2(means, pred),
        "final": float(means[-1]),
        "predicted": float(pred[-1]),
        "rel_error": float((pred[-1] - means[-1]) / means[-1]),
    }


def peaks_for(task: str, args: argparse.Namespace, stored: dict) -> dict[str, Any]:
    out = {}
    for method in ("cosine-warmup", "wsd"):
        given = dict(p.rsplit("=", 1) for p in args.peaks).get(f"{task}:{method}")
        if given is not None:
            out[method], out[f"{method}_from"] = float(given), "argument"
        elif (task, method) in stored:
            out[method], out[f"{method}_from"] = stored[(task, method)], "store"
        else:
            out[method], out[f"{method}_from"] = (
                task_info({"name": task}).lr,
                "task default (untuned)",
            )
    return out


def stored_peaks(store: str | None, suite: str | None) -> dict:
    if store is None:
        return {}
    from autolr.bench.store import ResultsStore
    from autolr.bench.tuning import choose_peaks
    from autolr.laws.data import store_url

    s = ResultsStore(store_url(store), create=False)
    try:
        return choose_peaks(s.done_cells(suite))
    finally:
        s.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="*", default=["stdlib-lm", "mnist1d-cnn"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--budget", type=int, help="override every task's budget (tests)")
    p.add_argument(
        "--store", help="results store (URL, SQLite file or bench folder) of tuned peaks"
    )
    p.add_argument("--suite", help="the store's suite (default: every suite in it)")
    p.add_argument("--peaks", nargs="*", default=[], metavar="TASK:METHOD=LR")
    p.add_argument(
        "--points", type=int, default=100, help="window means per run: windows of T/points steps"
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/laws"))
    args = p.parse_args(argv)
    stored = stored_peaks(args.store, args.suite)
    if args.points < 1:
        p.error(f"--points must be >= 1, got {args.points}")
    report: dict[str, Any] = {"seeds": args.seeds, "points": args.points, "tasks": {}}
    for task in args.tasks:
        report["tasks"][task] = run_task(task, args, peaks_for(task, args, stored))
    with atomic_path(args.out / "laws.json") as tmp:
        tmp.write_text(json.dumps(plain(report), indent=2, allow_nan=False) + "\n")
    text = "\n".join(tables(report)) + "\n"
    with atomic_path(args.out / "laws.md") as tmp:
        tmp.write_text(text)
    print(text)
    return 0


def run_task(task: str, args: argparse.Namespace, peaks: dict[str, Any]) -> dict[str, Any]:
    budget = args.budget or task_info({"name": task}).budget_steps
    peak = peaks["cosine-warmup"]
    specs = schedules(peak, budget)
    if not math.isclose(peaks["wsd"], peak):
        specs["wsd-tuned"] = (wsd(peaks["wsd"], budget), budget)
    jobs = {
        f"{task}-{name}-s{seed}": {"config": config(task, spec, steps, seed)}
        for name, (spec, steps) in specs.items()
        for seed in args.seeds
    }
    print(f"{task}: {len(jobs)} runs at peak {peak:g}", flush=True)
    runs = run_all(jobs, args.out, args.workers)

    def mean_curve(name: str) -> Curve:
        return seed_mean([runs[f"{task}-{name}-s{s}"] for s in args.seeds], f"{task}/{name}")

    curves = {name: mean_curve(name) for name in specs}
    out: dict[str, Any] = {"budget": budget, "peaks": peaks, "forms": {}}
    laws = {}
    for form in FORMS:
        laws[form] = law = fit([curves[n] for n in FIT], form, window=max(1, budget // args.points))
        law.save(args.out / f"{task}-{form}.json")
        out["forms"][form] = predictions(law, curves, args.points)
        lines = [
            Line(n, c.lrs, law.curve(c.lrs), *c.points(window(c, args.points)))
            for n, c in curves.items()
        ]
        plot_lines(args.out / f"{task}-{form}.png", lines, title=f"{task}: {law!r}")
    w = max(1, round(0.05 * budget))
    optimal = laws["mpl"].optimize(budget, peak=peak, warmup_steps=w)
    opt_jobs = {
        f"{task}-optimal-s{seed}": {"config": config(task, optimal.spec, budget, seed)}
        for seed in args.seeds
    }
    runs.update(run_all(opt_jobs, args.out, args.workers))
    curves["optimal"] = mean_curve("optimal")
    compared = {
        "law-optimal (mpl)": "optimal",
        "cosine (tuned)": "cosine",
        "wsd (tuned)": "wsd-tuned" if "wsd-tuned" in specs else "wsd",
    }
    out["optimal"] = {"spec": optimal.spec, "rows": {}}
    for label, name in compared.items():
        summaries = [runs[f"{task}-{name}-s{s}"]["summary"] for s in args.seeds]
        m, h = mean_ci([s["final_test_metric"] for s in summaries])
        s = score(laws["mpl"], curves[name], args.points)
        out["optimal"]["rows"][label] = {
            "peak": float(curves[name].lrs.max()),
            "metric": f"{summaries[0]['metric']} ({summaries[0]['mode']})",
            "test_mean": m,
            "test_ci": h,
            "final_train_loss": s["final"],
            "predicted_train_loss": s["predicted"],
            "diverged": sum(bool(x["diverged"]) for x in summaries),
        }
    return out


def predictions(law: Any, curves: dict[str, Curve], points: int) -> dict[str, Any]:
    """The law's scores on every schedule, and its rank correlations at the budget."""
    scores = {n: {"role": "fit", **score(law, curves[n], points)} for n in FIT}
    scores.update({n: {"role": "held-out", **score(law, curves[n], points)} for n in HELD_OUT})
    same = [n for n in scores if n != "cosine-2x"]  # the schedules of the budget's length

    def rho(names: list[str]) -> float:
        pred = [scores[n]["predicted"] for n in names]
        return float(spearmanr(pred, [scores[n]["final"] for n in names])[0])

    return {
        "params": law.params,
        "fit_r2": law.fit["r2"],
        "warnings": law.fit["warnings"],
        "schedules": scores,
        "spearman_heldout": rho([n for n in same if n not in FIT]),
        "spearman_all": rho(same),
    }


def row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def tables(report: dict[str, Any]) -> list[str]:
    lines = [
        f"Seeds {report['seeds']}; train loss: the seeds' mean, in windows of "
        f"T/{report['points']} steps."
    ]
    for task, t in report["tasks"].items():
        p = t["peaks"]
        lines.append(
            f"{task} (T = {t['budget']}): peaks cosine-warmup {p['cosine-warmup']:g} "
            f"({p['cosine-warmup_from']}), wsd {p['wsd']:g} ({p['wsd_from']})."
        )
    lines += [
        "",
        row("task", "form", "schedule", "role", "R²", "final loss", "predicted", "rel. error"),
        row(*["---"] * 8),
    ]
    tasks = report["tasks"]
    for task, t in tasks.items():
        for form, f in t["forms"].items():
            for name, s in f["schedules"].items():
                cells = (f"{s['r2']:.4f}", f"{s['final']:.4f}", f"{s['predicted']:.4f}")
                lines.append(row(task, form, name, s["role"], *cells, f"{s['rel_error']:+.2%}"))
    lines += ["", row("task", "form", "fit R²", "Spearman ρ, held-out", "Spearman ρ, all")]
    lines.append(row(*["---"] * 5))
    for task, t in tasks.items():
        for form, f in t["forms"].items():
            rhos = (f"{f['spearman_heldout']:.3f}", f"{f['spearman_all']:.3f}")
            lines.append(row(task, form, f"{f['fit_r2']:.4f}", *rhos))
    head = ("final test metric (mean ± 95% CI)", "final train loss", "mpl predicted", "diverged")
    lines += ["", row("task", "schedule", "peak", *head), row(*["---"] * 7)]
    for task, t in tasks.items():
        for label, r in t["optimal"]["rows"].items():
            metric = f"{r['test_mean']:.4f} ± {r['test_ci']:.4f} {r['metric']}"
            losses = (f"{r['final_train_loss']:.4f}", f"{r['predicted_train_loss']:.4f}")
            lines.append(row(task, label, f"{r['peak']:g}", metric, *losses, r["diverged"]))
    return lines


if __name__ == "__main__":
    sys.exit(main())

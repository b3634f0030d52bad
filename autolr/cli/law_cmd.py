"""``autolr law fit|predict|optimize``: loss-curve laws from the command line.

autolr law fit RUN_DIR [RUN_DIR ...] --out LAW.json [--form mpl|tissue]
autolr law fit --store bench/cpu --task stdlib-lm --method constant --peak 0.006 --out LAW.json
autolr law predict LAW.json SPEC --steps N [--csv F] [--plot F.png] [--run RUN_DIR]
autolr law optimize LAW.json --steps N [--peak LR] --out SCHEDULE.yaml [--plot F.png]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

USE = 'autolr run CONFIG --set controller.name=fixed --set controller.schedule="$(cat {out})"'


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "law",
        help="fit a loss-curve law on runs, predict schedules, optimise a schedule",
        description="Loss-curve laws (the multi-power law of Luo et al. 2025; the form of "
        "Tissue et al. 2024): fit one on runs' train losses, predict any schedule's loss "
        "curve, or find the schedule with the lowest predicted final loss. See docs/laws.md.",
    )
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    f = acts.add_parser("fit", help="fit a law on runs (run folders or a results store)")
    f.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders (their metrics.csv)")
    f.add_argument("--out", type=Path, required=True, help="the law file to write (LAW.json)")
    f.add_argument("--form", default="mpl", help="mpl (multi-power law; default) or tissue")
    f.add_argument(
        "--store",
        help="also read runs from a results store: a URL, a SQLite "
        "file, or an `autolr bench` folder (with --task)",
    )
    f.add_argument("--task", help="the task whose stored runs to fit (with --store)")
    f.add_argument("--suite", help="only this suite's stored runs")
    f.add_argument("--method", action="append", default=[], help="only this method (repeatable)")
    f.add_argument("--track", action="append", default=[], help="only this track: tune, eval, ...")
    f.add_argument("--peak", type=float, action="append", default=[], help="only this peak LR")
    f.add_argument("--window", type=int, help="steps per window mean (default: steps // 100)")
    f.add_argument("--skip", type=float, default=0.05, help="fraction of first steps left out")
    f.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="hold a parameter at a value (tissue holds lam=0.999 unless --free lam)",
    )
    f.add_argument(
        "--free",
        action="append",
        default=[],
        metavar="NAME",
        help="fit a parameter the form holds by default (tissue's lam)",
    )
    f.add_argument("--plot", type=Path, help="write a PNG of the runs against the fitted law")
    f.set_defaults(func=fit_cmd)

    pr = acts.add_parser("predict", help="predict a schedule's loss curve")
    pr.add_argument("law", type=Path, help="the law file (LAW.json)")
    pr.add_argument("spec", metavar="SPEC", help="a schedule: YAML file or inline YAML")
    pr.add_argument("--steps", type=int, required=True, help="number of steps to predict")
    pr.add_argument("--csv", type=Path, help="write step,lr,predicted[,actual] to this file")
    pr.add_argument("--plot", type=Path, help="write a PNG of the predicted curve")
    pr.add_argument("--run", type=Path, help="a run folder whose train loss to overlay and score")
    pr.set_defaults(func=predict_cmd)

    o = acts.add_parser("optimize", help="the schedule with the lowest predicted final loss")
    o.add_argument("law", type=Path, help="the law file (LAW.json)")
    o.add_argument("--steps", type=int, required=True, help="the run's length")
    o.add_argument("--peak", type=float, help="the peak LR (default: the fit runs' largest LR)")
    o.add_argument("--min-lr", type=float, default=0.0, help="the decay's floor (default 0)")
    o.add_argument("--warmup-steps", type=int, default=0, help="linear warmup steps (default 0)")
    o.add_argument("--warmup-start-lr", type=float, default=0.0, help="the warmup's start")
    o.add_argument("--knots", type=int, default=64, help="knots of the decay (default 64)")
    o.add_argument("--out", type=Path, required=True, help="the schedule spec to write (YAML)")
    o.add_argument("--plot", type=Path, help="write a PNG: the schedule and cosine, predicted")
    o.set_defaults(func=optimize_cmd)


def _pairs(items: list[str]) -> dict[str, float]:
    """``--fix NAME=VALUE`` items as ``{name: value}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not (sep and name and number is not None):
            raise ValueError(f"--fix expects NAME=NUMBER, got {item!r}")
        out[name] = number
    return out


def fit_cmd(args: argparse.Namespace) -> int:
    from autolr.laws import fit, from_store, get_form, read_run

    form = get_form(args.form)
    for name in args.free:
        if name not in form.names:
            raise ValueError(f"--free {name}: not a parameter of law form {form.name!r}")
    if (args.store is None) != (args.task is None):
        raise ValueError("--store and --task go together: the store's runs of one task")
    curves = [read_run(r) for r in args.runs]
    if args.store is not None:
        curves += from_store(
            args.store,
            args.task,
            suite=args.suite,
            methods=args.method,
            tracks=args.track,
            peaks=args.peak,
        )
    if not curves:
        raise ValueError("no runs: give RUN_DIRs, or --store URL --task NAME")
    fixed = {k: v for k, v in form.fixed.items() if k not in args.free}
    fixed.update(_pairs(args.fix))
    law = fit(curves, form.name, window=args.window, skip=args.skip, fixed=fixed)
    law.save(args.out)
    _print_fit(law)
    if args.plot:
        from autolr.laws.plots import Line, plot_lines

        lines = []
        for c in curves:
            rows, means = c.points(args.window, args.skip)
            label = Path(c.source).name if Path(c.source).exists() else c.source
            lines.append(Line(label, c.lrs, law.curve(c.lrs), rows, means))
        plot_lines(args.plot, lines, title=f"{law!r}, R² {law.fit['r2']:.4f}")
        print(f"wrote {args.plot}")
    print(f"wrote {args.out}")
    return 0


def _print_fit(law: Any) -> None:
    print(f"law {law.form.name}: {law.form.formula}")
    for name, value in law.params.items():
        held = " (held)" if name in law.fit.get("fixed", {}) else ""
        print(f"  {name:6s} = {value:.6g}{held}")
    print(f"fit: R² {law.fit['r2']:.4f} over {len(law.fit['runs'])} runs")
    for run in law.fit["runs"]:
        print(
            f"  {run['source']}: {run['points']} points, R² {run['r2']:.4f}, final "
            f"{run['final_loss']:.4g} (law {run['final_predicted']:.4g})"
        )
    for warning in law.fit.get("warnings", []):
        print(f"warning: {warning}")


def predict_cmd(args: argparse.Namespace) -> int:
    from autolr.laws import Curve, load, read_run
    from autolr.laws.fit import r2
    from autolr.running.io import atomic_path, load_yaml_arg
    from autolr.schedules import build

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    law = load(args.law)
    try:
        sched = build(load_yaml_arg(args.spec))
    except ValueError as err:
        raise ValueError(f"SPEC {args.spec!r}: {err}") from None
    lrs = sched.values(np.arange(args.steps))
    predicted = law.curve(lrs)
    print(f"predicted final loss (step {args.steps}): {predicted[-1]:.6g}")
    rows = actual = None
    if args.run is not None:
        run = read_run(args.run)
        if len(run) < args.steps:
            raise ValueError(f"--run {args.run} has {len(run)} steps, fewer than --steps")
        if not np.allclose(run.lrs[: args.steps], lrs, rtol=1e-6, atol=0):
            print("warning: the run's LRs differ from SPEC's; the law predicts SPEC")
        settings = law.fit.get("settings", {})
        trimmed = Curve(run.lrs[: args.steps], run.losses[: args.steps], run.source)
        rows, actual = trimmed.points(settings.get("window"), settings.get("skip", 0.05))
        if rows.size:
            final = actual[-1]
            rel = (predicted[rows[-1]] - final) / final
            print(
                f"actual final loss (mean of the last window): {final:.6g} "
                f"(law {rel:+.2%}); R² over {rows.size} window means: "
                f"{r2(actual, predicted[rows]):.4f}"
            )
    if args.csv:
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                ["step", "lr", "predicted"] + (["actual"] if actual is not None else [])
            )
            means = (
                dict(zip(rows.tolist(), actual.tolist(), strict=True)) if rows is not None else {}
            )
            for j in range(args.steps):
                extra = [repr(means[j]) if j in means else ""] if actual is not None else []
                writer.writerow([j + 1, repr(float(lrs[j])), repr(float(predicted[j])), *extra])
        print(f"wrote {args.csv}")
    if args.plot:
        from autolr.laws.plots import Line, plot_lines

        label = sched.spec.get("name", "schedule")
        plot_lines(args.plot, [Line(label, lrs, predicted, rows, actual)], title=repr(law))
        print(f"wrote {args.plot}")
    return 0


def optimize_cmd(args: argparse.Namespace) -> int:
    from autolr.laws import load
    from autolr.running.io import atomic_path
    from autolr.schedules import cosine

    law = load(args.law)
    sched = law.optimize(
        args.steps,
        peak=args.peak,
        min_lr=args.min_lr,
        warmup_steps=args.warmup_steps,
        warmup_start_lr=args.warmup_start_lr,
        knots=args.knots,
    )
    peak = max(sched.spec["values"])
    ref = cosine(
        lr=peak,
        total_steps=args.steps,
        min_lr=args.min_lr,
        warmup_steps=args.warmup_steps,
        warmup_start_lr=args.warmup_start_lr,
    )
    best, base = law.final_loss(sched, args.steps), law.final_loss(ref, args.steps)
    print(f"predicted final loss: {best:.6g} (cosine at the same peak {peak:g}: {base:.6g})")
    header = (
        f"# the optimal schedule of the {law.form.name} law {args.law.name} for "
        f"{args.steps} steps, peak {peak:g}: predicted final loss {best:.6g} (cosine: {base:.6g})\n"
        f"# use: {USE.format(out=args.out)}\n"
    )
    with atomic_path(args.out) as tmp:
        tmp.write_text(header + json.dumps(sched.spec) + "\n")  # JSON is YAML: one line
    if args.plot:
        from autolr.laws.plots import Line, plot_lines

        steps = np.arange(args.steps)
        lines = [
            Line(name, s.values(steps), law.predict(s, args.steps))
            for name, s in (("law-optimal", sched), ("cosine", ref))
        ]
        plot_lines(args.plot, lines, title=repr(law))
        print(f"wrote {args.plot}")
    print(f"wrote {args.out}")
    return 0

"""The sharpness guard at too high an LR, its overhead, and λmax against the edge with and
without warmup.

    python -m benchmarks.sharpness                      # the full measurement
    python -m benchmarks.sharpness --budget 40 --seeds 0 --repeats 1 --tasks digits-cnn \\
        --warmup-lrs 0.05 --out /tmp/sharpness-smoke    # a smoke test (about 30 s)

The full measurement is 24 guard runs (2 tasks × 2 LRs × on/off × 3 seeds), 12 overhead
runs and 6 warmup runs, at the tasks' default budgets (1,500 steps on digits-cnn, 3,000 on
mnist1d-cnn), one after another on one torch thread: about 5–8 minutes on 2 cores (from
single runs timed on the shared machine: digits-cnn 2–7 s unguarded (a diverging run
stops early), 6–10 s guarded; mnist1d-cnn 6–8 s and 10–14 s). It writes
``bench/sharpness/sharpness_warmup.png`` and ``bench/sharpness/sharpness.json`` (every
run's summary and λmax trace) and prints three markdown tables.

1. **Guard.** digits-cnn and mnist1d-cnn (SGD, momentum 0.9, default LR 0.05) at constant
   LRs ``--lrs`` (0.2 and 0.4: 4× and 8× the default), with and without the run key
   ``guard: {sharpness: {...}}`` (the guard's defaults unless ``--every``/``--factor``/
   ``--rise`` say otherwise), through ``autolr.run`` (every step charged, the usual
   divergence rule, no rescue). Per task, LR and arm: the final validation metric (mean
   and worst seed), how many seeds reach the task's target, how many the run's summary
   calls diverged, and, for the guard, the steps it capped and its lowest cap.
2. **Overhead.** At the default LR, where neither arm diverges, so both train the same
   steps: ``--repeats`` pairs of runs with and without the guard, in alternating order, and
   the median ratio of their wall times; also the guard's own share, its measured seconds
   over the rest of the run's (``sharpness_seconds``), which machine noise moves less.
3. **Warmup.** digits-cnn with cosine from each LR in ``--warmup-lrs`` (0.0125, the CPU
   suite's tuned cosine-warmup peak; 0.05, the default; 0.2), without warmup and with a
   linear warmup over ``--warmup-frac`` (5%, the suite's) of the budget; ``sharpness: true``
   measures λmax at the end of every ``--interval`` steps. The plot (``--out``/
   ``sharpness_warmup.png``) shows λmax with the edges 2/η and (2 + 2μ)/η over training;
   the table says whether warmup lowered λmax's peak and its mean after the warmup (the
   claim under test: warmup lowers sharpness).

The guard's defaults were chosen on these two tasks at these LRs (``autolr.loop.guard``),
so part 1 shows that they work here, not that they transfer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import autolr
from autolr.loop.session import Session
from autolr.loop.trainee import task_info

MOMENTUM = 0.9  # the tasks' SGD momentum (tasks.base.MOMENTUM)


def config(task: str, schedule: dict, seed: int, budget: int | None, **extra: Any) -> dict:
    cfg = {"task": {"name": task}, "controller": {"name": "fixed", "schedule": schedule}}
    cfg.update(seed=seed, **extra)
    if budget is not None:
        cfg["budget_steps"] = budget
    return cfg


def run(cfg: dict, callbacks: list | None = None) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # clamped-LR warnings
        return autolr.run(cfg, callbacks=callbacks or []).summary


# ---- 1. the guard at too high an LR -------------------------------------------------------


def guard_runs(args: argparse.Namespace, guard: dict) -> list[dict[str, Any]]:
    rows = []
    for task in args.tasks:
        for lr in args.lrs:
            for seed in args.seeds:
                for arm in ("off", "on"):
                    extra = {"guard": {"sharpness": guard}} if arm == "on" else {}
                    cfg = config(task, {"name": "constant", "lr": lr}, seed, args.budget, **extra)
                    s = run(cfg)
                    rows.append({"task": task, "lr": lr, "seed": seed, "guard": arm, **s})
                    print(f"  {task} lr {lr} seed {seed} guard {arm}: {_brief(s)}", flush=True)
    return rows


def _brief(s: dict[str, Any]) -> str:
    metric = s["final_val_metric"]
    text = f"final {metric:.4f}" if metric is not None else "final –"
    if s["halted"]:
        text += f", {s['halted']}"
    if "guard_capped_steps" in s:
        text += f", capped {s['guard_capped_steps']} steps"
    return text + f", {s['wall_time_s']:.1f} s"


def guard_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| task | lr | guard | final metric (mean) | worst seed | reached target | diverged "
        "| capped steps (mean) | lowest cap | wall s (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        info = task_info(task)
        for lr in dict.fromkeys(r["lr"] for r in rows if r["task"] == task):
            for arm in ("off", "on"):
                group = [r for r in rows if (r["task"], r["lr"], r["guard"]) == (task, lr, arm)]
                finals = [_final(r) for r in group]
                worst = info.direction.worst_of(np.asarray(finals))
                reached = sum(r["steps_to_target"] is not None for r in group)
                diverged = sum(bool(r["diverged"]) for r in group)
                capped, low = "–", "–"
                if arm == "on":
                    capped = f"{statistics.mean(r['guard_capped_steps'] for r in group):.0f}"
                    caps = [r["guard_min_cap"] for r in group if r["guard_min_cap"] is not None]
                    low = f"{min(caps):.3g}" if caps else "none"
                wall = statistics.mean(r["wall_time_s"] for r in group)
                lines.append(
                    f"| {task} | {lr:g} | {arm} | {np.mean(finals):.4f} | {worst:.4f} | "
                    f"{reached}/{len(group)} | {diverged}/{len(group)} | {capped} | {low} | "
                    f"{wall:.1f} |"
                )
    return lines


def _final(summary: dict[str, Any]) -> float:
    """The final metric; a run without one (non-finite) counts as the worst possible."""
    value = summary["final_val_metric"]
    if value is None:
        return -np.inf if summary["mode"] == "max" else np.inf
    return float(value)


# ---- 2. overhead ----------------------------------------------------------------------------


def overhead_runs(args: argparse.Namespace, guard: dict) -> list[dict[str, Any]]:
    rows = []
    for task in args.tasks:
        lr = task_info(task).lr
        for i in range(args.repeats):
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            pair = {}
            for arm in order:
                extra = {"guard": {"sharpness": guard}} if arm == "on" else {}
                pair[arm] = run(
                    config(task, {"name": "constant", "lr": lr}, 0, args.budget, **extra)
                )
            on, off = pair["on"], pair["off"]
            if on["steps_trained"] != off["steps_trained"]:
                print(f"  {task}: the arms trained different steps; pair {i} left out")
                continue
            own = on["sharpness_seconds"] / max(on["wall_time_s"] - on["sharpness_seconds"], 1e-9)
            rows.append(
                {
                    "task": task,
                    "lr": lr,
                    "steps": on["steps_trained"],
                    "wall_on": on["wall_time_s"],
                    "wall_off": off["wall_time_s"],
                    "ratio": on["wall_time_s"] / off["wall_time_s"],
                    "share": own,
                    "measurements": on["guard_measurements"],
                    "iterations": on["guard_mean_iterations"],
                }
            )
            print(f"  {task} pair {i}: ratio {rows[-1]['ratio']:.2f}, share {own:.2f}", flush=True)
    return rows


def overhead_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| task | lr | steps | pairs | wall off (s) | wall on (s) | ratio on/off (median) "
        "| guard's own share | measurements | HVPs per measurement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        g = [r for r in rows if r["task"] == task]
        lines.append(
            f"| {task} | {g[0]['lr']:g} | {g[0]['steps']} | {len(g)} | "
            f"{statistics.median(r['wall_off'] for r in g):.2f} | "
            f"{statistics.median(r['wall_on'] for r in g):.2f} | "
            f"{statistics.median(r['ratio'] for r in g):.2f}× | "
            f"{statistics.median(r['share'] for r in g):.0%} | {g[0]['measurements']} | "
            f"{statistics.mean(r['iterations'] for r in g):.1f} |"
        )
    return lines


# ---- 3. warmup and sharpness ----------------------------------------------------------------


def traced(cfg: dict) -> tuple[dict[str, Any], list[tuple[int, float, float]]]:
    """A run's summary and its (step, λmax, lr) after every segment (``sharpness: true``)."""
    trace: list[tuple[int, float, float]] = []

    def record(s: Session) -> None:
        trace.append((s.step, float(s.state.sharpness), float(s.state.lr)))

    return run(cfg, [record]), trace


def warmup_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    task = "digits-cnn"
    budget = args.budget or task_info(task).budget_steps
    warmup = max(1, round(args.warmup_frac * budget))
    rows = []
    for lr in args.warmup_lrs:
        for steps in (0, warmup):
            schedule = {"name": "cosine", "lr": lr, "total_steps": budget, "warmup_steps": steps}
            cfg = config(task, schedule, 0, args.budget, sharpness=True, interval=args.interval)
            s, trace = traced(cfg)
            step, sharp, lrs = (np.asarray(c, dtype=np.float64) for c in zip(*trace, strict=True))
            rows.append(
                {
                    "lr": lr,
                    "warmup_steps": steps,
                    "window": warmup,
                    "step": step.tolist(),
                    "sharpness": sharp.tolist(),
                    "seg_lr": lrs.tolist(),
                    "final_val_metric": s["final_val_metric"],
                    "diverged": s["diverged"],
                }
            )
            print(f"  digits-cnn cosine lr {lr} warmup {steps}: {_brief(s)}", flush=True)
    return rows


def warmup_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| peak lr | warmup steps | peak λmax (step) | mean λmax after the window | "
        "peak λmax·η/(2+2μ) | final metric |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for lr in dict.fromkeys(r["lr"] for r in rows):
        pair = [r for r in rows if r["lr"] == lr]
        stats = {}
        for r in pair:
            step, sharp, seg_lr = (np.asarray(r[k]) for k in ("step", "sharpness", "seg_lr"))
            i = int(np.nanargmax(sharp))
            after = sharp[step > r["window"]]
            edge_ratio = np.nanmax(sharp * seg_lr) / (2 + 2 * MOMENTUM)
            mean_after = float(np.nanmean(after)) if after.size else np.nan
            stats[r["warmup_steps"]] = (sharp[i], mean_after)
            final = r["final_val_metric"]
            lines.append(
                f"| {lr:g} | {r['warmup_steps']} | {sharp[i]:.3g} ({int(step[i])}) | "
                f"{mean_after:.3g} | {edge_ratio:.3g} | "
                f"{'–' if final is None else f'{final:.4f}'} |"
            )
        (peak0, after0), (peak1, after1) = stats[0], stats[max(stats)]
        verdicts.append(
            f"- lr {lr:g}: with warmup the peak λmax is {_compare(peak1, peak0)} "
            f"({peak1:.3g} vs {peak0:.3g} without), its mean after the window "
            f"{_compare(after1, after0)} ({after1:.3g} vs {after0:.3g}); one seed"
        )
    return [*lines, "", *verdicts]


def _compare(a: float, b: float, tolerance: float = 0.1) -> str:
    """How ``a`` compares with ``b``: lower, higher, or about the same (within 10%)."""
    if a < (1 - tolerance) * b:
        return "lower"
    if a > (1 + tolerance) * b:
        return "higher"
    return f"about the same (within {tolerance:.0%})"


def warmup_plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs = list(dict.fromkeys(r["lr"] for r in rows))
    fig, axes = plt.subplots(1, len(lrs), figsize=(5 * len(lrs), 4), squeeze=False)
    for ax, lr in zip(axes[0], lrs, strict=True):
        for r in (r for r in rows if r["lr"] == lr):
            step, sharp, seg_lr = (np.asarray(r[k]) for k in ("step", "sharpness", "seg_lr"))
            label = f"warmup {r['warmup_steps']}" if r["warmup_steps"] else "no warmup"
            style = "-" if r["warmup_steps"] else "--"
            (line,) = ax.plot(step, sharp, style, label=f"λmax, {label}")
            ax.plot(step, 2 / seg_lr, style, color=line.get_color(), alpha=0.35, lw=1)
            ax.plot(step, (2 + 2 * MOMENTUM) / seg_lr, ":", color=line.get_color(), alpha=0.35)
        ax.set_yscale("log")
        sharp = np.concatenate([r["sharpness"] for r in rows if r["lr"] == lr])
        ax.set_ylim(0.5 * np.nanmin(sharp), 20 * np.nanmax(sharp))  # the edges run off at η → 0
        ax.set_xlabel("step")
        ax.set_title(f"digits-cnn, cosine from lr {lr:g}")
        ax.legend(fontsize=8, title="faint: 2/η; dotted: (2+2μ)/η", title_fontsize=8)
    axes[0][0].set_ylabel("λmax of the loss Hessian (probe batch)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="*", default=["digits-cnn", "mnist1d-cnn"])
    p.add_argument("--lrs", nargs="*", type=float, default=[0.2, 0.4])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--repeats", type=int, default=3, help="overhead pairs per task")
    p.add_argument("--budget", type=int, default=None, help="every run's budget (task's)")
    p.add_argument("--every", type=int, default=None)
    p.add_argument("--factor", type=float, default=None)
    p.add_argument("--rise", type=float, default=None)
    p.add_argument("--warmup-lrs", nargs="*", type=float, default=[0.0125, 0.05, 0.2])
    p.add_argument("--warmup-frac", type=float, default=0.05)
    p.add_argument("--interval", type=int, default=25, help="steps between λmax (warmup)")
    p.add_argument("--out", type=Path, default=Path("bench/sharpness"))
    args = p.parse_args(argv)
    guard = {k: v for k in ("every", "factor", "rise") if (v := getattr(args, k)) is not None}
    print(f"guard.sharpness: {guard or 'the defaults'}\n\n1. guard at too high an LR")
    rows = guard_runs(args, guard)
    print("\n2. overhead at the default LR")
    cost = overhead_runs(args, guard)
    print("\n3. λmax with and without warmup")
    warm = warmup_runs(args)
    warmup_plot(warm, args.out / "sharpness_warmup.png")
    results = {"guard": rows, "overhead": cost, "warmup": warm, "guard_keys": guard}
    (args.out / "sharpness.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print("\n## The guard at too high an LR\n")
    print("\n".join(guard_table(rows)))
    print("\n## Overhead (same steps, guard on vs off)\n")
    print("\n".join(overhead_table(cost)))
    print("\n## λmax with and without warmup (digits-cnn, cosine)\n")
    print("\n".join(warmup_table(warm)))
    print(f"\nplot: {args.out / 'sharpness_warmup.png'}; runs: {args.out / 'sharpness.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

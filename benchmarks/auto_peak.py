"""From `auto`'s coarse round to the run's peak: candidate rules, measured on tuning seeds.

Two steps.

1. ``collect``: `auto`'s coarse round alone (the grid before 2026-12-03: five candidates x4
   apart around the initial LR, grown past an edge at most twice, probes of 1% of the
   budget ranked by their cooldown's last third) on the tuning seeds, at the task's
   initial LR times each ``--lr-mults``. One JSON line per round: the grid and its scores.
   Seconds a round (stdlib-lm about 15 s on one thread)::

       python -m benchmarks.auto_peak collect --seeds 1000 ... 1009 --lr-mults 0.1 1 10 \\
           --workers 2 > peak-rounds.jsonl

2. ``score``: each rule maps a round's grid and scores to a peak, and the peak is judged by
   the task's **outcome curve**: the final validation metric of a tuned baseline's runs on
   the tuning seed 1000 at the seven peaks of its grid (x1/8 .. x8 of the task's LR), read
   from a bench store (``--store``, suite ``--suite``), at each peak the better of WSD and
   cosine with warmup (``--baselines``: the two shapes `auto`'s lies between, its decay
   starting at 15-50% of the budget), interpolated linearly in log LR; past the grid's
   ends the last segment is extended, bounded by the grid's worst value. A rule's regret on
   a round is the curve at its peak minus the curve's best, in the metric's direction::

       python -m benchmarks.auto_peak score peak-rounds.jsonl \\
           --store bench/cpu-fresh/results.db --suite cpu-fresh

The curve is one seed's, and a tuned baseline's shape, not `auto`'s: it ranks rules, it
does not predict `auto`'s final metric. None of the rounds is on an evaluation seed.

``score`` also replays each round as the bracket search `auto` uses since 2026-12-03
(three candidates, grown one at a time while the best is at an edge, at most three times:
the same reach, x1/256 .. x256): a candidate's probe is deterministic given the initial
point, so its recorded score is the one the bracket would see. The table counts the rounds
on which the bracket ends on the grid's peak, and the probes each spends.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from autolr.controllers.auto import edge_wary as auto_edge_wary
from autolr.controllers.auto import vertex
from autolr.loop.trainee import task_info
from benchmarks.auto_coarse import FIVE_POINT, first_round
from benchmarks.auto_decay import TASKS

# a store's task name -> this module's, per suite (the variants suite names its tasks by
# the base task; only the ones in TASKS are read)
STORE_TASKS: dict[str, dict[str, str]] = {
    "variants-fresh": {
        "powerlaw": "powerlaw",
        "nqm": "nqm-200",
        "digits-cnn": "digits-cnn-adam",
        "mnist1d-mlp": "mnist1d-mlp-adamw",
        "mnist1d-cnn": "mnist1d-cnn-sgd",
        "stdlib-lm-nodecay": "stdlib-lm-nodecay",
    },
}
SPREAD = 4.0  # the grid's ratio (auto's ``spread``)


def coarse(task: str, seed: int, lr_mult: float = 1.0) -> dict[str, Any]:
    """`auto`'s coarse round on ``task`` at the initial LR times ``lr_mult``, one thread, on
    the five-point grid: it holds every candidate the bracket search that replaced it asks
    for within x256 of the initial LR, so the bracket can be replayed from it."""
    torch.set_num_threads(1)
    cfg, top = TASKS[task]
    lr = cfg.get("lr", task_info(cfg).lr)
    cfg = {**cfg, "lr": lr * lr_mult}
    auto = {"name": "auto", **FIVE_POINT}
    ctrl = first_round({"task": cfg, **top, "seed": seed, "threads": 1, "controller": auto})
    return {
        "task": task,
        "seed": seed,
        "lr_mult": lr_mult,
        "task_lr": lr,
        "lrs": [float(x) for x in ctrl.coarse["lrs"]],
        "scores": [float(x) for x in ctrl.coarse["scores"]],
        "peak": float(ctrl.peak),
        "probe_steps": int(ctrl.probe_steps),
    }


# ---- rules ------------------------------------------------------------------------------

Rule = Callable[[list[float], list[float]], float]


def _near(lrs: list[float], scores: list[float], delta: float) -> list[float]:
    """The LRs of the contiguous run of candidates around the best whose scores are within
    ``delta`` (relative) of the best's."""
    s = np.asarray(scores, dtype=np.float64)
    i = int(np.argmin(s))
    bar = s[i] + delta * abs(s[i])
    lo = hi = i
    while lo > 0 and math.isfinite(s[lo - 1]) and s[lo - 1] <= bar:
        lo -= 1
    while hi < len(s) - 1 and math.isfinite(s[hi + 1]) and s[hi + 1] <= bar:
        hi += 1
    return list(lrs[lo : hi + 1])


def shipped(shrink: float = 2.0) -> Rule:
    """The vertex of the parabola through the best and its neighbours, / ``shrink``."""
    return lambda lrs, scores: vertex(lrs, scores) / shrink


def basin(delta: float, shrink: float = 1.0) -> Rule:
    """The geometric centre of the candidates within ``delta`` of the best score, / shrink."""

    def rule(lrs: list[float], scores: list[float]) -> float:
        near = _near(lrs, scores, delta)
        return math.exp(float(np.mean(np.log(near)))) / shrink

    return rule


def lowest(delta: float, shrink: float = 1.0) -> Rule:
    """The lowest candidate within ``delta`` of the best score, / shrink."""
    return lambda lrs, scores: min(_near(lrs, scores, delta)) / shrink


def edge_wary(delta: float, shrink: float = 2.0) -> Rule:
    """As shipped, except that a best candidate at the grid's edge whose score is within
    ``delta`` (relative) of its neighbour's is not trusted: the neighbour is taken, /
    shrink (`auto`'s ``edge_tol``)."""
    return lambda lrs, scores: auto_edge_wary(lrs, scores, delta) / shrink


def rules() -> dict[str, Rule]:
    """The rules compared, by name."""
    out: dict[str, Rule] = {
        "shipped (vertex/2)": shipped(2.0),
        "vertex/1": shipped(1.0),
        "vertex/4": shipped(4.0),
    }
    for d in (0.005, 0.01, 0.02):
        out[f"edge-wary {d:g} /2"] = edge_wary(d)
    for d in (0.005, 0.01, 0.02, 0.05):
        for s in (1.0, 2.0):
            out[f"basin {d:g} /{s:g}"] = basin(d, s)
            out[f"lowest {d:g} /{s:g}"] = lowest(d, s)
    return out


# ---- outcome curves ---------------------------------------------------------------------


def curves(
    store: str, suite: str, baselines: Sequence[str], modes: dict[str, str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """task -> (peaks, final validation metric): at each peak of the tuning grid, the best
    of ``baselines``' tuning runs in the store (they share the grid), sorted by peak; tasks
    renamed by STORE_TASKS."""
    rename = STORE_TASKS.get(suite, {})
    con = sqlite3.connect(store)
    marks = ",".join("?" * len(baselines))
    rows = con.execute(
        f"select task, peak_lr, summary from cells where suite=? and method in ({marks}) "
        "and track='tune' and status='done'",
        (suite, *baselines),
    ).fetchall()
    con.close()
    found: dict[str, dict[float, float]] = {}
    for task, peak, summary in rows:
        name = rename.get(task) if rename else task
        if name is None or name not in modes:  # a task the suite renames but TASKS lacks
            continue
        sign = 1.0 if modes[name] == "min" else -1.0
        value = float(json.loads(summary)["final_val_metric"])
        value = value if math.isfinite(value) else sign * math.inf
        old = found.setdefault(name, {}).get(float(peak))
        if old is None or sign * value < sign * old:
            found[name][float(peak)] = value
    out = {}
    for name, by_peak in found.items():
        peaks = sorted(by_peak)
        out[name] = (np.asarray(peaks), np.asarray([by_peak[k] for k in peaks]))
    return out


def at(curve: tuple[np.ndarray, np.ndarray], lr: float, sign: float) -> float:
    """The curve at ``lr`` (log-linear; extended past its ends, bounded by its worst)."""
    x, y = np.log(curve[0]), sign * np.nan_to_num(curve[1], nan=np.inf, posinf=np.inf)
    worst = float(np.max(y[np.isfinite(y)]))
    y = np.where(np.isfinite(y), y, worst)
    u = math.log(lr)
    if u <= x[0]:
        v = y[0] + (u - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
    elif u >= x[-1]:
        v = y[-1] + (u - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
    else:
        v = float(np.interp(u, x, y))
    return sign * min(max(float(v), float(np.min(y))), worst)


def regrets(
    rounds: Sequence[dict[str, Any]],
    outcome: dict[str, tuple[np.ndarray, np.ndarray]],
    modes: dict[str, str],
    named: dict[str, Rule],
) -> dict[str, dict[str, list[float]]]:
    """rule -> task -> the regret of each round (curve at the rule's peak minus its best,
    positive = worse)."""
    out: dict[str, dict[str, list[float]]] = {name: {} for name in named}
    for r in rounds:
        task = r["task"]
        if task not in outcome:
            continue
        sign = 1.0 if modes[task] == "min" else -1.0
        best = sign * float(np.min(sign * outcome[task][1]))
        for name, rule in named.items():
            lrs, scores = list(r["lrs"]), list(r["scores"])
            if name.startswith("base-grid"):
                lrs, scores = _first_grid(r)
            peak = rule(lrs, scores) if math.isfinite(min(scores)) else lrs[0]
            reg = sign * (at(outcome[task], peak, sign) - best)
            out[name].setdefault(task, []).append(reg)
    return out


def _first_grid(r: dict[str, Any]) -> tuple[list[float], list[float]]:
    centre = r["task_lr"] * r["lr_mult"]
    keep = [
        i for i, lr in enumerate(r["lrs"]) if abs(math.log(lr / centre)) <= 2.01 * math.log(SPREAD)
    ]
    return [r["lrs"][i] for i in keep], [r["scores"][i] for i in keep]


def bracket(
    r: dict[str, Any], start: int = 3, extend: int = 3
) -> tuple[list[float], list[float]] | None:
    """The coarse round ``r`` replayed as a bracket search: ``start`` candidates around the
    initial LR, then one more past the best's edge at a time (at most ``extend``) until the
    best is inside, each score read from the recorded round (`auto`'s candidates are
    deterministic given the initial point, so a candidate's score is the recorded one).
    None: the search needs a candidate the round did not record."""
    logs = np.log(np.asarray(r["lrs"], dtype=np.float64))

    def recorded(lr: float) -> float | None:
        d = np.abs(logs - math.log(lr))
        i = int(np.argmin(d))
        return float(r["scores"][i]) if d[i] < 1e-6 else None

    centre, half = r["task_lr"] * r["lr_mult"], start // 2
    lrs = sorted(
        {min(max(centre * SPREAD**i, min(r["lrs"])), max(r["lrs"])) for i in range(-half, half + 1)}
    )
    found = [recorded(lr) for lr in lrs]
    if None in found:
        return None
    scores = [float(x) for x in found if x is not None]
    for _ in range(extend):
        best = int(np.argmin(scores))
        if not math.isfinite(scores[best]) or best == 0:
            nxt, at = lrs[0] / SPREAD, 0
        elif best == len(lrs) - 1:
            nxt, at = lrs[-1] * SPREAD, len(lrs)
        else:
            break
        value = recorded(nxt)
        if value is None:
            return None
        lrs.insert(at, nxt)
        scores.insert(at, value)
    return lrs, scores


def bracket_table(rounds: Sequence[dict[str, Any]]) -> str:
    """Per task: rounds replayed, how many end on the shipped grid's peak, and the probes
    saved on average."""
    lines = [
        "| task | rounds replayed | same peak | probes (grid) | probes (bracket) |",
        "|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rounds):
        same = n = 0
        old: list[int] = []
        new: list[int] = []
        for r in (r for r in rounds if r["task"] == task):
            out = bracket(r)
            if out is None:
                continue
            n += 1
            same += math.isclose(
                shipped(2.0)(*out), shipped(2.0)(r["lrs"], r["scores"]), rel_tol=1e-9
            )
            old.append(len(r["lrs"]))
            new.append(len(out[0]))
        total = sum(1 for r in rounds if r["task"] == task)
        if n:
            lines.append(
                f"| {task} | {n} of {total} | {same} | {np.mean(old):.2f} | {np.mean(new):.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="coarse rounds, one JSON line each")
    c.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    c.add_argument("--seeds", nargs="+", type=int, default=list(range(1000, 1010)))
    c.add_argument("--lr-mults", nargs="+", type=float, default=[0.1, 1.0, 10.0])
    c.add_argument("--workers", type=int, default=1)
    s = sub.add_parser("score", help="each rule's regret against the outcome curves")
    s.add_argument("rounds", help="the collect step's JSON lines")
    s.add_argument("--store", action="append", required=True, help="a bench store (SQLite)")
    s.add_argument("--suite", action="append", required=True, help="its suite (one per store)")
    s.add_argument(
        "--baselines",
        nargs="+",
        default=["wsd", "cosine-warmup"],
        help="the curve at each peak is the best of these baselines' tuning runs",
    )
    args = p.parse_args(argv)
    if args.cmd == "collect":
        jobs = [(t, sd, m) for t in args.tasks for sd in args.seeds for m in args.lr_mults]
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            for row in pool.map(coarse, *zip(*jobs, strict=False)):
                print(json.dumps(row), flush=True)
        return 0
    if len(args.store) != len(args.suite):
        p.error("give one --suite per --store")
    modes = {t: task_info(TASKS[t][0]).mode for t in TASKS}
    outcome: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for store, suite in zip(args.store, args.suite, strict=False):
        outcome.update(curves(store, suite, args.baselines, modes))
    with open(args.rounds) as f:
        rounds = [json.loads(line) for line in f if line.strip()]
    named = {**rules(), "base-grid vertex/2": shipped(2.0)}
    table = regrets(rounds, outcome, modes, named)
    tasks = [t for t in TASKS if t in outcome and any(r["task"] == t for r in rounds)]
    sys.stdout.write("| rule | " + " | ".join(tasks) + " | mean rank |\n")
    sys.stdout.write("|---|" + "---|" * (len(tasks) + 1) + "\n")
    means = {name: [float(np.mean(table[name][t])) for t in tasks] for name in named}
    ranks = np.argsort(np.argsort(np.asarray([means[n] for n in named]), axis=0), axis=0) + 1
    for k, name in enumerate(named):
        cells = [f"{m:.4g}" for m in means[name]]
        sys.stdout.write(f"| {name} | " + " | ".join(cells) + f" | {ranks[k].mean():.1f} |\n")
    sys.stdout.write("\n" + bracket_table(rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

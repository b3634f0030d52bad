"""Where `auto`'s coarse round lands, as a function of its probes' length.

For each task and each ``coarse_frac``, build a run of ``auto`` (``shrink: 1``,
``candidates: 5``, ``extend: 0``, the task's default budget and LR) and let it make its
first decision only: the coarse round of charged probes from the initial point. Print the
grid, each candidate's score (the mean train loss of the last third of its cooldown) and
the vertex, the peak the run would use. No training past the probes: a task's five probes
at 2% of the budget take seconds (stdlib-lm about half a minute on one thread).

    python benchmarks/auto_coarse.py --tasks stdlib-lm mnist1d-cnn --fracs 0.01 0.02 0.03
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from autolr.controllers.base import Controller
from autolr.running.runner import build_session, load_config

# `auto`'s grid before 2026-12-03 (five candidates x4 apart, grown past an edge at most
# twice, its best trusted at the edge, a blown-up probe scored as it ended): the design
# studies made with it pin it, so that their committed rows reproduce
FIVE_POINT: dict[str, Any] = {
    "candidates": 5,
    "extend": 2,
    "edge_tol": None,
    "catch_divergence": False,
    "blowup": None,
}


def first_round(config: dict[str, Any]) -> Controller:
    """The controller of the run ``config`` after its first decision, for `auto` its coarse
    round of charged probes; nothing is trained past the probes."""
    session = build_session(load_config(config))
    ctrl = session.controller
    ctrl.propose(session.state, session.probe)
    return ctrl


def coarse_round(task: str, frac: float, seed: int) -> dict[str, Any]:
    """The coarse round of ``auto`` on ``task`` with probes of ``frac`` of the budget (the
    five-point grid, not grown)."""
    auto = {**FIVE_POINT, "name": "auto", "coarse_frac": frac, "shrink": 1.0, "extend": 0}
    ctrl = first_round({"task": {"name": task}, "seed": seed, "controller": auto})
    return {
        "task": task,
        "coarse_frac": frac,
        "seed": seed,
        "lrs": list(ctrl.coarse["lrs"]),
        "scores": list(ctrl.coarse["scores"]),
        "vertex": ctrl.peak,
        "probe_steps": ctrl.probe_steps,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["stdlib-lm", "mnist1d-cnn"])
    p.add_argument("--fracs", nargs="+", type=float, default=[0.01, 0.02, 0.03])
    p.add_argument("--seed", type=int, default=1000, help="a tuning seed (default 1000)")
    args = p.parse_args(argv)
    for task in args.tasks:
        for frac in args.fracs:
            print(json.dumps(coarse_round(task, frac, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

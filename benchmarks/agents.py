"""Decision overhead of the policy controllers: time in ``propose`` over a session's wall time.

On the noisy quadratic one optimizer step costs tens of microseconds, so a decision every
``interval`` steps is a visible fraction; on a real network it vanishes. This runs the `meta`
controller (and an `rl` policy file if given: ``default`` is the shipped one) on each task
for ``--steps`` steps, ``--repeats`` times from seeds 0, 1, ..., and reports the medians.

    python -m benchmarks.agents --tasks nqm mnist1d-mlp --steps 200 --interval 20 \
        --rl default --repeats 5

(as a module: run as a script, its file name would shadow the ``agents`` package).
"""

from __future__ import annotations

import argparse
import statistics

from agents.instances import Instance
from agents.meta import MetaController
from agents.policy import rollout
from autolr.loop.trainee import task_info


def measure(
    task: str, controller_factory, steps: int, interval: int, seed: int = 0
) -> tuple[float, float]:
    """(decision time per call in µs, decision time / session wall time)."""
    inst = Instance({"name": task}, seed, task_info({"name": task}).lr, steps, interval)
    controller = controller_factory(inst)
    result = rollout(inst, controller)
    return 1e6 * controller.decision_time / max(controller.decisions, 1), result.overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["nqm", "mnist1d-mlp"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--rl", help="an RL policy file (.pt), or 'default', to measure too")
    parser.add_argument("--repeats", type=int, default=1, help="seeds per cell (medians)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.steps < args.interval or args.interval < 1:
        parser.error(f"--steps ({args.steps}) must be at least --interval ({args.interval}) >= 1")
    factories = {"meta": lambda inst: MetaController(lr=inst.lr)}
    if args.rl:
        from agents.rl import RLController

        policy = None if args.rl == "default" else args.rl
        factories["rl"] = lambda inst: RLController(policy, lr=inst.lr)
    print("| task | controller | µs per decision | overhead (% of wall time) |")
    print("|---|---|---|---|")
    for task in args.tasks:
        for name, factory in factories.items():
            runs = [
                measure(task, factory, args.steps, args.interval, seed)
                for seed in range(args.repeats)
            ]
            us = statistics.median(r[0] for r in runs)
            frac = statistics.median(r[1] for r in runs)
            print(f"| {task} | {name} | {us:.0f} | {100 * frac:.2f}% |")


if __name__ == "__main__":
    main()

"""Wall time of one agents episode per family of an instance set, at a constant LR.

    taskset -c 0 python -m benchmarks.episode_times families --per-family 5

For each family label of the set's train split, ``--per-family`` instances are drawn (seed
``--seed``) from that family's entries and run to the end of their budget by a controller
that keeps the instance's initial LR (a policy whose action is always 0), through
``agents.policy.rollout``, as the trainers run an episode. The time is the whole episode:
building the task (data loads are cached per process, as in a trainer's worker), the
step-0 evaluation and the session. One torch thread. Prints a markdown table: per family the
mean and max seconds, the mean decisions (budget / interval), the diverged episodes and the
mean score; then the mean over families (the trainers draw a family uniformly).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from agents.instances import InstanceSet
from agents.policy import PolicyController, rollout


class ConstantLR(PolicyController):
    """Keeps the LR it starts from: the action is always 0 (``η_t = η_{t-1} · 2^0``)."""

    name = "constant-policy"

    def act(self, features: np.ndarray) -> float:
        return 0.0


def measure(spec: Any, per_family: int, seed: int) -> dict[str, dict[str, float]]:
    """Per family label: mean/max seconds, mean decisions, diverged count, mean score."""
    instances = InstanceSet(spec)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for label in instances.labels():
        fams = [f for f in instances.families["train"] if f.family == label]
        times, decisions, diverged, scores = [], [], 0, []
        for _ in range(per_family):
            inst = fams[int(rng.integers(len(fams)))].sample(rng)
            start = time.perf_counter()
            result = rollout(inst, ConstantLR(lr=inst.lr))
            times.append(time.perf_counter() - start)
            decisions.append(inst.budget_steps // inst.interval)
            diverged += result.diverged
            scores.append(result.score)
            print(
                f"  {label}: {inst.key()} budget {inst.budget_steps}/{inst.interval}: "
                f"{times[-1]:.2f} s, score {result.score:+.3f}",
                flush=True,
            )
        out[label] = {
            "mean_s": float(np.mean(times)),
            "max_s": float(np.max(times)),
            "decisions": float(np.mean(decisions)),
            "diverged": float(diverged),
            "score": float(np.mean(scores)),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("instances", nargs="?", default="families", help="a shipped set's name")
    p.add_argument("--per-family", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = measure(args.instances, args.per_family, args.seed)
    print("| family | mean s | max s | mean decisions | diverged | mean score |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(
            f"| {label} | {r['mean_s']:.2f} | {r['max_s']:.2f} | {r['decisions']:.1f} | "
            f"{int(r['diverged'])}/{args.per_family} | {r['score']:+.3f} |"
        )
    mean = float(np.mean([r["mean_s"] for r in rows.values()]))
    print(f"mean over families: {mean:.2f} s per episode")


if __name__ == "__main__":
    main()

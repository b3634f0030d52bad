"""``autolr.find_lr``: the LR range test on a task, in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autolr.controllers.fixed import Fixed
from autolr.loop.range_test import RangeTestResult, range_test
from autolr.loop.session import Session
from autolr.loop.trainee import make_task

# The fewest sweep steps whose suggestion means something: steepest_lr skips the first 10
# and the last 5 points (torch-lr-finder's defaults, which keep the warm-up noise and the
# blow-up out) only when more than 16 exist, and with 20 there are 5 points between the
# skips to take a gradient over. With fewer, the suggestions are a few points of a barely
# smoothed curve (beta 0.98), near the start LR whatever the task: `--steps 2` "suggested"
# the start LR itself.
MIN_STEPS = 20


def find_lr(
    task: Mapping[str, Any] | str | Session,
    *,
    seed: int = 0,
    device: str = "cpu",
    start_lr: float | None = None,
    end_lr: float | None = None,
    num_steps: int = 100,
    **kwargs: Any,
) -> RangeTestResult:
    """Run the range test on a task spec (or an existing Session, which is left restored).

    ``start_lr``/``end_lr`` default to the task's ``min_lr``/``max_lr``; ``num_steps`` must
    be at least ``MIN_STEPS`` (20).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < MIN_STEPS:
        raise ValueError(
            f"num_steps must be an integer >= {MIN_STEPS} for a meaningful suggestion, "
            f"got {num_steps!r}"
        )
    if isinstance(task, Session):
        session = task
    else:
        trainee = make_task(task, seed=seed, device=device)
        session = Session(
            trainee,
            Fixed({"name": "constant", "lr": trainee.info.lr}),
            budget_steps=num_steps,
            interval=num_steps,
            eval_every=0,
        )
    info = session.trainee.info
    return range_test(
        session,
        start_lr if start_lr is not None else info.min_lr,
        end_lr if end_lr is not None else info.max_lr,
        num_steps,
        **kwargs,
    )

"""One member of a population: a Session on the task at the LR its Ray Tune trial holds.

``train_member`` is the function trainable (it runs in a Ray worker). It trains up to each
perturbation step at a constant LR, evaluates, and reports the validation metric with a
checkpoint (the Session's ``state_dict`` and who wrote it). When the scheduler exploits,
Ray restarts the trial from a better member's checkpoint with an explored LR: the Session's
history, kept in the checkpoint, goes with it, so a final Session holds the LR and
evaluations of its whole lineage.

Every stretch a member trains is appended to ``<log_dir>/<trial id>.jsonl``, with every
restore: the driver charges the population from these lines, steps trained again after a
restore included (``autolr.population.lineage``). Its final checkpoint goes to
``final_folder``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.running.config import validate
from autolr.running.io import load_plain, save_torch
from autolr.running.runner import build_session

SESSION = "session.pt"
OWNER = "owner.json"
LR_KEYS = {"pbt": "lr", "pb2": "log10_lr"}  # the hyperparameter each scheduler mutates
WORST = 1e30  # a score's stand-in when neither the metric nor the start is finite


def member_lr(config: Mapping[str, Any]) -> float:
    """The LR a trial's config holds (``lr``, or ``10 ** log10_lr`` for PB2)."""
    if "log10_lr" in config:
        return float(10.0 ** float(config["log10_lr"]))
    return float(config["lr"])


def member_session(run: Mapping[str, Any], lr: float) -> Session:
    """The Session of one member: the cell's run config at a constant ``lr``."""
    controller = {"name": "fixed", "schedule": {"name": "constant", "lr": lr}}
    return build_session(validate({**run, "controller": controller}))


def save_member(session: Session, folder: Path, owner: str, now: int) -> None:
    """Write a member's checkpoint: its Session, and who wrote it at which perturbation
    step (``now``; the Session's own step is lower if its run ended early)."""
    save_torch(session.state_dict(), folder / SESSION)
    record = {"trial": owner, "time": now, "step": session.step}
    (folder / OWNER).write_text(json.dumps(record))


def load_member(session: Session, folder: Path) -> dict[str, Any]:
    """Put ``session`` where the checkpoint in ``folder`` was; returns its owner record."""
    session.load_state_dict(load_plain(folder / SESSION, f"member checkpoint {folder}"))
    return json.loads((folder / OWNER).read_text())


def final_folder(log_dir: str | Path, trial: str) -> Path:
    """Where a member writes its final checkpoint (Ray may still exploit at the last
    report; the member's own final state is this one)."""
    return Path(log_dir) / "final" / trial


def boundary(step: int, interval: int, budget: int) -> int:
    """The next perturbation step after ``step`` (the budget caps it)."""
    return min((step // interval + 1) * interval, budget)


def val_metric_now(session: Session) -> float:
    """The validation metric at the session's step: its last evaluation if made there,
    else a fresh one (not recorded in the history, whose evaluations follow eval_every)."""
    last = session.history.last_eval
    if last is not None and int(last["step"]) == session.step:
        return float(last["val_metric"])
    return float(session.trainee.evaluate()[1])


def start_metric(session: Session) -> float:
    """The validation metric of the untrained model (the session's step-0 evaluation, or a
    fresh one before any training when it made none)."""
    evals = session.history.evals
    if evals["step"] and int(evals["step"][0]) == 0:
        return float(evals["val_metric"][0])
    return float(session.trainee.evaluate()[1])


def score(metric: float, start: float, mode: str, ended: str | None = None) -> float:
    """What the scheduler ranks: the metric; for a member whose run has ``ended`` (it
    diverged) or whose metric is not finite, the untrained model's ``start``, so it ranks
    at the bottom. Always finite: PB2's GP fits the scores' changes, and inf - inf is NaN
    (a huge stand-in if ``start`` is not finite either)."""
    if ended is None and math.isfinite(metric):
        return metric
    if math.isfinite(start):
        return start
    return -WORST if mode == "max" else WORST


def train_member(
    config: dict[str, Any], run: dict[str, Any], log_dir: str, perturbation_interval: int
) -> None:
    """Ray Tune's function trainable for one member (see the module's docstring): ``run``
    is the cell's run config (no controller), ``config`` the trial's (its LR)."""
    from ray import tune

    trial = tune.get_context().get_trial_id()
    lr = member_lr(config)
    session = member_session(run, lr)
    log = Path(log_dir) / f"{trial}.jsonl"
    budget, mode = session.ledger.budget, session.trainee.info.mode
    start_value = start_metric(session)  # before any restore: the same for every member
    checkpoint = tune.get_checkpoint()
    now = 0  # the perturbation step the member has reached (its kept step, unless it ended)
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            owner = load_member(session, Path(folder))
        now = int(owner["time"])
        if now < budget:  # Ray may exploit at the last report too: nothing trains after it
            restore = {"kind": "restore", "trial": trial, "from": owner["trial"], "time": now}
            _append(log, {**restore, "step": session.step})
    while now < budget:
        # A member whose run ended (diverged) trains no more but still reports at each
        # perturbation step, ranked last, until it is exploited or the budget's time is
        # up: Ray's synchronous PBT waits for every live trial, and one that finished early
        # would leave the others paused for ever.
        start, charged, seconds = session.step, session.ledger.charged, session.ledger.seconds
        now = boundary(now, perturbation_interval, budget)
        while session.step < now and not session.done:
            session.advance(Segment.constant(lr, min(session.interval, now - session.step)))
        t0 = time.perf_counter()
        metric = val_metric_now(session)
        eval_s = time.perf_counter() - t0
        _append(
            log,
            {
                "kind": "train",
                "trial": trial,
                "time": now,
                "start": start,
                "end": session.step,
                "charged": session.ledger.charged - charged,
                "seconds": session.ledger.seconds - seconds + eval_s,
                "lr": lr,
                "val_metric": metric,
                "ended": session.halted,
            },
        )
        if now >= budget:  # the member's final state, where the driver finds it
            final = final_folder(log_dir, trial)
            final.mkdir(parents=True, exist_ok=True)
            save_member(session, final, trial, now)
        with tempfile.TemporaryDirectory() as folder:
            save_member(session, Path(folder), trial, now)
            tune.report(
                {"step": now, "score": score(metric, start_value, mode, session.halted), "lr": lr},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def _append(path: Path, record: Mapping[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")

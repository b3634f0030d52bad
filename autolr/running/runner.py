"""``autolr.run``: one configured run, with outputs, checkpoints and resume."""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from autolr.checks import CheckError
from autolr.controllers.base import build_controller
from autolr.loop.guard import RECORD_COLUMNS, SharpnessGuard, check_supported
from autolr.loop.history import History
from autolr.loop.merge import Merger
from autolr.loop.plain import check_plain
from autolr.loop.session import Session
from autolr.loop.trainee import TaskInfo, make_task
from autolr.peers.trainee import PeerTrainee, with_peer
from autolr.provenance import provenance
from autolr.running.config import RunConfig, apply_overrides, validate
from autolr.running.io import atomic_path, load_plain, load_yaml_arg, save_torch
from autolr.running.outdir import CHECKPOINT, CONFIG, check_out, clear_out


@dataclass
class RunResult:
    """What a run produced: ``summary`` (as in summary.json) and ``history`` (columns)."""

    summary: dict[str, Any]
    history: History
    session: Session
    out: Path | None


def load_config(config: Mapping[str, Any] | str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    raw = load_yaml_arg(str(config)) if isinstance(config, str | Path) else config
    if not isinstance(raw, Mapping):
        raise ValueError(f"config must be a mapping of keys, got {raw!r}")
    return validate(apply_overrides(raw, overrides))


def build_session(cfg: RunConfig) -> Session:
    """Build the trainee, controller and session a config describes (writes nothing)."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"config key 'device' is {cfg.device!r} but CUDA is not available")
    torch.set_num_threads(cfg.threads)  # default 1: see RunConfig.threads
    try:
        trainee = make_task(cfg.task, seed=cfg.seed, device=cfg.device)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"config key 'task': {err}") from None
    budget = cfg.budget_steps or trainee.info.budget_steps
    if cfg.optimizer is not None:
        try:
            trainee = with_peer(trainee, cfg.optimizer, budget)
        except CheckError as err:  # a parameter's value: named by its key path
            raise ValueError(f"config: {err.message(f'optimizer.{err.name}')}") from None
        except ValueError as err:
            raise ValueError(f"config key 'optimizer': {err}") from None
    info = trainee.info
    spec = cfg.controller or default_controller(info, budget)
    if cfg.controller is None and isinstance(trainee, PeerTrainee):
        spec = trainee.controller  # the peer's documented schedule
    try:
        bounds = (
            info.min_lr if cfg.min_lr is None else cfg.min_lr,
            info.max_lr if cfg.max_lr is None else cfg.max_lr,
        )
        controller = build_controller(
            spec, default_lr=info.lr, budget_steps=budget, lr_bounds=bounds
        )
    except ValueError as err:
        raise ValueError(f"config key 'controller': {err}") from None
    if cfg.merge is not None and getattr(trainee, "eval_point", None) is not None:
        raise ValueError(
            f"config: merge cannot be combined with optimizer {cfg.optimizer['name']!r}, "
            "which is evaluated at its own averaged point"
        )
    try:
        merge = None if cfg.merge is None else Merger(cfg.merge, budget, trainee.model)
    except CheckError as err:  # the window against the budget
        raise ValueError(f"config: {err.message(f'merge.{err.name}')}") from None
    guard = SharpnessGuard.from_config(cfg.guard)
    if guard is not None:
        try:
            check_supported(trainee.optimizer)
        except ValueError as err:
            raise ValueError(f"config key 'guard': {err}") from None
    return Session(
        trainee,
        controller,
        budget,
        cfg.interval,
        eval_every=cfg.eval_every,
        min_lr=cfg.min_lr,
        max_lr=cfg.max_lr,
        lr_scale=cfg.lr_scale,
        divergence_factor=cfg.divergence_factor,
        rollback_lr_factor=cfg.rollback_lr_factor,
        measure_sharpness=cfg.sharpness,
        rescue=cfg.rescue,
        initial_lr=_initial_lr(controller, info),
        merge=merge,
        guard=guard,
    )


def check_lr_bounds(session: Session) -> None:
    """Refuse a configured LR that the session's ``[min_lr, max_lr]`` would clamp.

    The session clamps every LR into its bounds (the guard rails of adaptive controllers),
    so ``lr: 1e6`` would train at ``max_lr`` and look like a real run. What a config fixes
    before training (a fixed schedule's peak, a controller's starting ``lr``) is checked here,
    where failing costs nothing; a schedule that decays to below ``min_lr`` is fine (the floor
    is what the bound is for), one whose peak is below it is not.
    """
    controller, lo, hi = session.controller, session.min_lr, session.max_lr
    schedule = getattr(controller, "schedule", None)
    if schedule is not None:
        peak, what = float(schedule.values(np.arange(session.ledger.budget)).max()), "peak LR"
    else:
        lr = getattr(controller, "lr", None)
        if not isinstance(lr, int | float) or isinstance(lr, bool):
            return
        peak, what = float(lr), "lr"
    name = controller.name
    if peak > hi:
        raise ValueError(
            f"config: controller {name!r} {what} {peak:g} is above max_lr {hi:g}; the run "
            f"would train at max_lr instead. Lower the LR, or raise max_lr if you mean it"
        )
    if peak < lo:
        raise ValueError(
            f"config: controller {name!r} {what} {peak:g} is below min_lr {lo:g}; the run "
            f"would train at min_lr instead. Raise the LR, or lower min_lr if you mean it"
        )


def default_controller(info: TaskInfo, budget: int) -> dict[str, Any]:
    return {"name": "fixed", "schedule": {"name": "cosine", "lr": info.lr, "total_steps": budget}}


def _initial_lr(controller: Any, info: TaskInfo) -> float:
    for attr in ("lr", "initial_lr"):
        value = getattr(controller, attr, None)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    schedule = getattr(controller, "schedule", None)
    if schedule is not None:
        # float(): a schedule computes in numpy, and an np.float64 here would reach the
        # TrainingState and make the checkpoint unreadable by torch.load(weights_only=True).
        value = float(schedule(0))
        return value if value > 0 else max(float(schedule.values(range(1, 64)).max()), info.min_lr)
    return float(info.lr)


def run(
    config: Mapping[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    overrides: Sequence[str] = (),
    progress: bool = False,
    callbacks: Sequence[Callable[[Session], None]] = (),
) -> RunResult:
    """Run a config; write metrics.csv, summary.json, a checkpoint and plots into ``out``.

    With ``resume``, continue from ``out``'s checkpoint; the finished metrics equal those of an
    uninterrupted run on CPU. With ``overwrite``, replace the run in ``out``; with neither, a
    folder that holds a run is refused (RunExistsError). A bad config raises ValueError naming
    the key. Every refusal comes before anything is written or removed.
    """
    cfg = load_config(config, overrides)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        check_out(out_dir, resume=resume, overwrite=overwrite)
    session = build_session(cfg)
    check_lr_bounds(session)
    resolved = cfg.model_dump()
    if resume:
        if out_dir is None:
            raise ValueError("--resume needs --out DIR, the folder of the run to continue")
        _resume(session, out_dir, resolved)
    if out_dir is not None:
        clear_out(out_dir, overwrite=overwrite)
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / CONFIG) as tmp:
            tmp.write_text(yaml.safe_dump(resolved, sort_keys=False))
    every = cfg.checkpoint_every or max(session.eval_every, 10 * session.interval)
    last_ckpt = [session.step]

    def checkpoint(s: Session) -> None:
        if out_dir is not None and (s.step - last_ckpt[0] >= every or s.done):
            save_checkpoint(s, out_dir / CHECKPOINT, resolved)
            write_metrics(s.history, out_dir / "metrics.csv")
            if s.guard is not None:
                write_guard(s.guard.record, out_dir / "guard.csv")
            last_ckpt[0] = s.step

    session.callbacks.extend([checkpoint, *callbacks])
    with _progress_bar(session, progress):
        session.run()
    summary = summarize(session, cfg)
    if out_dir is not None:
        save_checkpoint(session, out_dir / CHECKPOINT, resolved)
        write_outputs(session, summary, out_dir)
    return RunResult(summary, session.history, session, out_dir)


# ---- checkpoints ------------------------------------------------------------------------


def save_checkpoint(session: Session, path: Path, resolved: dict[str, Any]) -> None:
    """Write the session's state; NotPlainError (naming the key path) if it holds anything
    but plain values and tensors, which ``--resume`` could not read back."""
    state = session.state_dict()
    state["config"] = resolved
    check_plain(state)
    save_torch(state, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume: {path} does not exist")
    state = load_plain(path, f"checkpoint {path}")
    if not isinstance(state, dict) or "snapshot" not in state or "config" not in state:
        raise ValueError(f"checkpoint {path} is not an autolr run checkpoint")
    return state


def _resume(session: Session, out_dir: Path, resolved: dict[str, Any]) -> None:
    state = load_checkpoint(out_dir / CHECKPOINT)
    saved = state["config"]
    for key in [*resolved, *(k for k in saved if k not in resolved)]:  # both ways: optimizer
        if saved.get(key) != resolved.get(key):
            # threads too: torch's CPU kernels (convolutions) split their sums by thread, so
            # another thread count changes the float results (measured on digits-cnn).
            why = " (the thread count changes the results)" if key == "threads" else ""
            raise ValueError(
                f"cannot resume: config key {key!r} differs from the checkpoint's "
                f"({resolved.get(key)!r} != {saved.get(key)!r}){why}"
            )
    session.load_state_dict(state)


# ---- outputs ----------------------------------------------------------------------------


def summarize(session: Session, cfg: RunConfig) -> dict[str, Any]:
    info, state, ledger, hist = session.trainee.info, session.state, session.ledger, session.history
    metrics = hist.eval_array("val_metric")
    finite = metrics[np.isfinite(metrics)]
    best = None
    if finite.size:
        best = float(info.direction.best_of(finite))
    to_target = hist.steps_to_target(info.target, info.direction)
    time_to_target = None
    if to_target is not None:
        idx = hist.evals["step"].index(to_target)
        time_to_target = hist.evals["wall_time"][idx]
    test = hist.test or {}
    sizes = session.trainee.split_sizes()
    summary = {
        "task": info.name,
        "controller": (cfg.controller or {"name": "fixed"})["name"],
        "seed": cfg.seed,
        "metric": info.metric,
        "mode": info.mode,
        "target": info.target,
        "budget_steps": ledger.budget,
        "final_val_metric": _num(state.val_metric),
        "final_val_loss": _num(state.val_loss),
        "final_test_metric": _num(test.get("test_metric")),
        "final_test_loss": _num(test.get("test_loss")),
        "val_size": None if sizes is None else sizes.val,
        "test_size": None if sizes is None else sizes.test,
        "size_unit": None if sizes is None else sizes.unit,
        "data_sha256": session.trainee.data_checksum(),
        "final_train_loss": _num(state.loss_mean),
        "best_val_metric": best,
        "steps_trained": ledger.kept,
        "steps_probed": ledger.probe + ledger.range_test,
        "steps_lost": ledger.lost,
        "steps_charged": ledger.charged,
        "rollbacks": session.rollbacks,
        "halted": session.halted,
        "diverged": _diverged(session),
        "wall_time_s": session.wall_time,
        "steps_to_target": to_target,
        "charged_steps_to_target": hist.steps_to_target(info.target, info.direction, "charged"),
        "time_to_target_s": time_to_target,
        "controller_stats": session.controller.stats(),
        "provenance": provenance(),  # versions, commit, CPU, threads: autolr.provenance
    }
    if isinstance(session.trainee, PeerTrainee):  # only then: other summaries stay as they were
        summary["optimizer"] = session.trainee.summary()
    if session.merge is not None:  # likewise
        summary.update(_unmerged(session.merge.report, summary))
        summary["merge"] = session.merge.summary()
    extras = session.trainee.summary_extras(hist)
    clash = sorted(set(extras) & set(summary))
    if clash:
        raise ValueError(f"trainee's summary_extras would replace summary keys {clash}")
    summary.update(extras)
    if session.guard is not None or session.meter is not None:  # likewise
        summary["sharpness_seconds"] = ledger.sharpness_seconds
    if session.guard is not None:
        summary.update(session.guard.summary())
    return summary


def _unmerged(report: dict[str, Any] | None, summary: dict[str, Any]) -> dict[str, Any]:
    """The training model's final numbers in a merging run (``final_*`` are the merged
    model's); the same as ``final_*`` where nothing was merged."""
    keys = ("val_metric", "val_loss", "test_metric", "test_loss")
    if report is None or not report["checkpoints"]:
        return {f"unmerged_final_{k}": summary[f"final_{k}"] for k in keys}
    return {f"unmerged_final_{k}": _num(report[k]) for k in keys}


def _diverged(session: Session) -> bool:
    """The run diverged: it ended on a divergence, or its final validation metric is not
    finite or worse than at step 0 (before any training)."""
    if session.halted is not None and "diverged" in session.halted:
        return True
    final = session.state.val_metric
    if final is None or not math.isfinite(final):
        return True
    evals = session.history.evals
    if evals["step"] and evals["step"][0] == 0:
        return session.trainee.info.direction.better(evals["val_metric"][0], final)
    return False


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def write_metrics(history: History, path: Path) -> None:
    """metrics.csv: one row per kept step; val_loss/val_metric filled at evaluations, and
    after them the trainee's extra metrics (``History.extras``), one column each."""
    names = list(history.extras)
    evals = {
        int(s): [vl, vm, *(history.extras[n][i] for n in names)]
        for i, (s, vl, vm) in enumerate(
            zip(
                history.evals["step"],
                history.evals["val_loss"],
                history.evals["val_metric"],
                strict=True,
            )
        )
    }
    blank = [""] * (2 + len(names))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "charged", "lr", "train_loss", "val_loss", "val_metric", *names])
        if 0 in evals:
            writer.writerow([0, 0, "", "", *(repr(v) for v in evals[0])])
        s = history.steps
        for step, charged, lr, loss in zip(
            s["step"], s["charged"], s["lr"], s["train_loss"], strict=True
        ):
            row = evals.get(int(step))
            values = blank if row is None else [repr(v) for v in row]
            writer.writerow([int(step), int(charged), repr(lr), repr(loss), *values])


def write_guard(record: Mapping[str, Sequence[float]], path: Path) -> None:
    """guard.csv: one row per sharpness-guard measurement (``RECORD_COLUMNS``: the kept
    step, λ, the edge, the cap from then on, Hessian-vector products, seconds)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(RECORD_COLUMNS)
        for row in zip(*(record[c] for c in RECORD_COLUMNS), strict=True):
            step, sharp, edge, cap, iterations, seconds = row
            writer.writerow(
                [int(step), repr(sharp), repr(edge), repr(cap), int(iterations), repr(seconds)]
            )


def write_outputs(session: Session, summary: dict[str, Any], out_dir: Path) -> None:
    from autolr.running.plots import plot_run

    write_metrics(session.history, out_dir / "metrics.csv")
    if session.guard is not None:
        write_guard(session.guard.record, out_dir / "guard.csv")
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    plot_run(session.history, session.trainee.info, out_dir)


@contextlib.contextmanager
def _progress_bar(session: Session, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    info = session.trainee.info
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    task = bar.add_task(
        f"{info.name}", total=session.ledger.budget, status="", completed=session.ledger.charged
    )

    def update(s: Session) -> None:
        st = s.state
        val = "" if st.val_metric is None else f" {info.metric} {st.val_metric:.4g}"
        bar.update(
            task, completed=s.ledger.charged, status=f"lr {st.lr:.3g} loss {st.loss_mean:.4g}{val}"
        )

    session.callbacks.append(update)
    with bar:
        yield

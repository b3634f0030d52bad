"""A Session's checkpoint: the trainee snapshot (with every RNG), the ledger, the history,
the controller's state, the session's own counters, the TrainingState and, in a merging run,
the merge (``autolr.loop.merge``), as plain Python values and tensors, so
``torch.load(weights_only=True)`` reads it back."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autolr.loop import ddp
from autolr.loop import snapshot as snapshots
from autolr.loop.plain import check_plain
from autolr.loop.state import TrainingState
from autolr.running.io import save_torch

if TYPE_CHECKING:
    from autolr.loop.session import Session

CHECKPOINT_VERSION = 2


def session_state(session: Session) -> dict[str, Any]:
    """The checkpoint of ``session`` (a fresh snapshot, global RNG states included)."""
    snap = snapshots.take(session.trainee, session.step, global_rngs=True)
    state = asdict(session.state)
    state["losses"] = torch.from_numpy(np.asarray(session.state.losses, dtype=np.float64))
    out = {
        "version": CHECKPOINT_VERSION,
        "snapshot": snapshots.to_state_dict(snap),
        "ledger": session.ledger.state_dict(),
        "history": session.history.state_dict(),
        "controller": session.controller.state_dict(),
        "session": {
            **session.rescuer.state_dict(),
            "tracker": session.tracker.state_dict(),
            "halted": session.halted,
            **_sharpness_state(session),
        },
        "state": state,
    }
    if session.merge is not None:  # only then: other checkpoints stay as they were
        out["merge"] = session.merge.state_dict()
    return out


def load_session_state(session: Session, state: dict[str, Any]) -> None:
    """Put ``session`` back where ``session_state`` found it."""
    version = state.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint version {version!r} is not {CHECKPOINT_VERSION}: it was written by "
            "another autolr version; start the run again"
        )
    snapshots.restore(session.trainee, snapshots.from_state_dict(state["snapshot"]))
    session.ledger.load_state_dict(state["ledger"])
    session.history.load_state_dict(state["history"])
    session.controller.load_state_dict(state["controller"])
    s = state["session"]
    session.rescuer.load_state_dict(s)
    session.tracker.load_state_dict(s["tracker"])
    session.halted = s.get("halted")
    if session.guard is not None:
        if "guard" not in s:
            raise ValueError("the checkpoint has no sharpness guard state: its run had none")
        session.guard.load_state_dict(s["guard"])
    if session.meter is not None and "sharpness_meter" in s:  # older ones: a cold start
        session.meter.load_state_dict(s["sharpness_meter"])
    fields = dict(state["state"])
    fields["losses"] = np.asarray(fields["losses"], dtype=np.float64)
    fields["group_lrs"] = tuple(fields["group_lrs"])
    session.state = TrainingState(**fields)
    session._snapshot = None
    if session.merge is not None:
        if "merge" not in state:
            raise ValueError("checkpoint has no merge state: it was written by a run without merge")
        session.merge.load_state_dict(state["merge"])


# The RNG states in a snapshot: under DDP each rank's own (dropout, augmentation), so a
# checkpoint keeps them all and each rank takes its own back.
RNG_KEYS = ("torch_rng", "cuda_rng", "numpy_rng", "python_rng")


def save(session: Session, path: str | os.PathLike[str]) -> None:
    """Write ``session_state(session)`` to ``path`` atomically (a reader never sees half a
    file); ``torch.load(weights_only=True)`` reads it back.

    Under DDP, rank 0 writes it, with every rank's RNG states under ``"ranks"`` (gathered
    from all), and every rank returns once the file is in place.
    """
    state = session_state(session)
    ranks = None
    if ddp.active():
        ranks = ddp.gather({k: state["snapshot"][k] for k in RNG_KEYS})
    if ddp.rank() == 0:
        if ranks is not None:
            state["ranks"] = ranks
        check_plain(state)
        save_torch(state, path)
    ddp.barrier()


def load(session: Session, path: str | os.PathLike[str]) -> None:
    """Resume ``session`` from the checkpoint ``save`` wrote at ``path``; under DDP every
    rank reads it and takes back its own RNG states. A checkpoint of another number of
    ranks is refused: each rank's data shard and RNG depend on it."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    ranks = state.get("ranks")
    written = 1 if ranks is None else len(ranks)
    if written != ddp.world():
        raise ValueError(
            f"checkpoint {path} was written by {written} rank(s) and cannot be resumed by "
            f"{ddp.world()}: resume with the world size it was written with"
        )
    if ranks is not None:
        state["snapshot"] = {**state["snapshot"], **ranks[ddp.rank()]}
    load_session_state(session, state)


def _sharpness_state(session: Session) -> dict[str, Any]:
    """The sharpness guard's and meter's state (warm-start vectors, record), where present:
    a resumed run must start its power iterations where the uninterrupted one would."""
    out: dict[str, Any] = {}
    if session.guard is not None:
        out["guard"] = session.guard.state_dict()
    if session.meter is not None:
        out["sharpness_meter"] = session.meter.state_dict()
    return out

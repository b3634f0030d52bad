"""In-memory snapshots: model, optimizer, RNG states and the data cursor.

Batch ``i`` is a pure function of ``(seed, i)``, so the cursor is the whole data state and a
restore followed by training gives bit-identical losses on CPU.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autolr.loop.trainee import Trainee


@dataclass
class Snapshot:
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None
    numpy_rng: Any  # None: not copied (the trainee does not use the global RNGs)
    python_rng: Any
    cursor: int


def take(trainee: Trainee, cursor: int, global_rngs: bool | None = None) -> Snapshot:
    """Copy everything that training changes.

    numpy's and Python's global RNG states are copied when ``global_rngs`` is True, or by
    default when the trainee says it uses them (``Trainee.uses_global_rng``).
    """
    rngs = trainee.uses_global_rng if global_rngs is None else global_rngs
    return Snapshot(
        model={k: v.detach().clone() for k, v in trainee.model.state_dict().items()},
        optimizer=copy_state(trainee.optimizer.state_dict()),
        torch_rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        numpy_rng=np.random.get_state() if rngs else None,
        python_rng=random.getstate() if rngs else None,
        cursor=cursor,
    )


def copy_state(obj: Any) -> Any:
    """A deep copy of a state dict: tensors cloned, containers rebuilt, everything else (ints,
    floats, strings, tuples of them) shared, as it is immutable. Much cheaper than
    ``copy.deepcopy``, which a snapshot per segment would pay on every small model's run."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: copy_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [copy_state(v) for v in obj]
    if isinstance(obj, tuple) and any(isinstance(v, torch.Tensor | dict | list) for v in obj):
        return tuple(copy_state(v) for v in obj)
    return copy.deepcopy(obj) if not isinstance(obj, int | float | str | bool | tuple) else obj


def restore(trainee: Trainee, snap: Snapshot) -> None:
    """Put the trainee back exactly as it was when ``snap`` was taken."""
    trainee.model.load_state_dict(snap.model)
    # Optimizer.load_state_dict keeps tensors that already match (no copy), and the optimizer
    # then updates them in place: copy, so the snapshot stays reusable.
    trainee.optimizer.load_state_dict(copy_state(snap.optimizer))
    torch.set_rng_state(snap.torch_rng)
    if snap.cuda_rng is not None:
        torch.cuda.set_rng_state_all(snap.cuda_rng)
    if snap.numpy_rng is not None:
        np.random.set_state(snap.numpy_rng)
    if snap.python_rng is not None:
        random.setstate(snap.python_rng)


def to_state_dict(snap: Snapshot) -> dict[str, Any]:
    """Plain tensors and builtins only, so ``torch.load(weights_only=True)`` can read it."""
    state = dict(snap.__dict__)
    if snap.numpy_rng is None:
        return state
    name, keys, pos, has_gauss, cached = snap.numpy_rng
    state["numpy_rng"] = (
        name,
        torch.from_numpy(keys.astype(np.int64)),
        int(pos),
        int(has_gauss),
        float(cached),
    )
    return state


def from_state_dict(state: dict[str, Any]) -> Snapshot:
    state = dict(state)
    if state["numpy_rng"] is None:
        return Snapshot(**state)
    name, keys, pos, has_gauss, cached = state["numpy_rng"]
    state["numpy_rng"] = (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
    return Snapshot(**state)

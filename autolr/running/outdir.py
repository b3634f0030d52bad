"""A run's output folder: its default name, and what an existing folder allows.

``autolr run`` into a folder that holds a run continues it (``--resume``), replaces it
(``--overwrite``) or is refused before anything is written: a run is never overwritten by
accident, not even by another controller that shares the old default name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
# Every file a run writes; --overwrite removes exactly these (and their temporary files),
# never anything else the user keeps in the folder.
OUTPUTS = (CONFIG, CHECKPOINT, "metrics.csv", "summary.json", "lr.png", "loss.png")


class RunExistsError(ValueError):
    """``out`` already holds a run, and neither resume nor overwrite was asked for."""


def config_hash(resolved: Mapping[str, Any]) -> str:
    """8 hex digits of a hash of the resolved config (every key, defaults included), so two
    configs that differ in any value get different default folders."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def default_out(resolved: Mapping[str, Any]) -> Path:
    """``runs/<task>-<controller>-s<seed>-<hash>`` (an optimizer peer's name in place of the
    controller's when the config names one and no controller)."""
    controller = (resolved.get("controller") or resolved.get("optimizer") or {"name": "fixed"})[
        "name"
    ]
    name = f"{resolved['task']['name']}-{controller}-s{resolved['seed']}-{config_hash(resolved)}"
    return Path("runs") / name


def existing_outputs(out: Path) -> list[str]:
    return [name for name in OUTPUTS if (out / name).exists()]


def stale_temporaries(out: Path) -> list[Path]:
    """The temporary files ``atomic_path`` leaves when a process is killed mid-write
    (``.metrics.csv.x8k2.tmp``): only those of the run's own outputs."""
    if not out.is_dir():
        return []
    return sorted(p for name in OUTPUTS for p in out.glob(f".{name}.*.tmp") if p.is_file())


def check_out(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse (RunExistsError, before anything is written) to write a run into a folder
    that holds another one unless ``resume`` or ``overwrite`` says what to do with it."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue or replace?")
    if resume or overwrite:
        return
    found = existing_outputs(out)
    if found:
        raise RunExistsError(
            f"{out} already holds a run ({', '.join(found)}); pass --resume to continue it "
            "or --overwrite to replace it, or choose another --out"
        )


def clear_out(out: Path, *, overwrite: bool) -> None:
    """Remove stale temporary files (always) and, with ``overwrite``, the old run's outputs,
    so that no file of the old run survives into the new one."""
    doomed = stale_temporaries(out)
    if overwrite:
        doomed += [out / name for name in existing_outputs(out)]
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

"""Where a run's numbers came from: package versions, the autolr commit, the machine.

A run is reproducible bit for bit only on the same CPU model (its kernels), thread count
and package versions (see docs/benchmarks.md, *Reproducibility*), so every run records them
(``summary["provenance"]``, and the results store's ``cells.provenance``), and
``autolr report`` warns when one table mixes runs whose provenance differs.

The static part (versions, commit, machine) is gathered once per process; the thread
counts are read at each call, because a run sets its own (``torch.set_num_threads``).
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# Distribution names whose versions can change a run's numbers (or its data: mnist1d,
# numpy and scipy generate MNIST-1D; scikit-learn ships the digits) or its controllers.
PACKAGES = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "mnist1d": "mnist1d",
    "sklearn": "scikit-learn",
    "optuna": "optuna",
    "botorch": "botorch",
}

# The keys whose difference between two runs of one table the report warns about: what
# can change the numbers. Hostname, OS and Python are recorded but differ harmlessly.
COMPARED = (
    "autolr",
    "git_commit",
    "git_dirty",
    *PACKAGES,
    "cpu_model",
    "cpu_capability",
    "torch_threads",
)


def provenance() -> dict[str, Any]:
    """This process's provenance, as plain JSON values (a fresh dict each call)."""
    import torch

    out = dict(_static())
    out["torch_threads"] = torch.get_num_threads()
    # the BLAS/OpenMP pools that numpy and scipy use take their size from these at import
    out["thread_env"] = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        if k in os.environ
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["gpu"] = torch.cuda.get_device_name()
    return out


@functools.lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    import torch

    import autolr

    commit, dirty = git_state(Path(autolr.__file__).resolve().parent.parent)
    return {
        "autolr": autolr.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        **{name: package_version(name, dist) for name, dist in PACKAGES.items()},
        "cuda": torch.version.cuda,
        "cpu_model": cpu_model(),
        # the instruction set torch's CPU kernels dispatch to (AVX2, AVX512, ...): another
        # one sums in another order, so results differ in the last bits
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "os": platform.platform(),
    }


def package_version(module: str, dist: str) -> str | None:
    """The version of an imported module (``__version__``: what actually runs), else its
    installed distribution's (without importing it: botorch takes seconds), else None."""
    loaded = sys.modules.get(module)
    version = getattr(loaded, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout holding ``folder``; ``(None, None)`` when it is
    not in one (an installed wheel) or git is missing. Dirty: tracked files differ from the
    commit (untracked files, such as run outputs, do not count)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name: /proc/cpuinfo on Linux, else what ``platform`` knows."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


Run = tuple[str, str, Mapping[str, Any] | None]  # (group label, run id, provenance)


def differences(runs: Iterable[Run], keys: Iterable[str] = COMPARED) -> list[str]:
    """What differs among runs, one line per compared key with more than one value:
    ``torch: 2.13.0 (cosine [seed 0], wsd); 2.12.1 (cosine [seed 1])``, the most common
    value first; groups and runs in sorted order.

    ``runs`` are ``(group, run id, provenance)`` triples (in a report: a method and
    ``"seed 2"``). A group whose runs all share a value is named alone, else with the ids of
    its runs that have it. Runs without provenance (stored before it was recorded) get a
    line of their own and are left out of the comparison of keys."""
    runs = list(runs)
    sizes: dict[str, int] = {}
    for group, _, _ in runs:
        sizes[group] = sizes.get(group, 0) + 1
    lines = []
    unrecorded = [(g, i) for g, i, prov in runs if prov is None]
    if unrecorded and len(unrecorded) < len(runs):
        lines.append(f"provenance: not recorded ({_name(unrecorded, sizes)})")
    for key in keys:
        by_value: dict[str, list[tuple[str, str]]] = {}
        for group, run_id, prov in runs:
            if prov is not None:
                by_value.setdefault(_show(prov.get(key)), []).append((group, run_id))
        if len(by_value) > 1:  # the most common value first, then by value
            ordered = sorted(by_value.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            parts = [f"{value} ({_name(named, sizes)})" for value, named in ordered]
            lines.append(f"{key}: " + "; ".join(parts))
    return lines


def _name(runs: list[tuple[str, str]], sizes: Mapping[str, int], limit: int = 8) -> str:
    """``cosine, wsd [seed 2]``: a group whose every run is listed is named alone."""
    ids: dict[str, list[str]] = {}
    for group, run_id in sorted(runs):
        ids.setdefault(group, []).append(run_id)
    names = [g if len(i) == sizes[g] else f"{g} [{', '.join(i)}]" for g, i in ids.items()]
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _show(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a commit
    return str(value)

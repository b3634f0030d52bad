"""A fake installed distribution: a folder on ``sys.path`` holding ``NAME-VER.dist-info``
(``METADATA``, ``entry_points.txt``) and the modules its entry points name, as a
third-party package installed beside autolr would look to ``importlib.metadata``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def make_dist(
    root: Path,
    name: str,
    groups: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write the distribution ``name`` under ``root`` and return ``root`` (for sys.path)."""
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"  # as wheels escape it
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    for module, source in (modules or {}).items():
        (root / f"{module}.py").write_text(source)
    return root

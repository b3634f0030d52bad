"""Which kind of policy a file holds, read from the file's declared ``format``.

A meta policy is JSON and an RL policy is a torch (zip) file; both declare their kind in a
``format`` field. The file's content decides, never its name or extension, so a policy
renamed to any suffix still loads as what it is.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from agents import meta, rl

KINDS = {meta.FORMAT: "meta", rl.FORMAT: "rl"}


def declared_format(path: str | Path) -> Any:
    """The ``format`` field a policy file declares (None when it declares none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such policy file: {path}")
    if zipfile.is_zipfile(path):  # torch.save's format
        import torch

        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for a corrupt or unsafe file
            raise ValueError(f"policy {path} is not a readable torch file: {err}") from None
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"policy {path} is neither a torch nor a JSON file: {err}") from None
    return data.get("format") if isinstance(data, dict) else None


def policy_kind(policy: str | Path) -> str:
    """``"meta"`` or ``"rl"``: the controller a policy name or file is for (``"meta"`` names
    the shipped meta policy)."""
    if str(policy) == "meta":
        return "meta"
    fmt = declared_format(policy)
    if fmt not in KINDS:
        known = ", ".join(map(repr, KINDS))
        raise ValueError(f"policy {policy} declares format {fmt!r}; expected one of {known}")
    return KINDS[fmt]


def policy_spec(policy: str) -> dict[str, Any]:
    """The controller spec (``{name: meta|rl, policy: absolute path}``) of a policy name or
    file, checked by building the controller once, so a bad file fails here rather than in
    the first evaluation."""
    from autolr.controllers.base import build_controller

    kind = policy_kind(policy)
    path = meta.DEFAULT_POLICY if policy == "meta" else policy
    spec = {"name": kind, "policy": str(Path(path).resolve())}
    build_controller({**spec, "lr": 1.0})
    return spec

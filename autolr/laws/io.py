"""LAW.json: a versioned plain-JSON file of a law's form, parameters and fit diagnostics.

    {"format": "autolr-law", "version": 1, "form": "mpl", "formula": "...",
     "params": {"L0": ..., ...}, "fit": {"r2": ..., "runs": [...], ...}}

``params`` are in the LR's own units. Reading checks every field and names the one that is
wrong; ``fit`` is informational (any JSON object). Non-finite numbers in ``fit`` (an R² of
a flat curve) are written as null, so the file stays standard JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from autolr.laws.forms import FORMS
from autolr.laws.law import Law
from autolr.running.io import atomic_path

FORMAT = "autolr-law"
VERSION = 1


class LawFileError(ValueError):
    """A law file that cannot be read; the message names the file and the field."""


def law_to_dict(law: Law) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "form": law.form.name,
        "formula": law.form.formula,
        "params": dict(law.params),
        "fit": plain(law.fit),
    }


def save(law: Law, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(law_to_dict(law), indent=2, allow_nan=False) + "\n")


def load(path: str | Path) -> Law:
    """Read a LAW.json; LawFileError naming the field when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no law file at {path}")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise LawFileError(f"{path} is not a law file (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise LawFileError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    return law_from_dict(data, str(path))


def law_from_dict(data: Any, where: str = "law") -> Law:
    if not isinstance(data, dict):
        raise LawFileError(f"{where}: a law file holds a JSON object, got {type(data).__name__}")
    for key in ("format", "version", "form", "params"):
        if key not in data:
            raise LawFileError(f"{where}: field {key!r} is missing")
    if data["format"] != FORMAT:
        raise LawFileError(f"{where}: field 'format' is {data['format']!r}, expected {FORMAT!r}")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LawFileError(f"{where}: field 'version' must be an integer >= 1, got {version!r}")
    if version > VERSION:
        raise LawFileError(
            f"{where}: field 'version' is {version}; this autolr reads law files up to "
            f"version {VERSION} (upgrade autolr)"
        )
    if data["form"] not in FORMS:
        raise LawFileError(
            f"{where}: field 'form' is {data['form']!r}; known forms: {', '.join(FORMS.names())}"
        )
    fit = data.get("fit", {})
    if not isinstance(fit, dict):
        raise LawFileError(f"{where}: field 'fit' must be an object, got {fit!r}")
    try:
        return Law(data["form"], data["params"], fit)
    except ValueError as err:
        raise LawFileError(f"{where}: field {err}") from None


def plain(value: Any) -> Any:
    """``value`` as standard JSON values: numpy scalars as numbers, NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return value

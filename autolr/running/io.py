"""Small I/O primitives: atomic writes and YAML arguments (a path or inline text)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from autolr import yamlio


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    A reader never sees a half-written file, and a failure leaves the old file untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_yaml_arg(text: str) -> Any:
    """Parse a YAML file path, or else the text itself as inline YAML (``autolr.yamlio``:
    ``3e-4`` is a float)."""
    path = Path(text)
    if len(text) < 4096 and "\n" not in text and path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"no such YAML file: {text}")
        text = path.read_text()
    try:
        return yamlio.load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {err}") from None

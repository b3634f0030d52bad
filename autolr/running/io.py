"""Small I/O primitives: atomic writes and YAML arguments (a path or inline text)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import threading
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


def save_torch(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (``atomic_path``), as the same bytes for the
    same ``obj``: saved to a file name, torch names the zip archive's root folder after the
    temporary file (a random suffix); saved through a handle, always ``archive``."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit(143) while the block runs.

    By default SIGTERM ends the process at once, skipping every ``finally``, so a run
    stopped while it writes leaves ``atomic_path``'s temporary files behind. As an exception
    it unwinds like Ctrl-C: those files are removed. (SIGKILL cannot be caught; a later run
    into the folder removes what it left: ``autolr.running.outdir.clear_out``.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def load_plain(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``; a ValueError that says what ``path`` is and why
    it was refused (``what``: e.g. "checkpoint runs/x/checkpoint.pt").

    torch's own message advises retrying with ``weights_only=False``, which would run any code
    a tampered file holds: the message here never repeats that advice.
    """
    import torch

    if path.stat().st_size == 0:
        raise ValueError(f"{what} is an empty file (a write that never finished?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or unsafe file
        raise ValueError(f"{what} was refused: {_load_failure(path, err)}") from None


def _load_failure(path: Path, err: BaseException) -> str:
    text = str(err)
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if unsafe:
        return (
            f"it holds a pickled {unsafe.group(1)} object, and only plain Python values and "
            "tensors are read (loading must run no code from the file)"
        )
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive (since torch 1.6)
            return "it is not a torch file (torch.save writes a zip archive; this is none)"
    if "WeightsUnpickler" in text or "Weights only load failed" in text:
        return "it is a torch file of other objects than plain values and tensors"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"it is a truncated or damaged torch file ({first[:120]})"


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

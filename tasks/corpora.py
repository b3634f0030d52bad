"""Byte corpora for the language-model tasks, as ``(train, val)`` uint8 arrays.

- The CPython standard library's own ``.py`` sources, found under
  ``sysconfig.get_paths()["stdlib"]`` (tests, ``site-packages``, build configuration and
  the machine-specific ``_sysconfigdata*`` excluded). Files are ordered by a hash of
  ``(data_seed, relative path)`` and taken (each cut to its first 50,000 bytes) until
  ``corpus_bytes`` is reached; every 10th file in that order is held out for validation,
  so the split is by file. If no sources are found (e.g. a zipped stdlib), the text of
  ``pydoc_data.topics`` is used, split 90/10.
- Any UTF-8 text file: the first 90% for training, the last 10% for validation.

The stdlib corpus depends on the Python version: compare numbers only within one version.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import sysconfig
from pathlib import Path

import numpy as np

EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
VAL_EVERY_FILE = 10
FILE_BYTES = 50_000  # a few huge files (e.g. _pydecimal.py) would otherwise dominate
TEXT_VAL_FRACTION = 0.1


def stdlib_sources(root: Path) -> list[Path]:
    """The standard library's ``.py`` files under ``root``, sorted, exclusions applied."""
    files = []
    for folder, dirs, names in os.walk(root):
        # prune in place so that os.walk never descends into site-packages or tests
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("config-")]
        files += [
            Path(folder, n)
            for n in names
            if n.endswith(".py") and not n.startswith("_sysconfigdata")
        ]
    return sorted(files)


@functools.lru_cache(maxsize=4)
def stdlib_corpus(data_seed: int, corpus_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` uint8 byte arrays of the standard library corpus."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = stdlib_sources(root) if root.is_dir() else []
    if not files:
        import pydoc_data.topics

        topics = pydoc_data.topics.topics
        text = "\n".join(topics[k] for k in sorted(topics)).encode("utf-8")
        cut = int(len(text) * (1 - TEXT_VAL_FRACTION))
        return np.frombuffer(text[:cut], np.uint8), np.frombuffer(text[cut:], np.uint8)

    def key(path: Path) -> str:
        return hashlib.sha256(f"{data_seed}:{path.relative_to(root)}".encode()).hexdigest()

    train: list[bytes] = []
    val: list[bytes] = []
    total = 0
    for k, path in enumerate(sorted(files, key=key)):
        if total >= corpus_bytes:
            break
        data = path.read_bytes()[:FILE_BYTES]
        total += len(data)
        (val if k % VAL_EVERY_FILE == VAL_EVERY_FILE - 1 else train).append(data)
    return np.frombuffer(b"".join(train), np.uint8), np.frombuffer(b"".join(val), np.uint8)


def text_corpus(path: Path, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` uint8 byte arrays of a UTF-8 text file: first 90%, last 10%."""
    if not path.is_file():
        raise FileNotFoundError(f"text-lm: path {str(path)!r} is not a readable file")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"text-lm: {str(path)!r} is not UTF-8 text ({err})") from None
    needed = math.ceil((seq_len + 1) / TEXT_VAL_FRACTION)
    if len(data) < needed:
        raise ValueError(
            f"text-lm: {str(path)!r} has {len(data)} bytes, too small for seq_len={seq_len}: "
            f"need at least {needed} (10% of it, the validation part, must hold seq_len + 1)"
        )
    cut = int(len(data) * (1 - TEXT_VAL_FRACTION))
    return np.frombuffer(data[:cut], np.uint8), np.frombuffer(data[cut:], np.uint8)

"""Byte corpora for the language-model tasks, as train / val / test uint8 byte streams.

- The CPython standard library's own ``.py`` sources, found under
  ``sysconfig.get_paths()["stdlib"]`` (tests, ``site-packages``, build configuration and
  the machine-specific ``_sysconfigdata*`` excluded). Files are ordered by a hash of
  ``(data_seed, relative path)`` and taken (each cut to its first 50,000 bytes) until
  ``corpus_bytes`` is reached; in that order, file k with k % 10 == 9 is held out for
  validation (the same files as before the test split existed) and k % 10 == 8 for test,
  so the split is by file (no file straddles two parts): 80% / 10% / 10% of the files. If
  no sources are found (e.g. a zipped stdlib), the text of ``pydoc_data.topics`` is used,
  split as a text file.
- The documentation topics that ship with the standard library (``pydoc_data.topics``:
  the language reference's sections as the plain text ``help()`` shows), cut into
  passages of whole paragraphs and split by passage in a seeded order, by the same rule
  as the files.
- Any UTF-8 text file, by contiguous parts: the first 80% for training, the next 10% for
  validation, the last 10% for test (each held-out part ``len // 10`` bytes).

The stdlib corpora depend on the Python version: compare numbers only within one version.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from tasks.splits import PARTS, Splits

EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
VAL_EVERY_FILE = 10  # of every 10 files (in the seeded order): the 10th validates ...
TEST_FILE_OF_10 = 8  # ... and the 9th (k % 10 == 8) is the test set
FILE_BYTES = 50_000  # a few huge files (e.g. _pydecimal.py) would otherwise dominate
TEXT_HELD_OUT = 10  # a text's validation and test parts are each len // 10 bytes
PASSAGE_CHARS = 4000  # the docs topics' passages: a few topics are 40-60 KB


def contiguous(data: bytes) -> Splits:
    """A byte string cut into train (the first 80%), val (10%) and test (the last 10%)."""
    held = len(data) // TEXT_HELD_OUT
    a, b = len(data) - 2 * held, len(data) - held
    train, val, test = (
        (np.frombuffer(part, np.uint8),) for part in (data[:a], data[a:b], data[b:])
    )
    return Splits(train, val, test)


def stdlib_sources(root: Path, packages: tuple[str, ...] = ()) -> list[Path]:
    """The standard library's ``.py`` files under ``root``, sorted, exclusions applied
    (and the top-level ``packages`` named, with all they hold)."""
    files = []
    for folder, dirs, names in os.walk(root):
        # prune in place so that os.walk never descends into site-packages or tests
        dirs[:] = [
            d
            for d in dirs
            if d not in EXCLUDED_DIRS
            and not d.startswith("config-")
            and not (d in packages and Path(folder) == root)
        ]
        files += [
            Path(folder, n)
            for n in names
            if n.endswith(".py") and not n.startswith("_sysconfigdata")
        ]
    return sorted(files)


def held_out_part(k: int) -> str:
    """The part of document ``k`` in a seeded order: "val" if k % 10 == 9, "test" if
    k % 10 == 8, else "train"."""
    which = {VAL_EVERY_FILE - 1: "val", TEST_FILE_OF_10: "test"}.get(k % VAL_EVERY_FILE)
    return which or "train"


def by_document(documents: Iterable[bytes]) -> Splits:
    """Documents, already in their seeded order, split by ``held_out_part`` and each part
    concatenated: no document straddles two parts."""
    parts: dict[str, list[bytes]] = {"train": [], "val": [], "test": []}
    for k, data in enumerate(documents):
        parts[held_out_part(k)].append(data)
    train, val, test = ((np.frombuffer(b"".join(parts[p]), np.uint8),) for p in PARTS)
    return Splits(train, val, test)


def seeded_order(names: Iterable[str], data_seed: int) -> list[str]:
    """``names`` ordered by the SHA-256 of ``f"{data_seed}:{name}"``."""
    return sorted(names, key=lambda n: hashlib.sha256(f"{data_seed}:{n}".encode()).hexdigest())


@functools.lru_cache(maxsize=4)
def stdlib_corpus(data_seed: int, corpus_bytes: int, packages: tuple[str, ...] = ()) -> Splits:
    """The train / val / test byte streams (``(tokens,)`` each) of the stdlib corpus,
    without the top-level ``packages`` named (continual-lm leaves out ``pydoc_data``, whose
    ``topics.py`` is the docs corpus). With no sources found, the ``pydoc_data`` text,
    split as a text file (continual-lm refuses that: see ``has_stdlib_sources``)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = stdlib_sources(root, packages) if root.is_dir() else []
    if not files:
        import pydoc_data.topics

        topics = pydoc_data.topics.topics
        return contiguous("\n".join(topics[k] for k in sorted(topics)).encode("utf-8"))
    relative = {str(path.relative_to(root)): path for path in files}

    def documents() -> Iterator[bytes]:
        total = 0
        for name in seeded_order(relative, data_seed):
            if total >= corpus_bytes:
                return
            data = relative[name].read_bytes()[:FILE_BYTES]
            total += len(data)
            yield data

    return by_document(documents())


def has_stdlib_sources() -> bool:
    """Whether the running Python's standard library ships its ``.py`` sources."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return root.is_dir() and bool(stdlib_sources(root))


def passages(text: str, limit: int = PASSAGE_CHARS) -> list[str]:
    """``text`` cut after blank lines into passages of whole paragraphs, each up to
    ``limit`` characters (a longer paragraph is a passage alone); they join back into
    ``text`` exactly."""
    out: list[str] = []
    for paragraph in re.split(r"(?<=\n\n)", text):
        if out and len(out[-1]) + len(paragraph) <= limit:
            out[-1] += paragraph
        else:
            out.append(paragraph)
    return [p for p in out if p]


@functools.lru_cache(maxsize=4)
def stdlib_docs_corpus(data_seed: int) -> Splits:
    """The text of the documentation topics that ``help()`` shows (the stdlib's
    ``pydoc_data.topics``: the language reference's sections as plain text), cut into
    passages (``passages``: whole paragraphs, up to 4,000 characters; passage j of topic t
    is named ``t#j``), ordered by a hash of ``(data_seed, name)`` and split by passage:
    passage k validates if k % 10 == 9 and tests if k % 10 == 8 (``held_out_part``). By
    passage, not by topic: a few topics are an eighth of the text each, so a split by
    topic would leave one part several times another."""
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    named = {f"{t}#{j}": p for t in topics for j, p in enumerate(passages(topics[t]))}
    return by_document(named[n].encode("utf-8") for n in seeded_order(named, data_seed))


def text_corpus(path: Path, seq_len: int, task: str = "text-lm") -> Splits:
    """The train / val / test byte streams of a UTF-8 text file: 80% / 10% / 10%.
    ``task`` names the task in error messages."""
    if not path.is_file():
        raise FileNotFoundError(f"{task}: path {str(path)!r} is not a readable file")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{task}: {str(path)!r} is not UTF-8 text ({err})") from None
    needed = TEXT_HELD_OUT * (seq_len + 1)
    if len(data) < needed:
        raise ValueError(
            f"{task}: {str(path)!r} has {len(data)} bytes, too small for seq_len={seq_len}: "
            f"need at least {needed} (10% of it, the validation part and the test part, "
            "must each hold seq_len + 1)"
        )
    return contiguous(data)

"""Train / validation / test splits of a task's data, and the data's checksum.

Every task with data holds three disjoint parts: training (batches), validation (what
evaluations during training, tuning, targets and controllers see) and test (evaluated once,
at the end of a run, for the report). ``carve`` cuts index sets from a permutation drawn
from ``data_seed`` alone, so every run seed of a task sees one split.

``Splits.checksum()`` is a SHA-256 over the three parts in a canonical byte form: for each
part in the order train, val, test and each of its arrays in order, the part's name, the
array's dtype (little-endian), its shape and then its bytes (C order, little-endian). A
moved boundary, a reordered row or a changed value changes it; tests pin it per task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from autolr.loop.trainee import SplitSizes

PARTS = ("train", "val", "test")


def carve(n: int, n_val: int, n_test: int, data_seed: int) -> tuple[np.ndarray, ...]:
    """``(train, val, test)`` row indices: a permutation of ``range(n)`` from ``data_seed``,
    cut into ``n_val`` validation rows, then ``n_test`` test rows, then the rest (training).

    Each index set is sorted, so a split keeps the data's own order within each part.
    """
    if not 0 <= n_val + n_test < n:
        raise ValueError(f"cannot carve {n_val} + {n_test} held-out rows from {n} rows")
    order = np.random.default_rng(data_seed).permutation(n)
    val, test, train = np.split(order, [n_val, n_val + n_test])
    return np.sort(train), np.sort(val), np.sort(test)


def sha256_arrays(named: Iterable[tuple[str, np.ndarray]]) -> str:
    """SHA-256 (hex) over ``(name, array)`` pairs in order: each name, the array's dtype
    (little-endian), its shape, then its bytes (C order, little-endian)."""
    digest = hashlib.sha256()
    for name, array in named:
        a = np.ascontiguousarray(array)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Splits:
    """Three parts of a data set, each a tuple of equally long arrays (e.g. ``(x, y)`` or a
    byte stream ``(tokens,)``)."""

    train: tuple[np.ndarray, ...]
    val: tuple[np.ndarray, ...]
    test: tuple[np.ndarray, ...]

    @classmethod
    def by_index(cls, arrays: tuple[np.ndarray, ...], idx: tuple[np.ndarray, ...]) -> Splits:
        """The parts of ``arrays`` at ``idx = (train, val, test)`` row indices (see carve)."""
        train, val, test = (tuple(a[i] for a in arrays) for i in idx)
        return cls(train, val, test)

    @classmethod
    def with_test_files(
        cls,
        train: tuple[np.ndarray, ...],
        test: tuple[np.ndarray, ...],
        val_fraction: float,
        data_seed: int,
    ) -> Splits:
        """A data set that ships its own test files: validation is ``val_fraction`` of the
        training rows, drawn from ``data_seed``; the test files are the test part."""
        n = len(train[0])
        idx_train, idx_val, _ = carve(n, round(val_fraction * n), 0, data_seed)
        return cls(
            tuple(a[idx_train] for a in train), tuple(a[idx_val] for a in train), tuple(test)
        )

    def checksum(self) -> str:
        """SHA-256 (hex) of the three parts in the canonical byte form (module docstring)."""
        return sha256_arrays((name, a) for name in PARTS for a in getattr(self, name))

    def sizes(self, unit: str = "examples") -> SplitSizes:
        """The row counts of validation and test (the first array of each part)."""
        return SplitSizes(val=len(self.val[0]), test=len(self.test[0]), unit=unit)

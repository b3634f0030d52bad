"""Tiny data files in the real on-disk formats (CIFAR-10 pickles, IDX, UTF-8 text).

Each class is learnable, even after random crops: a class-``c`` image has brightness ~ ``22 c``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

CLASSES = 10


def images(n: int, side: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, channels, side, side) with class-dependent brightness, and labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    noise = rng.integers(0, 30, (n, channels, side, side))
    x = (noise + 22 * labels[:, None, None, None]).astype(np.uint8)
    return x, labels.astype(np.int64)


def write_cifar(folder: Path, per_batch: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 python batches with ``per_batch`` 32x32 images each; returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        x, y = images(per_batch, 32, 3, seed=k)
        batch = {b"data": x.reshape(per_batch, -1), b"labels": [int(v) for v in y]}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f)
        written[name] = (x, y)
    return written


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` in IDX format (uint8 or big-endian int32 data)."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_val": "t10k-images-idx3-ubyte",
    "y_val": "t10k-labels-idx1-ubyte",
}


def write_idx(
    folder: Path, n_train: int = 64, n_val: int = 20, side: int = 12, gz: bool = False
) -> dict[str, np.ndarray]:
    """The four MNIST IDX files (gzipped if ``gz``); returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = images(n_train, side, 1, seed=0)
    x_val, y_val = images(n_val, side, 1, seed=1)
    arrays = {
        "x_train": x_train[:, 0],
        "y_train": y_train.astype(np.uint8),
        "x_val": x_val[:, 0],
        "y_val": y_val.astype(np.uint8),
    }
    for key, name in IDX_NAMES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


TEXT = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n"
    "How vexingly quick daft zebras jump! Sphinx of black quartz, judge my vow.\n"
)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``cifar/``, ``idx/`` (raw), ``idx_gz/`` and ``text.txt``."""
    root = tmp_path_factory.mktemp("task-data")
    write_cifar(root / "cifar")
    write_idx(root / "idx")
    write_idx(root / "idx_gz", gz=True)
    (root / "text.txt").write_text(TEXT * 40 + "Ünïcödé ✓\n", encoding="utf-8")
    return root

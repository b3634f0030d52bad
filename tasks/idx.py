"""idx-cnn: a small CNN on MNIST or Fashion-MNIST read from IDX files in a local folder.

Data: the four standard files in ``path``, each raw or gzipped (``.gz``)::

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

IDX format: a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
then each dimension as a big-endian uint32, then the data in row-major, big-endian order.
Nothing is downloaded. Splits: the t10k files are the test set; 1/12 of the training
images (5,000 of MNIST's 60,000, drawn from ``data_seed``) are held out for validation, the
usual 55,000 / 5,000 cut. Images stay uint8 on the device; the model standardizes them with
the training set's mean and std. Metric: accuracy (higher is better). ``target`` is a
parameter since it depends on the data set: the default suits MNIST; Fashion-MNIST reaches
about 0.90.
"""

from __future__ import annotations

import functools
import gzip
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from autolr.checks import check_int, check_path, check_positive
from autolr.loop.trainee import TaskInfo
from tasks.base import SupervisedTrainee, build_supervised, classifier_info
from tasks.describe import describes
from tasks.models import Standardize, conv_net, pixel_stats
from tasks.splits import Splits

# IDX type code -> big-endian numpy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_val": "t10k-images-idx3-ubyte",
    "y_val": "t10k-labels-idx1-ubyte",
}
VAL_FRACTION = 1 / 12  # of the training files: 5,000 of MNIST's 60,000


def read_idx(file: Path) -> np.ndarray:
    """The array in an IDX file (gzipped if its name ends in ``.gz``), in native byte order."""
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as f:
                raw = f.read()
        else:
            raw = file.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"idx-cnn: missing IDX file {str(file)!r}") from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"idx-cnn: cannot read {str(file)!r} ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(
            f"idx-cnn: {str(file)!r} is not an IDX file: bad magic number 0x{raw[:4].hex()}"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"idx-cnn: {str(file)!r} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"idx-cnn: {str(file)!r} has {len(raw) - header} data bytes, "
            f"expected {expected} for shape {shape} of {dtype}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"idx-cnn: no {name} or {name}.gz in {str(root)!r}")


@functools.lru_cache(maxsize=2)
def load(folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)``: uint8 images (N, 1, H, W), int64 labels."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"idx-cnn: path {folder!r} is not a folder")
    files = {key: _find(root, name) for key, name in FILES.items()}
    arrays = {key: read_idx(file) for key, file in files.items()}
    for split in ("train", "val"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        xf, yf = str(files[f"x_{split}"]), str(files[f"y_{split}"])
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(f"idx-cnn: {xf!r} must hold uint8 images (N, H, W), got {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"idx-cnn: {yf!r} must hold {len(x)} labels, got shape {y.shape}")
        if len(y) and not 0 <= y.min() <= y.max() < 10:
            raise ValueError(f"idx-cnn: {yf!r} has labels outside 0..9")
    if arrays["x_train"].shape[1:] != arrays["x_val"].shape[1:]:
        raise ValueError("idx-cnn: training and t10k images differ in size")
    return (
        arrays["x_train"][:, None],
        arrays["y_train"].astype(np.int64),
        arrays["x_val"][:, None],
        arrays["y_val"].astype(np.int64),
    )


@functools.lru_cache(maxsize=2)
def splits(folder: str, data_seed: int) -> Splits:
    """The splits: validation carved from the training files, the t10k files as test."""
    x_train, y_train, x_test, y_test = load(folder)
    return Splits.with_test_files((x_train, y_train), (x_test, y_test), VAL_FRACTION, data_seed)


def _info(*, path: str | Path | None, target: float, data_seed: int, **params: Any) -> TaskInfo:
    check_path("path", path)
    check_int("data_seed", data_seed, 0)
    target = check_positive("target", target)
    return classifier_info("idx-cnn", budget=3000, eval_every=500, target=target, **params)


@describes("idx-cnn", _info)
def make(
    seed: int,
    device: str = "cpu",
    *,
    path: str | Path | None = None,
    width: int = 32,
    depth: int = 3,
    batch_size: int = 128,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
    target: float = 0.985,
    data_seed: int = 0,
) -> SupervisedTrainee:
    """A ``depth``-layer CNN of ``width`` channels (28 -> 28 -> 14 -> 7 for MNIST)."""
    info = _info(
        path=path,
        width=width,
        depth=depth,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        target=target,
        data_seed=data_seed,
    )
    data = splits(str(check_path("path", path).resolve()), data_seed)
    mean, std = pixel_stats(data.train[0])
    shape = data.train[0].shape[2:]
    return build_supervised(
        info,
        lambda: nn.Sequential(
            Standardize(mean, std), conv_net(1, shape, width, depth, 10, first_stride=1)
        ),
        data,
        seed,
        device,
        optimizer,
        weight_decay,
    )

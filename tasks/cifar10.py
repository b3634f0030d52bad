"""cifar10-resnet: a CIFAR ResNet (He et al., 2016) on CIFAR-10 read from a local folder.

Data: the "python version" of CIFAR-10 at ``path`` (or at ``path/cifar-10-batches-py``):
pickled dicts ``data_batch_1`` .. ``data_batch_5`` (training) and ``test_batch`` (the
test set), each with ``b"data"``, uint8 of shape (N, 3072) in channel-major order, and
``b"labels"``, N ints in 0..9. Nothing is downloaded. The files are pickles, so load only a
copy you trust. Images stay uint8 on the device; the model standardizes them with the
training set's per-channel mean and std. Splits: the 10,000 images of ``test_batch`` are
the test set, as in the literature; 5,000 of the 50,000 training images (10%, drawn from
``data_seed``) are held out for validation, as He et al. (2016) did; 45,000 train.

Augmentation: zero-pad 4 pixels, random 32x32 crop and random horizontal flip, drawn from
``np.random.default_rng([seed, i, 1])`` for batch ``i``. Metric: accuracy (higher is
better). A GPU-sized task: the default budget is about 38 epochs.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autolr.checks import check_int, check_path
from autolr.loop.trainee import TaskInfo
from tasks.base import SupervisedTrainee, build_supervised, classifier_info
from tasks.describe import describes
from tasks.models import Standardize, pixel_stats
from tasks.splits import Splits

TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILE = "test_batch"
VAL_FRACTION = 0.1  # of the training batches: 5,000 of 50,000
PAD = 4
SIDE = 32


def read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    if not file.is_file():
        raise FileNotFoundError(f"cifar10-resnet: missing CIFAR-10 batch file {str(file)!r}")
    try:
        with file.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as err:
        raise ValueError(f"cifar10-resnet: cannot unpickle {str(file)!r} ({err!r})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"cifar10-resnet: {str(file)!r} is not a dict with b'data', b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
        raise ValueError(
            f"cifar10-resnet: {str(file)!r}: b'data' must be uint8 of shape (N, 3072), "
            f"got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),) or (len(labels) and not 0 <= labels.min() <= labels.max() < 10):
        raise ValueError(f"cifar10-resnet: {str(file)!r}: b'labels' must be N ints in 0..9")
    return data.reshape(-1, 3, SIDE, SIDE), labels


@functools.lru_cache(maxsize=2)
def load(folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from a CIFAR-10 folder."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"cifar10-resnet: path {folder!r} is not a folder")
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    train = [read_batch(root / name) for name in TRAIN_FILES]
    x_test, y_test = read_batch(root / TEST_FILE)
    return (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        x_test,
        y_test,
    )


@functools.lru_cache(maxsize=2)
def splits(folder: str, data_seed: int) -> Splits:
    """The splits: validation carved from the training batches, ``test_batch`` as test."""
    x_train, y_train, x_test, y_test = load(folder)
    return Splits.with_test_files((x_train, y_train), (x_test, y_test), VAL_FRACTION, data_seed)


def crop_flip(x: torch.Tensor, seed: int, i: int) -> torch.Tensor:
    """Pad-4 random crop and random horizontal flip of images (B, C, H, W), from (seed, i)."""
    rng = np.random.default_rng([seed, i, 1])
    b, c, h, w = x.shape
    dy, dx = (torch.from_numpy(v).to(x.device) for v in rng.integers(0, 2 * PAD + 1, (2, b)))
    flip = torch.from_numpy(rng.random(b) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)
    cols = dx[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    padded = F.pad(x, (PAD, PAD, PAD, PAD))
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual; a 1x1 conv-BN shortcut when the shape changes."""

    def __init__(self, fan_in: int, fan_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(fan_in, fan_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(fan_out)
        self.conv2 = nn.Conv2d(fan_out, fan_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(fan_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or fan_in != fan_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(fan_in, fan_out, 1, stride=stride, bias=False), nn.BatchNorm2d(fan_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet(width: int, depth: int, mean: list[float], std: list[float]) -> nn.Sequential:
    """CIFAR ResNet-(6·depth+2): three stages of ``depth`` blocks, widths w, 2w, 4w.

    ``width=16, depth=3`` is ResNet-20; ``depth=1`` is ResNet-8.
    """
    layers: list[nn.Module] = [
        Standardize(mean, std),
        nn.Conv2d(3, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    fan_in = width
    for stage in range(3):
        fan_out = width * 2**stage
        for k in range(depth):
            layers.append(BasicBlock(fan_in, fan_out, stride=2 if stage and not k else 1))
            fan_in = fan_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(fan_in, 10)]
    return nn.Sequential(*layers)


def _info(*, path: str | Path | None, augment: bool, data_seed: int, **params: Any) -> TaskInfo:
    check_path("path", path)
    check_int("data_seed", data_seed, 0)
    if not isinstance(augment, bool):
        raise ValueError(f"augment must be a bool, got {augment!r}")
    return classifier_info("cifar10-resnet", budget=15_000, eval_every=1000, target=0.90, **params)


@describes("cifar10-resnet", _info)
def make(
    seed: int,
    device: str = "cpu",
    *,
    path: str | Path | None = None,
    width: int = 16,
    depth: int = 3,
    batch_size: int = 128,
    lr: float = 0.1,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    augment: bool = True,
    data_seed: int = 0,
) -> SupervisedTrainee:
    """ResNet-(6·depth+2) of base width ``width`` on the CIFAR-10 folder at ``path``."""
    info = _info(
        path=path,
        width=width,
        depth=depth,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        augment=augment,
        data_seed=data_seed,
    )
    data = splits(str(check_path("path", path).resolve()), data_seed)
    mean, std = pixel_stats(data.train[0])
    return build_supervised(
        info,
        lambda: resnet(width, depth, mean, std),
        data,
        seed,
        device,
        optimizer,
        weight_decay,
        augment=crop_flip if augment else None,
        eval_batch=500,
    )

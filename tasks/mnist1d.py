"""mnist1d-mlp and mnist1d-cnn: classifiers on MNIST-1D (Greydanus, 2020).

Data: generated locally by the ``mnist1d`` package (``make_dataset`` with its default
arguments but 6,000 samples instead of 5,000, and ``seed = data_seed``): 4,000 training,
1,000 validation and 1,000 test signals of length 40, ten classes. The package cuts its
samples in order (``train_split``); the first 4,000 train, the next 1,000 validate and the
last 1,000 are the test set, so training and validation keep the reference sizes. (The
samples themselves differ from the 5,000-sample data set: generation runs class by class
and the data are standardised over all samples.) Nothing is downloaded
(``mnist1d.data.get_dataset`` would, so it is never called). Generation takes a few
seconds, so the arrays are cached per ``data_seed``. Metric: accuracy (higher is better).
The package's reference models reach about 68% (MLP) and 94% (CNN).
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch
from torch import nn

from tasks.base import SupervisedTrainee, build_supervised, vision_info
from tasks.describe import describes
from tasks.models import conv_net, mlp
from tasks.splits import Splits

LENGTH = 40
# (train, val, test) sample counts: make_dataset's default 4,000 + 1,000, plus 1,000 for test
SIZES = (4000, 1000, 1000)


@functools.lru_cache(maxsize=4)
def load(data_seed: int) -> Splits:
    """The splits of ``(x, y)``: float32 signals (N, 40) and int64 labels."""
    from mnist1d.data import get_dataset_args, make_dataset

    n_train, n_val, n_test = SIZES
    total = n_train + n_val + n_test
    args = get_dataset_args(as_dict=False)
    args.seed = data_seed
    args.num_samples = total
    args.train_split = n_train / total  # make_dataset cuts at int(total * train_split)
    # make_dataset seeds the global `random` and `np.random`; keep the caller's streams.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    if len(data["y"]) != n_train or len(y) != total:
        raise RuntimeError(f"mnist1d made {len(data['y'])} + {len(data['y_test'])} samples")
    # make_dataset has already shuffled the samples (from data_seed): cut them in order
    train, val, test = np.split(np.arange(total), [n_train, n_train + n_val])
    return Splits.by_index((x, y), (train, val, test))


_mlp_info = vision_info("mnist1d-mlp", budget=3000, eval_every=250, target=0.66)
_cnn_info = vision_info("mnist1d-cnn", budget=3000, eval_every=250, target=0.92)


@describes("mnist1d-mlp", _mlp_info)
def make_mlp(
    seed: int,
    device: str = "cpu",
    *,
    width: int = 100,
    depth: int = 2,
    batch_size: int = 100,
    data_seed: int = 0,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
) -> SupervisedTrainee:
    """An MLP with ``depth`` hidden ReLU layers of ``width`` units (the reference is 2 x 100)."""
    info = _mlp_info(
        width=width,
        depth=depth,
        batch_size=batch_size,
        data_seed=data_seed,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
    )
    return build_supervised(
        info,
        lambda: mlp(LENGTH, width, depth, 10),
        load(data_seed),
        seed,
        device,
        optimizer,
        weight_decay,
    )


class _Channel(nn.Module):
    """(N, L) signals -> (N, 1, L) for Conv1d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


@describes("mnist1d-cnn", _cnn_info)
def make_cnn(
    seed: int,
    device: str = "cpu",
    *,
    width: int = 32,
    depth: int = 3,
    batch_size: int = 100,
    data_seed: int = 0,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
) -> SupervisedTrainee:
    """``depth`` stride-2 Conv1d layers of ``width`` channels (40 -> 20 -> 10 -> 5), linear."""
    info = _cnn_info(
        width=width,
        depth=depth,
        batch_size=batch_size,
        data_seed=data_seed,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
    )
    return build_supervised(
        info,
        lambda: nn.Sequential(_Channel(), conv_net(1, (LENGTH,), width, depth, 10)),
        load(data_seed),
        seed,
        device,
        optimizer,
        weight_decay,
    )

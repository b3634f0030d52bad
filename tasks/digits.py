"""digits-cnn: a small CNN on scikit-learn's 8x8 handwritten digits.

Data: ``sklearn.datasets.load_digits`` (1,797 images of 8x8 pixels with values 0..16, ten
classes), which ships inside scikit-learn, so nothing is downloaded. Pixels are scaled to
[0, 1]. ``data_seed`` fixes the split, drawn from one permutation: 359 images (20%) for
validation, the next 359 (20%) for test and the remaining 1,079 for training. The
validation images are the ones the task used before it had a test split; the test set is
as large because, at one image per 0.28% of accuracy, a smaller one would be noise.
Metric: accuracy (higher is better).
"""

from __future__ import annotations

import functools

import numpy as np

from tasks.base import SupervisedTrainee, build_supervised, vision_info
from tasks.describe import describes
from tasks.models import conv_net
from tasks.splits import Splits, carve

VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=4)
def load(data_seed: int) -> Splits:
    """The splits of ``(x, y)``: float32 images (N, 1, 8, 8) in [0, 1], int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    n_val, n_test = round(VAL_FRACTION * len(y)), round(TEST_FRACTION * len(y))
    return Splits.by_index((x, y), carve(len(y), n_val, n_test, data_seed))


_info = vision_info("digits-cnn", budget=1500, eval_every=100, target=0.97)


@describes("digits-cnn", _info)
def make(
    seed: int,
    device: str = "cpu",
    *,
    width: int = 32,
    depth: int = 3,
    batch_size: int = 64,
    data_seed: int = 0,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
) -> SupervisedTrainee:
    """A ``depth``-layer CNN of ``width`` channels on the 8x8 digits.

    The first convolution keeps 8x8; each further one halves the side (8 -> 4 -> 2).
    """
    info = _info(
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
        lambda: conv_net(1, (8, 8), width, depth, 10, first_stride=1),
        load(data_seed),
        seed,
        device,
        optimizer,
        weight_decay,
    )

"""Small classifiers shared by the vision tasks: an MLP, a plain CNN and an input scaler."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class Standardize(nn.Module):
    """``(x / scale - mean) / std`` per channel (dim 1): lets uint8 data stay uint8 on device."""

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], scale: float = 255.0, spatial: int = 2
    ) -> None:
        super().__init__()
        shape = (1, len(mean)) + (1,) * spatial
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / self.scale - self.mean) / self.std


def mlp(inputs: int, width: int, depth: int, classes: int) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` ReLU units, then a linear read-out."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = inputs
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, classes))
    return nn.Sequential(*layers)


def conv_net(
    channels: int,
    shape: tuple[int, ...],
    width: int,
    depth: int,
    classes: int,
    first_stride: int = 2,
) -> nn.Sequential:
    """``depth`` 3-wide convolutions of ``width`` channels with ReLU, flatten, linear.

    ``shape`` is the input's spatial shape: ``(length,)`` for 1-D signals or ``(height,
    width)`` for images. The first convolution has stride ``first_stride``, the rest stride
    2; with padding 1, a stride-2 layer maps a side ``n`` to ``ceil(n / 2)``.
    """
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[len(shape)]
    layers: list[nn.Module] = []
    fan_in = channels
    for k in range(depth):
        stride = first_stride if k == 0 else 2
        layers += [conv(fan_in, width, 3, stride=stride, padding=1), nn.ReLU()]
        fan_in = width
        shape = tuple((n - 1) // stride + 1 for n in shape)
    layers += [nn.Flatten(), nn.Linear(width * math.prod(shape), classes)]
    return nn.Sequential(*layers)


def pixel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 ``images`` (N, C, ...) scaled to [0, 1].

    Computed from a histogram of the 256 byte values, so no float copy of the data is made.
    """
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].ravel(), minlength=256).astype(np.float64)
        values = np.arange(256) / 255.0
        mean = float(counts @ values / counts.sum())
        var = float(counts @ (values - mean) ** 2 / counts.sum())
        means.append(mean)
        stds.append(max(math.sqrt(var), 1e-3))
    return means, stds

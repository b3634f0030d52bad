"""Shared models and seeded construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.base import seeded_model
from tasks.models import conv_net, pixel_stats
from tasks.transformer import CausalTransformer


def test_conv_net_output_sizes():
    net = conv_net(1, (40,), width=5, depth=3, classes=10)
    assert net(torch.zeros(2, 1, 40)).shape == (2, 10)
    assert net[-1].in_features == 5 * 5  # 40 -> 20 -> 10 -> 5
    net = conv_net(3, (9, 6), width=4, depth=2, classes=7, first_stride=1)
    assert net(torch.zeros(2, 3, 9, 6)).shape == (2, 7)
    assert net[-1].in_features == 4 * 5 * 3


def test_pixel_stats_match_numpy():
    x = np.random.default_rng(0).integers(0, 256, (20, 2, 5, 5), dtype=np.uint8)
    mean, std = pixel_stats(x)
    for c in range(2):
        assert mean[c] == pytest.approx((x[:, c] / 255).mean())
        assert std[c] == pytest.approx((x[:, c] / 255).std())


def test_seeded_model_forks_the_rng():
    torch.manual_seed(0)
    a = seeded_model(lambda: torch.nn.Linear(3, 3), seed=5, device="cpu")
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))
    b = seeded_model(lambda: torch.nn.Linear(3, 3), seed=5, device="cpu")
    assert torch.equal(a.weight, b.weight) and a.training


def test_transformer_is_causal():
    model = seeded_model(lambda: CausalTransformer(16, 2, 2, seq_len=12), seed=0, device="cpu")
    tokens = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 256
    a, b = model(tokens), model(changed)
    assert a.shape == (2, 12, 256)
    assert torch.allclose(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])
    assert model(tokens[:, :5]).shape == (2, 5, 256)  # shorter inputs are fine

"""BatchNorm statistics re-estimated at an evaluation point.

A model evaluated at other weights than it trains at (an optimizer peer's average:
schedule-free's ``x``, DoG's; a merged model, ``autolr.loop.merge``) has BatchNorm running
statistics that belong to the training weights. The schedule-free README asks to recompute
them with forward passes over training batches before evaluating. Here they are the plain
average over training batches ``0 .. n−1`` (momentum ``None``, after a reset): the same
batches at every evaluation, so the statistics are a function of the evaluated weights
alone.

These are forward passes, not optimizer steps: no gradient, nothing charged to the budget
(their time is part of the evaluation's, in the run's wall time), no batch consumed
(``batch(i)`` is a pure function of ``i``), dropout off, and torch's RNG left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics."""
    return [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def reestimate(model: nn.Module, forward: Callable[[int], Any], batches: int) -> int:
    """Reset every BatchNorm layer's running mean and variance, then average them over
    ``forward(0) .. forward(batches − 1)`` (each a forward pass of ``model`` over training
    batch i); returns how many passes ran (0 without BatchNorm layers).

    Only the BatchNorm layers are in train mode during the passes; every module's mode and
    every layer's momentum are put back afterwards.
    """
    layers = batchnorm_layers(model)
    if not layers or batches <= 0:
        return 0
    modes = [(m, m.training) for m in model.modules()]
    momenta = [m.momentum for m in layers]
    params = list(model.parameters())
    devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
    try:
        model.eval()
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the passes
            layer.train()
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            for i in range(batches):
                forward(i)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        for m, training in modes:
            m.training = training
    return batches

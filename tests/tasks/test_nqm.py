"""The noisy quadratic model: exact validation loss and the NQM gradient noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autolr.loop.trainee import make_task


def test_nqm_validation_is_the_exact_quadratic():
    trainee = make_task({"name": "nqm", "dim": 6}, seed=0)
    theta = trainee.model.theta.detach()
    h = 1 / torch.arange(1, 7)
    want = float(0.5 * (h * theta**2).sum())
    assert trainee.evaluate() == pytest.approx((want, want))


def test_nqm_gradient_noise_has_covariance_h_over_b():
    dim, b, n = 4, 8, 4000
    trainee = make_task({"name": "nqm", "dim": dim, "batch_size": b}, seed=0)
    h = 1 / torch.arange(1, dim + 1, dtype=torch.float64)
    theta = trainee.model.theta.detach().double()
    grads = []
    for i in range(n):
        trainee.model.zero_grad()
        trainee.loss(trainee.batch(i)).backward()
        grads.append(trainee.model.theta.grad.double().clone())
    g = torch.stack(grads)
    noise = g - h * theta
    assert torch.allclose(noise.mean(0), torch.zeros(dim, dtype=torch.float64), atol=0.03)
    cov = noise.T @ noise / n
    assert torch.allclose(torch.diagonal(cov), h / b, rtol=0.1)
    off = cov - torch.diag(torch.diagonal(cov))
    assert float(off.abs().max()) < 0.1 * float(h[0] / b)


def test_nqm_train_loss_mean_is_exact_loss_plus_noise_floor():
    dim, b = 10, 4
    trainee = make_task({"name": "nqm", "dim": dim, "batch_size": b}, seed=0)
    exact = trainee.evaluate()[0]
    with torch.no_grad():
        mean = np.mean([float(trainee.loss(trainee.batch(i))) for i in range(3000)])
    assert mean == pytest.approx(exact + dim / (2 * b), rel=0.05)


def test_nqm_default_lr_converges_below_target_with_cosine():
    trainee = make_task("nqm", seed=0)
    info = trainee.info
    for i in range(info.budget_steps):
        for group in trainee.optimizer.param_groups:
            group["lr"] = info.lr * 0.5 * (1 + math.cos(math.pi * i / info.budget_steps))
        trainee.optimizer.zero_grad()
        trainee.loss(trainee.batch(i)).backward()
        trainee.optimizer.step()
    assert info.reached(trainee.evaluate()[1])

"""Power iteration on Hessian-vector products: exact on known quadratics, cheaper from a warm
start, deterministic, and free of side effects on the run."""

from __future__ import annotations

import pytest
import torch

from autolr.loop.sharpness import (
    SharpnessMeter,
    gradients,
    hessian_operator,
    power_iteration,
    top_eigenvalue,
)
from autolr.loop.trainee import make_task
from tests.core.quadratic import Quadratic
from tests.toy import ToyTrainee


def matrix(eigenvalues: list[float], seed: int = 0) -> torch.Tensor:
    """A symmetric matrix with these eigenvalues, in a random orthonormal basis."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=gen))
    return q @ torch.diag(torch.tensor(eigenvalues)) @ q.T


def test_the_nqm_has_sharpness_one():
    """nqm's Hessian is diag(1/i): λmax = 1 exactly, on every minibatch."""
    trainee = make_task({"name": "nqm"}, seed=0)
    eig = SharpnessMeter(iters=50, tol=1e-6).measure(trainee, step=0)
    assert eig.value == pytest.approx(1.0, rel=1e-5)
    assert abs(float(eig.vector[0])) == pytest.approx(1.0, abs=1e-2)  # along θ_1


def test_a_known_matrix_gives_its_top_eigenvalue():
    trainee = Quadratic(matrix([6.0, 3.0, 1.0, 0.5, -0.5]), torch.ones(5))
    eig = SharpnessMeter(iters=100, tol=1e-8).measure(trainee, step=0)
    assert eig.value == pytest.approx(6.0, rel=1e-5)


def test_a_dominant_negative_eigenvalue_is_not_taken_for_the_top_one():
    """Power iteration finds the largest |λ| (-8 here); the shifted second run finds 3."""
    a = matrix([-8.0, 3.0, 1.0])
    v0 = torch.ones(3)
    assert power_iteration(lambda v: a @ v, v0, 200, 1e-10).value == pytest.approx(-8.0)
    assert top_eigenvalue(lambda v: a @ v, v0, 200, 1e-10).value == pytest.approx(3.0, rel=1e-6)


def test_a_warm_start_converges_in_fewer_iterations():
    """The top eigenvector of a nearby matrix (the landscape a few steps earlier) is a better
    start than a random vector: fewer Hessian-vector products to the same tolerance."""
    before, after = matrix([5.0, 4.0, 2.0, 1.0]), matrix([5.0, 4.0, 2.0, 1.0], seed=0)
    after = after + 0.05 * matrix([1.0, -1.0, 0.5, 0.0], seed=1)
    cold = top_eigenvalue(lambda v: after @ v, torch.ones(4), 200, 1e-6)
    start = top_eigenvalue(lambda v: before @ v, torch.ones(4), 200, 1e-10).vector
    warm = top_eigenvalue(lambda v: after @ v, start, 200, 1e-6)
    assert warm.value == pytest.approx(cold.value, rel=1e-5)
    assert warm.iterations <= 4 < cold.iterations


def test_the_meter_warm_starts_from_its_last_vector():
    trainee = make_task({"name": "nqm"}, seed=0)
    meter = SharpnessMeter(tol=1e-4)
    first, second = meter.measure(trainee, 0), meter.measure(trainee, 1)
    assert second.iterations < first.iterations
    assert second.value == pytest.approx(1.0, rel=1e-4)


def test_scaling_and_decay_give_the_preconditioned_operator():
    """λmax(D (H + W) D) for diagonal H: max_i d_i² (h_i + w_i)."""
    trainee = Quadratic.diagonal([4.0, 1.0, 0.5])
    (w,) = trainee.model.parameters()
    loss = trainee.loss(None)
    scale = torch.tensor([0.5, 3.0, 1.0]).sqrt()  # d² = P⁻¹
    decay = torch.full((3,), 0.1)
    apply = hessian_operator(gradients(loss, [w]), [w], scale, decay)
    eig = top_eigenvalue(apply, torch.ones(3), 100, 1e-8)
    assert eig.value == pytest.approx(max(0.5 * 4.1, 3.0 * 1.1, 1.0 * 0.6), rel=1e-5)


def test_a_measurement_is_deterministic_and_leaves_the_run_as_it_was():
    """The toy trainee has dropout: the measurement seeds torch's RNG from the step inside a
    fork, so it repeats exactly, the run's RNG stream and .grad are untouched."""
    trainee = ToyTrainee(seed=3)
    rng = torch.get_rng_state()
    a = SharpnessMeter().measure(trainee, step=7)
    b = SharpnessMeter().measure(trainee, step=7)
    c = SharpnessMeter().measure(trainee, step=8)
    assert a.value == b.value and torch.equal(a.vector, b.vector)
    assert c.value != a.value  # another step, another dropout mask
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in trainee.model.parameters())


def test_the_meter_state_round_trips():
    trainee = make_task({"name": "nqm"}, seed=0)
    meter = SharpnessMeter()
    meter.measure(trainee, 0)
    other = SharpnessMeter()
    other.load_state_dict(meter.state_dict())
    a, b = meter.measure(trainee, 1), other.measure(trainee, 1)
    assert (a.value, a.iterations) == (b.value, b.iterations) and torch.equal(a.vector, b.vector)


def test_bad_meter_settings_are_refused():
    with pytest.raises(ValueError, match="iters must be an integer >= 1, got 0"):
        SharpnessMeter(iters=0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        SharpnessMeter(tol=0)

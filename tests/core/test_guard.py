"""The sharpness guard: its stability edges (checked against torch's own optimizers), the cap
it sets (SGD, momentum, Adam), how the stepper applies it, its record, determinism, resume
and config errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

import autolr
from autolr.controllers import Fixed
from autolr.loop.guard import SharpnessGuard, stability
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.loop.stepper import Ceiling, Divergence, Plan, Stepper
from autolr.running.config import validate
from tests.core.quadratic import Quadratic
from tests.toy import ToyTrainee

# ---- the edges ---------------------------------------------------------------------------


def growth(lr: float, a: float = 2.0, steps: int = 3000, **sgd) -> float:
    """|x_T / x_0| for torch's SGD on f(x) = a·x²/2: below 1 where the iteration is stable
    (inf or NaN once it has overflowed)."""
    trainee = Quadratic.diagonal([a], [1.0], lr=lr, **sgd)
    trainee.steps(steps)
    return abs(float(trainee.model.weight.detach()))


@pytest.mark.parametrize(
    ("sgd", "edge"),
    [
        ({}, 2.0),  # gradient descent: 2/λ
        ({"momentum": 0.9}, 3.8),  # heavy ball: (2 + 2μ)/λ
        ({"momentum": 0.5, "dampening": 0.5}, 6.0),  # (2 + 2μ)/((1 − τ)λ)
        ({"momentum": 0.9, "nesterov": True}, 3.8 / 2.8),  # (2 + 2μ)/((1 + 2μ)λ)
    ],
)
def test_the_sgd_edges_are_where_torchs_sgd_turns_unstable(sgd, edge):
    trainee = Quadratic.diagonal([2.0], **sgd)
    found = stability(trainee.optimizer, list(trainee.model.parameters()), (1.0,), torch.ones(1))
    d2 = 1.0 if found.scale is None else float(found.scale.square())
    assert found.edge / d2 == pytest.approx(edge)  # dampening enters through the scale
    assert growth(0.97 * edge / 2.0, **sgd) < 1
    assert not growth(1.03 * edge / 2.0, **sgd) <= 1


# ---- the cap -----------------------------------------------------------------------------


def test_sgd_with_momentum_is_capped_at_factor_times_its_edge_over_lambda():
    """H = diag(4, 1, 0.5), momentum 0.9, coupled decay 0.1: λ = 4.1, cap = c·3.8/4.1."""
    trainee = Quadratic.diagonal([4.0, 1.0, 0.5], momentum=0.9, weight_decay=0.1)
    guard = SharpnessGuard(factor=0.5, iters=100, tol=1e-8)
    cap = guard.measure(trainee, 0, (1.0,))
    assert cap == pytest.approx(0.5 * 3.8 / 4.1, rel=1e-5)
    assert guard.record["sharpness"] == [pytest.approx(4.1, rel=1e-5)]
    assert guard.record["edge"] == [pytest.approx(3.8)]


def test_a_groups_lr_scale_enters_the_sharpness():
    """Group g trains at lr·s_g, so the guard measures λmax(S H): 2·4 here."""
    trainee = Quadratic.diagonal([4.0, 1.0])
    guard = SharpnessGuard(factor=1.0, iters=100, tol=1e-8)
    assert guard.measure(trainee, 0, (2.0,)) == pytest.approx(2.0 / 8.0, rel=1e-5)


def test_adam_is_capped_on_the_preconditioned_sharpness():
    """H = diag(4, 1) from w = (1, 2), Adam (β1 0.9, β2 0.999) at lr 0.5. Before its first
    step the guard measures nothing. Step 1 is sign descent: w = (0.5, 1.5), so the probe
    gradient is g = (2, 1.5). The next step's v_2 = β2·(1 − β2)·(4, 2)² + (1 − β2)·g², and
    P = (1 − β1²)·(sqrt(v_2/(1 − β2²)) + ε); the cap is c·(2 + 2β1)/((1 − β1)·λmax(P⁻¹H))
    (Cohen et al. 2022's 38/η edge)."""
    trainee = Quadratic.diagonal([4.0, 1.0], [1.0, 2.0], optimizer="adam")
    guard = SharpnessGuard(factor=0.5, iters=100, tol=1e-8)
    assert guard.measure(trainee, 0, (1.0,)) == math.inf
    assert guard.record["step"] == []
    trainee.steps(1, lr=0.5)
    h, g0, g1 = (4.0, 1.0), (4.0, 2.0), (2.0, 1.5)
    v2 = [0.999 * 0.001 * a * a + 0.001 * b * b for a, b in zip(g0, g1, strict=True)]
    p = [(1 - 0.9**2) * (math.sqrt(v / (1 - 0.999**2)) + 1e-8) for v in v2]
    sharpness = max(hi / pi for hi, pi in zip(h, p, strict=True))  # 6.66
    assert guard.measure(trainee, 1, (1.0,)) == pytest.approx(0.5 * 38 / sharpness, rel=1e-5)
    assert guard.record["sharpness"] == [pytest.approx(sharpness, rel=1e-5)]
    assert guard.record["edge"] == [pytest.approx(38.0)]


def test_adam_matches_its_state_and_adamw_leaves_its_decay_out():
    for kind in ("adam", "adamw"):
        decay = 0.0 if kind == "adam" else 0.3  # decoupled: not in the Hessian
        trainee = Quadratic.diagonal([4.0, 1.0], [1.0, 2.0], optimizer=kind, weight_decay=decay)
        trainee.steps(5, lr=0.1)
        (w,) = trainee.model.parameters()
        state = trainee.optimizer.state[w]
        t = float(state["step"]) + 1
        g = torch.tensor([4.0, 1.0]) * w.detach().reshape(-1)
        v = 0.999 * state["exp_avg_sq"].reshape(-1) + 0.001 * g * g
        p = (1 - 0.9**t) * ((v / (1 - 0.999**t)).sqrt() + 1e-8)
        expected = float((torch.tensor([4.0, 1.0]) / p).max())
        guard = SharpnessGuard(factor=1.0, iters=100, tol=1e-8)
        assert guard.measure(trainee, 5, (1.0,)) == pytest.approx(38.0 / expected, rel=1e-4)


def test_a_weight_adam_has_never_moved_is_left_out():
    """The third weight sits at 0 with curvature 3: its gradients are all 0, so v = m = 0
    and Adam does not move it. With P = (1 − β1^t)·ε there, λmax(P⁻¹H) would be ~10⁸."""
    trainee = Quadratic.diagonal([4.0, 1.0, 3.0], [1.0, 2.0, 0.0], optimizer="adam")
    trainee.steps(3, lr=0.01)
    guard = SharpnessGuard(factor=1.0, iters=100, tol=1e-8)
    guard.measure(trainee, 3, (1.0,))
    assert guard.record["sharpness"][0] < 100


def test_the_cap_never_falls_below_min_lr_and_rises_at_most_by_rise():
    trainee = Quadratic.diagonal([4.0, 1.0])
    guard = SharpnessGuard(factor=1.0, rise=1.5, iters=100, tol=1e-8)
    guard.bind(trainee.optimizer, min_lr=0.6)
    assert guard.measure(trainee, 0, (1.0,)) == pytest.approx(0.6)  # 2/4 = 0.5 < 0.6
    trainee.a = torch.diag(torch.tensor([0.5, 0.1]))  # flatter: 2/0.5 = 4
    assert guard.measure(trainee, 1, (1.0,)) == pytest.approx(0.9)  # 1.5 × 0.6
    assert guard.record["cap"] == [pytest.approx(0.6), pytest.approx(0.9)]


def test_an_optimizer_without_a_known_edge_is_refused():
    trainee = ToyTrainee(seed=0)
    trainee.optimizer = torch.optim.RMSprop(trainee.model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match=r"SGD, Adam and AdamW only; .* RMSprop"):
        Session(trainee, Fixed({"name": "constant", "lr": 0.01}), 50, 10, guard=SharpnessGuard())


# ---- the stepper and the session ---------------------------------------------------------


def test_the_stepper_applies_a_ceiling_from_the_steps_it_is_measured_at():
    """Global steps 3..12; measured before the steps at 4, 8 and 12 (multiples of 4)."""
    trainee = Quadratic.diagonal([1.0])
    caps, asked = iter([0.25, 2.0, 0.1]), []

    def update(step: int) -> float:
        asked.append(step)
        return next(caps)

    def step(k: int) -> float:
        written.append(trainee.optimizer.param_groups[0]["lr"])
        return 1.0

    written: list[float] = []
    plan = Plan(np.full(10, 1.0), None, (1.0,))
    out = Stepper(trainee.optimizer).run(
        plan, step, Divergence(), offset=3, ceiling=Ceiling(0.5, 4, update)
    )
    assert asked == [4, 8, 12]
    assert written == [0.5] + [0.25] * 4 + [1.0] * 4 + [0.1]
    np.testing.assert_array_equal(out.lrs, written)


def guarded_session(**guard) -> Session:
    trainee = ToyTrainee(seed=0)  # dropout, SGD momentum 0.9: λ ≈ 10, so 0.1·3.8/λ < 0.05
    guard = SharpnessGuard(**{"every": 7, "factor": 0.1, **guard})
    return Session(trainee, Fixed({"name": "constant", "lr": 0.05}), 120, 20, guard=guard)


def test_a_guarded_session_records_the_cap_and_charges_its_time():
    s = guarded_session()
    while s.turn():
        pass
    record = s.guard.record
    assert record["step"] == list(range(0, 120, 7))  # every 7 kept steps, across segments
    lrs = np.asarray(s.history.steps["lr"])
    caps = np.repeat(record["cap"], 7)[:120]
    np.testing.assert_allclose(lrs, np.minimum(0.05, caps))  # what ran is what it capped
    assert s.guard.capped_steps == int(np.count_nonzero(lrs < 0.05)) > 0
    assert 0 < s.ledger.sharpness_seconds < s.ledger.seconds
    assert s.ledger.charged == 120  # no optimizer step is spent on measuring
    # a probe's plan is bounded by the current cap, like max_lr
    assert s.plan(Segment.constant(1.0, 5), 5).lrs.max() == pytest.approx(s.guard.cap)


def _timeless_record(guard: SharpnessGuard) -> dict:
    return {k: v for k, v in guard.record.items() if k != "seconds"}


def test_guarded_sessions_repeat_exactly_and_resume_bit_identically():
    full = guarded_session()
    while full.turn():
        pass
    again = guarded_session()
    while again.turn():
        pass
    assert _timeless_record(again.guard) == _timeless_record(full.guard)

    cut = guarded_session()
    for _ in range(3):
        cut.turn()
    state = cut.state_dict()  # before the next ToyTrainee reseeds torch's global RNG
    resumed = guarded_session()
    resumed.load_state_dict(state)
    while resumed.turn():
        pass
    assert resumed.history.steps["train_loss"] == full.history.steps["train_loss"]
    assert resumed.history.steps["lr"] == full.history.steps["lr"]
    assert _timeless_record(resumed.guard) == _timeless_record(full.guard)
    assert resumed.guard.capped_steps == full.guard.capped_steps


class Interrupt(Exception):
    pass


def test_a_guarded_run_killed_after_a_checkpoint_resumes_to_the_same_outputs(tmp_path):
    """Through ``autolr.run``: metrics.csv, guard.csv (bar seconds) and the summary equal the
    uninterrupted run's; the warm-start vector is in the checkpoint (else the resumed
    power iterations would start cold and take more products)."""
    cfg = {
        "task": {"name": "nqm"},
        "controller": {"name": "fixed", "schedule": {"name": "constant", "lr": 0.5}},
        "budget_steps": 200,
        "interval": 20,
        "checkpoint_every": 40,
        "guard": {"sharpness": {"every": 30, "factor": 0.2}},
    }
    full = autolr.run(cfg, out=tmp_path / "full")

    def stop(session: Session) -> None:
        if session.step >= 100:
            raise Interrupt

    with pytest.raises(Interrupt):
        autolr.run(cfg, out=tmp_path / "cut", callbacks=[stop])
    resumed = autolr.run(cfg, out=tmp_path / "cut", resume=True)

    def read(name: str, folder: str) -> list[list[str]]:
        with open(tmp_path / folder / name) as fh:
            return [row[:-1] if name == "guard.csv" else row for row in csv.reader(fh)]

    for name in ("metrics.csv", "guard.csv"):
        assert read(name, "cut") == read(name, "full")
    timeless = {k: v for k, v in full.summary.items() if "seconds" not in k and "time" not in k}
    assert {k: resumed.summary[k] for k in timeless if k != "provenance"} == {
        k: v for k, v in timeless.items() if k != "provenance"
    }
    assert full.summary["guard_capped_steps"] == 200
    assert full.summary["guard_last_cap"] == pytest.approx(0.4, rel=1e-4)  # 0.2 · 2/λ, λ = 1
    assert 0 < full.summary["sharpness_seconds"] < full.summary["wall_time_s"]


# ---- config ------------------------------------------------------------------------------


def config(guard) -> dict:
    return {"task": {"name": "nqm"}, "guard": guard}


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ({"sharpness": {"every": 0}}, "guard.sharpness.every must be an integer >= 1, got 0"),
        ({"sharpness": {"factor": -1}}, "guard.sharpness.factor must be > 0, got -1"),
        ({"sharpness": {"factor": "big"}}, "guard.sharpness.factor must be a number"),
        ({"sharpness": {"rise": 0.5}}, r"guard.sharpness.rise must be in \[1.0, inf\)"),
        ({"sharpness": {"evry": 5}}, "unknown key 'evry' \\(did you mean 'every'\\?\\)"),
        ({"sharp": {}}, "unknown key 'sharp' \\(did you mean 'sharpness'\\?\\)"),
        ({}, "guard.sharpness is required"),
        ({"sharpness": 3}, "guard.sharpness must be a mapping"),
        ([1], "guard must be a mapping"),
    ],
)
def test_bad_guard_keys_get_errors_that_name_them(guard, message):
    with pytest.raises(ValueError, match=message):
        validate(config(guard))


def test_a_config_without_a_guard_resolves_as_before():
    assert "guard" not in validate({"task": {"name": "nqm"}}).model_dump()
    spec = validate(config({"sharpness": {"every": 5}})).model_dump()["guard"]
    assert spec == {
        "sharpness": {
            "every": 5,
            "factor": 0.5,
            "batches": 1,
            "iters": 20,
            "tol": 1e-2,
            "rise": 1.0,
        }
    }

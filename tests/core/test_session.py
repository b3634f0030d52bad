import math

import numpy as np
import pytest
import torch

from autolr.controllers import Fixed
from autolr.loop import snapshot as snapshots
from autolr.loop.rescue import MAX_ROLLBACKS_IN_A_ROW
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.loop.stepper import Divergence, Plan
from autolr.schedules import constant
from tests.toy import ToyTrainee


def make_session(trainee=None, budget=200, interval=20, **kw):
    trainee = trainee or ToyTrainee(seed=0)
    ctrl = Fixed({"name": "constant", "lr": 0.05})
    return Session(trainee, ctrl, budget, interval, **kw)


def params(trainee):
    return [p.detach().clone() for p in trainee.model.parameters()]


def test_snapshot_restore_then_continue_is_bit_identical():
    s = make_session()
    s.advance(Segment.constant(0.05, 30))
    snap = snapshots.take(s.trainee, s.step)
    plan = Plan(np.full(25, 0.05), None, (1.0,))
    first = s.trial(plan, Divergence()).losses
    after_first = params(s.trainee)
    snapshots.restore(s.trainee, snap)
    second = s.trial(plan, Divergence()).losses
    np.testing.assert_array_equal(first, second)  # dropout RNG restored too
    for a, b in zip(after_first, params(s.trainee), strict=True):
        assert torch.equal(a, b)


def test_probe_is_charged_and_leaves_no_trace():
    s = make_session()
    s.advance(Segment.constant(0.05, 20))
    before = params(s.trainee)
    opt_before = {
        k: v["momentum_buffer"].clone() for k, v in enumerate(s.trainee.optimizer.state.values())
    }
    rng = torch.get_rng_state()
    r1 = s.probe.run(Segment.constant(0.2, 15))
    r2 = s.probe.run(Segment.constant(0.2, 15))
    assert r1.steps == 15 and s.ledger.probe == 30 and s.ledger.kept == 20
    np.testing.assert_array_equal(r1.losses, r2.losses)  # same batches, same RNG
    for a, b in zip(before, params(s.trainee), strict=True):
        assert torch.equal(a, b)
    for k, v in enumerate(s.trainee.optimizer.state.values()):
        assert torch.equal(v["momentum_buffer"], opt_before[k])
    assert torch.equal(torch.get_rng_state(), rng)
    # the real run then sees the batches the probe saw
    state = s.advance(Segment.constant(0.2, 15))
    np.testing.assert_array_equal(state.losses, r1.losses)


def test_probe_is_cut_to_the_remaining_budget():
    s = make_session(budget=50)
    s.advance(Segment.constant(0.05, 40))
    r = s.probe.run(0.05, 30)
    assert r.steps == 10 and s.ledger.remaining == 0
    assert s.probe.run(0.05, 5).steps == 0


def test_rollback_on_injected_nan():
    s = make_session(trainee=ToyTrainee(seed=0, nan_at=45), interval=20, rescue=True)
    s.advance(Segment.constant(0.05, 20))
    s.advance(Segment.constant(0.05, 20))
    kept = params(s.trainee)
    state = s.advance(Segment.constant(0.05, 20))  # batch 45 is NaN: step 6 of this segment
    assert state.diverged and state.rolled_back and state.rollbacks == 1
    assert s.ledger.kept == 40 and s.ledger.lost == 6 and s.ledger.charged == 46
    for a, b in zip(kept, params(s.trainee), strict=True):
        assert torch.equal(a, b)
    assert s.lr_cap == pytest.approx(0.025)
    assert len(s.history.steps["step"]) == 40  # nothing recorded from the failed segment


def test_loss_blow_up_triggers_rollback_and_lr_cap():
    s = make_session(rescue=True)
    s.advance(Segment.constant(0.05, 40))
    state = s.advance(Segment.constant(50.0, 20))
    assert state.rolled_back
    assert s.lr_cap == pytest.approx(5.0)  # the segment was clipped to max_lr=10 first
    assert not math.isnan(s.state.loss_mean)


def test_rescue_never_crashes_on_divergence_and_spends_budget():
    trainee = ToyTrainee(seed=0)
    s = Session(trainee, Fixed({"name": "constant", "lr": 5.0}), 200, 20, rescue=True)
    state = s.run()
    assert s.ledger.charged == 200 and state.rollbacks >= 1 and s.halted is None
    assert s.history.last_eval is not None
    assert max(s.history.steps["lr"]) < 5.0 and s.lr_cap < 5.0


def test_rescue_gives_up_when_halving_does_not_help():
    s = Session(ToyTrainee(seed=0), Fixed({"name": "constant", "lr": 40.0}), 200, 20, rescue=True)
    s.run()  # 10 (max_lr), 5, 2.5, ... still diverges at step 0 after 6 tries
    assert s.halted == "diverged: 6 rollbacks in a row at step 0" and s.ledger.kept == 0
    assert s.history.last_eval is not None and s.state.diverged


def test_group_lr_scale_and_bounds():
    s = make_session(trainee=ToyTrainee(seed=0, groups=2), lr_scale=[1.0, 0.5], max_lr=0.04)
    s.advance(Segment.constant(0.05, 5, lr_scale=[1.0, 2.0]))
    lrs = [g["lr"] for g in s.trainee.optimizer.param_groups]
    assert lrs == pytest.approx([0.04, 0.04])  # clipped to max_lr, then 1*1 and 0.5*2
    assert s.history.steps["lr"][-1] == pytest.approx(0.04)


def test_bad_session_arguments_name_the_field():
    with pytest.raises(ValueError, match="interval"):
        make_session(interval=0)
    with pytest.raises(ValueError, match="budget_steps"):
        make_session(budget=0)
    with pytest.raises(ValueError, match="lr_scale"):
        make_session(lr_scale=[1.0, 2.0])


def test_evaluations_at_exact_multiples_and_final():
    s = make_session(budget=55, interval=20, eval_every=20)
    s.run()
    assert s.history.evals["step"] == [0, 20, 40, 55]
    assert s.state.val_step == 55


class Reading(Fixed):
    reads_step_stats = True


def test_state_statistics():
    s = Session(ToyTrainee(seed=0), Reading({"name": "constant", "lr": 0.05}), 200, 20)
    state = s.advance(Segment.constant(0.05, 20))
    assert state.loss_mean == pytest.approx(float(np.mean(state.losses)))
    assert state.loss_last == state.losses[-1]
    assert state.grad_norm > 0 and 0 < state.update_ratio < 1
    assert -1 <= state.hypergrad_cos <= 1
    assert state.fraction == pytest.approx(20 / 200)


def test_step_statistics_are_skipped_for_a_controller_that_does_not_read_them():
    s = make_session()  # Fixed declares reads_step_stats = False
    state = s.advance(Segment.constant(0.05, 20))
    assert math.isnan(state.grad_norm) and math.isnan(state.update_ratio)
    assert math.isnan(state.hypergrad_cos)


def test_controller_compute_is_charged_to_wall_time():
    """Time a controller spends thinking (a GP fit, say) counts, and probes are not counted
    twice: the session's wall time covers the whole run."""
    import time

    class Slow(Fixed):
        def propose(self, state, probe):
            probe.run(0.01, 2)
            time.sleep(0.05)
            return super().propose(state, probe)

    session = Session(ToyTrainee(seed=0), Slow(Segment.constant(0.01, 10).schedule), 40, 10)
    start = time.perf_counter()
    session.run()
    elapsed = time.perf_counter() - start
    proposals = session.ledger.probe // 2
    assert proposals >= 3
    assert proposals * 0.05 <= session.wall_time <= elapsed


def test_without_rescue_a_divergence_ends_the_run_and_keeps_its_steps():
    s = make_session(trainee=ToyTrainee(seed=0, nan_at=45), interval=20)
    assert not s.rescue  # the default: no silent rescue
    s.run()
    assert s.halted == "diverged at step 46 (non-finite loss)"
    assert s.state.diverged and not s.state.rolled_back and s.rollbacks == 0
    assert s.ledger.kept == 46 and s.ledger.lost == 0 and s.ledger.charged == 46
    assert len(s.history.steps["step"]) == 46 and math.isnan(s.history.steps["train_loss"][-1])
    assert s.lr_cap == math.inf
    with pytest.raises(RuntimeError, match="the run has ended: diverged at step 46"):
        s.advance(Segment.constant(0.05, 5))


def test_a_segment_that_catches_divergence_is_rolled_back_and_charged():
    """Without rescue, a divergence inside a ``catch_divergence`` segment rolls it back
    (charged, no cap) instead of ending the run; the next segment trains on."""
    s = make_session(trainee=ToyTrainee(seed=0, nan_at=45), interval=20)
    s.advance(Segment.constant(0.05, 40))
    before = params(s.trainee)
    state = s.advance(Segment(constant(lr=0.05), 20, catch_divergence=True))
    assert s.halted is None and state.rolled_back and state.diverged and s.rollbacks == 1
    assert s.step == 40 and s.ledger.kept == 40 and s.ledger.lost == 6
    assert s.ledger.charged == 46 and s.lr_cap == math.inf  # no cap: the controller lowers
    for a, b in zip(before, params(s.trainee), strict=True):
        assert torch.equal(a, b)
    # the same segment without the flag ends the run, as before
    plain = make_session(trainee=ToyTrainee(seed=0, nan_at=45), interval=20)
    plain.advance(Segment.constant(0.05, 40))
    plain.advance(Segment(constant(lr=0.05), 20))
    assert plain.halted == "diverged at step 46 (non-finite loss)"
    with pytest.raises(ValueError, match="catch_divergence"):
        Segment(constant(lr=0.05), 20, catch_divergence="yes")


def test_a_rollback_does_not_loop_on_a_batch_that_always_fails():
    """Batch 45 is NaN at any LR: rescue gives up after MAX_ROLLBACKS_IN_A_ROW tries."""
    s = make_session(trainee=ToyTrainee(seed=0, nan_at=45), budget=2000, interval=20, rescue=True)
    s.run()
    assert s.halted == f"diverged: {MAX_ROLLBACKS_IN_A_ROW} rollbacks in a row at step 40"
    assert s.rollbacks == MAX_ROLLBACKS_IN_A_ROW
    assert s.ledger.lost == 6 * MAX_ROLLBACKS_IN_A_ROW and s.ledger.kept == 40
    assert s.state.diverged


def test_a_cap_below_min_lr_ends_the_run_instead_of_leaving_the_bounds():
    s = make_session(trainee=ToyTrainee(seed=0, nan_at=5), min_lr=0.02, rescue=True)
    s.advance(Segment.constant(0.05, 20))  # cap 0.025 >= min_lr
    assert s.lr_cap == pytest.approx(0.025) and s.halted is None
    s.advance(Segment.constant(0.05, 20))  # cap would be 0.0125 < min_lr
    assert s.halted is not None and "fell below min_lr" in s.halted
    assert s.lr_cap == pytest.approx(0.025)


def test_the_lr_never_leaves_its_bounds():
    rng = np.random.default_rng(0)
    s = make_session(budget=400, min_lr=0.01, max_lr=0.2, rescue=True)
    while not s.done:
        lr = float(10 ** rng.uniform(-4, 1))
        s.advance(Segment.constant(lr, int(rng.integers(1, 30))))
        assert all(0.01 <= x <= 0.2 for x in s.history.steps["lr"])
        assert all(0.01 <= g["lr"] <= 0.2 for g in s.trainee.optimizer.param_groups)


def test_empty_bounds_are_an_error_not_a_silent_clip():
    with pytest.raises(ValueError, match=r"min_lr 0.5 > max_lr 0.1"):
        Segment.constant(0.3, 5).plan(5, (1.0,), min_lr=0.5, max_lr=0.1)

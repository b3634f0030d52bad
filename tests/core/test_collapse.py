import math

import pytest
import torch

from autolr.controllers import Fixed
from autolr.loop.collapse import CollapseGuard
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.schedules import constant
from tests.toy import ToyTrainee


def _feed(guard: CollapseGuard, losses: list[float]) -> int | None:
    """The 0-based index of the step that trips the guard, or None."""
    for k, value in enumerate(losses):
        if guard.update(value):
            return k
    return None


def test_trips_when_half_the_progress_is_given_back():
    # first 1.0, best 0.6: threshold 0.6 + 0.5 * 0.4 = 0.8 over windows of 2
    guard = CollapseGuard(0.5, first=1.0, best=0.6, window=2)
    assert _feed(guard, [0.7, 0.75, 0.8, 0.8, 0.84, 0.8]) == 4  # (0.8 + 0.84) / 2 = 0.82
    assert guard.low == 0.6


def test_low_follows_the_segment_and_noise_below_the_line_is_fine():
    guard = CollapseGuard(0.5, first=2.0, best=1.0, window=2)
    # windows 0.5, 0.45 lower the floor to 0.45: threshold 0.45 + 0.5 * 1.55 = 1.225
    assert _feed(guard, [0.5, 0.5, 0.4, 1.2, 1.2, 1.2, 1.3]) == 6
    assert guard.low == pytest.approx(0.45)


def test_idle_until_the_run_has_learned():
    # best 0.95 of first 1.0 is < 10% progress: a climb back to 1.0 is only noise
    guard = CollapseGuard(0.1, first=1.0, best=0.95, window=1)
    assert _feed(guard, [0.96, 1.0, 1.05, 1.0]) is None
    # the first segment of a run: its first window is where it started
    guard = CollapseGuard(0.5, first=math.nan, best=math.inf, window=2)
    assert _feed(guard, [2.0, 2.0, 1.0, 1.0, 1.6, 1.6]) == 5
    assert guard.first == 2.0


def test_segment_validates_undo():
    with pytest.raises(ValueError, match="undo"):
        Segment(constant(lr=0.1), 5, undo=1.5)


class Scripted(ToyTrainee):
    """Loss 1.0 - 0.012 i for batches i < 50 (learning), then 0.4 + 0.011 (i - 50) (a
    collapse: it climbs back, never a NaN nor a 10x spike). Gradients are zero."""

    def batch(self, i):
        return i

    def loss(self, batch):
        i = batch
        value = 1.0 - 0.012 * i if i < 50 else 0.4 + 0.011 * (i - 50)
        return (self.model(torch.zeros(1, 8)) * 0).sum() + value


def test_session_rolls_a_collapsing_segment_back():
    session = Session(Scripted(seed=0), Fixed(constant(lr=0.01)), 200, 10)
    session.advance(Segment.constant(0.01, 50))
    before = {k: v.clone() for k, v in session.trainee.model.state_dict().items()}
    state = session.advance(Segment(constant(lr=0.01), 50, undo=0.5))
    # window 10; low = the first window's mean 0.4495; threshold 0.4495 + 0.5 * 0.5505 =
    # 0.72475: the window ending at batch 85 (step 36 of the segment) is the first above it
    assert state.rolled_back and session.rollbacks == 1
    assert session.ledger.lost == 36 and session.step == 50
    after = session.trainee.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # without the guard the same segment is kept
    plain = Session(Scripted(seed=0), Fixed(constant(lr=0.01)), 200, 10)
    plain.advance(Segment.constant(0.01, 50))
    assert not plain.advance(Segment.constant(0.01, 50)).rolled_back
    assert plain.step == 100 and plain.ledger.lost == 0

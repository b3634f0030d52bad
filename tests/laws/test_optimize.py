"""The law-optimal schedule: valid, within its bounds, and better than cosine under the law."""

import numpy as np
import pytest

from autolr.laws import Law
from autolr.schedules import Schedule, build, cosine, wsd
from tests.laws.curves import MPL, PEAK, TISSUE

STEPS = 600


@pytest.mark.parametrize("form, params", [("mpl", MPL), ("tissue", TISSUE)])
def test_optimal_schedule_is_valid_bounded_and_beats_cosine(form, params):
    law = Law(form, params, {"peak_lr": PEAK})
    warm, floor = 30, 1e-4
    sched = law.optimize(STEPS, min_lr=floor, warmup_steps=warm, knots=32)
    assert isinstance(sched, Schedule) and sched.spec["name"] == "piecewise_linear"
    assert build(sched.spec) == sched  # a spec that `autolr run` can rebuild
    lrs = sched.values(np.arange(STEPS))
    np.testing.assert_allclose(lrs[:warm], np.linspace(0.0, PEAK, warm, endpoint=False))
    decay = lrs[warm:]
    assert decay[0] == PEAK  # the default peak: the fit runs' largest LR
    assert np.all(decay <= PEAK) and np.all(decay >= floor)
    assert np.all(np.diff(decay) <= 1e-15)  # never rises after the peak
    ref = cosine(lr=PEAK, total_steps=STEPS, min_lr=floor, warmup_steps=warm)
    assert law.final_loss(sched, STEPS) <= law.final_loss(ref, STEPS)
    ref_wsd = wsd(lr=PEAK, total_steps=STEPS, warmup_steps=warm, decay_steps=120, min_lr=floor)
    assert law.final_loss(sched, STEPS) <= law.final_loss(ref_wsd, STEPS)


def test_mpl_optimum_is_wsd_like():
    # Luo et al.'s finding: a long stable phase at the peak, then a decay to near the floor
    sched = Law("mpl", MPL, {"peak_lr": PEAK}).optimize(3000, knots=32)
    lrs = sched.values(np.arange(3000))
    np.testing.assert_allclose(lrs[:1500], PEAK, rtol=1e-6)
    assert lrs[-1] < 0.05 * PEAK


def test_explicit_peak_and_bad_arguments():
    law = Law("mpl", MPL)
    sched = law.optimize(100, peak=0.02, knots=8)
    assert max(sched.spec["values"]) == 0.02 and sched.spec["steps"][0] == 0
    with pytest.raises(ValueError, match="peak is needed"):
        law.optimize(100)
    with pytest.raises(ValueError, match=r"min_lr must be < peak \(0\.02\)"):
        law.optimize(100, peak=0.02, min_lr=0.02)
    with pytest.raises(ValueError, match=r"warmup_steps must be <= steps - 2 \(98\)"):
        law.optimize(100, peak=0.02, warmup_steps=99)
    with pytest.raises(ValueError, match="knots must be an integer >= 1"):
        law.optimize(100, peak=0.02, knots=0)

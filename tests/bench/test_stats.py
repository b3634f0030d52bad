import math

import numpy as np
import pytest

from autolr.bench import stats


def test_mean_ci_equals_the_t_interval_by_hand():
    m, h = stats.mean_ci([0.90, 0.92, 0.94])
    # s = 0.02, t_{0.975, 2} = 4.302652729911275
    assert m == pytest.approx(0.92)
    assert h == pytest.approx(4.302652729911275 * 0.02 / math.sqrt(3), rel=1e-9)
    m1, h1 = stats.mean_ci([0.5])
    assert m1 == 0.5 and math.isnan(h1)
    assert stats.mean_ci([1.0, None, math.nan, 3.0])[0] == 2.0


def test_steps_to_target_both_directions():
    steps, acc = [0, 100, 200, 300], [0.1, 0.5, 0.91, 0.95]
    assert stats.steps_to_target(steps, acc, 0.9, "max") == 200
    assert stats.steps_to_target(steps, acc, 0.99, "max") == math.inf
    assert stats.steps_to_target(steps, [3.0, 2.0, 1.4, 1.2], 1.5, "min") == 200
    assert stats.steps_to_target(steps, [math.nan, 0.95, 1, 1], 0.9, "max") == 100


def test_median_time_is_infinite_when_half_never_reach():
    assert stats.median_time([100, 300, math.inf]) == 300
    assert stats.median_time([100, math.inf, math.inf]) == math.inf
    assert stats.median_time([100, 200, math.inf, math.inf]) == math.inf
    assert stats.median_time([100, 200, 300, math.inf]) == 250


def test_performance_profile_score_by_hand():
    times = {
        "a": {"t1": 100, "t2": 400},
        "b": {"t1": 200, "t2": 200},
        "c": {"t1": math.inf, "t2": 300},
    }
    r = stats.performance_ratios(times)
    assert r["a"] == {"t1": 1.0, "t2": 2.0}
    assert r["b"] == {"t1": 2.0, "t2": 1.0}
    assert r["c"] == {"t1": math.inf, "t2": 1.5}
    # score = mean over tasks of (4 - r) / 3, 0 beyond r_max
    assert stats.profile_score(r["a"]) == pytest.approx(((4 - 1) / 3 + (4 - 2) / 3) / 2)
    assert stats.profile_score(r["c"]) == pytest.approx((0 + 2.5 / 3) / 2)
    taus = np.array([1.0, 1.5, 2.0, 10.0])
    np.testing.assert_allclose(stats.profile(r["c"], taus), [0, 0.5, 0.5, 0.5])
    # the exact score equals a fine numerical integral of rho
    fine = np.linspace(1, 4, 300001)
    numeric = np.trapezoid(stats.profile(r["a"], fine), fine) / 3
    assert stats.profile_score(r["a"]) == pytest.approx(numeric, abs=1e-4)


def test_speedup():
    assert stats.speedup(1000, 800) == pytest.approx(1.25)
    assert stats.speedup(1000, math.inf) == 0.0
    # no geometric-mean speedup any more (issue #12: it dropped the tasks never reached)
    assert not hasattr(stats, "geometric_mean")

import math

import numpy as np
import pytest

from autolr.loop.direction import MAX, MIN, Direction
from autolr.loop.history import History, steps_to_target
from autolr.loop.trainee import task_info


def test_direction_values_for_max_and_min():
    assert (MAX.sign, MIN.sign) == (1.0, -1.0)
    assert MAX.worst == -math.inf and MIN.worst == math.inf
    assert MAX.better(0.9, 0.8) and not MAX.better(0.8, 0.9) and not MAX.better(0.8, 0.8)
    assert MIN.better(0.8, 0.9) and not MIN.better(0.9, 0.8) and not MIN.better(0.8, 0.8)
    assert MAX.reached(0.9, 0.9) and MAX.reached(0.95, 0.9) and not MAX.reached(0.89, 0.9)
    assert MIN.reached(1.5, 1.5) and MIN.reached(1.4, 1.5) and not MIN.reached(1.6, 1.5)
    assert MAX.best_of([1.0, 3.0, 2.0]) == 3.0 and MIN.best_of([1.0, 3.0, 2.0]) == 1.0
    assert MAX.worst_of([1.0, 3.0, 2.0]) == 1.0 and MIN.worst_of([1.0, 3.0, 2.0]) == 3.0
    assert (MAX.verb, MIN.verb) == ("maximize", "minimize")
    # every value is better than the worst, and sign * value ranks like better()
    for d in (MAX, MIN):
        assert d.better(0.0, d.worst) and not d.better(d.worst, 0.0)
        assert d.better(2.0, 1.0) == (d.sign * 2.0 > d.sign * 1.0)


def test_direction_is_element_wise_on_arrays_and_checks_its_mode():
    values = np.array([0.5, 1.0, 1.5])
    np.testing.assert_array_equal(MAX.better(values, 1.0), [False, False, True])
    np.testing.assert_array_equal(MIN.reached(values, 1.0), [True, True, False])
    assert Direction.of("min") == MIN and Direction.of(MAX) is MAX
    with pytest.raises(ValueError, match="mode must be 'max' or 'min', got 'up'"):
        Direction("up")  # type: ignore[arg-type]


def test_task_info_exposes_its_direction():
    nqm, digits = task_info("nqm"), task_info("digits-cnn")
    assert nqm.direction == MIN and digits.direction == MAX
    assert nqm.better(0.1, 0.2) and digits.better(0.2, 0.1)
    assert digits.reached(digits.target) and not digits.reached(digits.target - 0.01)


def test_one_steps_to_target_for_runs_and_benchmarks():
    steps, acc = [0, 100, 200, 300], [0.1, 0.5, 0.91, 0.95]
    assert steps_to_target(steps, acc, 0.9, MAX) == 200.0
    assert steps_to_target(steps, acc, 0.99, "max") == math.inf
    assert steps_to_target(steps, [3.0, 2.0, 1.4, 1.2], 1.5, MIN) == 200.0
    # a non-finite metric never reaches the target, in either direction
    assert steps_to_target(steps, [math.nan, math.inf, 0.95, 1.0], 0.9, MAX) == 200.0
    assert steps_to_target(steps, [-math.inf, 2.0, 1.0, 1.0], 1.5, MIN) == 200.0
    # the History method reads its own columns and answers None (not inf) when never reached
    h = History()
    for step, charged, metric in ((0, 0, 3.0), (50, 80, 1.4), (100, 150, 1.2)):
        h.add_eval(step=step, charged=charged, val_loss=metric, val_metric=metric, wall_time=0.0)
    assert h.steps_to_target(1.5, MIN) == 50
    assert h.steps_to_target(1.5, MIN, "charged") == 80
    assert h.steps_to_target(1.0, MIN) is None


def test_steps_to_target_needs_the_target_held_at_the_next_evaluation():
    steps = [0, 100, 200, 300, 400]
    # touched at 100, lost at 200, reached at 300 and held at 400: credited at 300
    acc = [0.1, 0.92, 0.85, 0.91, 0.93]
    assert steps_to_target(steps, acc, 0.9, MAX) == 300.0
    assert steps_to_target(steps, acc, 0.9, MAX, held=False) == 100.0
    # the last evaluation has no next one: reaching the target there counts
    assert steps_to_target(steps, [0.1, 0.95, 0.5, 0.6, 0.91], 0.9, MAX) == 400.0
    # a NaN at the next evaluation loses it; minimisation alike
    assert steps_to_target(steps, [3.0, 1.4, math.nan, 1.2, 1.1], 1.5, MIN) == 300.0
    assert steps_to_target(steps, [3.0, 1.4, 1.6, 1.7, 1.8], 1.5, MIN) == math.inf
    assert steps_to_target([], [], 1.5, MIN) == math.inf
    h = History()
    for step, charged, metric in ((0, 0, 3.0), (50, 80, 1.4), (100, 150, 1.6), (150, 200, 1.2)):
        h.add_eval(step=step, charged=charged, val_loss=metric, val_metric=metric, wall_time=0.0)
    assert h.steps_to_target(1.5, MIN) == 150 and h.steps_to_target(1.5, MIN, held=False) == 50

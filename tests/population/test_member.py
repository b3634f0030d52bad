"""A member's score for the scheduler (autolr.population.member): finite always, a
diverged member's no better than the untrained model's."""

import math

from autolr.population.member import WORST, boundary, score


def test_a_diverged_or_non_finite_member_scores_as_the_untrained_model():
    assert score(0.2, 2.0, "min") == 0.2
    assert score(0.2, 2.0, "min", ended="diverged at step 7") == 2.0
    assert score(math.nan, 0.1, "max") == 0.1
    # PB2 fits the changes of the scores: never inf, whose differences are NaN
    assert score(math.inf, math.nan, "min") == WORST
    assert score(math.nan, math.nan, "max") == -WORST


def test_perturbation_steps_are_multiples_of_the_interval_capped_by_the_budget():
    assert [boundary(s, 50, 120) for s in (0, 49, 50, 100, 119)] == [50, 50, 100, 120, 120]

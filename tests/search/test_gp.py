import math

import numpy as np
import pytest

from search import gp


def test_bo_finds_minimum_of_quadratic_within_few_evaluations() -> None:
    xs, ys = gp.minimise(lambda x: (x - 0.37) ** 2, n_init=2, n_iter=5)
    assert len(xs) == 7
    assert abs(xs[int(np.argmin(ys))] - 0.37) < 0.05


def test_logei_finds_minimum_of_shifted_cosine() -> None:
    xs, ys = gp.minimise(
        lambda x: -math.cos(6 * (x - 0.7)), n_init=2, n_iter=5, acquisition="logei"
    )
    assert abs(xs[int(np.argmin(ys))] - 0.7) < 0.06


def test_suggest_skips_points_already_taken_and_is_cheap() -> None:
    s = gp.suggest([0.1, 0.5, 0.9], [1.0, 0.2, 1.0], min_gap=0.05)
    assert min(abs(s.x - v) for v in (0.1, 0.5, 0.9)) >= 0.05
    assert 0.3 < s.x < 0.7
    assert s.seconds < 10.0


def test_time_decayed_gp_predicts_at_age_zero() -> None:
    model = gp.fit_gp([0.2, 0.8, 0.2, 0.8], [1.0, 0.0, 0.0, 1.0], ages=[0, 0, 3, 3])
    pred = gp.posterior_mean(model, np.array([0.2, 0.8]), timed=True)
    assert pred[1] < pred[0]  # the current stage (age 0) wins over the old one


def test_worst_score_is_worse_than_every_finite_score() -> None:
    assert gp.worst_score([1.0, 2.0, math.inf]) == pytest.approx(3.0)
    assert gp.worst_score([math.nan, math.inf]) == 1.0
    assert gp.worst_score([0.5, 0.5]) > 0.5


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"acquisition": "ei"}, "acquisition"), ({"beta": -1}, "beta")]
)
def test_suggest_validates(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        gp.suggest([0.1, 0.9], [1.0, 2.0], **kwargs)


def test_fit_rejects_non_finite_losses() -> None:
    with pytest.raises(ValueError, match="finite"):
        gp.fit_gp([0.1, 0.9], [1.0, math.nan])


def test_backend_is_imported_when_autolrs_is_built() -> None:
    import sys

    from search.autolrs import AutoLRS

    AutoLRS()
    assert {"botorch.fit", "botorch.models", "gpytorch"} <= set(sys.modules)

import math

import numpy as np
import pytest

from search.forecast import fit_curve, forecast, rank_correlation


def test_exponential_fit_recovers_parameters() -> None:
    t = np.arange(60)
    rng = np.random.default_rng(0)
    y = 2.0 * np.exp(-0.08 * t) + 0.5 + rng.normal(0, 0.01, t.size)
    fit = fit_curve(y, "exp")
    assert fit.a == pytest.approx(2.0, rel=0.03)
    assert fit.b == pytest.approx(-0.08, rel=0.05)
    assert fit.c == pytest.approx(0.5, abs=0.02)


def test_exponential_fit_is_robust_to_an_outlier() -> None:
    t = np.arange(40)
    y = 1.5 * np.exp(-0.1 * t) + 0.3
    y[7] += 3.0  # one bad minibatch
    fit = fit_curve(y, "exp")
    assert fit.c == pytest.approx(0.3, abs=0.03)
    assert fit.b == pytest.approx(-0.1, rel=0.1)


def test_power_fit_recovers_parameters() -> None:
    t = np.arange(80)
    rng = np.random.default_rng(1)
    y = 3.0 * (t + 1.0) ** -0.7 + 0.2 + rng.normal(0, 0.005, t.size)
    fit = fit_curve(y, "power")
    assert fit.a == pytest.approx(3.0, rel=0.03)
    assert fit.b == pytest.approx(0.7, rel=0.05)
    assert fit.c == pytest.approx(0.2, abs=0.03)
    assert forecast(y, 800, "power") == pytest.approx(3.0 * 800**-0.7 + 0.2, abs=0.03)


def test_forecast_is_clipped_and_handles_short_or_bad_input() -> None:
    y = np.linspace(1.0, 0.5, 10)  # a line: exp fit would go far below zero at t = 10^4
    assert 0.0 <= forecast(y, 10_000) <= 0.5
    assert forecast([np.nan, np.nan], 10) == math.inf
    assert forecast([0.7, 0.7, 0.7, 0.7], 50) == pytest.approx(0.7)


def test_rank_correlation_values() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(rank_correlation([1, 2], [1, 2]))
    with pytest.raises(ValueError, match="length"):
        rank_correlation([1, 2, 3], [1, 2])


def test_fit_validates_model() -> None:
    with pytest.raises(ValueError, match="model"):
        fit_curve([1.0, 0.5, 0.2], "linear")

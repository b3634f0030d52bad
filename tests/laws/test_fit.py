"""Fitting recovers a known law from its noisy curves, and says why when it cannot."""

import numpy as np
import pytest

from autolr.laws import Curve, FitError, Law, fit
from autolr.schedules import build
from tests.laws.curves import MPL, PEAK, TISSUE, noisy_runs

STEPS = 300


def held_out(steps: int) -> dict:
    return {"name": "wsd", "lr": PEAK, "total_steps": steps, "warmup_steps": 15, "decay_steps": 60}


def test_mpl_fit_recovers_the_parameters_and_predicts_a_held_out_schedule():
    true = Law("mpl", MPL)
    law = fit(list(noisy_runs(true, STEPS).values()), "mpl", window=3)
    p = law.params
    for name in ("L0", "A", "alpha"):
        assert p[name] == pytest.approx(MPL[name], rel=0.03), name
    for name in ("B", "C", "beta", "gamma"):  # the annealing term: fewer points pin it
        assert p[name] == pytest.approx(MPL[name], rel=0.3), name
    assert law.fit["r2"] > 0.999
    assert [r["points"] for r in law.fit["runs"]] == [95, 95, 95]  # (300 - 15) / 3 windows
    wsd = held_out(STEPS)
    np.testing.assert_allclose(
        law.predict(wsd, STEPS)[15:], true.predict(wsd, STEPS)[15:], rtol=5e-3
    )
    assert law.fit["peak_lr"] == PEAK and law.fit["warnings"] == []


def test_tissue_fit_recovers_the_parameters_with_lam_held():
    true = Law("tissue", TISSUE)
    law = fit(list(noisy_runs(true, STEPS, seed=1).values()), "tissue", window=3)
    assert law.fit["fixed"] == {"lam": 0.999} and law.params["lam"] == 0.999
    for name in ("L0", "A", "alpha", "C"):
        assert law.params[name] == pytest.approx(TISSUE[name], rel=0.05), name
    assert law.fit["r2"] > 0.999


def test_window_means_and_skip():
    losses = np.arange(1.0, 21.0)  # steps 1..20
    rows, means = Curve(np.full(20, 0.1), losses).points(window=4, skip=0.1)
    # skip 2 steps, then windows [2..5], [6..9], ... compared at their middle rows
    assert rows.tolist() == [3, 7, 11, 15]
    assert means.tolist() == [4.5, 8.5, 12.5, 16.5]
    losses[8] = np.nan  # a window with a non-finite loss is left out
    rows, _ = Curve(np.full(20, 0.1), losses).points(window=4, skip=0.1)
    assert rows.tolist() == [3, 11, 15]


def test_fit_errors_say_why():
    runs = list(noisy_runs(Law("mpl", MPL), 60).values())
    with pytest.raises(ValueError, match="unknown law form 'mlp'"):
        fit(runs, "mlp")
    with pytest.raises(FitError, match="too few points: 6 window means for 7 free parameters"):
        fit(runs, "mpl", window=20)
    constant = runs[0]
    with pytest.raises(FitError, match=r"no run lowers its LR .*\(B, C, beta, gamma\)"):
        fit([constant], "mpl", window=1)
    with pytest.raises(FitError, match="runs\\[0\\]: 3 LRs but 2 losses"):
        fit([(np.ones(3), np.ones(2))])
    with pytest.raises(FitError, match=r"the LR at step 2 is -1\.0"):
        fit([(np.array([1.0, -1.0]), np.ones(2))])
    with pytest.raises(FitError, match="losses must be > 0"):
        fit([(np.ones(3), np.array([1.0, 0.0, 1.0]))])
    with pytest.raises(FitError, match=r"skip must be in \[0, 1\)"):
        fit(runs, skip=1.0)
    with pytest.raises(FitError, match=r"fixed\.delta is not a parameter of law form 'mpl'"):
        fit(runs, fixed={"delta": 1.0})
    with pytest.raises(FitError, match="no runs to fit"):
        fit([])
    with pytest.raises(FitError, match=r"window must be an integer >= 1, got 2\.5"):
        fit(runs, window=2.5)
    with pytest.raises(FitError, match="every parameter is held"):
        fit(runs, "tissue", fixed={"L0": 1.0, "A": 1.0, "alpha": 0.5, "C": 0.1, "lam": 0.9})


def test_fixing_the_annealing_term_lets_constant_runs_fit():
    lrs = build({"name": "constant", "lr": PEAK}).values(np.arange(STEPS))
    true = Law("mpl", MPL)
    law = fit(
        [(lrs, true.curve(lrs))], "mpl", fixed={"B": 0.0, "C": 1.0, "beta": 1.0, "gamma": 0.5}
    )
    assert law.params["L0"] == pytest.approx(MPL["L0"], rel=1e-2)  # window means: a small bias
    assert law.params["alpha"] == pytest.approx(MPL["alpha"], rel=1e-2)


def test_held_parameters_are_in_the_lrs_own_units():
    # C's unit-LR value depends on gamma (C·r^(1−gamma)): holding the true C, in the LR's
    # units, must still recover the other parameters
    true = Law("mpl", MPL)
    law = fit(list(noisy_runs(true, STEPS).values()), "mpl", window=3, fixed={"C": MPL["C"]})
    assert law.params["C"] == pytest.approx(MPL["C"], rel=1e-9)
    assert law.fit["fixed"] == {"C": MPL["C"]} and "C" not in law.fit["free"]
    for name in ("L0", "A", "alpha", "gamma"):
        assert law.params[name] == pytest.approx(MPL[name], rel=0.1), name

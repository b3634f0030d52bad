"""The law forms against their closed forms, computed by hand."""

import math

import numpy as np
import pytest

from autolr.laws import Law, get_form
from autolr.laws.forms import peak_index
from tests.laws.curves import MPL, TISSUE


def power(p: dict, area: np.ndarray) -> np.ndarray:
    return p["L0"] + p["A"] * area ** (-p["alpha"])


@pytest.mark.parametrize("form, params", [("mpl", MPL), ("tissue", TISSUE)])
def test_constant_lr_is_the_pure_power_law(form, params):
    # constant LR: no drop, so LD = 0 (S2 = 0), and S(t) = eta * t
    eta, n = 0.003, 50
    t = np.arange(1, n + 1)
    got = Law(form, params).curve(np.full(n, eta))
    np.testing.assert_allclose(got, power(params, eta * t), rtol=1e-13)


def test_mpl_two_step_schedule_by_hand():
    # eta_a for steps 1..m, eta_b after: for t > m, S(t) = eta_a*m + eta_b*(t - m) and
    # LD(t) = B*(eta_a - eta_b)*(1 - (C*eta_b^-gamma*S_{m+1}(t) + 1)^-beta),
    # S_{m+1}(t) = eta_b*(t - m)
    p, a, b, m, n = MPL, 0.01, 0.002, 30, 60
    lrs = np.array([a] * m + [b] * (n - m))
    got = Law("mpl", p).curve(lrs)
    for t in range(1, n + 1):
        if t <= m:
            want = power(p, np.array(a * t))
        else:
            x = b ** (-p["gamma"]) * b * (t - m)
            ld = p["B"] * (a - b) * (1 - (p["C"] * x + 1) ** (-p["beta"]))
            want = power(p, np.array(a * m + b * (t - m))) - ld
        assert got[t - 1] == pytest.approx(float(want), rel=1e-12), t


def test_tissue_two_step_schedule_by_hand_and_by_its_recursion():
    p, a, b, m, n = TISSUE, 0.01, 0.002, 30, 60
    lrs = np.array([a] * m + [b] * (n - m))
    got = Law("tissue", p).curve(lrs)
    # closed form: S2(t) = (a - b)*(1 - lam^(t - m))/(1 - lam) for t > m
    lam = p["lam"]
    for t in (m, m + 1, m + 7, n):
        s2 = (a - b) * (1 - lam ** (t - m)) / (1 - lam) if t > m else 0.0
        want = power(p, np.array(a * min(t, m) + b * max(0, t - m))) - p["C"] * s2
        assert got[t - 1] == pytest.approx(float(want), rel=1e-12), t
    # the paper's recursion m_k = lam*m_(k-1) + (eta_(k-1) - eta_k), S2 = sum of m_k,
    # on a schedule with a warmup, a cosine decay and a rise after the peak
    lrs = np.concatenate(
        [np.linspace(0.001, 0.01, 10), 0.005 * (1 + np.cos(np.linspace(0, 3, 40)))]
    )
    lrs[45:] += 0.001
    got = Law("tissue", p).curve(lrs)
    peak = peak_index(lrs)
    mom, s2, area = 0.0, 0.0, 0.0
    for j, eta in enumerate(lrs):
        area += eta
        if j > peak:
            mom = lam * mom + (lrs[j - 1] - eta)
            s2 += mom
        want = p["L0"] + p["A"] * area ** (-p["alpha"]) - p["C"] * s2
        assert got[j] == pytest.approx(want, rel=1e-10), j


def test_warmup_area_counts_and_its_rise_is_no_drop():
    # linear warmup to the peak, then constant: LD = 0; S includes the warmup's area
    w, n, peak = 10, 40, 0.01
    lrs = np.concatenate([np.linspace(peak / w, peak, w), np.full(n - w, peak)])
    assert peak_index(lrs) == w - 1
    got = Law("mpl", MPL).curve(lrs)
    np.testing.assert_allclose(got, power(MPL, np.cumsum(lrs)), rtol=1e-13)


def test_peak_index():
    assert peak_index(np.array([0.1, 0.1, 0.1])) == 0
    assert peak_index(np.array([0.0, 0.5, 1.0, 1.0, 0.5])) == 2
    assert peak_index(np.array([0.0, 0.5, 1.0])) == 2
    assert peak_index(np.array([1.0, 0.5, 0.7])) == 0


def test_a_zero_lr_gives_no_nan_after_the_first_step():
    lrs = np.array([0.0, 0.01, 0.01, 0.005, 0.0, 0.0])
    got = Law("mpl", MPL).curve(lrs)
    assert math.isnan(got[0])  # S = 0: the power law is undefined
    assert np.all(np.isfinite(got[1:]))


@pytest.mark.parametrize("form, params", [("mpl", MPL), ("tissue", TISSUE)])
def test_unit_rescaling_changes_no_prediction(form, params):
    f, r = get_form(form), 0.01
    lrs = np.concatenate([np.full(20, 0.01), np.linspace(0.01, 0.001, 30)])
    unit = Law(form, f.to_unit(params, r))
    np.testing.assert_allclose(unit.curve(lrs / r), Law(form, params).curve(lrs), rtol=1e-12)
    back = f.from_unit(f.to_unit(params, r), r)
    assert back == pytest.approx(params, rel=1e-12)


@pytest.mark.parametrize(
    "form, params, message",
    [
        ("mpl", {**MPL, "alpha": -1.0}, r"params\.alpha must be in \(0, inf\), got -1\.0"),
        ("mpl", {**MPL, "B": float("nan")}, r"params\.B must be finite, got nan"),
        ("tissue", {**TISSUE, "lam": 1.0}, r"params\.lam must be in \(0, 1\)"),
        ("mpl", {k: v for k, v in MPL.items() if k != "gamma"}, r"params\.gamma is missing"),
        ("mpl", {**MPL, "delta": 1.0}, r"params\.delta is not a parameter of law form 'mpl'"),
        ("power", MPL, r"unknown law form 'power'"),
    ],
)
def test_parameters_are_validated(form, params, message):
    with pytest.raises(ValueError, match=message):
        Law(form, params)

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.features import CLIP, FEATURE_NAMES, N_FEATURES, check_header, encode, header
from autolr.loop.state import TrainingState


def _state(**kw) -> TrainingState:
    base = dict(step=0, budget=100, charged=0, interval=10, lr=0.1, group_lrs=(0.1,))
    base.update(initial_lr=0.1, initial_loss=2.0)
    base.update(kw)
    return TrainingState(**base)


def test_initial_state_encodes_to_zero_except_flags():
    x = encode(_state())
    assert x.shape == (N_FEATURES,) and x.dtype == np.float32
    assert np.all(x == 0.0)


def test_features_follow_their_formulas():
    s = _state(
        step=50,
        charged=50,
        lr=0.4,
        loss_mean=2.0 * math.e**-2,
        loss_std=0.1 * 2.0 * math.e**-2,
        loss_slope=-0.01,
        best_loss=2.0 * math.e**-2,
        update_ratio=1e-3,
        grad_norm=1.0,
        hypergrad_cos=0.5,
        step_decrease=0.4,
        step_cos=-0.25,
        val_loss=2.0 * math.e**-1,
        rollbacks=1,
    )
    x = dict(zip(FEATURE_NAMES, encode(s).tolist(), strict=True))
    assert x["loss_rel"] == pytest.approx(-2 / 4)
    assert x["loss_trend"] == pytest.approx(-0.1)
    assert x["loss_noise"] == pytest.approx(0.1)
    assert x["loss_vs_best"] == pytest.approx(0.0, abs=1e-7)
    assert x["update_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert x["decrease_pred"] == pytest.approx(math.log10(0.4 / (2.0 * math.e**-2)) / 2, rel=1e-5)
    assert x["grad_cos"] == pytest.approx(0.5)
    assert x["lr_rel"] == pytest.approx(2 / 4)
    assert x["fraction"] == pytest.approx(0.5)
    assert x["val_present"] == 1.0
    assert x["val_rel"] == pytest.approx(-1 / 4)
    assert x["val_gap"] == pytest.approx(1 - math.e**-1)  # (val - L) / val
    assert x["rolled_back"] == 0.0 and x["rollbacks"] == 0.25
    assert x["step_cos"] == pytest.approx(-0.25)


def test_an_uphill_step_and_a_vanishing_train_loss_stay_in_range():
    state = _state(loss_mean=1e-9, step_decrease=-0.3, val_loss=2.0)
    x = dict(zip(FEATURE_NAMES, encode(state).tolist(), strict=True))
    assert x["decrease_pred"] == 0.0  # no log of a negative decrease: missing
    # version 1's ln(val / L) was 21, clipped to 5; the share of val unexplained is ~1
    assert x["val_gap"] == pytest.approx(1.0, abs=1e-6)
    x = dict(zip(FEATURE_NAMES, encode(_state(loss_mean=2.0, val_loss=1.0)).tolist(), strict=True))
    assert x["val_gap"] == pytest.approx(-1.0)  # val below train (dropout): negative


def test_missing_and_infinite_values_encode_to_zero_and_the_bounds():
    inf = float("inf")
    state = _state(loss_slope=inf, hypergrad_cos=float("nan"), step_cos=-inf, lr=1e300)
    x = encode(state)
    assert x.dtype == np.float32 and x.shape == (N_FEATURES,)
    named = dict(zip(FEATURE_NAMES, x.tolist(), strict=True))
    assert named["loss_trend"] == CLIP and named["step_cos"] == -CLIP
    assert named["grad_cos"] == 0.0  # NaN: not measured
    assert named["lr_rel"] == CLIP  # finite but beyond the bound: clipped
    assert named["loss_rel"] == 0.0 and named["fraction"] == 0.0


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0))


@settings(max_examples=100, deadline=None)
@given(
    loss=finite_or_not,
    std=finite_or_not,
    slope=finite_or_not,
    lr=st.floats(1e-30, 1e30),
    grad=finite_or_not,
    ratio=finite_or_not,
    val=st.one_of(st.none(), finite_or_not),
    best=finite_or_not,
    decrease=finite_or_not,
    cos=finite_or_not,
)
def test_encoding_is_always_finite_and_bounded(
    loss, std, slope, lr, grad, ratio, val, best, decrease, cos
):
    s = _state(
        loss_mean=loss,
        loss_std=std,
        loss_slope=slope,
        lr=lr,
        grad_norm=grad,
        update_ratio=ratio,
        val_loss=val,
        best_loss=best,
        step_decrease=decrease,
        step_cos=cos,
        charged=30,
    )
    x = encode(s)
    assert np.all(np.isfinite(x)) and np.all(np.abs(x) <= CLIP)


def test_header_mismatch_names_the_field():
    check_header(header(), "p")
    with pytest.raises(ValueError, match="feature_version 99"):
        check_header({**header(), "feature_version": 99}, "p")
    with pytest.raises(ValueError, match="n_features 3"):
        check_header({**header(), "n_features": 3}, "p")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autolr.schedules import SCHEDULES, build, cosine, one_cycle

FAMILY_SPECS = [
    {"name": "constant", "lr": 0.1},
    {"name": "step", "lr": 0.1, "step_size": 7},
    {"name": "multistep", "lr": 0.1, "milestones": [5, 9, 9]},
    {"name": "exponential", "lr": 0.1, "gamma": 0.97},
    {"name": "linear", "lr": 0.1, "total_steps": 40, "warmup_steps": 5},
    {"name": "polynomial", "lr": 0.1, "total_steps": 40, "power": 2.0},
    {"name": "cosine", "lr": 0.1, "total_steps": 40, "min_lr": 0.01, "warmup_steps": 4},
    {"name": "cosine_restarts", "lr": 0.1, "period": 8, "period_mult": 2, "decay": 0.7},
    {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5},
    {"name": "one_cycle", "max_lr": 0.1, "total_steps": 40},
    {"name": "inverse_sqrt", "lr": 0.1, "warmup_steps": 5},
    {"name": "noam", "d_model": 64, "warmup_steps": 5},
    {"name": "wsd", "lr": 0.1, "total_steps": 40, "warmup_steps": 4, "decay_steps": 10},
    {"name": "piecewise_linear", "steps": [0, 5, 30], "values": [0.0, 0.1, 0.01]},
    {"name": "tanh", "lr": 0.1, "total_steps": 40},
    {"name": "piecewise", "boundaries": [5, 10], "values": [0.1, 0.05, 0.01]},
    {"name": "wsm", "lr": 0.1, "warmup_steps": 4},
    {
        "name": "infinite",
        "lr": 0.1,
        "warmup_steps": 4,
        "cooldown_steps": 10,
        "constant_ratio": 0.4,
        "anneal_start": 30,
        "anneal_steps": 20,
        "min_lr": 0.001,
    },
]


def test_every_contract_family_is_registered():
    contract = {s["name"] for s in FAMILY_SPECS}
    assert contract <= set(SCHEDULES.names())


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=lambda s: s["name"])
def test_build_round_trip_and_vectorised_equals_per_step(spec):
    s = build(spec)
    t = np.arange(120)
    values = s.values(t)
    assert values.dtype == np.float64
    assert [s(int(k)) for k in t] == values.tolist()
    np.testing.assert_array_equal(build(s.spec).values(t), values)


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=lambda s: s["name"])
@given(steps=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30))
@settings(max_examples=25, deadline=None)
def test_values_equals_calls_for_any_steps(spec, steps):
    s = build(spec)
    assert s.values(np.asarray(steps, dtype=np.int64)).tolist() == [s(k) for k in steps]


@given(
    lr=st.floats(min_value=-10, max_value=0, allow_nan=False),
    total=st.integers(min_value=1, max_value=1000),
)
@settings(max_examples=30, deadline=None)
def test_nonpositive_lr_is_rejected_with_its_name(lr, total):
    with pytest.raises(ValueError, match=r"\blr\b"):
        cosine(lr=lr, total_steps=total)


@given(total=st.integers(max_value=0))
@settings(max_examples=20, deadline=None)
def test_bad_total_steps_is_rejected_with_its_name(total):
    with pytest.raises(ValueError, match="total_steps"):
        one_cycle(max_lr=0.1, total_steps=total)


def test_yaml_text_and_did_you_mean():
    s = build("{name: cosine, lr: 0.1, total_steps: 10}")
    assert s(10) == 0.0
    with pytest.raises(ValueError, match="did you mean 'cosine'"):
        build({"name": "cosin", "lr": 0.1, "total_steps": 10})
    with pytest.raises(ValueError, match="did you mean 'total_steps'"):
        build({"name": "cosine", "lr": 0.1, "total_step": 10})
    with pytest.raises(ValueError, match="missing required parameter 'total_steps'"):
        build({"name": "cosine", "lr": 0.1})
    with pytest.raises(ValueError, match="'name'"):
        build({"lr": 0.1})


def test_steps_must_be_nonnegative_integers():
    s = cosine(lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="steps"):
        s.values([-1, 2])
    with pytest.raises(ValueError, match="step"):
        s(1.5)

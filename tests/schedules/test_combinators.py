import numpy as np
import pytest

from autolr.schedules import (
    build,
    clamp,
    constant,
    cosine,
    join,
    linear,
    noise,
    one_cycle,
    scale,
    shift,
    warmup,
)


def test_join_parts_see_time_since_their_boundary():
    s = join([constant(lr=1.0), linear(lr=0.5, total_steps=10), constant(lr=0.1)], [5, 15])
    t = np.arange(20)
    expected = np.concatenate([np.ones(5), 0.5 * (1 - np.arange(10) / 10), np.full(5, 0.1)])
    np.testing.assert_allclose(s.values(t), expected, rtol=1e-15)


def test_join_equals_optax_join_schedules_convention():
    # optax.join_schedules([warm, decay], [w]): decay sees count - w
    w = 7
    warm = linear(lr=0.1, total_steps=w, start_factor=1e-3, end_factor=1.0)
    decay = cosine(lr=0.1, total_steps=30)
    s = join([warm, decay], [w])
    assert s(w) == decay(0) and s(w + 10) == decay(10) and s(3) == warm(3)


def test_join_carries_momentum_only_when_every_part_does():
    oc = one_cycle(max_lr=1.0, total_steps=20)
    both = join([oc, oc], [20])
    assert both.momentum is not None
    assert both.momentum(25) == oc.momentum(5)
    assert join([oc, constant(lr=1.0)], [20]).momentum is None


def test_scale_clamp_and_shift():
    base = cosine(lr=1.0, total_steps=10)
    t = np.arange(12)
    np.testing.assert_array_equal(scale(base, 0.5).values(t), 0.5 * base.values(t))
    np.testing.assert_array_equal(
        clamp(base, min_lr=0.2, max_lr=0.8).values(t), np.clip(base.values(t), 0.2, 0.8)
    )
    np.testing.assert_array_equal(shift(base, 3).values(t), base.values(t + 3))


def test_noise_is_deterministic_per_step_and_bounded():
    base = constant(lr=1.0)
    a = noise(base, pct=0.2, seed=3).values(np.arange(1000))
    b = noise(base, pct=0.2, seed=3).values(np.arange(1000))
    c = noise(base, pct=0.2, seed=4).values(np.arange(1000))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.8 and a.max() < 1.2 and abs(a.mean() - 1.0) < 0.02
    # a single step asked alone gives the same value as in the vector
    assert noise(base, pct=0.2, seed=3)(517) == a[517]


@pytest.mark.parametrize("kind", ["linear", "cosine", "exp"])
def test_warmup_combinator_ramps_to_the_schedules_start(kind):
    base = cosine(lr=1.0, total_steps=20)
    s = warmup(base, warmup_steps=5, warmup_start_lr=0.01, warmup=kind)
    assert s(0) == pytest.approx(0.01)
    assert s(5) == base(0) and s(9) == base(4)
    ramp = s.values(np.arange(5))
    assert np.all(np.diff(ramp) > 0)
    at_2_of_5 = {
        "linear": 0.01 + 0.99 * 0.4,
        "cosine": 0.01 + 0.99 * 0.5 * (1 - np.cos(np.pi * 0.4)),
        "exp": 0.01 * 100**0.4,
    }
    assert s(2) == pytest.approx(at_2_of_5[kind], rel=1e-12)


def test_nested_specs_round_trip_through_build():
    s = build(
        {
            "name": "clamp",
            "min_lr": 0.01,
            "schedule": {
                "name": "join",
                "boundaries": [10],
                "schedules": [
                    {"name": "constant", "lr": 0.5},
                    {
                        "name": "noise",
                        "pct": 0.1,
                        "seed": 1,
                        "schedule": {"name": "cosine", "lr": 0.5, "total_steps": 40},
                    },
                ],
            },
        }
    )
    again = build(s.spec)
    t = np.arange(60)
    np.testing.assert_array_equal(s.values(t), again.values(t))
    assert again.spec == s.spec


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: join([constant(lr=1.0)], [5]), "boundaries"),
        (lambda: join([constant(lr=1.0)] * 3, [5, 5]), "strictly increasing"),
        (lambda: join([], []), "schedules"),
        (lambda: scale(constant(lr=1.0), 0.0), "factor"),
        (lambda: clamp(constant(lr=1.0), min_lr=0.5, max_lr=0.1), "max_lr"),
        (lambda: noise(constant(lr=1.0), pct=1.5), "pct"),
        (lambda: warmup(constant(lr=1.0), warmup_steps=-1), "warmup_steps"),
        (lambda: shift(constant(lr=1.0), -2), "offset"),
        (lambda: scale(42, 1.0), "schedule"),
    ],
)
def test_bad_combinator_arguments_name_the_parameter(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()

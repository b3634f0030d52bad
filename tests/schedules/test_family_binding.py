"""A family's arguments are bound without ``inspect`` on the common path: the same spec,
the same values and the same errors as ``inspect.Signature.bind``."""

import inspect

import numpy as np
import pytest

from autolr.schedules.annealing import cosine
from autolr.schedules.base import _fast_binder
from autolr.schedules.combinators import scale, shift


def _reference(fn, args, kwargs):
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _plain(lr, total_steps, warmup_steps=0, *, final=1e-3):
    return None


CALLS = [
    ((0.1, 100), {}),
    ((0.1,), {"total_steps": 100}),
    ((), {"total_steps": 100, "lr": 0.1, "final": 2.0}),
    ((0.1, 100, 5), {"final": 0.0}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_fast_binding_is_inspects(args, kwargs):
    got = _fast_binder(inspect.signature(_plain))(args, kwargs)
    want = _reference(_plain, args, kwargs)
    assert got == want
    assert list(got) == list(want)  # the signature's order, as a spec records it


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0.1, 100, 5, 6), {}),  # too many positionals
        ((0.1,), {}),  # a required argument missing
        ((0.1, 100), {"lr": 0.2}),  # given twice
        ((0.1, 100), {"nope": 1}),  # unknown
    ],
)
def test_a_call_it_cannot_bind_goes_to_inspect(args, kwargs):
    assert _fast_binder(inspect.signature(_plain))(args, kwargs) is None
    with pytest.raises(TypeError):
        _reference(_plain, args, kwargs)


def test_variadic_and_positional_only_signatures_are_left_to_inspect():
    def variadic(lr, *rest):
        return None

    def positional_only(lr, /, steps=1):
        return None

    assert _fast_binder(inspect.signature(variadic))((0.1,), {}) is None
    assert _fast_binder(inspect.signature(positional_only))((0.1,), {}) is None


def test_a_built_schedule_records_every_argument_in_order():
    base = cosine(0.1, 100, warmup_steps=10)
    assert base.spec == {
        "name": "cosine",
        **_reference(cosine.__wrapped__, (0.1, 100), {"warmup_steps": 10}),
    }
    seg = scale(shift(base, 30), 1.5)
    assert seg.spec == {"name": "scale", "schedule": shift(base, 30).spec, "factor": 1.5}
    assert seg.spec["schedule"] == {"name": "shift", "schedule": base.spec, "offset": 30}
    np.testing.assert_array_equal(seg.values(np.arange(5)), 1.5 * base.values(np.arange(30, 35)))


def test_bad_calls_still_name_the_schedule():
    with pytest.raises(ValueError, match=r"schedule 'cosine'.*nope"):
        cosine(0.1, 100, nope=1)
    with pytest.raises(ValueError, match=r"schedule 'shift'.*offset"):
        shift(cosine(0.1, 100))

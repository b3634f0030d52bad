"""The describe attached to task factories, and the factories' integer parameters."""

from __future__ import annotations

import inspect

import pytest

from autolr.loop.trainee import make_task, task_info
from tasks.digits import make


def test_describe_fills_in_the_factory_defaults():
    defaults = inspect.signature(make).parameters
    info = make.describe()
    assert info.lr == defaults["lr"].default
    assert info.batch_size == defaults["batch_size"].default
    assert make.describe(lr=0.2, batch_size=7).lr == 0.2
    assert make.describe(batch_size=7).batch_size == 7
    with pytest.raises(ValueError, match=r"unknown parameter 'wdith'.*did you mean 'width'"):
        make.describe(wdith=3)


def test_integral_floats_are_ints_and_other_floats_are_refused():
    # YAML's 1e3 is 1000.0: the integer rule takes it, and the factory builds with an int.
    info = task_info({"name": "nqm", "dim": 10.0, "batch_size": 8.0})
    assert info.batch_size == 8 and isinstance(info.batch_size, int)
    trainee = make_task({"name": "nqm", "dim": 10.0, "batch_size": 8.0}, seed=1.0)
    assert trainee.info.batch_size == 8
    assert tuple(trainee.batch(0).shape) == (10,)
    with pytest.raises(ValueError, match=r"^dim must be an integer >= 1, got 2\.5$"):
        task_info({"name": "nqm", "dim": 2.5})
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1, got True$"):
        task_info({"name": "nqm", "batch_size": True})

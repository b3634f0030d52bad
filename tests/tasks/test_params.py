"""Parameter checks and the describe attached to task factories."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import params


def test_parameter_checks_name_the_value():
    assert params.integer("width", np.int64(3)) == 3
    for bad in (0, True, 2.0, "3"):
        with pytest.raises(ValueError, match=r"^width must be"):
            params.integer("width", bad)
    with pytest.raises(ValueError, match="lr must be finite and > 0, got inf"):
        params.positive("lr", float("inf"))
    with pytest.raises(ValueError, match="did you mean 'adam'"):
        params.one_of("optimizer", "adma", ("sgd", "adam"))


def test_describe_fills_in_the_factory_defaults():
    import inspect

    from tasks.digits import make

    defaults = inspect.signature(make).parameters
    info = make.describe()
    assert info.lr == defaults["lr"].default
    assert info.batch_size == defaults["batch_size"].default
    assert make.describe(lr=0.2, batch_size=7).lr == 0.2
    assert make.describe(batch_size=7).batch_size == 7
    with pytest.raises(ValueError, match=r"unknown parameter 'wdith'.*did you mean 'width'"):
        make.describe(wdith=3)

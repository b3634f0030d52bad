import os
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import pytest


def need(module: str) -> ModuleType:
    """Import an integration's library (an extra that ``[test]`` installs): skip the tests
    without it, but fail under CI, where a skip would hide a missing install."""
    if os.environ.get("CI"):
        return __import__(module)
    return pytest.importorskip(module)


def plateau_lrs(evals: Sequence[float], lr: float, better: float) -> list[float]:
    """The LRs of ``plateau`` (patience 0, factor 0.5) after each evaluation: halved after
    one that was not below ``better`` × the best so far. Checked to have cut, and not at
    every evaluation, so a test on them can tell a controller that followed them."""
    start, best, out = lr, np.inf, []
    for val in evals:
        if val < best * better:
            best = val
        else:
            lr *= 0.5
        out.append(lr)
    assert min(out) < start and len(set(out)) < len(out), out  # cut, and not always
    return out

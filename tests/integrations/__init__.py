import os
from types import ModuleType

import pytest


def need(module: str) -> ModuleType:
    """Import an integration's library (an extra that ``[test]`` installs): skip the tests
    without it, but fail under CI, where a skip would hide a missing install."""
    if os.environ.get("CI"):
        return __import__(module)
    return pytest.importorskip(module)

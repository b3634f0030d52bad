"""Fixtures shared by the bench tests."""

import pytest

from autolr.bench.store import ResultsStore


@pytest.fixture
def store(tmp_path):
    """An empty SQLite results store in the test's folder (a module may override it with a
    filled one)."""
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    yield s
    s.close()

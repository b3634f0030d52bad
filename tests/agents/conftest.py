import pytest

SMALL = {
    "train": [
        {
            "task": {"name": "nqm"},
            "params": {"dim": [10, 20], "batch_size": [8]},
            "lr_factor": {"low": 0.5, "high": 1.0, "log": True},
            "seeds": {"low": 0, "high": 100},
            "budget_steps": 40,
            "interval": 10,
        }
    ],
    "test": [
        {
            "task": {"name": "nqm", "dim": 15},
            "params": {"batch_size": [8]},
            "lr_factor": [1.0],
            "seeds": [200, 201, 202, 203, 204],
            "budget_steps": 40,
            "interval": 10,
        }
    ],
}


@pytest.fixture
def small() -> dict:
    """A tiny nqm instance set: 4 intervals of 10 steps per episode."""
    return {k: [dict(f) for f in v] for k, v in SMALL.items()}

import random

import numpy as np
import torch

from autolr.controllers import Fixed
from autolr.loop import snapshot as snapshots
from autolr.loop.session import Session
from autolr.loop.trainee import make_task
from tests.toy import ToyTrainee


def test_global_rngs_are_restored_for_a_trainee_that_uses_them():
    t = ToyTrainee(seed=0)
    assert t.uses_global_rng
    snap = snapshots.take(t, 0)
    a = (np.random.rand(), random.random())
    snapshots.restore(t, snap)
    assert (np.random.rand(), random.random()) == a


def test_tasks_that_promise_no_global_rng_skip_the_copy_but_checkpoints_keep_it():
    t = make_task({"name": "nqm"}, seed=0)
    assert not t.uses_global_rng
    snap = snapshots.take(t, 0)
    assert snap.numpy_rng is None and snap.python_rng is None
    np.random.seed(5)
    after = np.random.rand()
    snapshots.restore(t, snap)  # leaves the global RNGs alone
    assert np.random.rand() != after
    session = Session(t, Fixed({"name": "constant", "lr": 0.1}), 10, 5, eval_every=0)
    state = session.state_dict()["snapshot"]
    assert state["numpy_rng"] is not None and state["python_rng"] is not None
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    state = session.state_dict()
    np.random.rand()
    session.load_state_dict(state)
    assert np.random.rand() == expected
    assert isinstance(state["snapshot"]["numpy_rng"][1], torch.Tensor)


def test_a_checkpoint_of_another_version_is_refused_with_a_reason():
    session = Session(ToyTrainee(seed=0), Fixed({"name": "constant", "lr": 0.1}), 10, 5)
    state = session.state_dict()
    state["version"] = 1
    import pytest

    with pytest.raises(ValueError, match="checkpoint version 1 is not 2: it was written by"):
        session.load_state_dict(state)

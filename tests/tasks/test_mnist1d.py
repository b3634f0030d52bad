"""MNIST-1D generation: local, cached per data_seed, and free of global RNG side effects."""

from __future__ import annotations

import random

import numpy as np

from tasks import mnist1d as task


def test_mnist1d_generation_keeps_the_global_rngs(monkeypatch):
    monkeypatch.setattr(task, "SIZES", (160, 40, 20))  # 220 samples: generation stays fast
    random.seed(1)
    np.random.seed(1)
    splits = task.load.__wrapped__(0)
    assert (random.random(), np.random.rand()) == (
        random.Random(1).random(),
        np.random.RandomState(1).rand(),
    )
    (x_train, y_train), (x_val, y_val), (x_test, _) = splits.train, splits.val, splits.test
    assert x_train.shape == (160, 40) and x_val.shape == (40, 40) and x_test.shape == (20, 40)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert set(y_val.tolist()) <= set(range(10))
    again = task.load.__wrapped__(0).train[0]
    assert np.array_equal(again, x_train)  # data_seed fixes the data ...
    assert not np.array_equal(task.load.__wrapped__(1).train[0], x_train)  # ... and picks it

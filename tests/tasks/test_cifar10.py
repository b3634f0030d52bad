"""The CIFAR-10 pickle loader (on tiny batches written by the tests) and augmentation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from autolr.loop.trainee import make_task
from tasks import cifar10
from tests.tasks.conftest import write_cifar


def test_cifar_batches_load_with_values_and_labels(tmp_path):
    written = write_cifar(tmp_path, per_batch=6)
    x_train, y_train, x_test, y_test = cifar10.load(str(tmp_path))
    assert x_train.shape == (30, 3, 32, 32) and x_train.dtype == np.uint8
    assert np.array_equal(x_train[:6], written["data_batch_1"][0])
    assert np.array_equal(x_train[24:], written["data_batch_5"][0])
    assert np.array_equal(y_train[6:12], written["data_batch_2"][1])
    assert np.array_equal(x_test, written["test_batch"][0])
    assert np.array_equal(y_test, written["test_batch"][1])
    # channel-major rows: the first 1024 bytes of a row are the red plane
    row = written["data_batch_1"][0][2].reshape(-1)
    assert np.array_equal(x_train[2, 0].reshape(-1), row[:1024])


def test_cifar_accepts_the_parent_of_cifar_10_batches_py(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", per_batch=2)
    assert cifar10.load(str(tmp_path))[0].shape == (10, 3, 32, 32)


def test_cifar_missing_batch_names_the_file(tmp_path):
    write_cifar(tmp_path, per_batch=2)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        cifar10.load(str(tmp_path))


def test_cifar_missing_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_task({"name": "cifar10-resnet", "path": str(tmp_path / "nowhere")}, seed=0)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not a pickle", ["cannot unpickle"]),
        (pickle.dumps([1, 2]), ["b'data'"]),
        (pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}), ["3072"]),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), ["0..9"]),
    ],
)
def test_cifar_corrupt_batch_names_the_file(tmp_path, content, words):
    write_cifar(tmp_path, per_batch=2)
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(ValueError, match="test_batch") as err:
        cifar10.load(str(tmp_path))
    assert all(w in str(err.value) for w in words)


def test_crop_flip_matches_a_reference_and_is_deterministic():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).reshape(2, 3, 32, 32) % 251
    x = x.to(torch.uint8)
    out = cifar10.crop_flip(x, seed=5, i=9)
    assert torch.equal(out, cifar10.crop_flip(x, seed=5, i=9))
    assert not torch.equal(out, cifar10.crop_flip(x, seed=5, i=10))
    rng = np.random.default_rng([5, 9, 1])
    dy, dx = rng.integers(0, 9, (2, 2))
    flip = rng.random(2) < 0.5
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (4, 4), (4, 4)))
    for k in range(2):
        want = padded[k, :, dy[k] : dy[k] + 32, dx[k] : dx[k] + 32]
        if flip[k]:
            want = want[:, :, ::-1]
        assert np.array_equal(out[k].numpy(), want)

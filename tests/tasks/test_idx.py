"""The IDX parser and loader (raw and gzipped files written by the tests)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from autolr.loop.trainee import make_task
from tasks import idx
from tests.tasks.conftest import IDX_NAMES, idx_bytes, write_idx


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_raw_and_gzipped(tmp_path, gz):
    written = write_idx(tmp_path, n_train=12, n_val=5, side=7, gz=gz)
    x_train, y_train, x_val, y_val = idx.load(str(tmp_path))
    assert x_train.shape == (12, 1, 7, 7) and x_train.dtype == np.uint8
    assert np.array_equal(x_train[:, 0], written["x_train"])
    assert np.array_equal(x_val[:, 0], written["x_val"])
    assert y_train.dtype == np.int64 and np.array_equal(y_train, written["y_train"])
    assert np.array_equal(y_val, written["y_val"])


def test_read_idx_parses_big_endian_int32(tmp_path):
    values = np.array([[1, -2, 70000], [2**30, 0, -(2**31)]], dtype=">i4")
    (tmp_path / "a").write_bytes(idx_bytes(values))
    out = idx.read_idx(tmp_path / "a")
    assert out.shape == (2, 3) and out.dtype.isnative
    assert out.tolist() == values.tolist()


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda raw: b"\x12\x34" + raw[2:], ["bad magic number", "0x1234"]),
        (lambda raw: raw[:2] + b"\x42" + raw[3:], ["bad magic number"]),
        (lambda raw: raw[:-3], ["data bytes"]),
        (lambda raw: raw[:6], ["truncated"]),
    ],
)
def test_corrupt_idx_names_the_file(tmp_path, mangle, words):
    write_idx(tmp_path, n_train=8, n_val=4, side=5)
    name = IDX_NAMES["x_train"]
    (tmp_path / name).write_bytes(mangle((tmp_path / name).read_bytes()))
    with pytest.raises(ValueError, match=name) as err:
        idx.load(str(tmp_path))
    assert all(w in str(err.value) for w in words)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_idx(tmp_path, n_train=8, n_val=4, side=5, gz=True)
    name = IDX_NAMES["y_val"] + ".gz"
    (tmp_path / name).write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=name):
        idx.load(str(tmp_path))


def test_idx_label_count_mismatch_names_the_file(tmp_path):
    write_idx(tmp_path, n_train=8, n_val=4, side=5)
    name = IDX_NAMES["y_train"]
    (tmp_path / name).write_bytes(idx_bytes(np.zeros(7, np.uint8)))
    with pytest.raises(ValueError, match=name):
        idx.load(str(tmp_path))


def test_idx_missing_file_and_missing_path_are_named(tmp_path):
    write_idx(tmp_path / "data", n_train=8, n_val=4, side=5)
    (tmp_path / "data" / IDX_NAMES["x_val"]).unlink()
    with pytest.raises(FileNotFoundError, match=IDX_NAMES["x_val"]):
        idx.load(str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_task({"name": "idx-cnn", "path": str(tmp_path / "nowhere")}, seed=0)


def test_idx_cnn_keeps_uint8_and_standardizes_with_training_statistics(data_dir):
    spec = {"name": "idx-cnn", "path": str(data_dir / "idx_gz"), "batch_size": 16}
    trainee = make_task(spec, seed=0)
    x, y = trainee.batch(0)
    assert x.dtype == torch.uint8 and x.shape == (16, 1, 12, 12)
    assert y.dtype == torch.int64 and y.shape == (16,)
    z = trainee.model[0](trainee.stream.tensors[0])
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1) < 1e-3


def test_gzip_helper_round_trips(tmp_path):
    # guards the fixture itself: the .gz files really are gzip
    write_idx(tmp_path, n_train=4, n_val=2, side=3, gz=True)
    raw = gzip.decompress((tmp_path / (IDX_NAMES["y_train"] + ".gz")).read_bytes())
    assert raw[:4] == bytes([0, 0, 8, 1])

"""Language-model corpora: a UTF-8 text file and the standard library's sources."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from autolr.loop.trainee import make_task
from tasks import corpora


def test_text_lm_reads_the_file_split_80_10_10(data_dir):
    path = data_dir / "text.txt"
    trainee = make_task({"name": "text-lm", "path": str(path), "seq_len": 16}, seed=0)
    data = path.read_bytes()
    held = len(data) // 10
    val_at, test_at = len(data) - 2 * held, len(data) - held
    assert bytes(trainee.stream.tokens.tolist()) == data[:val_at]
    x, y = trainee.batch(4)
    assert x.shape == (32, 16) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    assert bytes(trainee.windows["val"][0].tolist()) == data[val_at : val_at + 17]
    assert bytes(trainee.windows["val"][-1].tolist()) == data[test_at - 17 : test_at]
    assert bytes(trainee.windows["test"][0].tolist()) == data[test_at : test_at + 17]
    assert bytes(trainee.windows["test"][-1].tolist()) == data[-17:]
    # 128 validation and 512 test windows; the parts are short, so the windows overlap and
    # a part's size is every byte it predicts (on stdlib-lm: 128 and 512 times seq_len)
    assert len(trainee.windows["val"]) == 128 and len(trainee.windows["test"]) == 512
    assert held < 128 * 16
    sizes = trainee.split_sizes()
    assert (sizes.val, sizes.test, sizes.unit) == (held - 1, held - 1, "bytes")


def test_text_lm_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        make_task({"name": "text-lm", "path": str(missing)}, seed=0)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe" * 5000)
    with pytest.raises(ValueError, match=r"binary\.txt.*UTF-8"):
        make_task({"name": "text-lm", "path": str(binary)}, seed=0)
    small = tmp_path / "small.txt"
    small.write_text("tiny " * 100)
    with pytest.raises(ValueError, match=r"small\.txt.*seq_len=64"):
        make_task({"name": "text-lm", "path": str(small)}, seed=0)


def test_stdlib_corpus_is_deterministic_split_by_file_and_capped():
    splits = corpora.stdlib_corpus(0, 300_000)
    (train,), (val,), (test,) = splits.train, splits.val, splits.test
    again = corpora.stdlib_corpus.__wrapped__(0, 300_000)
    assert again.checksum() == splits.checksum()
    # files are taken until the cap is passed, each cut to FILE_BYTES
    assert 300_000 <= len(train) + len(val) + len(test) < 300_000 + corpora.FILE_BYTES
    assert 0 < len(val) < len(train) and 0 < len(test) < len(train)
    other = corpora.stdlib_corpus(1, 300_000)
    assert not np.array_equal(train[:1000], other.train[0][:1000])  # data_seed picks the files


def test_stdlib_sources_exclude_tests_and_site_packages():
    root = Path(sysconfig.get_paths()["stdlib"])
    files = corpora.stdlib_sources(root)
    assert files == sorted(files) and len(files) > 100
    parts = {p for f in files for p in f.relative_to(root).parts[:-1]}
    assert not parts & {"test", "tests", "site-packages", "__pycache__"}
    assert root / "os.py" in files


def test_stdlib_corpus_falls_back_to_pydoc_topics(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    splits = corpora.stdlib_corpus.__wrapped__(0, 300_000)
    (train,), (val,), (test,) = splits.train, splits.val, splits.test
    import pydoc_data.topics

    text = b"".join([train.tobytes(), val.tobytes(), test.tobytes()]).decode("utf-8")
    assert text.startswith(pydoc_data.topics.topics[sorted(pydoc_data.topics.topics)[0]])
    assert len(val) == len(test) == len(text.encode()) // 10 > 1000
    assert len(train) > 7 * len(val)

"""Train / validation / test splits: disjoint, of the documented sizes, seeded by data_seed;
and each task's data checksum, pinned so that a change in the data fails a test."""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest

from autolr.loop.trainee import SplitSizes, make_task
from tasks import cifar10, corpora, digits, idx, mnist1d
from tasks.splits import Splits, carve
from tests.tasks.test_contract import NAMES, spec


def rows(part: tuple[np.ndarray, ...]) -> list[bytes]:
    """Each example (x and y) of a part as bytes, sorted: a multiset of rows."""
    x, y = part
    return sorted(xi.tobytes() + yi.tobytes() for xi, yi in zip(x, y, strict=True))


def assert_partition(splits: Splits, whole: tuple[np.ndarray, ...]) -> None:
    """The three parts hold exactly the rows of ``whole``, each row once."""
    assert sorted(rows(splits.train) + rows(splits.val) + rows(splits.test)) == rows(whole)


def test_carve_cuts_one_seeded_permutation_into_disjoint_sorted_sets():
    train, val, test = carve(100, 20, 15, data_seed=3)
    assert (len(train), len(val), len(test)) == (65, 20, 15)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert all(np.all(np.diff(part) > 0) for part in (train, val, test))
    again = carve(100, 20, 15, data_seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(val, carve(100, 20, 15, data_seed=4)[1])
    with pytest.raises(ValueError, match="100"):
        carve(100, 60, 40, data_seed=0)


def test_digits_splits_are_disjoint_and_sized_359_359_1079():
    from sklearn.datasets import load_digits

    data = load_digits()
    whole = ((data.images / 16.0).astype(np.float32)[:, None], data.target.astype(np.int64))
    splits = digits.load(0)
    assert [len(p[0]) for p in (splits.train, splits.val, splits.test)] == [1079, 359, 359]
    assert_partition(splits, whole)
    # the validation images are those of the split before test existed (order[:359])
    before = np.random.default_rng(0).permutation(1797)[:359]
    assert rows(splits.val) == rows((whole[0][before], whole[1][before]))
    assert rows(digits.load(1).test) != rows(splits.test)  # data_seed draws the split


def test_mnist1d_splits_are_disjoint_and_sized_4000_1000_1000():
    splits = mnist1d.load(0)
    assert [len(p[0]) for p in (splits.train, splits.val, splits.test)] == [4000, 1000, 1000]
    signals = [{x.tobytes() for x in part[0]} for part in (splits.train, splits.val, splits.test)]
    assert [len(s) for s in signals] == [4000, 1000, 1000]  # no signal twice, in or across
    assert not (signals[0] & signals[1] or signals[0] & signals[2] or signals[1] & signals[2])
    assert all(set(part[1].tolist()) == set(range(10)) for part in (splits.val, splits.test))


@pytest.mark.parametrize(("module", "folder"), [(cifar10, "cifar"), (idx, "idx")])
def test_file_tasks_carve_validation_from_training_and_test_is_the_test_file(
    module, folder, data_dir
):
    path = str(data_dir / folder)
    x_train, y_train, x_test, y_test = module.load(path)
    splits = module.splits(path, 0)
    n_val = round(module.VAL_FRACTION * len(y_train))  # 5 of 50 (cifar), 5 of 64 (idx)
    assert n_val == 5
    assert (len(splits.train[0]), len(splits.val[0])) == (len(y_train) - 5, 5)
    assert rows(splits.test) == rows((x_test, y_test))
    train_and_val = Splits(splits.train, splits.val, (x_test[:0], y_test[:0]))
    assert_partition(train_and_val, (x_train, y_train))
    assert rows(module.splits(path, 1).val) != rows(splits.val)  # data_seed draws the split


def test_stdlib_splits_are_by_file(tmp_path, monkeypatch):
    for k in range(30):  # 30 files, each a distinct line repeated
        (tmp_path / f"m{k:02d}.py").write_text(f"# module {k:02d}\n" * 100)
    monkeypatch.setattr(corpora.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    splits = corpora.stdlib_corpus.__wrapped__(0, 100_000)
    parts = [set(p[0].tobytes().decode().splitlines()) for p in (splits.train, splits.val)]
    parts.append(set(splits.test[0].tobytes().decode().splitlines()))
    assert [len(p) for p in parts] == [24, 3, 3]  # files k % 10 == 9 (val), == 8 (test)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


# Sizes of the validation and test sets, at the contract tests' small parameters.
SIZES = {
    "nqm": None,
    "powerlaw": SplitSizes(1024, 1024, "examples"),
    "digits-cnn": SplitSizes(359, 359, "examples"),
    "mnist1d-mlp": SplitSizes(1000, 1000, "examples"),
    "mnist1d-cnn": SplitSizes(1000, 1000, "examples"),
    "stdlib-lm": SplitSizes(128 * 32, 512 * 32, "bytes"),  # windows x seq_len, at most
    "text-lm": SplitSizes(644, 644, "bytes"),  # short parts: every byte but the first
    "continual-lm": SplitSizes(2 * 128 * 32, 2 * 512 * 32, "bytes"),  # two corpora, at most
    "cifar10-resnet": SplitSizes(5, 10, "examples"),
    "idx-cnn": SplitSizes(5, 20, "examples"),
}


@pytest.mark.parametrize("name", NAMES)
def test_every_task_scores_both_splits_and_says_their_sizes(name, data_dir):
    trainee = make_task(spec(name, data_dir), seed=0)
    want = SIZES[name]
    if name == "stdlib-lm":  # the small corpus's test part (its size varies with Python)
        want = SplitSizes(want.val, min(want.test, len(trainee.splits.test[0]) - 1), "bytes")
    if name == "continual-lm":  # each corpus's test part, as stdlib-lm's
        test = sum(min(512 * 32, len(s.test[0]) - 1) for s in trainee.splits.values())
        want = SplitSizes(want.val, test, "bytes")
    assert trainee.split_sizes() == want
    val, test = trainee.evaluate("val"), trainee.evaluate("test")
    assert trainee.evaluate() == val and trainee.model.training
    assert all(type(v) is float and np.isfinite(v) for v in (*val, *test))
    assert (val == test) == (name == "nqm")  # the NQM's test is its exact loss, as val
    with pytest.raises(ValueError, match="split"):
        trainee.evaluate("train")


# SHA-256 of each task's data (tasks.splits.Splits.checksum). A change here means the data
# changed: a new numpy/scipy/mnist1d/scikit-learn release, another Python version (for
# stdlib-lm), or a change in how the splits are cut. Numbers from before and after such a
# change are not comparable; update a pin only knowingly.
DEFAULT_SHA256 = {
    "nqm": "9db61213bad22403c1204874d429c2065ccd6927fdae3374a6e290fd5d340934",
    "powerlaw": "623393e354e80b828ff0d7bef665b7d40579f807603a3c53b005891af9402cbd",
    "digits-cnn": "36e7ae0d6adf2e579cc79bfbc7ca9e1589ff23fbfbe60de7dee3d0257e78daac",
    "mnist1d-mlp": "4d383122dcac06c0fff73365a78f95b240f2a306381deda7901c41606f967e43",
    "mnist1d-cnn": "4d383122dcac06c0fff73365a78f95b240f2a306381deda7901c41606f967e43",
}
# the stdlib's sources differ between Python releases: pinned for this one
STDLIB_PYTHON = "3.11.7"
STDLIB_SHA256 = "e15495a31e07769f9049062cbf29bd32ab0a1e564b3845ea0bbfcdb23b7cc5b7"
# continual-lm at its defaults (stdlib-py, then stdlib-docs): the same Python
CONTINUAL_SHA256 = "fd9768e41e25434d5d08a56ab12cf4f4c5b5a686618906476b7ceaeb7b11adb2"
# the small files that tests/tasks/conftest.py writes
FILE_SHA256 = {
    "text-lm": "64705b8941102cbdb76a1f136aa1de6ab2a53139a0e0c1f73e1b1c6bc93ba575",
    "cifar10-resnet": "ee6c5cdbaf3608c5dee8df48a24518ee693447688b9f3937cffca5c75f6a1744",
    "idx-cnn": "befa577bf2f541f93387efb99cd5e8e4861954b952a9163f53aca9be7d6aca0f",
}


@pytest.mark.parametrize("name", sorted(DEFAULT_SHA256))
def test_the_data_of_each_task_at_its_defaults_is_pinned(name):
    assert make_task(name, seed=0).data_checksum() == DEFAULT_SHA256[name]
    assert make_task(name, seed=1).data_checksum() == DEFAULT_SHA256[name]  # not the run seed


@pytest.mark.skipif(
    platform.python_version() != STDLIB_PYTHON,
    reason=f"stdlib-lm's checksum is pinned for Python {STDLIB_PYTHON}",
)
def test_the_stdlib_corpus_is_pinned():
    assert sys.version_info[:2] == (3, 11)
    assert make_task("stdlib-lm", seed=0).data_checksum() == STDLIB_SHA256


@pytest.mark.skipif(
    platform.python_version() != STDLIB_PYTHON,
    reason=f"continual-lm's checksum is pinned for Python {STDLIB_PYTHON}",
)
def test_the_continual_corpora_are_pinned():
    assert make_task("continual-lm", seed=0).data_checksum() == CONTINUAL_SHA256
    # the run seed and the phases are no data; the order of the corpora is
    moved = {"name": "continual-lm", "switch_at": [0.3]}
    assert make_task(moved, seed=1).data_checksum() == CONTINUAL_SHA256
    swapped = {"name": "continual-lm", "corpora": ["stdlib-docs", "stdlib-py"]}
    assert make_task(swapped, seed=0).data_checksum() != CONTINUAL_SHA256


@pytest.mark.parametrize("name", sorted(FILE_SHA256))
def test_the_file_tasks_data_on_the_test_files_is_pinned(name, data_dir):
    assert make_task(spec(name, data_dir), seed=0).data_checksum() == FILE_SHA256[name]
    if name == "idx-cnn":  # gzipped or raw, the data are the same
        gz = spec(name, data_dir, path=str(data_dir / "idx_gz"))
        assert make_task(gz, seed=0).data_checksum() == FILE_SHA256[name]


def test_the_checksum_sees_a_moved_boundary_and_a_changed_value():
    x, y = np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6)
    base = Splits.by_index((x, y), carve(6, 2, 1, data_seed=0))
    moved = Splits.by_index((x, y), carve(6, 1, 2, data_seed=0))
    assert base.checksum() != moved.checksum()
    changed = x.copy()
    changed[0, 0] = 0.5
    assert Splits.by_index((changed, y), carve(6, 2, 1, 0)).checksum() != base.checksum()
    # the byte order of the stored arrays does not matter: the form is little-endian
    swapped = Splits.by_index((x.astype(">f4"), y.astype(">i8")), carve(6, 2, 1, 0))
    assert swapped.checksum() == base.checksum()

"""Every registered task honours the Trainee contract, at tiny sizes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autolr.loop import snapshot
from autolr.loop.trainee import TASKS, TaskInfo, Trainee, make_task, task_info

# Small parameters per task; "{data}" is replaced by the session's data folder.
SMALL: dict[str, dict[str, Any]] = {
    "nqm": {"dim": 20},
    "powerlaw": {"dim": 20, "batch_size": 16},
    "digits-cnn": {"width": 8, "depth": 2, "batch_size": 32},
    "mnist1d-mlp": {"width": 32, "depth": 1, "batch_size": 32},
    "mnist1d-cnn": {"width": 8, "depth": 2, "batch_size": 32, "lr": 0.1},
    "stdlib-lm": {
        "width": 32,
        "depth": 1,
        "heads": 2,
        "seq_len": 32,
        "batch_size": 8,
        "corpus_bytes": 200_000,
        "lr": 1e-2,
    },
    "continual-lm": {
        "width": 32,
        "depth": 1,
        "heads": 2,
        "seq_len": 32,
        "batch_size": 8,
        "corpus_bytes": 200_000,
        "lr": 1e-2,
    },
    "text-lm": {
        "path": "{data}/text.txt",
        "width": 32,
        "depth": 1,
        "heads": 2,
        "seq_len": 16,
        "batch_size": 8,
        "lr": 1e-2,
    },
    "cifar10-resnet": {"path": "{data}/cifar", "width": 4, "depth": 1, "batch_size": 8},
    "idx-cnn": {"path": "{data}/idx", "width": 4, "depth": 2, "batch_size": 8, "lr": 0.01},
}
NAMES = sorted(SMALL)


def spec(name: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    params = {
        k: v.replace("{data}", str(data_dir)) if isinstance(v, str) else v
        for k, v in SMALL[name].items()
    }
    return {"name": name, **params, **extra}


def train(trainee: Trainee, steps: int) -> list[float]:
    losses = []
    for i in range(steps):
        trainee.optimizer.zero_grad(set_to_none=True)
        loss = trainee.loss(trainee.batch(i))
        loss.backward()
        trainee.optimizer.step()
        losses.append(loss.item())
    return losses


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return all(same(x, y) for x, y in zip(a, b, strict=True))


def test_every_task_in_the_tasks_package_is_covered():
    ours = [n for n in TASKS.names() if TASKS.get(n).__module__.startswith("tasks.")]
    assert ours == NAMES
    assert all(callable(getattr(TASKS.get(n), "describe", None)) for n in ours)


@pytest.mark.parametrize("name", NAMES)
def test_describe_matches_the_built_trainee(name, data_dir):
    trainee = make_task(spec(name, data_dir), seed=0)
    assert isinstance(trainee.info, TaskInfo)
    assert trainee.info == task_info(spec(name, data_dir))
    assert trainee.info.name == name
    assert trainee.info.lr == trainee.optimizer.param_groups[0]["lr"]
    assert trainee.info.min_lr < trainee.info.lr < trainee.info.max_lr
    assert trainee.seed == 0 and trainee.device == torch.device("cpu")


@pytest.mark.parametrize("name", NAMES)
def test_describe_reads_no_data(name, tmp_path):
    # a path that does not exist: describe must not look at it
    params = {"path": str(tmp_path / "absent")} if "path" in SMALL[name] else {}
    info = task_info({"name": name, **params})
    assert info.name == name and info.budget_steps > 0 and info.eval_every > 0
    assert info.mode in ("max", "min") and info.kind in ("vision", "language", "synthetic")


@pytest.mark.parametrize("name", NAMES)
def test_training_loss_falls(name, data_dir):
    losses = train(make_task(spec(name, data_dir), seed=0), steps=60)
    assert all(math.isfinite(v) for v in losses)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.9 * first, (first, last)


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_a_function_of_seed_and_index(name, data_dir):
    a = make_task(spec(name, data_dir), seed=0)
    b = make_task(spec(name, data_dir), seed=0)
    c = make_task(spec(name, data_dir), seed=1)
    steps = [0, 1, 7, 23, 61]  # 61 is in a later epoch for the tiny file tasks
    forward = [a.batch(i) for i in steps]
    backward = [b.batch(i) for i in reversed(steps)][::-1]
    for i, x, y in zip(steps, forward, backward, strict=True):
        assert same(x, y), i
        assert same(x, a.batch(i)), i  # asking again gives the same batch
        assert not same(x, c.batch(i)), i
    assert not same(forward[0], forward[1])


@pytest.mark.parametrize("name", NAMES)
def test_seed_sets_the_initial_parameters(name, data_dir):
    a = make_task(spec(name, data_dir), seed=3).model.state_dict()
    b = make_task(spec(name, data_dir), seed=3).model.state_dict()
    c = make_task(spec(name, data_dir), seed=4).model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_building_leaves_the_global_rng_alone(name, data_dir):
    torch.manual_seed(123)
    np.random.seed(123)
    make_task(spec(name, data_dir), seed=0).batch(0)
    after = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    assert torch.equal(after[0], torch.rand(3))
    assert np.array_equal(after[1], np.random.rand(3))


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_gives_finite_floats_and_keeps_train_mode(name, data_dir):
    trainee = make_task(spec(name, data_dir), seed=0)
    val_loss, val_metric = trainee.evaluate()
    assert type(val_loss) is float and type(val_metric) is float
    assert math.isfinite(val_loss) and math.isfinite(val_metric)
    assert trainee.model.training
    assert trainee.evaluate() == (val_loss, val_metric)  # a fixed validation set
    if trainee.info.metric == "accuracy":
        assert 0.0 <= val_metric <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_snapshot_restore_replays_the_same_losses(name, data_dir):
    trainee = make_task(spec(name, data_dir), seed=0)
    train(trainee, 3)
    snap = snapshot.take(trainee, cursor=3)

    def segment() -> list[float]:
        out = []
        for i in range(3, 8):
            trainee.optimizer.zero_grad(set_to_none=True)
            loss = trainee.loss(trainee.batch(i))
            loss.backward()
            trainee.optimizer.step()
            out.append(loss.item())
        return out

    first = segment()
    snapshot.restore(trainee, snap)
    assert segment() == first


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("digits-cnn", {"width": 0}, ["width", "0"]),
        ("mnist1d-cnn", {"depth": -1}, ["depth", "-1"]),
        ("mnist1d-mlp", {"batch_size": 2.5}, ["batch_size", "2.5"]),
        ("digits-cnn", {"lr": -0.1}, ["lr", "-0.1"]),
        ("digits-cnn", {"lr": float("nan")}, ["lr", "nan"]),
        ("digits-cnn", {"optimizer": "rmsprop"}, ["optimizer", "rmsprop"]),
        ("digits-cnn", {"weight_decay": -1.0}, ["weight_decay"]),
        ("digits-cnn", {"data_seed": -2}, ["data_seed", "-2"]),
        ("nqm", {"dim": 0}, ["dim", "0"]),
        ("stdlib-lm", {"width": 30, "heads": 4}, ["width", "heads"]),
        ("stdlib-lm", {"seq_len": 0}, ["seq_len", "0"]),
        ("digits-cnn", {"widht": 8}, ["unknown parameter", "widht", "width"]),
        ("text-lm", {}, ["path"]),
        ("continual-lm", {"corpora": ["stdlib-py", "txt"]}, ["corpora", "txt", "text"]),
        ("continual-lm", {"switch_at": [0.0]}, ["switch_at", "0.0"]),
        ("idx-cnn", {"path": "", "width": 4}, ["path"]),
        ("cifar10-resnet", {"path": 3}, ["path", "3"]),
    ],
)
def test_bad_parameters_are_named(name, params, words):
    builds = [
        lambda: task_info({"name": name, **params}),
        lambda: make_task({"name": name, **params}, seed=0),
    ]
    for build in builds:
        with pytest.raises(ValueError) as err:
            build()
        for word in words:
            assert word in str(err.value)


def test_bad_seed_is_named():
    with pytest.raises(ValueError, match="seed"):
        make_task("nqm", seed=-1)


def test_batch_size_larger_than_the_data_is_refused(data_dir):
    with pytest.raises(ValueError, match="batch_size"):
        make_task(spec("idx-cnn", data_dir, batch_size=65), seed=0)

"""``--tensorboard DIR`` on ``autolr run`` and ``autolr bench``: the event files hold the LR,
losses, metrics and controller stats of the run, as the run recorded them."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from autolr.bench import ResultsStore
from autolr.cli import main
from autolr.integrations.extras import MissingExtra
from autolr.integrations.tensorboard import TensorBoardLog, metric_tag
from tests.integrations import need

need("tensorboard")

CFG = {
    "task": {"name": "nqm"},
    "controller": {"name": "auto"},
    "budget_steps": 80,
    "interval": 10,
    "eval_every": 40,
    "seed": 1,
}


def scalars(logdir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag in ``logdir``'s event files: (steps, values), as TensorBoard reads
    them (earlier runs' events purged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        out[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
    return out


def metrics_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_cli(tmp_path: Path, cfg: dict, logdir: Path, *extra: str) -> int:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    args = ["run", str(config), "--out", str(out), "--quiet", "--tensorboard", str(logdir)]
    return main([*args, *extra])


def test_run_writes_lr_losses_metrics_and_controller_stats(tmp_path):
    logdir = tmp_path / "tb"
    assert run_cli(tmp_path, CFG, logdir) == 0
    got = scalars(logdir)
    rows = metrics_csv(tmp_path / "out" / "metrics.csv")
    kept = [r for r in rows if r["lr"]]  # step 0 holds only the initial evaluation
    steps = np.array([int(r["step"]) for r in kept])
    assert steps.tolist() == list(range(1, len(kept) + 1))
    # TensorBoard stores float32: the per-step LR and loss, step for step
    for tag, column in (("lr", "lr"), ("train/loss", "train_loss")):
        np.testing.assert_array_equal(got[tag][0], steps)
        expected = np.array([float(r[column]) for r in kept], dtype=np.float32)
        np.testing.assert_array_equal(got[tag][1], expected)
    evals = [r for r in rows if r["val_loss"]]
    np.testing.assert_array_equal(got["val/loss"][0], [int(r["step"]) for r in evals])
    np.testing.assert_array_equal(
        got["val/loss"][1], np.array([float(r["val_loss"]) for r in evals], np.float32)
    )
    np.testing.assert_array_equal(
        got["val/metric"][1], np.array([float(r["val_metric"]) for r in evals], np.float32)
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert got["test/loss"][1][-1] == np.float32(summary["final_test_loss"])
    assert got["test/metric"][1][-1] == np.float32(summary["final_test_metric"])
    # the ledger and the controller's own numbers, after every turn; the last ones are the
    # summary's
    assert got["budget/charged"][1][-1] == summary["steps_charged"] == CFG["budget_steps"]
    assert got["budget/probes"][1][-1] == summary["steps_probed"] > 0
    stats = summary["controller_stats"]
    assert got["controller/probe_steps"][1][-1] == stats["probe_steps"]
    assert got["controller/peak_lr"][1][-1] == np.float32(stats["peak_lr"])


def test_a_second_run_into_the_folder_replaces_the_first_in_tensorboard(tmp_path):
    logdir = tmp_path / "tb"
    plateau = {**CFG, "controller": {"name": "plateau", "lr": 0.05}}
    assert run_cli(tmp_path, plateau, logdir) == 0
    assert (
        run_cli(
            tmp_path,
            {**plateau, "controller": {"name": "plateau", "lr": 0.02}},
            logdir,
            "--overwrite",
        )
        == 0
    )
    assert len(list(logdir.glob("events.out.tfevents.*"))) == 2
    steps, lrs = scalars(logdir)["lr"]
    # the first run's events are purged: each step once, at the second run's LR
    assert steps.tolist() == list(range(1, 81))
    assert lrs[0] == np.float32(0.02)


def test_metric_tags_name_the_tasks_metric():
    assert metric_tag("val", "accuracy") == "val/accuracy"
    assert metric_tag("test", "bits_per_byte") == "test/bits_per_byte"
    assert metric_tag("val", "loss") == "val/metric"  # val/loss is the split's loss


@pytest.mark.parametrize(
    "workers",
    # in worker processes too, each writing the folders of the cells it runs (slow: two
    # spawned processes that import torch)
    [1, pytest.param(2, marks=pytest.mark.slow)],
)
def test_bench_writes_one_folder_per_cell(tmp_path, workers):
    suite = {
        "name": "tb",
        "seeds": [0, 1],
        "tuning_seeds": [100],
        "interval": 10,
        "grid": {"points": 2, "span": 2},
        "tasks": [{"name": "toy", "budget_steps": 40, "eval_every": 20}],
        "baselines": [{"name": "constant"}],
        "controllers": [{"name": "plateau", "patience": 1}],
        "replay": False,
    }
    logdir = tmp_path / "tb"
    out = tmp_path / "b"
    args = ["bench", yaml.safe_dump(suite), "--out", str(out), "--quiet", "--workers", str(workers)]
    assert main([*args, "--tensorboard", str(logdir)]) == 0
    folders = sorted(str(p.parent.relative_to(logdir)) for p in logdir.rglob("events.*"))
    store = ResultsStore(f"sqlite:///{tmp_path / 'b' / 'results.db'}")
    cells = store.done_cells("tb")
    store.close()
    peaks = sorted({c["peak_lr"] for c in cells if c["track"] == "tune"})
    assert folders == sorted(
        [f"toy/constant/tune-lr{p:g}/seed100" for p in peaks]
        + ["toy/constant/seed0", "toy/constant/seed1", "toy/plateau/seed0", "toy/plateau/seed1"]
    )
    # a cell's LR curve, as the store holds it
    cell = next(c for c in cells if c["method"] == "plateau" and c["seed"] == 1)
    store = ResultsStore(f"sqlite:///{tmp_path / 'b' / 'results.db'}")
    curve = store.curves(cell["key"])["lr"]
    store.close()
    lr = scalars(logdir / "toy" / "plateau" / "seed1")["lr"][1]
    np.testing.assert_array_equal(lr, curve.astype(np.float32))


def test_without_tensorboard_the_error_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails
    with pytest.raises(MissingExtra, match=r"pip install 'autolr\[tensorboard\]'"):
        TensorBoardLog(tmp_path / "tb")
    assert run_cli(tmp_path, CFG, tmp_path / "tb") == 2
    assert "autolr[tensorboard]" in capsys.readouterr().err
    assert not (tmp_path / "tb").exists() and not (tmp_path / "out").exists()

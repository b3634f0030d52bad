import csv
import json

import numpy as np
import pytest

import autolr
from autolr.cli import main
from autolr.running.io import _umask

CONFIG = {
    "task": {"name": "toy"},
    "controller": {"name": "plateau", "patience": 1, "factor": 0.5},
    "budget_steps": 120,
    "interval": 10,
    "eval_every": 30,
    "seed": 3,
}


def test_run_writes_every_output(tmp_path):
    result = autolr.run(CONFIG, out=tmp_path)
    for name in (
        "metrics.csv",
        "summary.json",
        "checkpoint.pt",
        "lr.png",
        "loss.png",
        "config.yaml",
    ):
        assert (tmp_path / name).is_file(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    mode = (tmp_path / "summary.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()  # not mkstemp's 0600
    for key in (
        "final_val_metric",
        "final_val_loss",
        "final_train_loss",
        "best_val_metric",
        "steps_trained",
        "steps_probed",
        "rollbacks",
        "wall_time_s",
        "steps_to_target",
    ):
        assert key in summary
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["steps_trained"] == 120 and summary["steps_probed"] == 0
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert len(rows) == 121  # the step-0 evaluation, then one row per step
    evaluated = [int(r["step"]) for r in rows if r["val_metric"]]
    assert evaluated == [0, 30, 60, 90, 120]
    assert float(rows[-1]["val_metric"]) == summary["final_val_metric"]
    lrs = np.array([float(r["lr"]) for r in rows[1:]])
    np.testing.assert_array_equal(lrs, result.history.step_array("lr"))


def test_steps_to_target_is_the_first_evaluation_reaching_and_holding_it(tmp_path):
    result = autolr.run({**CONFIG, "controller": {"name": "plateau"}}, out=None)
    metrics = result.history.eval_array("val_metric")
    steps = result.history.eval_array("step")
    hit = metrics >= -0.05
    # reached there and still reached at the next evaluation (or it is the last one)
    held = [i for i in range(hit.size) if hit[i] and (i + 1 == hit.size or hit[i + 1])]
    assert result.summary["steps_to_target"] == (int(steps[held[0]]) if held else None)


class Killed(Exception):
    pass


def test_resume_equals_an_uninterrupted_run(tmp_path):
    full = autolr.run(CONFIG, out=tmp_path / "full")

    def kill(session):
        if session.step >= 70:
            raise Killed

    with pytest.raises(Killed):
        autolr.run({**CONFIG, "checkpoint_every": 20}, out=tmp_path / "cut", callbacks=[kill])
    resumed = autolr.run({**CONFIG, "checkpoint_every": 20}, out=tmp_path / "cut", resume=True)
    for col in ("lr", "train_loss", "step", "charged"):
        np.testing.assert_array_equal(resumed.history.step_array(col), full.history.step_array(col))
    np.testing.assert_array_equal(
        resumed.history.eval_array("val_metric"), full.history.eval_array("val_metric")
    )
    a = (tmp_path / "full" / "metrics.csv").read_text()
    b = (tmp_path / "cut" / "metrics.csv").read_text()
    assert a == b


def test_resume_with_a_different_config_is_refused(tmp_path):
    autolr.run(CONFIG, out=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        autolr.run({**CONFIG, "seed": 4}, out=tmp_path, resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    autolr.run(CONFIG, out=tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    refused = r"checkpoint\.pt was refused: it is not a torch file"
    with pytest.raises(ValueError, match=refused) as e:
        autolr.run(CONFIG, out=tmp_path, resume=True)
    assert "weights_only" not in str(e.value)  # never the advice to load it unsafely


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"budget_steps": 0}, "budget_steps"),
        ({"interval": "ten"}, "interval"),
        ({"intervall": 5}, "did you mean 'interval'"),
        ({"task": {"name": "toyy"}}, "did you mean 'toy'"),
        ({"task": {"name": "toy", "groups": 3}}, "groups"),
        ({"task": {"name": "toy", "widht": 3}}, "widht"),
        ({"controller": {"name": "plateu"}}, "did you mean 'plateau'"),
        (
            {
                "controller": {
                    "name": "fixed",
                    "schedule": {"name": "cosine", "lr": 0.1, "total_steps": 0},
                }
            },
            "total_steps",
        ),
        ({"controller": {"name": "fixed", "schedule": {"name": "cosinus"}}}, "cosine"),
        ({"device": "tpu"}, "device"),
        ({"lr_scale": [1.0, 2.0]}, "lr_scale"),
        ({"lr_multipliers": [1.0, 2.0]}, "lr_scale"),
        ({"lr_scale": [1.0], "lr_multipliers": [1.0]}, "clash"),
    ],
)
def test_bad_config_names_the_key_and_writes_nothing(tmp_path, change, needle):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=needle):
        autolr.run({**CONFIG, **change}, out=out)
    assert not out.exists()


def test_cli_run_with_set_overrides(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "task: {name: toy}\ncontroller: {name: greedy}\nbudget_steps: 40\ninterval: 10\n"
    )
    out = tmp_path / "out"
    code = main(
        [
            "run",
            str(cfg),
            "--set",
            "seed=2",
            "--set",
            "controller.factor=0.8",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 2 and summary["steps_trained"] == 40
    code = main(["run", str(cfg), "--set", "budget_steps=-1", "--out", str(tmp_path / "x")])
    assert code == 2 and "budget_steps" in capsys.readouterr().err


def test_cli_find_lr(tmp_path, capsys):
    plot = tmp_path / "f.png"
    assert (
        main(
            [
                "find-lr",
                "--task",
                "toy",
                "--start-lr",
                "1e-4",
                "--end-lr",
                "10",
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "valley" in out and "steepest" in out and plot.is_file()


def test_fixed_schedule_defaults_to_the_task_lr_and_the_budget():
    cfg = {**CONFIG, "controller": {"name": "fixed", "schedule": {"name": "cosine"}}}
    result = autolr.run(cfg)
    expected = autolr.schedules.cosine(lr=0.05, total_steps=120).values(np.arange(120))
    np.testing.assert_allclose(result.history.step_array("lr"), expected, rtol=1e-15)

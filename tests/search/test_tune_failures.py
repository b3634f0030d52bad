"""`autolr tune` stops on search spaces that cannot run: statically before any trial, and
after `max_failures` failed trials in a row at run time; failed trials count toward
`--trials`; a progress line per trial; no Optuna deprecation or experimental notices."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from autolr.cli import main
from search.tune import TuneFailed, open_storage, tune

ROOT = Path(__file__).resolve().parents[2]
GROUPS_ERROR = "groups must be 1 or 2, got 3"


def _config(tmp_path: Path, **change: object) -> dict:
    cfg = {
        "task": "toy",
        "family": "cosine",
        "params": {"lr": {"low": 1e-3, "high": 0.3, "log": True}, "total_steps": "$budget"},
        "budget_steps": 40,
        "eval_every": 20,
        "interval": 20,
        "trials": 2,
        "pruner": "none",
        "out": str(tmp_path / "out"),
    }
    cfg.update(change)
    return cfg


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _trials(tmp_path: Path, study: str = "toy-cosine") -> list:
    storage = open_storage(str(tmp_path / "out" / "study.journal"))
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def test_a_misspelt_schedule_parameter_fails_before_any_trial(tmp_path, capsys):
    params = {"lrr": {"low": 0.01, "high": 1}, "total_steps": "$budget"}
    path = _write(tmp_path, _config(tmp_path, params=params))
    assert main(["tune", str(path), "--trials", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autolr tune: error: tune config: params.lrr: unknown parameter 'lrr'")
    assert "(did you mean 'lr'?)" in err and "\n" not in err
    assert not (tmp_path / "out").exists()  # no study, no trial


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lr": 0.1}, "params.total_steps is required by schedule 'cosine'"),
        (
            {"lr": {"low": 0.0, "high": 1.0}, "total_steps": "$budget"},
            "params.lr: schedule 'cosine' fails at low 0.0: lr must be > 0, got 0.0",
        ),
        (
            {"lr": 0.1, "total_steps": "$budget", "warmup_steps": {"choices": [80, 0]}},
            "params.warmup_steps: schedule 'cosine' fails at choices[0] 80: "
            "warmup_steps must be <= total_steps (40), got 80",
        ),
    ],
)
def test_the_space_is_built_at_representative_values(tmp_path, params, message):
    from search.tune import load_tune_config

    with pytest.raises(ValueError) as err:
        load_tune_config(_config(tmp_path, params=params))
    assert str(err.value).startswith("tune config: " + message)


def test_runs_that_always_fail_stop_after_max_failures_with_the_first_reason(tmp_path):
    # groups: 3 passes the static checks (task parameter names, the schedule) and makes
    # every run fail when the task is built
    path = _write(tmp_path, _config(tmp_path, task={"name": "toy", "groups": 3}, trials=50))
    proc = subprocess.run(
        [sys.executable, "-m", "autolr.cli", "tune", str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "AUTOLR_PLUGINS": "tests.toy"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("autolr tune: error: 5 trials failed in a row (max_failures: 5)")
    assert "the first, trial 0 with {'lr': " in last and last.endswith(GROUPS_ERROR)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count(GROUPS_ERROR) == 6  # 5 progress lines and the error
    trials = _trials(tmp_path)
    assert [t.state for t in trials] == [TrialState.FAIL] * 5
    assert all(GROUPS_ERROR in t.user_attrs["error"] for t in trials)


def test_failed_trials_count_toward_trials(tmp_path, capsys):
    cfg = _config(tmp_path, task={"name": "toy", "groups": 3}, max_failures=10)
    assert main(["tune", str(_write(tmp_path, cfg)), "--trials", "3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("autolr tune: error: no trial completed (3 fail); the first")
    assert [line.split(" failed")[0] for line in err[:-1]] == [
        "trial 1/3 (#0)",
        "trial 2/3 (#1)",
        "trial 3/3 (#2)",
    ]
    assert len(_trials(tmp_path)) == 3
    with pytest.raises(TuneFailed, match=r"no trial completed \(3 fail\)"):
        tune(cfg, trials=3)  # the study holds 3 finished trials: nothing more runs
    assert len(_trials(tmp_path)) == 3


def test_progress_lines_and_quiet(tmp_path, capsys):
    path = _write(tmp_path, _config(tmp_path))
    assert main(["tune", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" value ")[0] for line in err] == ["trial 1/2 (#0)", "trial 2/2 (#1)"]
    assert all(", best " in line for line in err)
    assert main(["tune", str(path), "--trials", "3", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert len(_trials(tmp_path)) == 3


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_tune_emits_no_optuna_deprecation_or_experimental_warning(tmp_path, storage):
    url = f"sqlite:///{tmp_path / 's.db'}" if storage == "sqlite" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tune(_config(tmp_path), storage=url)
    assert result.counts["complete"] == 2
    noisy = (DeprecationWarning, FutureWarning, ExperimentalWarning)
    # raised in Optuna, or by our calls into it (search/storage.py); other libraries' own
    # notices (torch's) are not this test's business
    ours = ("optuna", str(ROOT / "search"))
    found = [
        f"{w.filename}: {w.message}"
        for w in caught
        if issubclass(w.category, noisy) and any(part in w.filename for part in ours)
    ]
    assert found == []

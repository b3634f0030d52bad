import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from autolr.running.runner import load_config
from search.tune import load_tune_config, open_storage, tune

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, budget: int = 200) -> Path:
    cfg = {
        "task": "toy",
        "family": "cosine",
        "params": {"lr": {"low": 1e-3, "high": 0.3, "log": True}, "total_steps": "$budget"},
        "budget_steps": budget,
        "eval_every": 50,
        "interval": 50,
        "trials": 3,
        "pruner": "none",
        "out": str(tmp_path / "out"),
    }
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _trials(path: Path, state: TrialState | None = None) -> list:
    storage = open_storage(str(path))
    study = optuna.load_study(study_name="toy-cosine", storage=storage)
    return study.get_trials(deepcopy=False, states=None if state is None else (state,))


def test_two_workers_survive_a_killed_worker_and_resume(tmp_path: Path) -> None:
    cfg = _config(tmp_path, budget=300)
    journal = tmp_path / "out" / "study.journal"
    env = dict(os.environ, PYTHONPATH=str(ROOT), AUTOLR_PLUGINS="tests.toy")
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolr.cli", "tune", str(cfg), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    victim = None
    deadline = time.time() + 240
    while victim is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if journal.exists():
            try:
                trials = _trials(journal, TrialState.RUNNING)
            except KeyError:  # the journal's file is there before the study is written in it
                continue
            running = [t for t in trials if "worker" in t.user_attrs]
            if running:
                victim = running[0]
                time.sleep(0.3)  # well inside the trial, not in the gap between two
    assert victim is not None, "no running trial was seen"
    os.kill(int(victim.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 1, out  # a worker died: said so, and exit code 1
    assert "re-queued" in out
    trials = _trials(journal)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1  # the trial the killed worker was running
    assert failed[0].user_attrs["worker"] == victim.user_attrs["worker"]
    victim = failed[0]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 3  # the surviving worker finished the study
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == victim.number

    # the re-run continues the same study; the failed trial's params run first
    result = tune(cfg, trials=4)
    trials = _trials(journal)
    assert result.counts["complete"] == 4 and result.counts["fail"] == 1
    assert len(trials) == 5
    retry = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == victim.params
    best = yaml.safe_load(result.best_path.read_text())
    run = load_config(best)  # a config that `autolr run` accepts
    assert run.controller["schedule"]["total_steps"] == 300
    assert run.controller["schedule"]["lr"] == pytest.approx(result.params["lr"])


def test_pruning_and_best_value(tmp_path: Path) -> None:
    cfg = yaml.safe_load(_config(tmp_path, budget=100).read_text())
    cfg.update(pruner="median", trials=5, eval_every=20, study="p")
    result = tune(cfg)
    assert result.counts["complete"] + result.counts["pruned"] == 5
    study = optuna.load_study(
        study_name="p", storage=open_storage(str(tmp_path / "out/study.journal"))
    )
    best = max(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    assert result.value == pytest.approx(best)


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"family": "cosin"}, "cosin"),
        ({"params": {"lr": {"low": 1.0, "high": 0.1}}}, "params.lr"),
        ({"sampler": "grid"}, "sampler"),
        ({"trails": 3}, "trails"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, change: dict, word: str) -> None:
    cfg = yaml.safe_load(_config(tmp_path).read_text())
    cfg.update(change)
    with pytest.raises(ValueError, match=word):
        load_tune_config(cfg)

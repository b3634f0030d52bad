"""``autolr tune``'s Optuna storage on a real PostgreSQL server (issue #17 §2), started by the
``postgres_server`` fixture (tests/postgres.py); each test gets a fresh database.

Two ways a trial's worker can die without telling the study, and who recovers each:

* a trial run by ``study.optimize`` records a heartbeat (RDBStorage's ``heartbeat_interval``);
  once it is older than the grace period, Optuna fails the trial and
  ``RetryHeartbeatStaleTrialCallback`` re-queues its params, whichever host it ran on;
* a trial made by ask-and-tell records no heartbeat, so Optuna never fails it; our
  ``recover_stale`` fails it when its ``worker`` (``host:pid``) is a dead local process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from search.storage import open_storage, recover_stale
from search.tune import load_tune_config, open_study, tune
from tests.postgres import PASSWORD

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
ENV = {**os.environ, "AUTOLR_PLUGINS": "tests.toy", "PYTHONPATH": PYTHONPATH}
STUDY = "toy-cosine"
LR = {"lr": optuna.distributions.FloatDistribution(1e-3, 0.3, log=True)}


def _config(tmp_path: Path, budget: int = 200, trials: int = 3) -> dict:
    return {
        "task": "toy",
        "family": "cosine",
        "params": {"lr": {"low": 1e-3, "high": 0.3, "log": True}, "total_steps": "$budget"},
        "budget_steps": budget,
        "eval_every": 50,
        "interval": 50,
        "trials": trials,
        "pruner": "none",
        "out": str(tmp_path / "out"),
    }


def _trials(url: str, state: TrialState | None = None) -> list:
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    return study.get_trials(deepcopy=False, states=None if state is None else (state,))


def _tables(server, url: str) -> list[str]:
    query = (
        "select table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema') order by 1"
    )
    with server.connect(make_url(url).database) as con:
        return [row[0] for row in con.execute(query).fetchall()]


def test_two_workers_share_a_study_and_a_killed_worker_is_retried(tmp_path, postgres_url):
    cfg = tmp_path / "tune.yaml"
    cfg.write_text(yaml.safe_dump(_config(tmp_path, budget=300)))
    cmd = [sys.executable, "-m", "autolr.cli", "tune", str(cfg), "--workers", "2"]
    proc = subprocess.Popen(
        [*cmd, "--storage", postgres_url],
        env=ENV,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    victim = None
    deadline = time.time() + 240
    while victim is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            running = _trials(postgres_url, TrialState.RUNNING)
        except KeyError:  # the study is not created yet
            continue
        running = [t for t in running if "worker" in t.user_attrs]
        if running:
            victim = running[0]
            time.sleep(0.3)  # well inside the trial
    assert victim is not None, "no running trial was seen"
    os.kill(int(victim.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 1, out  # a worker died: said so, with exit code 1
    assert "re-queued" in out
    trials = _trials(postgres_url)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [victim.number]
    victim = failed[0]  # as the store holds it, params and all
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3
    # both workers wrote to the one study: two distinct workers ran its trials
    assert len({t.user_attrs["worker"] for t in trials if "worker" in t.user_attrs}) == 2

    result = tune(cfg, trials=4, storage=postgres_url)  # the re-run continues the study
    trials = _trials(postgres_url)
    assert result.counts["complete"] == 4 and result.counts["fail"] == 1
    retry = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == victim.params


def test_a_stale_heartbeat_fails_a_trial_of_another_host_and_retries_its_params(
    tmp_path, postgres_server, postgres_url
):
    cfg = load_tune_config(_config(tmp_path, trials=2))
    study = open_study(cfg, postgres_url)
    with pytest.warns(UserWarning, match="Heartbeat of storage is supposed to be used"):
        ghost = study.ask(LR)
    # a worker on another machine: no liveness check here can call it dead
    ghost.set_user_attr("worker", "elsewhere.example:4242")
    study._storage.record_heartbeat(ghost._trial_id)
    assert recover_stale(study) == []  # not ours to fail: it may be alive
    with postgres_server.connect(make_url(postgres_url).database) as con:
        con.execute(
            "update trial_heartbeats set heartbeat = heartbeat - interval '1 hour' "
            "where trial_id = %s",
            (ghost._trial_id,),
        )
        con.commit()

    result = tune(cfg, trials=2, storage=postgres_url)
    trials = {t.number: t for t in _trials(postgres_url)}
    assert trials[ghost.number].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == ghost.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params["lr"] == pytest.approx(ghost.params["lr"])
    assert result.counts["complete"] == 2  # the heartbeat's failure is not the space's


ASK_AND_DIE = textwrap.dedent(
    """
    import os, socket, sys
    import optuna
    from search.storage import open_storage
    study = optuna.load_study(study_name=sys.argv[2], storage=open_storage(sys.argv[1]))
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 0.3, log=True)})
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    print(trial.number, flush=True)
    os.kill(os.getpid(), 9)  # dies between ask and tell
    """
)


def test_an_ask_and_tell_trial_whose_worker_died_is_recovered_by_our_liveness_check(
    tmp_path, postgres_url
):
    cfg = load_tune_config(_config(tmp_path, trials=2))
    open_study(cfg, postgres_url)
    proc = subprocess.run(
        [sys.executable, "-c", ASK_AND_DIE, postgres_url, STUDY],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    number = int(proc.stdout.split()[0])
    study = optuna.load_study(study_name=STUDY, storage=open_storage(postgres_url))
    # no heartbeat was ever recorded, so Optuna's own check passes it over for ever
    assert study._storage._get_stale_trial_ids(study._study_id) == []
    assert [t.number for t in study.get_trials(states=(TrialState.RUNNING,))] == [number]

    assert recover_stale(study) == [number]
    trials = {t.number: t for t in study.get_trials()}
    assert trials[number].state == TrialState.FAIL
    waiting = [t for t in trials.values() if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["retry_of"] == number
    # an enqueued trial holds its params until it runs
    assert waiting[0].system_attrs["fixed_params"] == trials[number].params
    assert recover_stale(study) == []  # once only


def test_wrong_credentials_are_a_clear_error_that_writes_nothing(
    tmp_path, postgres_server, postgres_url
):
    wrong = postgres_url.replace(f":{PASSWORD}@", ":not-the-password@")
    assert wrong != postgres_url
    with pytest.raises(ValueError) as err:
        tune(_config(tmp_path), storage=wrong)
    message = str(err.value)
    assert "cannot open Optuna storage postgresql" in message
    assert "not-the-password" not in message and "***" in message
    assert "password authentication failed" in message
    assert _tables(postgres_server, postgres_url) == []  # the database is untouched
    assert not (tmp_path / "out" / "best.yaml").exists()

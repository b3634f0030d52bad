"""The ``ray`` executor (issue #17 §1): cells as Ray tasks, on a local Ray of 2 CPUs that the
module shares (``tests/ray_cluster.py``), with the same results as the pool and the same
guarantee when the driver is killed: a rerun runs every planned cell, each once."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest
import yaml

from autolr.bench import ResultsStore
from autolr.bench.harness import load_suite, suite_plan
from autolr.cli import main
from autolr.executor import EXECUTORS, LocalExecutor, WorkerLost, make_executor
from tests.bench.test_execute import SUITE, _results
from tests.postgres import free_port
from tests.ray_cluster import import_ray, local_ray

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
# long enough cells (400 steps) that the kill lands mid-suite: 2 tuning runs and 2
# controller runs (the first phase), then 2 tuned-baseline runs
LONG = {**SUITE, "tasks": [{"name": "toy", "budget_steps": 400, "eval_every": 100}]}
N_CELLS = 6


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray of 2 CPUs, shared by the module: its address, for --ray-address."""
    with local_ray() as address:
        yield address


def test_ray_is_registered_without_importing_ray():
    assert "ray" in EXECUTORS.names()
    assert EXECUTORS.get("ray").name == "ray"  # its module imports ray only when one is made


def test_missing_ray_is_a_clear_error_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ValueError, match=r'executor \'ray\' needs Ray.*pip install -e "\.\[ray\]"'):
        make_executor("ray", 2)
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "o"
    assert (
        main(["bench", str(suite), "--executor", "ray", "--workers", "2", "--out", str(out)]) == 2
    )
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err
    assert not out.exists()


def test_ray_address_needs_the_ray_executor_and_a_cluster_that_answers(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "o"
    base = ["bench", str(suite), "--out", str(out), "--workers", "2"]
    assert main([*base, "--executor", "pool", "--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray, not --executor pool" in capsys.readouterr().err
    assert main([*base, "--ray-address", "auto"]) == 2
    assert "--ray-address needs --executor ray\n" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown parameter 'address' for executor 'pool'"):
        make_executor("pool", 2, address="auto")
    import_ray()  # skipped without Ray (failed under CI)
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert main([*base, "--executor", "ray", "--ray-address", closed]) == 2
    assert f"--ray-address {closed}: no Ray cluster answers there" in capsys.readouterr().err
    assert not out.exists()


def test_jobs_run_as_ray_tasks_at_most_workers_at_once(ray_address):
    args = [float(x) for x in range(7)]
    started: list[int] = []
    in_flight = []
    results = {}
    with make_executor("ray", 2) as runner:
        for i, value in runner.run(math.sqrt, args, started.append):
            in_flight.append(len(started) - len(results))
            results[i] = value
        assert results == dict(LocalExecutor().run(math.sqrt, args))
        assert sorted(started) == list(range(7)) and max(in_flight) <= 2
        pids = {pid for _, pid in runner.run(_pid, [0, 1, 2])}
        assert os.getpid() not in pids  # in Ray's worker processes, not here
        with pytest.raises(ValueError, match="math domain error"):  # fn's error propagates
            list(runner.run(math.sqrt, [1.0, -1.0]))


def _pid(_: object) -> int:
    return os.getpid()


class _Greedy:
    cpus = 3  # more than any node of the 2-CPU Ray has


class _Jobs:
    """A JobSource over a list, handed out as they are (``run`` wraps each in a tuple)."""

    poll_s = 0.0
    waiting = False

    def __init__(self, *jobs: object) -> None:
        self.jobs = list(jobs)

    def take(self, block: bool = True) -> object | None:
        return self.jobs.pop(0) if self.jobs else None


def test_a_job_needing_more_cpus_than_any_node_has_is_refused(ray_address):
    with (
        make_executor("ray", 2) as runner,
        pytest.raises(ValueError, match=r"a job needs 3 CPUs .* no node of the local Ray"),
    ):
        list(runner.pull(str, _Jobs(_Greedy())))


def test_a_ray_worker_that_dies_mid_job_is_a_one_line_error(ray_address):
    # os._exit ends the worker at once, as kill -9 or the OOM killer would; Ray retries the
    # task (3 times by default), then gives up
    with make_executor("ray", 1) as runner, pytest.raises(WorkerLost, match="a Ray worker died"):
        list(runner.run(os._exit, [3]))


def _final(summary: dict) -> dict:
    """A summary without what differs between executors: timings, and the thread
    environment, where Ray sets OMP_NUM_THREADS to the CPUs a task reserves."""
    out = {k: _final(v) if isinstance(v, dict) else v for k, v in summary.items()}
    out = {k: v for k, v in out.items() if "time" not in k}
    out.get("provenance", {}).pop("thread_env", None)
    return out


@pytest.mark.slow  # a pool too, spawned per phase: over 20 s on 2 shared cores
def test_ray_and_pool_give_identical_results_cell_for_cell(tmp_path, ray_address):
    ray, ray_curves = _results(tmp_path / "ray", executor="ray", workers=2)
    pool, pool_curves = _results(tmp_path / "pool", executor="pool", workers=2)
    assert len(ray) == 2 + 2 + 2  # tune, eval, self
    assert ray.keys() == pool.keys()
    for key, summary in ray.items():
        assert _final(summary) == _final(pool[key]), key
        assert summary["final_val_metric"] == pool[key]["final_val_metric"]
        for name, values in ray_curves[key].items():
            if name != "eval_wall":  # wall-clock times, the one curve that differs
                np.testing.assert_array_equal(values, pool_curves[key][name], err_msg=name)


def _statuses(db: Path) -> list[tuple[str, str]]:
    with suppress(sqlite3.Error), sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("select key, status from cells").fetchall()
    return []  # not created yet


def _env() -> dict[str, str]:
    # read now: the module's Ray has set RAY_AUTH_MODE here (token authentication, the
    # default of a local Ray since 2.59), which a driver joining it needs too
    return {**os.environ, "AUTOLR_PLUGINS": "tests.toy", "PYTHONPATH": PYTHONPATH}


def _bench_cmd(suite: Path, out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "autolr.cli", "bench", str(suite), "--out", str(out)]
    return [*cmd, "--quiet", "--executor", "ray", "--workers", "2", *extra]


@pytest.mark.slow
def test_killing_the_driver_mid_run_then_rerunning_completes_every_cell_once(tmp_path, ray_address):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump(LONG))
    out = tmp_path / "out"
    db = out / "results.db"
    # no --ray-address: the driver starts a local Ray of its own (2 CPUs), in its session
    driver = subprocess.Popen(
        _bench_cmd(suite_file, out),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 480  # a local Ray starts slowly on a busy machine
        while time.time() < deadline and driver.poll() is None:
            if sum(s == "done" for _, s in _statuses(db)) >= 2:
                break
            time.sleep(0.2)
        assert driver.poll() is None, driver.communicate()[1]
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=60)  # reaped: its pid no longer looks alive to the store
    finally:
        with suppress(ProcessLookupError):  # what its Ray left behind
            os.killpg(driver.pid, signal.SIGKILL)
        if driver.poll() is None:
            driver.wait()
    before = _statuses(db)
    assert 2 <= sum(s == "done" for _, s in before) < N_CELLS
    assert any(s == "running" for _, s in before)  # killed with cells in flight
    assert len({k for k, _ in before}) == len(before)
    # the rerun joins the module's Ray, as a driver joins a cluster
    rerun = subprocess.run(
        _bench_cmd(suite_file, out, "--ray-address", ray_address),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    after = _statuses(db)
    store = ResultsStore(f"sqlite:///{db}", create=False)
    try:
        planned = suite_plan(load_suite(LONG), store)
        with_curves = [k for k, _ in after if store.curves(k)["lr"].size]
    finally:
        store.close()
    assert len(planned) == N_CELLS
    assert sorted(k for k, _ in after) == sorted(planned)  # each planned cell, once
    assert all(s == "done" for _, s in after) and len(with_curves) == N_CELLS
    assert {k for k, s in before if s == "done"} <= {k for k, _ in after}

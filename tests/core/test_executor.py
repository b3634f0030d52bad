"""Executors by name: same results in-process and in a pool, jobs started on demand."""

import math
import os

import pytest

from autolr.executor import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    PoolExecutor,
    WorkerLost,
    make_executor,
)
from tests.core.test_registry import rescan
from tests.fakedist import make_dist


def test_executors_are_chosen_by_name_with_todays_defaults():
    assert [n for n in EXECUTORS.names() if n in ("local", "pool")] == ["local", "pool"]
    assert type(make_executor(None, 1)) is LocalExecutor
    pool = make_executor(None, 3)
    assert type(pool) is PoolExecutor and pool.workers == 3
    assert type(make_executor("pool", 1)) is PoolExecutor
    with pytest.raises(ValueError, match=r"unknown executor 'pol' \(did you mean 'pool'\?\)"):
        make_executor("pol", 2)
    with pytest.raises(ValueError, match="executor 'local' runs one job at a time"):
        make_executor("local", 2)
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        make_executor("pool", 0)


def test_local_runs_in_order_and_starts_each_job_just_before_it_runs():
    events: list[str] = []

    def fn(x: int) -> int:
        events.append(f"run {x}")
        return x * x

    def start(i: int) -> None:
        events.append(f"start {i}")

    out = list(LocalExecutor().run(fn, [3, 4, 5], start))
    assert out == [(0, 9), (1, 16), (2, 25)]
    assert events == ["start 0", "run 3", "start 1", "run 4", "start 2", "run 5"]
    with pytest.raises(ValueError, match="math domain error"):  # fn's error propagates
        list(LocalExecutor().run(math.sqrt, [1.0, -1.0]))


def test_the_pool_gives_the_same_results_and_keeps_at_most_workers_in_flight():
    args = [float(x) for x in range(7)]
    started: list[int] = []
    in_flight = []
    results = {}
    for i, value in PoolExecutor(2).run(math.sqrt, args, started.append):
        in_flight.append(len(started) - len(results))
        results[i] = value
    assert results == dict(LocalExecutor().run(math.sqrt, args))
    assert sorted(started) == list(range(7)) and max(in_flight) <= 2


def test_a_worker_that_dies_mid_job_is_a_one_line_error_not_a_traceback():
    # os._exit ends the worker process at once, as kill -9 or the OOM killer would
    with pytest.raises(WorkerLost, match="a worker process died while it ran a job") as err:
        list(PoolExecutor(1).run(os._exit, [3]))
    assert isinstance(err.value, ValueError)  # so `autolr` prints it as one line (exit 2)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_submit_after_the_pool_broke_is_the_same_one_line_error(monkeypatch):
    # a worker dies while the loop is submitting the next job: submit itself raises
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    real_submit = ProcessPoolExecutor.submit
    calls: list[int] = []

    def submit(self, fn, /, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise BrokenProcessPool("A child process terminated abruptly")
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    with pytest.raises(WorkerLost, match="a worker process died while it ran a job") as err:
        list(PoolExecutor(2).run(math.sqrt, [1.0, 4.0, 9.0]))
    assert len(calls) == 2 and err.value.__suppress_context__


def test_a_third_party_executor_is_found_through_its_entry_point(tmp_path, monkeypatch):
    module = (
        "from autolr.executor import LocalExecutor\n"
        "class Reversed(LocalExecutor):\n"
        "    name = 'reversed'\n"
        "    def run(self, fn, args, on_start=None):\n"
        "        for i in reversed(range(len(args))):\n"
        "            yield i, fn(args[i])\n"
    )
    groups = {"autolr.executors": {"reversed": "third_exec:Reversed"}}
    dist = make_dist(tmp_path, "third-exec", groups, {"third_exec": module})
    monkeypatch.syspath_prepend(str(dist))
    rescan(monkeypatch, EXECUTORS)
    runner = make_executor("reversed", 1)
    assert isinstance(runner, Executor)
    assert list(runner.run(abs, [-1, -2])) == [(1, 2), (0, 1)]

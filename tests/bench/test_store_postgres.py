"""The results store on a real PostgreSQL server (issue #17 §2), started by the
``postgres_server`` fixture (tests/postgres.py); each test gets a fresh database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy.engine import make_url

from autolr.bench import ResultsStore, bench
from autolr.cli import main
from autolr.dburl import mask_url
from tests.bench.test_bench import N_CELLS, SUITE
from tests.bench.test_store import _children, _cpu_s
from tests.postgres import PASSWORD

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
ENV = {**os.environ, "AUTOLR_PLUGINS": "tests.toy", "PYTHONPATH": PYTHONPATH}
# long enough cells (400 steps) that a kill or a server stop lands mid-suite
LONG = {**SUITE, "tasks": [{"name": "toy", "budget_steps": 400, "eval_every": 100}]}


def database(url: str) -> str:
    return make_url(url).database


def cell_rows(server, url: str) -> list[tuple[str, str]]:
    """``(key, status)`` of every cell, read with the tests' own connection."""
    with server.connect(database(url)) as con:
        return con.execute("select key, status from cells").fetchall()


def tables(server, db: str) -> list[tuple[str, str]]:
    """Every table of the database outside PostgreSQL's own schemas."""
    query = (
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2"
    )
    with server.connect(db) as con:
        return con.execute(query).fetchall()


def stored(url: str) -> dict[str, tuple]:
    """Each done cell's identity, final metric and curves, by key."""
    store = ResultsStore(url, create=False)
    try:
        return {
            c["key"]: (
                (c["task"], c["method"], c["track"], c["seed"], c["peak_lr"]),
                c["summary"]["final_val_metric"],
                store.curves(c["key"]),
            )
            for c in store.done_cells("tiny")
        }
    finally:
        store.close()


def start_bench(suite_file: Path, out: Path, url: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "autolr.cli", "bench", str(suite_file), "--out", str(out)]
    return subprocess.Popen(
        [*cmd, "--store", url, "--quiet", *extra],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_done(server, url: str, proc: subprocess.Popen, n: int = 3) -> None:
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            if sum(s == "done" for _, s in cell_rows(server, url)) >= n:
                return
        except Exception:  # the schema is not there yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"the bench did not finish {n} cells (exit status {proc.poll()})")


def assert_complete(server, url: str) -> None:
    """Every cell once, done, with its curves."""
    cells = cell_rows(server, url)
    assert len(cells) == N_CELLS and len({k for k, _ in cells}) == N_CELLS
    assert all(s == "done" for _, s in cells)
    with server.connect(database(url)) as con:
        (n_curves,) = con.execute("select count(*) from curves").fetchone()
    assert n_curves == N_CELLS


def test_two_worker_suite_gives_the_same_cells_and_finals_as_sqlite(tmp_path, postgres_url):
    bench(SUITE, out=tmp_path / "pg", store=postgres_url, workers=2)
    bench(SUITE, out=tmp_path / "sqlite")  # in-process: the executors agree (docs/bench.md)
    pg, lite = stored(postgres_url), stored(f"sqlite:///{tmp_path / 'sqlite' / 'results.db'}")
    assert len(pg) == N_CELLS and pg.keys() == lite.keys()
    for key, (ident, final, curves) in pg.items():
        assert ident == lite[key][0]
        assert final == lite[key][1]  # the same runs, stored exactly
        for field, values in curves.items():
            if field != "eval_wall":  # wall-clock times, the one thing that differs
                np.testing.assert_array_equal(values, lite[key][2][field], err_msg=field)
    # the report is rebuilt from the PostgreSQL store alone
    (tmp_path / "pg" / "report.md").unlink()
    assert main(["report", str(tmp_path / "pg"), "--store", postgres_url]) == 0
    assert "## toy" in (tmp_path / "pg" / "report.md").read_text()


def test_kill_9_of_a_worker_mid_cell_then_rerun_loses_and_duplicates_nothing(
    tmp_path, postgres_server, postgres_url
):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump(LONG))
    out = tmp_path / "out"
    proc = start_bench(suite_file, out, postgres_url, "--workers", "2")
    try:
        wait_for_done(postgres_server, postgres_url, proc)
        deadline = time.time() + 60
        workers: list[int] = []
        while time.time() < deadline and not workers:
            kids = [
                k
                for k in _children(proc.pid)
                if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()
            ]
            workers = [k for k in kids if _cpu_s(k) > 1.0]
            time.sleep(0.1)
        assert workers, "no busy worker to kill"
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)  # the bench stops: its pool is broken
        assert proc.returncode == 2, err
        assert "a worker process died while it ran a job" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = cell_rows(postgres_server, postgres_url)
    assert 3 <= sum(s == "done" for _, s in before) < N_CELLS
    assert len({k for k, _ in before}) == len(before)
    bench(str(suite_file), out=out, store=postgres_url, workers=2)
    assert_complete(postgres_server, postgres_url)
    after = cell_rows(postgres_server, postgres_url)
    assert {k for k, s in before if s == "done"} <= {k for k, _ in after}


def test_server_stopped_mid_suite_is_a_clear_error_and_a_rerun_completes(
    tmp_path, postgres_server, postgres_url
):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump(LONG))
    out = tmp_path / "out"
    proc = start_bench(suite_file, out, postgres_url)
    try:
        wait_for_done(postgres_server, postgres_url, proc)
        postgres_server.stop()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not postgres_server.running():
            postgres_server.start()
    assert proc.returncode == 2, err
    assert f"lost the results store {mask_url(postgres_url)}" in err
    assert "Traceback" not in err and PASSWORD not in err
    before = cell_rows(postgres_server, postgres_url)
    assert 3 <= sum(s == "done" for _, s in before) < N_CELLS
    assert main(["bench", str(suite_file), "--out", str(out), "--store", postgres_url]) == 0
    assert_complete(postgres_server, postgres_url)


@pytest.mark.parametrize("wrong", ["password", "database", "user", "port"])
def test_wrong_url_is_a_clear_error_naming_it_and_writes_nothing(
    tmp_path, capsys, postgres_server, postgres_url, wrong
):
    url = make_url(postgres_url)
    bad = {
        "password": url.set(password="not-the-password"),
        "database": url.set(database="no_such_db"),
        "user": url.set(username="nobody_here"),
        "port": url.set(port=_closed_port(postgres_server.port)),
    }[wrong].render_as_string(hide_password=False)
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "o"
    assert main(["bench", str(suite), "--out", str(out), "--store", bad]) == 2
    err = capsys.readouterr().err
    assert f"cannot read results store {mask_url(bad)}" in err
    assert PASSWORD not in err and "not-the-password" not in err
    assert not out.exists()
    assert tables(postgres_server, database(postgres_url)) == []
    with postgres_server.connect() as con:
        names = {n for (n,) in con.execute("select datname from pg_database")}
    assert "no_such_db" not in names


def _closed_port(taken: int) -> int:
    from tests.postgres import free_port

    port = free_port()
    return port if port != taken else free_port()


@pytest.mark.parametrize("table", ["users", "cells"])
def test_foreign_database_is_refused_and_untouched(
    tmp_path, capsys, postgres_server, postgres_url, table
):
    db = database(postgres_url)
    with postgres_server.connect(db) as con:
        con.execute(f"create table {table} (id integer primary key, name text)")
        con.execute(f"insert into {table} values (1, 'ada'), (2, 'grace')")
    before = tables(postgres_server, db)
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "o"
    assert main(["bench", str(suite), "--out", str(out), "--store", postgres_url]) == 2
    err = capsys.readouterr().err
    assert "not an autolr results store" in err and mask_url(postgres_url) in err
    assert PASSWORD not in err
    assert not out.exists()
    with pytest.raises(ValueError, match="not an autolr results store"):
        ResultsStore(postgres_url, create=False)
    assert tables(postgres_server, db) == before == [("public", table)]
    with postgres_server.connect(db) as con:
        assert con.execute(f"select * from {table} order by id").fetchall() == [
            (1, "ada"),
            (2, "grace"),
        ]

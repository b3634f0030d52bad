"""The results store with many writers, its URLs and secrets, and bench workers' lifetime."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

import autolr.bench.store as store_module
from autolr.bench.store import ResultsStore, cells_table, curves_table, owner_id
from autolr.bench.store_location import store_url
from autolr.cli import main
from autolr.dburl import engine_url, mask_url, scrub

ROOT = Path(__file__).resolve().parents[2]
# this checkout first; keep the caller's PYTHONPATH (a driver installed to a folder, say)
PYTHONPATH = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
ENV = {**os.environ, "AUTOLR_PLUGINS": "tests.toy", "PYTHONPATH": PYTHONPATH}
SUITE = {
    "name": "many",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 3, "span": 4},
    "tasks": [{"name": "toy", "budget_steps": 100, "eval_every": 50}],
    "baselines": [{"name": "constant"}, {"name": "cosine", "warmup_steps_frac": 0.1}],
    "controllers": [{"name": "plateau", "patience": 1}, {"name": "hypergradient"}],
}
# 2 baselines x 3 peaks (tune) + 2 x 2 seeds (eval) + 2 controllers x 2 seeds + 2 x 2 replays
N_CELLS = 6 + 4 + 4 + 4
SECRET_URL = "postgresql://user:secretpw@127.0.0.1:1/db"
MASKED_URL = "postgresql://user:***@127.0.0.1:1/db"


def cell(key: str = "k1") -> dict:
    return {
        "key": key,
        "suite": "s",
        "task": "toy",
        "method": "constant",
        "track": "eval",
        "seed": 0,
        "peak_lr": 0.1,
        "config": {"x": 1},
    }


def row(db: Path, key: str) -> tuple:
    with sqlite3.connect(db) as con:
        return con.execute(
            "select status, owner, summary from cells where key = ?", (key,)
        ).fetchone()


def dead_owner() -> str:
    """host:pid of a process of this host that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}"


# ---- claims ---------------------------------------------------------------------------------


def test_claim_takes_only_free_or_stale_cells_and_never_a_done_one(tmp_path):
    db = tmp_path / "r.db"
    store = ResultsStore(f"sqlite:///{db}")
    assert store.claim(cell()) is True
    assert store.claim(cell()) is False  # running under a live owner (this process)
    assert store.finish("k1", {"final": 1.0}, {f: [0.0] for f in _fields()}) is True
    assert store.claim(cell()) is False
    assert row(db, "k1") == ("done", owner_id(), '{"final": 1.0}')
    assert store.pending(["k1", "k2"]) == ["k2"]

    # a stale cell (its owner died) is taken over, and its dead owner can no longer finish it
    stale = dead_owner()
    with sqlite3.connect(db) as con:
        con.execute("update cells set status='running', owner=? where key='k1'", (stale,))
    assert store.pending(["k1"]) == ["k1"]
    assert store.claim(cell()) is True
    assert row(db, "k1")[:2] == ("running", owner_id())
    assert store.finish("k1", {}, {f: [0.0] for f in _fields()}, owner=stale) is False
    assert store.fail("k1", "late", owner=stale) is False
    assert row(db, "k1")[:2] == ("running", owner_id())

    # a failure during this run (a concurrent peer's) is not retried; an earlier one is
    assert store.fail("k1", "boom") is True
    assert store.claim(cell()) is False and store.pending(["k1"]) == []
    store.close()
    again = ResultsStore(f"sqlite:///{db}")
    assert again.pending(["k1"]) == ["k1"] and again.claim(cell()) is True
    again.close()


def _fields() -> tuple[str, ...]:
    from autolr.bench.store import CURVE_FIELDS

    return CURVE_FIELDS


def _run_concurrent_benches(tmp_path: Path, writers: int, store: str | None = None) -> None:
    """Start ``writers`` benches of one suite on one store at once; check each cell ran once."""
    name = f"many-{uuid.uuid4().hex[:8]}"  # fresh cells, also in a shared PostgreSQL store
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({**SUITE, "name": name}))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autolr.cli", "bench", str(suite), "--out", str(out)]
    cmd += ["--store", store] if store else []
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(writers)
    ]
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    for p, text in zip(procs, outputs, strict=True):
        assert p.returncode == 0, text
    ran = {}
    for p, text in zip(procs, outputs, strict=True):
        (line,) = re.findall(r"cells: (\d+) run, (\d+) already in the store.*, (\d+) failed", text)
        ran[f"{socket.gethostname()}:{p.pid}"] = int(line[0])
        assert int(line[2]) == 0
    results = ResultsStore(store or f"sqlite:///{out / 'results.db'}", create=False)
    with results.engine.connect() as con:
        cells = con.execute(
            select(cells_table.c.key, cells_table.c.status, cells_table.c.owner).where(
                cells_table.c.suite == name
            )
        ).all()
        keys = [k for k, _, _ in cells]
        n_curves = con.execute(
            select(func.count()).select_from(curves_table).where(curves_table.c.key.in_(keys))
        ).scalar()
    results.close()
    assert len(cells) == N_CELLS and n_curves == N_CELLS
    assert all(status == "done" for _, status, _ in cells)
    # each process ran exactly the cells it owns, so no cell ran twice
    owned = {o: sum(owner == o for _, _, owner in cells) for o in ran}
    assert owned == ran and sum(ran.values()) == N_CELLS


@pytest.mark.parametrize("writers", [2, 3])
def test_concurrent_benches_on_one_sqlite_store_run_each_cell_once(tmp_path, writers):
    _run_concurrent_benches(tmp_path, writers)


@pytest.mark.postgres
def test_concurrent_benches_on_one_postgres_store_run_each_cell_once(tmp_path, postgres_url):
    # a fresh database: the three benches also race to create the schema
    _run_concurrent_benches(tmp_path, 3, postgres_url)


def test_two_stores_created_at_once_on_an_empty_database(tmp_path, monkeypatch):
    """The loser of the race to create the schema reads the winner's, not an error."""
    db = f"sqlite:///{tmp_path / 'r.db'}"
    ResultsStore(db).close()  # the winner
    real = store_module.inspect
    views = iter([[]])  # the loser looked while the database was still empty

    class Stale:
        def __init__(self, engine):
            self.engine = engine

        def get_table_names(self):
            stale = next(views, None)
            return real(self.engine).get_table_names() if stale is None else stale

    monkeypatch.setattr(store_module, "inspect", Stale)
    loser = ResultsStore(db)
    assert loser.pending(["k1"]) == ["k1"]
    loser.close()


# ---- workers die with their parent ----------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive_pid(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its reaping is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_kill_9_of_bench_takes_its_workers_with_it(tmp_path):
    long = {**SUITE, "tasks": [{"name": "toy", "budget_steps": 10**7, "eval_every": 10**6}]}
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(long))
    cmd = [sys.executable, "-m", "autolr.cli", "bench", str(suite), "--out", str(tmp_path / "o")]
    parent = subprocess.Popen(
        [*cmd, "--workers", "2", "--quiet"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            kids = [
                k
                for k in _children(parent.pid)
                if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()
            ]
            # past their imports (about 2 s of CPU) and training: the initializer has run
            if len(kids) == 2 and all(_cpu_s(k) > 4.0 for k in kids):
                workers = kids
                break
            time.sleep(0.2)
        assert workers, "the bench did not start two workers"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive_pid(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive_pid(w)], "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for w in workers:  # leave no orphan behind, even when the test fails
            if _alive_pid(w):
                os.kill(w, signal.SIGKILL)


def test_die_with_parent_exits_when_the_parent_changes(monkeypatch):
    from autolr import orphans

    exits = []
    parents = iter([41, 42])
    monkeypatch.setattr(orphans.os, "getppid", lambda: next(parents, 42))
    monkeypatch.setattr(orphans.os, "_exit", exits.append)
    orphans._watch(41, 0.01)  # the portable watchdog: returns once it has exited
    assert exits == [1]


# ---- URLs, secrets and typos ----------------------------------------------------------------


def test_mask_url_and_scrub_hide_passwords():
    assert mask_url("postgresql://autolr:secretpw@db:5432/x") == "postgresql://autolr:***@db:5432/x"
    assert mask_url("postgresql://u:p@ss@h/d") == "postgresql://u:***@h/d"
    assert mask_url("postgresql://u@h/d?password=zz&a=1") == "postgresql://u@h/d?password=***&a=1"
    assert mask_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    text = scrub(
        'failed for "secretpw" at postgresql://u:secretpw@h/d', "postgresql://u:secretpw@h/d"
    )
    assert "secretpw" not in text and "postgresql://u:***@h/d" in text
    assert engine_url("postgres://u:p@h/d").startswith(("postgresql+psycopg://", "postgresql://"))


def _no_postgres_driver(monkeypatch):
    for name in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed


def test_unreachable_postgres_store_error_masks_the_password(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "o"
    assert main(["bench", str(suite), "--out", str(out), "--store", SECRET_URL]) == 2
    err = capsys.readouterr().err
    assert "secretpw" not in err and MASKED_URL in err
    assert not out.exists()


def test_missing_postgres_driver_names_the_extra(monkeypatch):
    _no_postgres_driver(monkeypatch)
    with pytest.raises(ValueError) as info:
        ResultsStore(SECRET_URL)
    message = str(info.value)
    assert "pip install 'autolr[postgres]'" in message and "psycopg" in message
    assert "secretpw" not in message and MASKED_URL in message


def test_tune_storage_errors_mask_the_password_and_name_the_extra(monkeypatch):
    from search.storage import open_storage

    with pytest.raises(ValueError) as info:
        open_storage(SECRET_URL)
    assert "secretpw" not in str(info.value) and MASKED_URL in str(info.value)
    _no_postgres_driver(monkeypatch)
    with pytest.raises(ValueError, match=re.escape("pip install 'autolr[postgres]'")) as info:
        open_storage(SECRET_URL)
    assert "secretpw" not in str(info.value)


@pytest.mark.parametrize(
    ("store", "needle"),
    [
        ("not a url at all", "a new store must be a database URL"),
        ("{tmp}/nope/dir/x.db", "does not exist"),
        ("sqlite:///{tmp}/nope/dir/x.db", "does not exist"),
        ("{tmp}", "is a folder"),
    ],
)
def test_typo_in_store_is_refused_and_creates_nothing(tmp_path, monkeypatch, capsys, store, needle):
    work = tmp_path / "work"
    work.mkdir()
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    monkeypatch.chdir(work)
    value = store.format(tmp=work)
    assert main(["bench", str(suite), "--out", "o", "--store", value]) == 2
    err = capsys.readouterr().err
    assert f"--store {value!r}" in err and needle in err
    assert list(work.iterdir()) == []  # no file, no folder, no --out


def test_plain_store_paths_stay_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("out")
    assert store_url("results.db", out) == "sqlite:///results.db"
    assert store_url("out/results.db", out) == "sqlite:///out/results.db"  # --out is created
    assert store_url(None, out) == "sqlite:///out/results.db"
    (tmp_path / "existing").write_bytes(b"")
    assert store_url("existing", out) == "sqlite:///existing"
    assert store_url("sqlite:///:memory:", out) == "sqlite:///:memory:"
    assert list(tmp_path.iterdir()) == [tmp_path / "existing"]


def test_foreign_sqlite_file_is_refused_without_being_modified(tmp_path):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("create table users (id integer)")
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(ValueError, match="not an autolr results store"):
        ResultsStore(f"sqlite:///{foreign}")
    assert foreign.read_bytes() == before  # not switched to WAL mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.db"]  # no -wal, no -shm

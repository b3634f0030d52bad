"""Provenance: recorded per run (summary and store column), old stores migrated, and the
report's warning when one table mixes versions, commits, CPUs or thread counts."""

import json
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

import numpy
import optuna
import pytest
import scipy
import sklearn
import torch
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, insert

import autolr
from autolr.bench import ResultsStore, bench
from autolr.bench.provenance_notes import mixed_provenance
from autolr.bench.report import write_report
from autolr.bench.store import CURVE_FIELDS, SCHEMA_VERSION, curves_table
from autolr.provenance import COMPARED, cpu_model, differences, git_state, provenance

ROOT = Path(__file__).resolve().parents[2]
SUITE = {
    "name": "prov",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 2, "span": 2},
    "threads": 1,
    "tasks": [{"name": "toy", "budget_steps": 30, "eval_every": 10}],
    "baselines": [{"name": "constant"}],
    "controllers": [{"name": "plateau", "patience": 1}],
    "replay": False,
}
KEYS = {
    "autolr",
    "git_commit",
    "git_dirty",
    "python",
    "torch",
    "numpy",
    "scipy",
    "mnist1d",
    "sklearn",
    "optuna",
    "botorch",
    "cuda",
    "cpu_model",
    "cpu_capability",
    "cpu_count",
    "hostname",
    "os",
    "torch_threads",
    "thread_env",
}


def _head() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _check(prov: dict, threads: int) -> None:
    assert set(prov) >= KEYS
    assert prov["torch"] == torch.__version__
    assert prov["numpy"] == numpy.__version__
    assert prov["scipy"] == scipy.__version__
    assert prov["sklearn"] == sklearn.__version__
    assert prov["optuna"] == optuna.__version__
    assert prov["mnist1d"] == metadata.version("mnist1d")  # it has no __version__
    assert prov["botorch"] == metadata.version("botorch")
    assert prov["autolr"] == autolr.__version__
    assert prov["git_commit"] == _head()
    assert prov["cpu_model"] == cpu_model() and prov["cpu_model"]
    assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert prov["torch_threads"] == threads
    json.dumps(prov)  # plain JSON values


def test_provenance_reads_the_thread_count_at_each_call():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert provenance()["torch_threads"] == 2
        torch.set_num_threads(1)
        _check(provenance(), threads=1)
    finally:
        torch.set_num_threads(before)


def test_every_cell_of_a_tiny_suite_records_its_provenance(tmp_path):
    bench(SUITE, out=tmp_path)
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    cells = store.done_cells("prov")
    store.close()
    assert len(cells) == 2 + 2 + 2  # 2 tuning peaks, 2 eval seeds, 2 plateau seeds
    for c in cells:
        _check(c["provenance"], threads=1)
        assert c["summary"]["provenance"] == c["provenance"]
    # the column is queryable on its own
    with sqlite3.connect(tmp_path / "results.db") as con:
        stored = con.execute("select distinct provenance from cells").fetchall()
    assert len(stored) == 1 and json.loads(stored[0][0])["torch"] == torch.__version__
    report = (tmp_path / "report.md").read_text()
    assert "mixed provenance" not in report  # one setup: no warning


def test_autolr_run_summary_has_provenance(tmp_path):
    from autolr.running.runner import run

    result = run(
        {"task": {"name": "toy"}, "budget_steps": 20, "interval": 10, "threads": 1},
        out=tmp_path / "run",
    )
    _check(result.summary["provenance"], threads=1)
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["provenance"] == result.summary["provenance"]


def _set_provenance(db: Path, where: str, **changes: object) -> None:
    """Rewrite the provenance of the cells matching ``where`` (summary and column)."""
    with sqlite3.connect(db) as con:
        rows = con.execute(f"select key, summary from cells where {where}").fetchall()
        assert rows
        for key, summary in rows:
            s = json.loads(summary)
            s["provenance"].update(changes)
            con.execute(
                "update cells set summary = ?, provenance = ? where key = ?",
                (json.dumps(s), json.dumps(s["provenance"]), key),
            )
    con.close()


def test_report_warns_when_a_table_mixes_versions_and_threads(tmp_path, capsys):
    bench(SUITE, out=tmp_path)
    db = tmp_path / "results.db"
    _set_provenance(db, "method = 'plateau' and seed = 1", torch="2.0.0", torch_threads=4)
    _set_provenance(db, "track = 'tune'", git_commit="0" * 40)
    store = ResultsStore(f"sqlite:///{db}")
    mixed = mixed_provenance(store, "prov")
    capsys.readouterr()
    write_report(store, "prov", tmp_path, console=True, plain=True)
    store.close()
    ours, same = torch.__version__, "constant, constant tuning, plateau [seed 0]"
    assert mixed == {
        "toy": [
            f"git_commit: {_head()[:12]} (constant, plateau); 000000000000 (constant tuning)",
            f"torch: {ours} ({same}); 2.0.0 (plateau [seed 1])",
            f"torch_threads: 1 ({same}); 4 (plateau [seed 1])",
        ]
    }
    err = capsys.readouterr().err
    assert f"warning: toy: runs of mixed provenance, {mixed['toy'][1]}" in err
    assert err.count("warning: toy:") == 3
    report = (tmp_path / "report.md").read_text()
    assert "**Warning: mixed provenance.**" in report
    for line in mixed["toy"]:
        assert f"> - {line}" in report


def test_runs_without_provenance_are_named_apart():
    prov = {k: "x" for k in COMPARED}
    lines = differences([("cosine", "seed 0", prov), ("cosine", "seed 1", None)])
    assert lines == ["provenance: not recorded (cosine [seed 1])"]
    assert differences([("a", "seed 0", None), ("b", "seed 0", None)]) == []


# ---- migration of a store made before the provenance column ----------------------------------


def _old_store(db: Path) -> None:
    """A store as autolr wrote it before the provenance column, with one done run."""
    meta = MetaData()
    autolr_meta = Table(
        "autolr_meta", meta, Column("key", String(64), primary_key=True), Column("value", Text)
    )
    cells = Table(
        "cells",
        meta,
        Column("key", String(64), primary_key=True),
        Column("suite", String(200), index=True),
        Column("task", String(200)),
        Column("method", String(200)),
        Column("track", String(16)),
        Column("seed", Integer),
        Column("peak_lr", Float, nullable=True),
        Column("status", String(16)),
        Column("owner", String(200)),
        Column("config", Text),
        Column("summary", Text, nullable=True),
        Column("error", Text, nullable=True),
        Column("started", Float),
        Column("finished", Float, nullable=True),
    )
    curves_table.to_metadata(meta)  # unchanged since
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as con:
        meta.create_all(con)
        con.execute(insert(autolr_meta).values(key="schema", value="1"))
        con.execute(
            insert(cells).values(
                key="old",
                suite="s",
                task="toy",
                method="constant",
                track="eval",
                seed=0,
                peak_lr=0.1,
                status="done",
                owner="h:1",
                config="{}",
                summary=json.dumps({"final_val_metric": 0.5}),
                started=1.0,
                finished=2.0,
            )
        )
    engine.dispose()


def _columns(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        names = [r[1] for r in con.execute("pragma table_info(cells)")]
    con.close()
    return names


def test_an_old_store_gains_the_column_and_keeps_its_runs(tmp_path):
    db = tmp_path / "old.db"
    _old_store(db)
    assert "provenance" not in _columns(db)
    store = ResultsStore(f"sqlite:///{db}", create=False)
    assert "provenance" in _columns(db)
    (old,) = store.done_cells("s")
    assert old["provenance"] is None and old["summary"] == {"final_val_metric": 0.5}
    # a new run in the migrated store records its provenance
    cell = {
        "key": "new",
        "suite": "s",
        "task": "toy",
        "method": "constant",
        "track": "eval",
        "seed": 1,
        "peak_lr": 0.1,
        "config": {},
    }
    assert store.claim(cell)
    curves = {f: [0.0] for f in CURVE_FIELDS}
    prov = provenance()
    assert store.finish("new", {"final_val_metric": 0.6, "provenance": prov}, curves)
    by_key = {c["key"]: c for c in store.done_cells("s")}
    assert by_key["new"]["provenance"] == prov
    assert mixed_provenance(store, "s") == {"toy": ["provenance: not recorded (constant [seed 0])"]}
    store.close()
    # a second opening (and a second process's, racing) finds the column there
    again = ResultsStore(f"sqlite:///{db}", create=False)
    assert len(again.done_cells("s")) == 2
    again.close()
    assert _columns(db).count("provenance") == 1
    with sqlite3.connect(db) as con:
        assert con.execute("select value from autolr_meta").fetchall() == [(SCHEMA_VERSION,)]
    con.close()


def test_a_concurrent_migration_is_not_an_error(tmp_path, monkeypatch):
    """Two processes open an old store at once: both saw no column, the second ALTER fails
    on the column the first added, and that is fine."""
    db = tmp_path / "old.db"
    _old_store(db)
    seen_before = ResultsStore._columns
    calls = []

    def stale_then_real(self, table):
        calls.append(table)
        if len(calls) == 1:  # the check before ALTER: another process adds it meanwhile
            with sqlite3.connect(db) as con:
                con.execute("alter table cells add column provenance TEXT")
            con.close()
            return {c for c in _columns(db) if c != "provenance"}
        return seen_before(self, table)

    monkeypatch.setattr(ResultsStore, "_columns", stale_then_real)
    store = ResultsStore(f"sqlite:///{db}", create=False)
    assert store.done_cells("s")[0]["provenance"] is None
    store.close()
    assert _columns(db).count("provenance") == 1


def test_git_state_outside_a_checkout(tmp_path):
    assert git_state(tmp_path) == (None, None)


def test_cpu_model_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU @ 2.0GHz\n")
    assert cpu_model(info) == "Example CPU @ 2.0GHz"
    assert cpu_model(tmp_path / "missing")  # falls back to platform, never empty


@pytest.mark.parametrize(
    "key", ["torch", "numpy", "mnist1d", "autolr", "git_commit", "cpu_model", "torch_threads"]
)
def test_the_asked_keys_are_compared(key):
    assert key in COMPARED

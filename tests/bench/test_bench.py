import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from autolr.bench import ResultsStore, bench, load_suite
from autolr.bench.analysis import analyse
from autolr.bench.tuning import choose_peaks
from autolr.cli import main

ROOT = Path(__file__).resolve().parents[2]
SUITE = {
    "name": "tiny",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 3, "span": 4},
    "tasks": [{"name": "toy", "budget_steps": 60, "eval_every": 20}],
    "baselines": [{"name": "constant"}, {"name": "cosine", "warmup_steps_frac": 0.1}],
    "controllers": [{"name": "plateau", "patience": 1}, {"name": "hypergradient"}],
}
# 2 baselines x 3 peaks (tune) + 2 x 2 seeds (eval) + 2 controllers x 2 seeds + 2 x 2 replays
N_CELLS = 6 + 4 + 4 + 4


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("select key, track, status from cells").fetchall()


def test_tiny_suite_end_to_end_with_two_workers(tmp_path):
    report = bench(SUITE, out=tmp_path, workers=2)
    text = report.read_text()
    assert "## toy" in text and "Open-loop replay ablation" in text
    for name in ("curves_toy.png", "detail_toy.png", "profiles.png"):
        assert (tmp_path / name).is_file()
    assert text.index("## Summary") < text.index("## Compute-inclusive view") < text.index("## toy")
    cells = rows(tmp_path / "results.db")
    assert len(cells) == N_CELLS and all(s == "done" for _, _, s in cells)
    tracks = sorted(t for _, t, _ in cells)
    assert tracks.count("tune") == 6 and tracks.count("replay") == 4
    # the report can be rebuilt from the database alone
    (tmp_path / "report.md").unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text() == text


def test_tuned_peak_is_the_best_mean_over_tuning_seeds(tmp_path):
    bench(SUITE, out=tmp_path)
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    (rep,) = analyse(store, "tiny")
    cells = store.done_cells("tiny")
    # the target comes from the tuning runs (one tuning seed: the best tuned run's final)
    tuned = [c for c in cells if c["track"] == "tune"]
    best_run = max(tuned, key=lambda c: c["summary"]["final_val_metric"])
    assert rep.best_baseline == best_run["method"]
    assert rep.target == best_run["summary"]["final_val_metric"]
    assert rep.made.stored and rep.made.made_from == (best_run["key"],)
    peaks = choose_peaks(cells)
    for (_task, method), peak in peaks.items():
        tune = [c for c in cells if c["track"] == "tune" and c["method"] == method]
        best = max(tune, key=lambda c: c["summary"]["final_val_metric"])
        assert peak == best["peak_lr"]
        evals = [c for c in cells if c["track"] == "eval" and c["method"] == method]
        assert {c["peak_lr"] for c in evals} == {peak}
        assert {c["seed"] for c in evals} == {0, 1}  # evaluation seeds, not tuning seeds
    store.close()


def test_kill_mid_run_then_rerun_completes_without_loss_or_duplicates(tmp_path):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(
        yaml.safe_dump(
            {**SUITE, "tasks": [{"name": "toy", "budget_steps": 400, "eval_every": 100}]}
        )
    )
    out = tmp_path / "out"
    env = {**os.environ, "AUTOLR_PLUGINS": "tests.toy", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autolr.cli",
            "bench",
            str(suite_file),
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = out / "results.db"
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists():
            try:
                done = [r for r in rows(db) if r[2] == "done"]
            except sqlite3.OperationalError:
                done = []
            if len(done) >= 3:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {k: s for k, _, s in rows(db)}
    assert 3 <= sum(s == "done" for s in before.values()) < N_CELLS
    bench(str(suite_file), out=out)
    after = rows(db)
    assert len(after) == N_CELLS and len({k for k, _, _ in after}) == N_CELLS
    assert all(s == "done" for _, _, s in after)
    store = ResultsStore(f"sqlite:///{db}")
    for key, _, _ in after:
        assert store.curves(key)["lr"].size > 0
    store.close()


def test_rerun_skips_finished_cells(tmp_path):
    bench(SUITE, out=tmp_path)
    stamp = {k: s for k, _, s in rows(tmp_path / "results.db")}
    with sqlite3.connect(tmp_path / "results.db") as con:
        finished = dict(con.execute("select key, finished from cells").fetchall())
    bench(SUITE, out=tmp_path)
    with sqlite3.connect(tmp_path / "results.db") as con:
        again = dict(con.execute("select key, finished from cells").fetchall())
    assert again == finished and len(stamp) == N_CELLS


def test_redo_reruns_one_method_and_its_replays_only(tmp_path):
    bench(SUITE, out=tmp_path)
    with sqlite3.connect(tmp_path / "results.db") as con:
        before = dict(con.execute("select key, finished from cells").fetchall())
        methods = dict(con.execute("select key, method from cells").fetchall())
    with pytest.raises(ValueError, match="--redo 'nope' is not a method of suite 'tiny'"):
        bench(SUITE, out=tmp_path, redo=["nope"])
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    assert store.forget("tiny", (m for m in ["plateau"])) == 4  # any iterable, used once
    store.close()
    bench(SUITE, out=tmp_path, redo=["plateau"])
    with sqlite3.connect(tmp_path / "results.db") as con:
        after = dict(con.execute("select key, finished from cells").fetchall())
        n_curves = con.execute("select count(*) from curves").fetchone()[0]
    assert after.keys() == before.keys() and n_curves == N_CELLS
    redone = {k for k in after if after[k] != before[k]}
    assert {methods[k] for k in redone} == {"plateau", "plateau-replay"}
    assert len(redone) == 4  # 2 seeds x (run + replay)


def test_runs_of_a_methods_earlier_settings_are_not_replayed_or_reported(tmp_path):
    bench(SUITE, out=tmp_path)
    changed = {
        **SUITE,
        "controllers": [{"name": "plateau", "patience": 2}, SUITE["controllers"][1]],
    }
    report = bench(changed, out=tmp_path)
    with sqlite3.connect(tmp_path / "results.db") as con:
        stored = con.execute("select method from cells where method like 'plateau%'").fetchall()
    # both settings' runs stay stored under the same label (2 seeds each); their LR traces
    # agree on this toy (plateau never fires), so the replays are the same 2 cells
    assert sorted(m for (m,) in stored) == ["plateau"] * 4 + ["plateau-replay"] * 2
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    try:
        planned = {c.key for c in load_suite(changed).self_cells()}  # (replays aside)
        old_runs = [c for c in store.done_cells("tiny") if c["method"] == "plateau"]
        assert len(old_runs) == 4 and sum(c["key"] in planned for c in old_runs) == 2
        everything = {r.task: r for r in analyse(store, "tiny")}["toy"].rows
        assert len(everything["plateau"].seeds) == 4  # without keys: both settings mixed
    finally:
        store.close()
    text = report.read_text()
    assert "Left out: 2 stored runs" in text  # the earlier plateau's 2 runs
    line = next(x for x in text.splitlines() if x.startswith("| plateau |"))
    assert line.split("|")[3].strip() == "2"  # seeds: the current settings' runs only


def test_a_stored_run_is_reported_under_the_label_the_suite_plans_it_as(tmp_path):
    bench(SUITE, out=tmp_path)
    renamed = {
        **SUITE,
        "controllers": [
            {"name": "plateau", "patience": 1, "label": "plateau-1"},
            SUITE["controllers"][1],
        ],
    }
    with sqlite3.connect(tmp_path / "results.db") as con:
        before = dict(con.execute("select key, finished from cells").fetchall())
    text = bench(renamed, out=tmp_path).read_text()
    with sqlite3.connect(tmp_path / "results.db") as con:
        after = dict(con.execute("select key, finished from cells").fetchall())
    assert after == before  # the same configs: nothing ran again
    cols = [x.split("|") for x in text.splitlines() if x.startswith("| plateau")]
    # the task table's rows (track column: self-tuning or replay), not the summary tables'
    rows = {c[1].strip(): c[3].strip() for c in cols if c[2].strip() in ("self-tuning", "replay")}
    assert rows == {"plateau-1": "2", "plateau-1-replay": "2"}
    assert "Left out" not in text


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"tasks": [{"name": "toyy"}]}, "did you mean 'toy'"),
        ({"controllers": [{"name": "platoe"}]}, "did you mean 'plateau'"),
        ({"baselines": [{"name": "cosinus"}]}, "cosine"),
        ({"baselines": [{"name": "noam", "d_model": 8, "warmup_steps": 2}]}, "no lr or max_lr"),
        ({"seedz": [1]}, "did you mean 'seeds'"),
        ({"tuning_seeds": [0]}, "tuning_seeds"),
        ({"grid": {"points": 0}}, "grid.points"),
        ({"tasks": []}, "tasks"),
    ],
)
def test_bad_suites_fail_naming_the_field(tmp_path, change, needle):
    with pytest.raises(ValueError, match=needle):
        bench({**SUITE, **change}, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_or_foreign_database_is_refused_and_untouched(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a SQLite database"):
        bench(SUITE, out=tmp_path / "o", store=str(junk))
    assert junk.read_bytes() == b"this is not sqlite" * 100
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("create table users (id integer)")
    with pytest.raises(ValueError, match="not an autolr results store"):
        bench(SUITE, out=tmp_path / "o2", store=str(foreign))
    with sqlite3.connect(foreign) as con:
        assert con.execute("select name from sqlite_master").fetchall() == [("users",)]


def test_cli_bench_and_report_errors(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(json.dumps({**SUITE, "controllers": [{"name": "nope"}]}))
    assert main(["bench", str(suite), "--out", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_load_suite_defaults_are_the_documented_baselines():
    s = load_suite({"name": "d", "tasks": [{"name": "toy"}]})
    assert [b.label for b in s.baselines] == [
        "constant",
        "step",
        "cosine-warmup",
        "wsd",
        "one_cycle",
        "inverse_sqrt",
    ]
    assert s.cfg.grid.points == 7 and s.cfg.seeds == [0, 1, 2]

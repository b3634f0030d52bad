"""Optimizer peers in a suite: the ``optimizers`` key, its ``peer`` cells, the whole-suite
check, and a bench that runs, reports and redoes them (no replays)."""

from __future__ import annotations

import copy
import sqlite3

import pytest

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import analyse
from autolr.bench.suite import Suite
from autolr.running.config import ConfigError

BASE = {
    "name": "peers",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 1, "span": 2},
    "tasks": [
        {"name": "toy", "budget_steps": 40, "eval_every": 20},
        {"name": "nqm", "budget_steps": 30, "eval_every": 10},
    ],
    "baselines": [{"name": "constant"}],
    "controllers": [{"name": "plateau", "patience": 1}],
}
PEERS = [
    {"name": "prodigy"},
    {"name": "schedulefree-adamw", "label": "sf-adamw", "warmup_steps_frac": 0.1},
    {"name": "dog", "kinds": ["synthetic"], "layerwise": True},
]


def test_optimizers_expand_to_peer_cells_on_the_evaluation_seeds():
    suite = Suite({**BASE, "optimizers": PEERS})
    cells = suite.peer_cells()
    # 2 tasks x 2 seeds x 3 peers; the toy and the nqm are both synthetic: dog runs on both
    assert len(cells) == 12 and {c.track for c in cells} == {"peer"}
    assert {c.method for c in cells} == {"prodigy", "sf-adamw", "dog"}
    sf = next(c for c in cells if c.method == "sf-adamw" and c.task == "toy" and c.seed == 1)
    assert sf.config == {
        "task": {"name": "toy"},
        "optimizer": {"name": "schedulefree-adamw", "warmup_steps_frac": 0.1},
        "seed": 1,
        "budget_steps": 40,
        "eval_every": 20,
        "interval": 10,
        "device": "cpu",
        "threads": 1,
    }
    assert "controller" not in sf.config and sf.peak_lr is None
    assert len({c.key for c in cells}) == 12
    assert [m.label for m in suite.methods] == ["constant", "plateau", "prodigy", "sf-adamw", "dog"]


def test_kinds_select_the_tasks_a_peer_runs_on():
    vision_only = [{"name": "prodigy", "kinds": ["vision"]}]
    assert Suite({**BASE, "optimizers": vision_only}).peer_cells() == []


def test_a_suite_without_optimizers_keeps_its_cells_and_keys():
    def keys(raw):
        s = Suite(raw)
        return [c.key for c in s.tune_cells() + s.self_cells() + s.eval_cells({})]

    before = keys(BASE)
    assert keys({**BASE, "optimizers": []}) == before
    assert keys({**BASE, "optimizers": PEERS}) == before
    assert Suite(BASE).peer_cells() == [] and Suite(BASE).optimizers == []


@pytest.mark.parametrize(
    ("peer", "message"),
    [
        (
            {"name": "prodgy"},
            "suite: optimizers[0]: unknown optimizer peer 'prodgy' (did you mean 'prodigy'?)",
        ),
        (
            {"name": "prodigy", "d_cof": 2},
            "suite: optimizers[0].d_cof: unknown key (did you mean 'd_coef'?)",
        ),
        ({"name": "prodigy", "lr": 0}, "suite: optimizers[0].lr must be > 0, got 0"),
        (
            {"name": "schedulefree-sgd", "warmup_steps_frac": 1.5},
            "suite: optimizers[0].warmup_steps_frac must be in [0, 1], got 1.5",
        ),
        (
            {"name": "dadapt-adam", "betas": [0.9, 2.0]},
            "suite: optimizers[0] (on task 'toy', budget 40): optimizer peer 'dadapt-adam': "
            "Invalid beta parameter at index 1: 2.0",
        ),
        (
            {"name": "dog", "kinds": ["visoin"]},
            "suite: optimizers[0].kinds: 'visoin' is not a task kind",
        ),
        ({"label": "x"}, "suite: optimizers[0] needs a 'name'"),
    ],
)
def test_the_whole_suite_check_builds_every_peer(peer, message):
    with pytest.raises(ValueError) as err:
        Suite({**BASE, "optimizers": [peer]})
    assert str(err.value).startswith(message), str(err.value)


def test_a_peer_needs_a_label_of_its_own():
    with pytest.raises(ValueError, match=r"distinct labels; repeated: \['plateau'\]"):
        Suite({**BASE, "optimizers": [{"name": "prodigy", "label": "plateau"}]})
    raw = {**BASE, "optimizers": [{"name": "prodigy"}, {"name": "prodigy", "d_coef": 2.0}]}
    with pytest.raises(ValueError, match=r"repeated: \['prodigy'\]"):
        Suite(raw)


def test_the_check_leaves_the_suite_as_it_was():
    raw = {**BASE, "optimizers": copy.deepcopy(PEERS)}
    suite = Suite(raw)
    assert raw["optimizers"] == PEERS
    assert [m.spec for m in suite.optimizers] == [
        {"name": "prodigy"},
        {"name": "schedulefree-adamw", "warmup_steps_frac": 0.1},
        {"name": "dog", "layerwise": True},
    ]


def test_a_bench_runs_reports_and_redoes_peers_without_replaying_them(tmp_path):
    raw = {**BASE, "tasks": BASE["tasks"][:1], "optimizers": PEERS[:2]}
    report = bench(raw, out=tmp_path)
    db = tmp_path / "results.db"
    with sqlite3.connect(db) as con:
        cells = con.execute("select key, method, track, status, finished from cells").fetchall()
    tracks = sorted(t for _, _, t, _, _ in cells)
    # 1 tuning run, 2 tuned evaluations, 2 plateau runs (+2 replays), 2 x 2 peer runs
    assert tracks == ["eval"] * 2 + ["peer"] * 4 + ["replay"] * 2 + ["self"] * 2 + ["tune"]
    assert all(status == "done" for _, _, _, status, _ in cells)
    assert {m for _, m, t, _, _ in cells if t == "replay"} == {"plateau-replay"}

    store = ResultsStore(f"sqlite:///{db}")
    (rep,) = analyse(store, "peers")
    assert rep.rows["prodigy"].track == "peer" and rep.rows["sf-adamw"].track == "peer"
    assert len(rep.rows["prodigy"].finals) == 2
    summaries = [c["summary"] for c in store.done_cells("peers") if c["track"] == "peer"]
    assert {s["optimizer"]["name"] for s in summaries} == {"prodigy", "schedulefree-adamw"}
    store.close()
    text = report.read_text()
    assert "| prodigy | peer |" in text and "| sf-adamw | peer |" in text

    before = {k: f for k, _, _, _, f in cells}
    bench(raw, out=tmp_path, redo=["sf-adamw"])
    with sqlite3.connect(db) as con:
        after = dict(con.execute("select key, finished from cells").fetchall())
        methods = dict(con.execute("select key, method from cells").fetchall())
    assert after.keys() == before.keys()
    assert {methods[k] for k in after if after[k] != before[k]} == {"sf-adamw"}
    with pytest.raises(ValueError, match=r"--redo 'dog' is not a method of suite 'peers'"):
        bench(raw, out=tmp_path, redo=["dog"])


def test_a_config_error_in_optimizers_is_a_config_error():
    with pytest.raises(ConfigError):
        Suite({**BASE, "optimizers": [{"name": "prodigy", "d_cof": 1}]})

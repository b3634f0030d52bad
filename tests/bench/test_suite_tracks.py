"""Tracks beyond tune/eval/self: untuned baselines ("default") and peers ("peer"); suites
without them keep every cell key they had."""

import copy
import hashlib
import sqlite3
from pathlib import Path

import pytest
import yaml

from autolr.bench import ResultsStore, bench
from autolr.bench.harness import replay_cells
from autolr.bench.suite import DEFAULT_BASELINES, Suite
from autolr.bench.targets import read_targets
from autolr.running.config import ConfigError
from tests.bench.test_bench import SUITE

ROOT = Path(__file__).resolve().parents[2]

# configs/bench/cpu.yaml before untuned baselines, lr_finder and rl
CPU_BEFORE = {
    "name": "cpu",
    "seeds": [0, 1, 2],
    "tuning_seeds": [1000],
    "interval": 50,
    "grid": {"points": 7, "span": 8},
    "tasks": [
        {"name": "nqm"},
        {"name": "digits-cnn"},
        {"name": "mnist1d-mlp"},
        {"name": "mnist1d-cnn"},
        {"name": "stdlib-lm"},
    ],
    "controllers": [
        {"name": "plateau", "patience": 2, "factor": 0.5},
        {"name": "greedy"},
        {"name": "hypergradient"},
        {"name": "autolrs"},
        {"name": "optuna"},
        {"name": "meta"},
    ],
    "replay": True,
}


def digest(raw) -> tuple[int, str]:
    """How many cells, and a hash of their tracks, methods and keys in order: tuning runs,
    evaluation runs (at twice each task's LR as the 'tuned' peak) and controllers."""
    s = Suite(copy.deepcopy(raw), check=False)
    peaks = {(t.label, m.label): t.info.lr * 2 for t in s.tasks for m in s.baselines}
    cells = s.tune_cells() + s.eval_cells(peaks) + s.self_cells()
    keys = "\n".join(f"{c.track}:{c.method}:{c.key}" for c in cells)
    return len(cells), hashlib.sha256(keys.encode()).hexdigest()


def test_suites_without_the_new_keys_keep_every_cell_key():
    # computed by the code before tracks "default" and "peer" existed
    assert digest(SUITE) == (14, "f0609322c24435cc68ef0f14caf9e5e434023554fb7adb9be0aa8a4c2eeb4c9d")
    assert digest(CPU_BEFORE) == (
        362,
        "13ad17d0d00d1dd76effa7179060f3f2ea219f2d53abae77c3a20688af72c450",
    )
    for raw in (SUITE, CPU_BEFORE):
        assert Suite(copy.deepcopy(raw), check=False).default_cells() == []


def test_the_shipped_cpu_suite_lists_the_default_baselines_unchanged():
    raw = yaml.safe_load((ROOT / "configs/bench/cpu.yaml").read_text())
    tuned = [b for b in raw["baselines"] if b.get("tuned", True)]
    assert tuned == DEFAULT_BASELINES
    assert {
        "name": "cosine",
        "warmup_steps_frac": 0.05,
        "tuned": False,
        "label": "cosine-default",
    } in raw["baselines"]
    assert {"name": "lr_finder"} in raw["controllers"] and {"name": "rl"} in raw["controllers"]
    # so its tuning and evaluation cells are those of the default baselines, key for key
    plain = {k: v for k, v in raw.items() if k != "baselines"}
    suite, before = Suite(raw, check=False), Suite(plain, check=False)
    peaks = {(t.label, m.label): t.info.lr for t in before.tasks for m in before.baselines}
    assert [c.key for c in suite.tune_cells()] == [c.key for c in before.tune_cells()]
    assert [c.key for c in suite.eval_cells(peaks)] == [c.key for c in before.eval_cells(peaks)]
    for name in ("quickstart", "gpu"):
        other = yaml.safe_load((ROOT / f"configs/bench/{name}.yaml").read_text())
        assert {**tuned[2], "tuned": False, "label": "cosine-default"} in other["baselines"]


UNTUNED = {
    **SUITE,
    "baselines": [
        {"name": "constant"},
        {"name": "cosine", "warmup_steps_frac": 0.05, "tuned": False, "label": "cosine-default"},
    ],
}


def test_an_untuned_baseline_runs_no_grid_and_runs_at_the_default_lr():
    s = Suite(UNTUNED)
    assert {c.method for c in s.tune_cells()} == {"constant"}
    cells = s.default_cells()
    assert [(c.method, c.track, c.seed) for c in cells] == [
        ("cosine-default", "default", 0),
        ("cosine-default", "default", 1),
    ]
    lr = s.tasks[0].info.lr  # toy: 0.05
    for c in cells:
        assert c.peak_lr == lr == 0.05
        schedule = c.config["controller"]["schedule"]
        assert schedule == {"name": "cosine", "lr": 0.05, "warmup_steps": 3, "total_steps": 60}
    # no tuned peak makes an evaluation cell of it (a stale one from an older store neither)
    peaks = {("toy", "constant"): 0.1, ("toy", "cosine-default"): 0.1}
    assert {c.method for c in s.eval_cells(peaks)} == {"constant"}
    # the tuned baselines' cells are those of a suite without the untuned one
    plain = Suite({**SUITE, "baselines": [{"name": "constant"}]})
    assert [c.key for c in s.tune_cells()] == [c.key for c in plain.tune_cells()]


@pytest.mark.parametrize("value", ["no", 0, 1, None, "false"])
def test_tuned_must_be_a_boolean(value):
    bad = {**UNTUNED, "baselines": [{"name": "cosine", "tuned": value}]}
    with pytest.raises(ConfigError, match=r"suite: baselines\[0\]\.tuned must be true or false"):
        Suite(bad)


def test_tuned_is_a_baseline_key_only():
    bad = {**SUITE, "controllers": [{"name": "plateau", "tuned": False}]}
    with pytest.raises(ConfigError, match=r"controllers\[0\]\.tuned: unknown key"):
        Suite(bad)


def test_a_peer_controller_gets_track_peer_and_others_keep_theirs():
    with_peer = {
        **SUITE,
        "controllers": [*SUITE["controllers"], {"name": "lr_finder", "num_steps": 20}],
    }
    cells = Suite(with_peer).self_cells()
    tracks = {c.method: c.track for c in cells}
    assert tracks == {"plateau": "self", "hypergradient": "self", "lr_finder": "peer"}
    before = [c.key for c in Suite(SUITE).self_cells()]
    assert [c.key for c in cells if c.method != "lr_finder"] == before


MIXED = {
    **UNTUNED,
    "controllers": [{"name": "hypergradient"}, {"name": "lr_finder", "num_steps": 20}],
}


def test_a_suite_with_default_and_peer_tracks_end_to_end(tmp_path):
    bench(MIXED, out=tmp_path)
    db = tmp_path / "results.db"
    with sqlite3.connect(db) as con:
        rows = con.execute("select key, method, track, status, finished from cells").fetchall()
    assert all(r[3] == "done" for r in rows)
    tracks = sorted((m, t) for _, m, t, _, _ in rows)
    # 3 grid points x 1 tuning seed, then 2 evaluation seeds for every other cell; a replay
    # of the self-tuning controller only
    assert tracks == sorted(
        [("constant", "tune")] * 3
        + [("constant", "eval")] * 2
        + [("cosine-default", "default")] * 2
        + [("hypergradient", "self")] * 2
        + [("hypergradient-replay", "replay")] * 2
        + [("lr_finder", "peer")] * 2
    )
    store = ResultsStore(f"sqlite:///{db}")
    try:
        # the target comes from the tuning runs alone
        (target,) = read_targets(store, "tiny").values()
        tune = {c["key"] for c in store.done_cells("tiny") if c["track"] == "tune"}
        assert target["method"] == "constant" and set(target["made_from"]) <= tune
        peer = [c for c in store.done_cells("tiny") if c["track"] == "peer"]
        for c in peer:  # the range test charged: probed + trained is the whole budget
            s = c["summary"]
            assert s["steps_charged"] == 60 and s["controller_stats"]["range_test_steps"] > 0
            assert s["steps_probed"] == s["controller_stats"]["range_test_steps"]
            assert s["steps_trained"] + s["steps_probed"] == 60
        assert {c.method for c in replay_cells(Suite(MIXED), store)} == {"hypergradient-replay"}
    finally:
        store.close()
    # --redo takes the new labels; redoing an untuned baseline leaves the targets alone
    bench(MIXED, out=tmp_path, redo=["cosine-default", "lr_finder"])
    with sqlite3.connect(db) as con:
        query = "select key, method, finished from cells"
        again = {k: (m, f) for k, m, f in con.execute(query).fetchall()}
    store = ResultsStore(f"sqlite:///{db}")
    try:
        assert read_targets(store, "tiny")["toy"]["created"] == target["created"]
    finally:
        store.close()
    before = {k: f for k, _, _, _, f in rows}
    redone = {again[k][0] for k in before if again[k][1] != before[k]}
    assert redone == {"cosine-default", "lr_finder"}


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_the_shipped_suites_run_autolrs_in_both_presets_and_name_optunas_every(name):
    raw = yaml.safe_load((ROOT / f"configs/bench/{name}.yaml").read_text())
    assert {"name": "autolrs", "preset": "paper"} in raw["controllers"]
    assert {"name": "autolrs", "preset": "fast", "label": "autolrs-fast"} in raw["controllers"]
    assert {"name": "optuna", "every": 4} in raw["controllers"]  # not the earlier defaults' key
    suite = Suite(raw, check=False)
    by_label = {m.label: m.spec for m in suite.controllers}
    assert by_label["autolrs"] == {"name": "autolrs", "preset": "paper"}
    assert by_label["autolrs-fast"] == {"name": "autolrs", "preset": "fast"}
    cells = [c for c in suite.self_cells() if c.method.startswith("autolrs")]
    presets = {(c.method, c.config["controller"]["preset"]) for c in cells}
    assert presets == {("autolrs", "paper"), ("autolrs-fast", "fast")}


def test_controllers_take_a_label_and_labels_stay_distinct():
    raw = {**copy.deepcopy(SUITE), "controllers": [{"name": "autolrs"}, {"name": "autolrs"}]}
    with pytest.raises(ValueError, match=r"distinct labels; repeated: \['autolrs'\]"):
        Suite(raw, check=False)
    raw["controllers"][1] = {"name": "autolrs", "preset": "fast", "label": "autolrs-fast"}
    labels = [c.method for c in Suite(raw, check=False).self_cells()]
    assert set(labels) == {"autolrs", "autolrs-fast"}

"""Target seeds: the best tuned baseline, chosen on the tuning runs, confirms the target at
its tuned peak on seeds of its own (track "target"); the target is the worst final
validation metric over its tuning and target-seed runs there."""

import copy
import sqlite3

import pytest

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import analyse
from autolr.bench.report import TARGET_TEXT
from autolr.bench.suite import Suite
from autolr.bench.targets import (
    RULE,
    RULE_CONFIRMED,
    best_baselines,
    choose_targets,
    fix_targets,
    read_targets,
)
from autolr.bench.tuning import choose_peaks, final_metric
from autolr.loop.direction import Direction
from autolr.running.config import ConfigError
from tests.bench.test_targets import put, tuning

PLAIN = {
    "name": "ts",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 3, "span": 4},
    "tasks": [{"name": "nqm", "budget_steps": 60, "eval_every": 20}],
    "baselines": [{"name": "constant"}, {"name": "cosine", "warmup_steps_frac": 0.1}],
    "replay": False,
}
CONFIRMED = {**PLAIN, "target_seeds": [200, 201]}


def cells_of(db) -> dict[str, tuple[str, float]]:
    """``{key: (track, finished)}`` of every cell in the store."""
    with sqlite3.connect(db) as con:
        return {k: (t, f) for k, t, f in con.execute("select key, track, finished from cells")}


def test_target_seeds_must_not_overlap_seeds_or_tuning_seeds():
    with pytest.raises(ConfigError, match=r"target_seeds \[1, 200\] must not overlap seeds"):
        Suite({**CONFIRMED, "target_seeds": [1, 200]}, check=False)
    with pytest.raises(ConfigError, match=r"target_seeds \[100\] must not overlap tuning_seeds"):
        Suite({**CONFIRMED, "target_seeds": [100]}, check=False)


def test_target_seeds_leave_every_other_cell_key_alone():
    plain, confirmed = Suite(copy.deepcopy(PLAIN)), Suite(copy.deepcopy(CONFIRMED))
    peaks = {("nqm", "constant"): 0.5, ("nqm", "cosine"): 2.0}
    for make in (lambda s: s.tune_cells(), lambda s: s.eval_cells(peaks)):
        assert [c.key for c in make(confirmed)] == [c.key for c in make(plain)]
    assert plain.target_cells({"nqm": ("cosine", 2.0)}) == []
    cells = confirmed.target_cells({"nqm": ("cosine", 2.0)})
    assert [(c.track, c.method, c.seed, c.peak_lr) for c in cells] == [
        ("target", "cosine", 200, 2.0),
        ("target", "cosine", 201, 2.0),
    ]
    # the evaluation run's config at that peak, on the target seed
    (ev,) = [c for c in confirmed.eval_cells(peaks) if c.method == "cosine" and c.seed == 0]
    assert cells[0].config == {**ev.config, "seed": 200}


def test_a_suite_with_target_seeds_end_to_end_and_a_rerun_runs_nothing(tmp_path):
    bench(CONFIRMED, out=tmp_path)
    db = tmp_path / "results.db"
    store = ResultsStore(f"sqlite:///{db}")
    try:
        cells = store.done_cells("ts")
        best, peak = best_baselines(cells)["nqm"]
        assert peak == choose_peaks(cells)[("nqm", best)]
        confirm = [c for c in cells if c["track"] == "target"]
        assert sorted(c["seed"] for c in confirm) == [200, 201]
        assert {(c["method"], c["peak_lr"]) for c in confirm} == {(best, peak)}
        tune = [
            c for c in cells if c["track"] == "tune" and (c["method"], c["peak_lr"]) == (best, peak)
        ]
        runs = tune + confirm
        direction = Direction.of(runs[0]["summary"]["mode"])
        worst = direction.worst_of([final_metric(c["summary"], direction) for c in runs])
        row = read_targets(store, "ts")["nqm"]
        assert (row["target"], row["method"], row["rule"]) == (worst, best, RULE_CONFIRMED)
        assert set(row["made_from"]) == {c["key"] for c in runs}
        # the target-seed runs are no row of the report, and no tuning cost
        (rep,) = analyse(store, "ts")
        assert rep.target == worst and rep.made.stored and rep.target_seed_runs == 2
        assert {(r.method, r.track) for r in rep.rows.values()} == {
            ("constant", "eval"),
            ("cosine", "eval"),
        }
        assert all(r.seeds == [0, 1] for r in rep.rows.values())
        steps = {
            m: sum(
                c["summary"]["steps_charged"]
                for c in cells
                if c["track"] == "tune" and c["method"] == m
            )
            for m in ("constant", "cosine")
        }
        assert rep.tuning_by_method == steps
    finally:
        store.close()
    text = (tmp_path / "report.md").read_text()
    assert TARGET_TEXT[RULE_CONFIRMED] in text and TARGET_TEXT[RULE] not in text
    assert f"from {best}'s 1 tuning run and 2 target-seed runs at its tuned peak; stored" in text
    # a rerun runs nothing and keeps the target
    before = cells_of(db)
    bench(CONFIRMED, out=tmp_path)
    assert cells_of(db) == before
    store = ResultsStore(f"sqlite:///{db}")
    try:
        assert read_targets(store, "ts")["nqm"]["created"] == row["created"]
    finally:
        store.close()
    # --redo of the best baseline deletes its target-seed runs too: they run again
    bench(CONFIRMED, out=tmp_path, redo=[best])
    after = cells_of(db)
    redone = {before[k][0] for k in before if after[k][1] != before[k][1]}
    assert redone == {"tune", "target", "eval"} and after.keys() == before.keys()


def test_a_target_of_the_old_rule_is_remade_once_the_suite_has_target_seeds(tmp_path):
    bench(PLAIN, out=tmp_path)
    db = tmp_path / "results.db"
    store = ResultsStore(f"sqlite:///{db}")
    try:
        old = read_targets(store, "ts")["nqm"]
    finally:
        store.close()
    assert old["rule"] == RULE and len(old["made_from"]) == 1
    assert TARGET_TEXT[RULE] in (tmp_path / "report.md").read_text()
    before = cells_of(db)
    bench(CONFIRMED, out=tmp_path)
    after = cells_of(db)
    # only the target-seed runs are new; every other cell stays as it was
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(t for k, (t, _) in after.items() if k not in before) == ["target", "target"]
    store = ResultsStore(f"sqlite:///{db}")
    try:
        new = read_targets(store, "ts")["nqm"]
        assert new["rule"] == RULE_CONFIRMED and new["method"] == old["method"]
        assert set(old["made_from"]) < set(new["made_from"]) and len(new["made_from"]) == 3
        assert new["target"] == choose_targets(store.done_cells("ts"))["nqm"].target
    finally:
        store.close()
    # and back: without target seeds the suite's target is the tuning runs' again
    bench(PLAIN, out=tmp_path)
    store = ResultsStore(f"sqlite:///{db}")
    try:
        again = read_targets(store, "ts")["nqm"]
        assert (again["rule"], again["made_from"], again["target"]) == (
            RULE,
            old["made_from"],
            old["target"],
        )
    finally:
        store.close()


def test_fix_targets_remakes_a_target_whose_runs_are_not_the_planned_ones(store):
    keys = tuning(store)  # best baseline b at peak 0.1, tuning finals 0.90 and 0.84
    tune_keys = {"t": list(keys.values())}
    assert best_baselines(store.done_cells("s")) == {"t": ("b", 0.1)}
    a = [
        put(store, "t", "b", "target", seed, [0.1, 0.5, f], peak=0.1)
        for seed, f in ((7, 0.88), (8, 0.80))
    ]
    fixed = fix_targets(store, "s", tune_keys, {"t": a})
    assert (fixed["t"].target, fixed["t"].rule) == (0.80, RULE_CONFIRMED)
    tuned = {keys[("b", 0.1, 100)], keys[("b", 0.1, 101)]}
    assert set(fixed["t"].made_from) == tuned | set(a)
    # other target seeds planned (seed 9, not run yet): the stored target is not the
    # planned one, so it goes, and none is stored until seed 9 is done
    b = "t/b/target/9/0.1"
    assert fix_targets(store, "s", tune_keys, {"t": [a[0], b]}) == {}
    put(store, "t", "b", "target", 9, [0.1, 0.5, 0.86], peak=0.1)
    fixed = fix_targets(store, "s", tune_keys, {"t": [a[0], b]})
    assert fixed["t"].target == 0.84  # the worst tuning seed is now the worst run
    assert set(fixed["t"].made_from) == tuned | {a[0], b}
    # a run at another peak or of another baseline never counts
    put(store, "t", "a", "target", 7, [0.1, 0.5, 0.1], peak=0.2)
    assert choose_targets(store.done_cells("s"))["t"].target == 0.80

"""Targets fixed from the tuning runs, held steps to target, and the report's statistics
(issue #12), on hand-made results stores: no training, every number computed by hand."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from autolr.bench.analysis import analyse, final_of
from autolr.bench.report import compute_table, summary_table, task_table, write_report
from autolr.bench.stats import performance_ratios
from autolr.bench.suite import Suite
from autolr.bench.targets import RULE, choose_targets, fix_targets, put_target, read_targets
from autolr.bench.views import compute_inclusive, profiles, replay_comparisons
from autolr.running.config import ConfigError

EVAL_STEPS = [0.0, 50.0, 100.0]


def put(store, task, method, track, seed, evals, peak=None, **summary):
    """A done cell with a hand-made summary (final = the last evaluation unless given) and
    evaluation curve at steps 0, 50, 100."""
    key = f"{task}/{method}/{track}/{seed}/{peak}"
    cell = {"key": key, "suite": "s", "task": task, "method": method, "track": track}
    assert store.claim({**cell, "seed": seed, "peak_lr": peak, "config": {}})
    full = {
        "mode": "max",
        "metric": "accuracy",
        "final_val_metric": evals[-1],
        "wall_time_s": 1.0,
        "steps_probed": 0,
        "steps_charged": 100,
        "rollbacks": 0,
        "steps_lost": 0,
        "diverged": False,
        **summary,
    }
    ones = np.ones(100)
    curves = {
        "lr": ones,
        "train_loss": ones,
        "step_charged": np.arange(1.0, 101.0),
        "eval_step": np.array(EVAL_STEPS),
        "eval_charged": np.array(EVAL_STEPS),
        "eval_metric": np.array(evals, dtype=np.float64),
        "eval_loss": np.zeros(3),
        "eval_wall": np.array(EVAL_STEPS) / 100,
    }
    assert store.finish(key, full, curves)
    return key


def tuning(store):
    """Two baselines, peaks 0.1 and 0.2, tuning seeds 100 and 101 (finals in the last slot).

    a: peak 0.1 mean 0.80, peak 0.2 mean 0.85 (0.84, 0.86) -> tuned at 0.2, mean 0.85
    b: peak 0.1 mean 0.87 (0.90, 0.84), peak 0.2 mean 0.70 -> tuned at 0.1, mean 0.87
    best baseline b (0.87 > 0.85); target = its worst tuning seed at 0.1: 0.84.
    """
    finals = {
        ("a", 0.1): (0.79, 0.81),
        ("a", 0.2): (0.84, 0.86),
        ("b", 0.1): (0.90, 0.84),
        ("b", 0.2): (0.70, 0.70),
    }
    keys = {}
    for (method, peak), pair in finals.items():
        for seed, final in zip((100, 101), pair, strict=True):
            keys[(method, peak, seed)] = put(
                store, "t", method, "tune", seed, [0.1, 0.5, final], peak=peak
            )
    return keys


def test_final_of_reads_test_and_falls_back_to_validation():
    old = {"final_val_metric": 0.9, "final_val_loss": 0.3}
    assert final_of(old) == 0.9 and final_of(old, "loss") == 0.3
    new = {**old, "final_test_metric": 0.8, "final_test_loss": 0.4}
    assert final_of(new) == 0.8 and final_of(new, "loss") == 0.4
    assert final_of(new, split="val") == 0.9
    # a test metric that was not finite stays NaN: it does not borrow the validation value
    assert math.isnan(final_of({**old, "final_test_metric": None}))


def test_target_is_fixed_from_the_tuning_runs_and_evaluation_cannot_move_it(store):
    keys = tuning(store)
    (t,) = choose_targets(store.done_cells("s")).values()
    assert (t.task, t.method, t.target, t.rule) == ("t", "b", 0.84, RULE)
    assert set(t.made_from) == {keys[("b", 0.1, 100)], keys[("b", 0.1, 101)]}
    # stored once the tuning phase is complete, with how it was made
    fixed = fix_targets(store, "s", {"t": list(keys.values())})
    assert fixed["t"].stored and fixed["t"].target == 0.84
    row = read_targets(store, "s")["t"]
    assert (row["method"], row["rule"]) == ("b", RULE) and row["created"] > 0
    # evaluation runs: b's seeds end at 0.80 and 0.95; the old rule (worst evaluation seed
    # of the best evaluation mean) would have made the target 0.80
    put(store, "t", "b", "eval", 0, [0.1, 0.85, 0.80], peak=0.1)
    put(store, "t", "b", "eval", 1, [0.1, 0.85, 0.95], peak=0.1)
    put(store, "t", "a", "eval", 0, [0.1, 0.99, 0.99], peak=0.2)
    (rep,) = analyse(store, "s")
    assert rep.target == 0.84 and rep.best_baseline == "b" and rep.made.stored
    # b seed 0: reaches 0.84 at 50 but loses it at 100: never held; seed 1: held from 50
    assert rep.rows["b"].steps == [math.inf, 50.0]
    # changing an evaluation seed's result does not move the target
    with store.engine.begin() as con:
        con.exec_driver_sql(
            "update cells set summary = replace(summary, '0.95', '0.10') where key = ?",
            ("t/b/eval/1/0.1",),
        )
    (again,) = analyse(store, "s")
    assert again.target == 0.84 and again.rows["b"].finals == [0.80, 0.10]
    # a rerun reuses the stored target; a tuning run not yet done stores nothing
    assert not put_target(store, "s", "t", 0.5, "a", RULE, [])
    assert fix_targets(store, "s", {"t": ["missing"], "u": ["missing"]}).keys() == {"t"}


def test_incomplete_tuning_stores_no_target_and_redone_runs_remake_it(store):
    keys = tuning(store)
    fixed = fix_targets(store, "s", {"t": [*keys.values(), "still-running"]})
    assert fixed == {}
    (rep,) = analyse(store, "s")  # the report computes it by the same rule, unstored
    assert rep.target == 0.84 and not rep.made.stored
    fix_targets(store, "s", {"t": list(keys.values())})
    assert store.forget("s", ["b"]) == 4  # b's tuning runs are deleted (to be redone)
    remade = fix_targets(store, "s", {"t": [k for k in keys.values() if "/b/" not in k]})
    # its stored target was made from deleted runs: remade from what is left, a at its
    # tuned peak 0.2 (finals 0.84, 0.86): 0.84
    assert (remade["t"].method, remade["t"].target) == ("a", 0.84)
    assert read_targets(store, "s")["t"]["method"] == "a"


def test_report_columns_rollbacks_lost_diverged_collapsed_and_finite_seeds(store, tmp_path):
    tuning(store)
    # a controller over 4 seeds: medians from step 0 (0.1) to 0.8 (progress 0.7); the
    # collapse margin is 0.5 * 0.7 = 0.35 below the median 0.8 (finite finals 0.9, 0.8,
    # 0.3): 0.3 collapsed; the NaN run diverged (not collapsed)
    put(store, "t", "c", "self", 0, [0.1, 0.5, 0.9], rollbacks=2, steps_lost=40)
    put(store, "t", "c", "self", 1, [0.1, 0.5, 0.8])
    put(store, "t", "c", "self", 2, [0.1, 0.5, 0.3])
    put(store, "t", "c", "self", 3, [0.1, 0.5, math.nan], final_val_metric=None, diverged=True)
    (rep,) = analyse(store, "s")
    row = rep.rows["c"]
    assert row.rollbacks == [2, 0, 0, 0] and row.lost == [40, 0, 0, 0]
    assert row.diverged == 1 and row.collapsed == 1 and row.n_finite == 3
    head, rows = task_table(rep)
    (line,) = [r for r in rows if r[0] == "c"]
    cell = dict(zip(head, line, strict=True))
    assert cell["seeds"] == "4 (3 finite)"
    assert cell["rollbacks"] == "0.5" and cell["steps lost"] == "10"
    assert cell["diverged"] == "1/4" and cell["collapsed"] == "1/4"
    assert head[3] == "final accuracy (validation, mean ± 95% CI)"
    path = write_report(store, "s", tmp_path)
    text = path.read_text()
    assert "target 0.84 (from b's 2 tuning runs at its tuned peak; computed now" in text


def test_test_metric_with_validation_beside_it_and_split_sizes(store):
    tuning(store)
    for seed, test in ((0, 0.7), (1, 0.9)):
        put(
            store, "t", "c", "self", seed, [0.1, 0.5, 0.85],
            final_test_metric=test, val_size=200, test_size=5000,
        )  # fmt: skip
    (rep,) = analyse(store, "s")
    assert rep.has_test and (rep.val_size, rep.test_size) == (200, 5000)
    head, rows = task_table(rep)
    cell = dict(zip(head, rows[0], strict=True))
    assert head[3] == "final accuracy (test, mean ± 95% CI)" and head[4] == "validation"
    half = sps.t.ppf(0.975, 1) * np.std([0.7, 0.9], ddof=1) / math.sqrt(2)
    assert cell[head[3]] == f"0.8 ± {half:.2g}" and cell["validation"] == "0.85 ± 0"
    from autolr.bench.report import _sizes

    assert _sizes(rep) == (
        " Validation set: 200 (small: one example is 0.005 of an accuracy); test set: 5000."
    )


def test_not_applicable_is_na_and_out_of_the_profile_denominator(store):
    tuning(store)
    for task in ("t", "u"):  # u: a second task with its own tuning run
        if task == "u":
            put(store, "u", "a", "tune", 100, [0.1, 0.6, 0.6], peak=0.1)
        put(store, task, "c", "self", 0, [0.1, 0.9, 0.9])
    # "lm" ran on task t only (as inverse_sqrt runs on language tasks only)
    put(store, "t", "lm", "self", 0, [0.1, 0.2, 0.9])
    reps = {r.task: r for r in analyse(store, "s")}
    # b has no run on u (a has its tuning run): b and lm are not applicable there
    assert reps["u"].not_applicable == [("b", "eval"), ("lm", "self")]
    ratios = profiles(list(reps.values()))
    # t: target 0.84, held by c from 50 and by lm at 100 (its last evaluation); the
    # baselines have no evaluation rows here, so no times
    assert ratios["lm"] == {"t": 2.0}  # u is absent, not inf
    assert ratios["c"] == {"t": 1.0, "u": 1.0}
    head, rows = task_table(reps["u"])
    assert ["lm", "self-tuning", *["N/A"] * (len(head) - 2)] in rows
    head, rows = summary_table(list(reps.values()))
    table = {r[0]: r for r in rows}
    # lm's score is over its one task: (4 - 2) / 3
    assert table["lm"] == ["lm", "0.667", "1/1", "1"] and table["c"][1:3] == ["1", "2/2"]


def test_performance_ratios_leave_out_tasks_a_method_did_not_run():
    r = performance_ratios({"a": {"t1": 100.0, "t2": 300.0}, "b": {"t1": 200.0}})
    assert r == {"a": {"t1": 1.0, "t2": 1.0}, "b": {"t1": 2.0}}


def test_replay_ci_is_paired_by_seed(store):
    tuning(store)
    closed = {0: 0.90, 1: 0.80, 2: 0.70}
    replay = {0: 0.85, 1: 0.79, 2: 0.60}
    for seed in closed:
        put(store, "t", "c", "self", seed, [0.1, 0.5, closed[seed]])
        put(store, "t", "c-replay", "replay", seed, [0.1, 0.5, replay[seed]])
    (cmp,) = replay_comparisons(analyse(store, "s"))
    d = np.array([closed[s] - replay[s] for s in closed])  # 0.05, 0.01, 0.10
    half = sps.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert cmp.advantage == pytest.approx(d.mean()) and cmp.ci == pytest.approx(half)
    assert (cmp.wins, cmp.pairs) == (3, 3)
    # the unpaired interval would be far wider: the seeds' shared variance is removed
    assert half < 0.5 * (cmp.closed.mean_ci[1] + cmp.replay.mean_ci[1])


def test_compute_inclusive_charges_the_tuning_grid(store):
    tuning(store)  # 4 tuning runs of 100 charged steps per baseline
    put(store, "t", "b", "eval", 0, [0.1, 0.85, 0.9], peak=0.1)
    put(store, "t", "c", "self", 0, [0.1, 0.5, 0.9])
    (rep,) = analyse(store, "s")
    rows = {c.method: c for c in compute_inclusive(rep)}
    assert (rows["b"].tuning, rows["b"].steps, rows["b"].total) == (400, 50.0, 450.0)
    assert (rows["c"].tuning, rows["c"].steps, rows["c"].total) == (0, 100.0, 100.0)
    assert rows["c"].ratio == pytest.approx(100 / 450) and rows["b"].ratio == 1.0
    _, table = compute_table([rep])
    assert ["t", "b *", "tuned", "400", "50", "450", "1"] in table


def test_suite_rescue_key_reaches_every_run_and_leaves_other_keys_alone():
    raw = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "configs/bench/quickstart.yaml").read_text()
    )
    plain = Suite(raw, check=False)
    keys = [c.key for c in plain.tune_cells() + plain.self_cells()]
    assert Suite({**raw, "rescue": False}, check=False).tune_cells()[0].key == keys[0]
    rescued = Suite({**raw, "rescue": True}, check=False)
    cells = rescued.tune_cells() + rescued.self_cells()
    assert all(c.config["rescue"] is True for c in cells)
    assert not {c.key for c in cells} & set(keys)
    assert all("rescue" not in c.config for c in plain.tune_cells())
    for bad in ("yes", 1):
        with pytest.raises(ConfigError, match="rescue"):
            Suite({**raw, "rescue": bad}, check=False)

"""Populations (pbt, pb2) in a suite: the ``populations`` key and its cells, the report's
rows (the population's size beside its track, its cost in the compute-inclusive view), the
replay of its lineage's LR, and a bench that runs one on Ray (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import analyse
from autolr.bench.harness import first_cells, replay_cells
from autolr.bench.store import CURVE_FIELDS
from autolr.bench.suite import Suite
from autolr.bench.tables import compute_table, task_table
from autolr.bench.views import compute_inclusive
from tests.bench.handmade import fill

BASE = {
    "name": "pop",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 1, "span": 2},
    "tasks": [{"name": "nqm", "budget_steps": 60, "eval_every": 20}],
    "baselines": [{"name": "constant"}],
}
PBT = {"name": "pbt", "population": 3, "perturbation_interval": 20}


def test_populations_expand_to_self_tuning_cells_with_the_population_key():
    pb2 = {"name": "pb2", "population": 2, "perturbation_interval": 30, "label": "pb2-small"}
    suite = Suite({**BASE, "populations": [PBT, pb2]})
    cells = suite.population_cells()
    assert len(cells) == 4 and {c.track for c in cells} == {"self"}
    assert [m.label for m in suite.methods] == ["constant", "pbt", "pb2-small"]
    cell = next(c for c in cells if c.method == "pb2-small" and c.seed == 1)
    assert cell.config == {
        "task": {"name": "nqm"},
        "population": {"name": "pb2", "population": 2, "perturbation_interval": 30},
        "seed": 1,
        "budget_steps": 60,
        "eval_every": 20,
        "interval": 10,
        "device": "cpu",
        "threads": 1,
    }
    assert len({c.key for c in cells}) == 4
    assert {c.key for c in cells} <= {c.key for c in first_cells(suite)}  # the first phase


def put_population(store, seed, final, population=4, steps=100):
    """A done pbt cell on task "t" (handmade's): its lineage evaluated at kept steps 0, 50
    and 100, when the population had charged ``population`` times as many."""
    key = f"t/pbt/{seed}"
    cell = {"key": key, "suite": "s", "task": "t", "method": "pbt", "track": "self"}
    config = {"task": {"name": "nqm"}, "population": {"name": "pbt"}, "seed": seed}
    assert store.claim({**cell, "seed": seed, "peak_lr": None, "config": config})
    summary = {
        "mode": "max",
        "metric": "accuracy",
        "final_val_metric": final,
        "final_test_metric": final,
        "wall_time_s": 4.0,
        "steps_probed": 0,
        "steps_charged": population * steps,
        "rollbacks": 0,
        "steps_lost": 0,
        "diverged": False,
        "population": {"population": population, "lineage_steps": steps},
    }
    evals = np.array([0.0, 50.0, 100.0])
    curves = {
        "lr": np.full(steps, 0.1),
        "train_loss": np.linspace(2.0, 0.5, steps),
        "step_charged": population * np.arange(1.0, steps + 1),
        "eval_step": evals,
        "eval_charged": population * evals,
        "eval_metric": np.array([0.1, 0.5 * (0.1 + final), final]),
        "eval_loss": np.zeros(3),
        "eval_wall": evals / 25,
    }
    assert store.finish(key, summary, curves)


def test_the_report_shows_the_population_and_charges_it(store):
    fill(store)  # the target: 0.84, which every run below reaches at its last evaluation
    for seed, final in zip((0, 1, 2), (0.95, 0.94, 0.96), strict=True):
        put_population(store, seed, final)
    (rep,) = analyse(store, "s")
    row = rep.rows["pbt"]
    assert (row.population, row.lineage_steps, row.others) == (4, [100.0] * 3, [300.0] * 3)
    # steps to target are the population's: 4 members x 100 kept steps
    assert row.median_steps == 400
    _, rows = task_table(rep)
    pbt = next(r for r in rows if r[0] == "pbt")
    assert pbt[1] == "self-tuning, population 4" and pbt[5] == "400"
    # compute-inclusive: the other members' 300 steps, the lineage's 100; the best tuned
    # baseline (constant) costs its 2 x 2 x 100 tuning steps and its 100
    compute = {c.method: c for c in compute_inclusive(rep)}["pbt"]
    assert (compute.tuning, compute.steps, compute.total) == (300, 100, 400)
    assert compute.ratio == pytest.approx(400 / 500)
    _, table = compute_table([rep])
    assert ["t", "pbt", "self-tuning, population 4", "300", "100", "400", "0.8"] in table


def test_a_population_that_never_reaches_the_target_is_charged_its_other_members(store):
    fill(store)
    for seed in (0, 1, 2):
        put_population(store, seed, 0.5)  # below the target 0.84
    (rep,) = analyse(store, "s")
    compute = {c.method: c for c in compute_inclusive(rep)}["pbt"]
    assert (compute.tuning, compute.steps, compute.total) == (300, np.inf, np.inf)


def test_the_lineage_of_a_population_is_replayed(store):
    suite = Suite({**BASE, "populations": [PBT]})
    cell = suite.population_cells()[0]
    assert store.claim({**cell.row(), "config": cell.config})
    summary = {"mode": "min", "metric": "loss", "final_val_metric": 0.1}
    lrs = np.repeat([0.5, 0.6, 0.72], 20)
    curves = {f: np.zeros(1) for f in CURVE_FIELDS}
    assert store.finish(cell.key, summary, {**curves, "lr": lrs})
    (replay,) = replay_cells(suite, store)
    assert (replay.method, replay.track, replay.seed) == ("pbt-replay", "replay", 1)
    schedule = replay.config["controller"]["schedule"]
    assert schedule == {"name": "piecewise", "boundaries": [20, 40], "values": [0.5, 0.6, 0.72]}


@pytest.mark.slow
def test_a_bench_runs_a_population_and_reports_it(tmp_path):
    suite = {**BASE, "seeds": [0], "populations": [{**PBT, "population": 2}]}
    report = bench(suite, out=tmp_path / "b")
    results = ResultsStore(f"sqlite:///{tmp_path / 'b' / 'results.db'}")
    try:
        (cell,) = [c for c in results.done_cells("pop") if c["method"] == "pbt"]
        summary = cell["summary"]
        assert summary["controller_stats"]["population"] == 2
        members = summary["population"]["members"].values()
        assert summary["steps_charged"] == sum(m["charged"] for m in members)
        assert summary["steps_charged"] > 60  # more than one member's budget
        assert results.curves(cell["key"])["lr"].shape == (60,)
    finally:
        results.close()
    text = report.read_text()
    assert "| pbt | self-tuning, population 2 |" in text
    assert "| nqm | pbt | self-tuning, population 2 |" in text


def test_a_perturbation_interval_frac_is_resolved_per_task():
    tasks = [*BASE["tasks"], {"name": "nqm", "label": "long", "budget_steps": 200}]
    entry = {"name": "pbt", "perturbation_interval_frac": 0.25}
    suite = Suite({**BASE, "tasks": tasks, "populations": [entry]})
    intervals = {c.task: c.config["population"] for c in suite.population_cells()}
    assert intervals["nqm"] == {"name": "pbt", "perturbation_interval": 15}
    assert intervals["long"] == {"name": "pbt", "perturbation_interval": 50}
    for bad, message in (
        ({**entry, "perturbation_interval": 5}, "perturbation_interval_frac, not both"),
        ({"name": "pbt", "perturbation_interval_frac": 0}, "must be in (0, 1], got 0"),
    ):
        with pytest.raises(ValueError, match=None) as err:
            Suite({**BASE, "populations": [bad]})
        assert message in str(err.value) and "populations[0]" in str(err.value)

"""Whole population runs on Ray Tune (autolr.population.run) on nqm with a tiny budget: the
population's every step charged, the selected member's metric reported, and its lineage's
LR carried through the checkpoints that exploits copy. Each run starts a local Ray (about a
minute on two cores): slow."""

import math

import numpy as np
import pytest

from autolr.population.run import run_population

pytestmark = pytest.mark.slow

BUDGET, INTERVAL = 150, 50


def run(name, population, budget=BUDGET):
    return run_population(
        {
            "task": {"name": "nqm"},
            "seed": 0,
            "budget_steps": budget,
            "interval": 25,
            "population": {
                "name": name,
                "population": population,
                "perturbation_interval": INTERVAL,
            },
        }
    )


@pytest.fixture(scope="module")
def pbt():
    # nqm's LR is 0.5: the members start at 0.0625, 0.5 and 4.0, and SGD on nqm diverges
    # above 2, so the member at 4.0 ends early and is the one exploited at step 50
    return run("pbt", 3)


def lineage_lrs(pop, trial):
    """The selected member's LR per kept step, rebuilt from the logged stretches and
    exploits alone: each stretch back from the end, switching to the donor where the
    member restored another's checkpoint."""
    stretches = {(s["trial"], s["time"]): s for s in pop["stretches"]}
    donors = {(r["trial"], r["time"]): r["from"] for r in pop["exploits"]}
    time, parts = max(t for m, t in stretches if m == trial), []
    while time > 0:
        s = stretches[(trial, time)]
        parts.insert(0, np.full(s["end"] - s["start"], s["lr"]))
        time = s["start"]
        trial = donors.get((trial, time), trial)
    return np.concatenate(parts)


def test_the_population_is_charged_every_step_of_every_member(pbt):
    summary, curves = pbt
    pop = summary["population"]
    members = pop["members"]
    assert summary["steps_charged"] == sum(m["charged"] for m in members.values())
    assert summary["steps_charged"] == sum(s["charged"] for s in pop["stretches"])
    # two members train the whole budget; the diverged one its first steps, then from 50 on
    assert 2 * BUDGET + (BUDGET - INTERVAL) < summary["steps_charged"] < 3 * BUDGET
    # the curves' x axis is the population's charged steps, the lineage's kept steps beside
    assert curves["eval_step"][-1] == BUDGET and summary["steps_trained"] == BUDGET
    assert curves["eval_charged"][0] == 0
    assert curves["eval_charged"][-1] == pytest.approx(summary["steps_charged"])
    assert np.all(np.diff(curves["step_charged"]) > 0)
    stats = summary["controller_stats"]
    assert stats["population"] == 3 and stats["exploits"] == len(pop["exploits"]) >= 1


def test_the_reported_metric_is_the_selected_members(pbt):
    summary, _ = pbt
    pop = summary["population"]
    alive = {t: m for t, m in pop["members"].items() if m["ended"] is None}
    best = min(m["val_metric"] for m in alive.values())  # nqm's loss: lower is better
    assert pop["members"][pop["selected"]]["val_metric"] == best
    assert summary["final_val_metric"] == pytest.approx(best, rel=1e-6)
    assert summary["final_test_metric"] == summary["final_val_metric"]  # nqm: exact loss
    assert summary["controller"] == "pbt" and math.isfinite(summary["wall_time_s"])


def test_an_exploit_copies_the_donors_checkpoint(pbt):
    summary, curves = pbt
    pop = summary["population"]
    # the member at LR 4.0 ended before step 50; after its exploit it trains from step 50,
    # where the donor's checkpoint stood, at an LR explored from the donor's
    (diverged,) = [s for s in pop["stretches"] if s["lr"] == 4.0]
    assert diverged["end"] < INTERVAL
    exploit = next(r for r in pop["exploits"] if r["trial"] == diverged["trial"])
    assert (exploit["time"], exploit["step"]) == (INTERVAL, INTERVAL)
    after = [s for s in pop["stretches"] if s["trial"] == diverged["trial"] and s["start"]]
    assert after[0]["start"] == INTERVAL and after[0]["lr"] != 4.0
    # the selected member's LR trace came with the checkpoints: it is its lineage's
    assert curves["lr"].shape == (BUDGET,)
    np.testing.assert_allclose(curves["lr"], lineage_lrs(pop, pop["selected"]), rtol=1e-12)


def test_pb2_runs_with_its_bounds_in_log_space():
    summary, curves = run("pb2", 2, budget=100)
    pop = summary["population"]
    assert summary["steps_charged"] == sum(m["charged"] for m in pop["members"].values())
    assert summary["controller"] == "pb2" and len(pop["exploits"]) >= 1
    lo, hi = 0.5 / 8, 0.5 * 8
    assert np.all((curves["lr"] >= lo * (1 - 1e-9)) & (curves["lr"] <= hi * (1 + 1e-9)))
    np.testing.assert_allclose(curves["lr"], lineage_lrs(pop, pop["selected"]), rtol=1e-12)

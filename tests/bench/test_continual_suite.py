"""The continual suite (configs/bench/continual.yaml) validates, lists the issue's methods
(infinite LR and WSM among them), and its per-phase cosine restarts exactly where
continual-lm switches corpora."""

from pathlib import Path

import numpy as np
import yaml

from autolr.bench import load_suite
from autolr.schedules.base import build
from tasks.continual import switch_steps

SUITE = Path(__file__).resolve().parents[2] / "configs" / "bench" / "continual.yaml"


def raw() -> dict:
    return yaml.safe_load(SUITE.read_text())


def test_it_lists_the_methods_of_the_issue():
    labels = {b.get("label", b["name"]): b for b in raw()["baselines"]}
    assert {"cosine-stream", "cosine-per-phase", "infinite-lr", "wsm", "cosine-default"} <= set(
        labels
    )
    assert {labels["infinite-lr"]["name"], labels["wsm"]["name"]} == {"infinite", "wsm"}
    assert labels["wsm"] == {"name": "wsm", "window_frac": 0.2, "weights": "sqrt"}
    assert [c["name"] for c in raw()["controllers"]] == [
        "auto",
        "plateau",
        "greedy",
        "hypergradient",
        "autolrs",
        "lr_finder",
    ]


def test_it_validates_and_makes_its_cells():
    suite = load_suite(raw())
    assert [t.spec["name"] for t in suite.tasks] == ["continual-lm"]
    tuned = [m for m in suite.baselines if m.tuned]
    assert len(suite.tune_cells()) == len(tuned) * 5  # 5 grid points, 1 tuning seed
    assert len(suite.default_cells()) == 3
    tracks = [c.track for c in suite.self_cells()]
    assert tracks.count("self") == 15 and tracks.count("peer") == 3  # lr_finder is a peer


def test_the_per_phase_cosine_restarts_at_the_switch():
    suite = load_suite(raw())
    task = suite.tasks[0]
    budget = task.run["budget_steps"]
    method = next(m for m in suite.baselines if m.label == "cosine-per-phase")
    spec = suite.baseline_schedule(task, method, 3e-3)
    (switch,) = switch_steps(task.spec.get("switch_at", [0.5]), budget)
    assert spec["period"] == switch == 1500
    lrs = build(spec).values(np.arange(budget))
    assert lrs[0] == lrs[switch] == 3e-3  # the peak at the start of each phase
    assert lrs[switch - 1] < 1e-8  # and annealed to ~0 at its end


def test_wsm_merges_and_infinite_anneals_in_their_run_configs():
    suite = load_suite(raw())
    cells = {c.method: c for c in suite.tune_cells() if c.peak_lr == 3e-3}
    wsm = cells["wsm"].config
    assert wsm["merge"]["window_frac"] == 0.2 and wsm["merge"]["weights"] == "sqrt"
    inf = cells["infinite-lr"].config["controller"]["schedule"]
    assert inf["anneal_start"] == 2700 and inf["anneal_steps"] == 300
    assert inf["cooldown_steps"] == 600 and inf["constant_ratio"] == 0.25
    lrs = build(inf).values(np.arange(3000))
    assert np.isclose(lrs[1000], 0.25 * 3e-3) and np.isclose(lrs[2999], 3e-5, rtol=0.1)

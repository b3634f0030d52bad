"""The ``wsm`` baseline (and ``merge`` on any baseline): the run configs and tuning cells it
expands to, its checks, and the cell keys of the other baselines, which stay as they were."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import autolr
from autolr.bench.suite import Suite
from autolr.running.config import ConfigError
from autolr.running.runner import load_config
from tests.bench.test_bench import SUITE


def suite(*baselines: dict[str, Any]) -> Suite:
    raw = copy.deepcopy(SUITE)
    raw["baselines"] = [*raw["baselines"], *baselines]
    return Suite(raw)


def test_wsm_expands_to_warmup_stable_plus_the_run_key_merge() -> None:
    s = suite({"name": "wsm"})
    peaks = {("toy", m.label): 0.08 for m in s.baselines}
    tune = [c for c in s.tune_cells() if c.method == "wsm"]
    assert [c.peak_lr for c in tune] == [0.0125, 0.05, 0.2]  # the grid: lr 0.05 * 4^(-1, 0, 1)
    for c in tune:
        assert c.track == "tune" and c.seed == 100
        assert c.config == {
            "task": {"name": "toy"},
            "controller": {
                "name": "fixed",
                "schedule": {"name": "wsm", "warmup_steps": 3, "lr": c.peak_lr},  # 0.05 of 60
            },
            "seed": 100,
            "budget_steps": 60,
            "eval_every": 20,
            "interval": 10,
            "device": "cpu",
            "threads": 1,
            "merge": {"window_frac": 0.2, "weights": "sqrt"},
        }
        load_config(c.config)  # a valid run config
    evals = [c for c in s.eval_cells(peaks) if c.method == "wsm"]
    assert [(c.seed, c.peak_lr) for c in evals] == [(0, 0.08), (1, 0.08)]
    assert all(c.config["merge"] == {"window_frac": 0.2, "weights": "sqrt"} for c in evals)
    assert all(c.config["controller"]["schedule"]["lr"] == 0.08 for c in evals)


def test_the_other_baselines_keep_their_cell_keys() -> None:
    before = Suite(copy.deepcopy(SUITE))
    after = suite({"name": "wsm"}, {"name": "cosine", "label": "cm", "merge": {"every": 2}})
    peaks = {("toy", m.label): 0.08 for m in after.baselines}

    def keys(s: Suite) -> list[str]:
        cells = s.tune_cells() + s.eval_cells(peaks) + s.self_cells()
        return [c.key for c in cells if c.method in ("constant", "cosine", "plateau")]

    assert keys(after) == keys(before)
    assert all("merge" not in c.config for c in before.tune_cells())


def test_wsm_takes_its_merge_keys_at_its_top_level_or_under_merge() -> None:
    own = {
        "name": "wsm",
        "label": "wsm-ema",
        "window_frac": 0.5,
        "weights": "ema",
        "ema_decay": 0.8,
        "every": 2,
        "warmup_steps_frac": 0.1,
    }
    nested = {"name": "wsm", "label": "wsm-mean", "merge": {"weights": "mean"}, "warmup_steps": 0}
    s = suite(own, nested, {"name": "cosine", "label": "cosine-merged", "merge": {"every": 3}})
    by = {c.method: c.config for c in s.tune_cells()}
    assert by["wsm-ema"]["merge"] == {
        "window_frac": 0.5,
        "weights": "ema",
        "ema_decay": 0.8,
        "every": 2,
    }
    assert by["wsm-ema"]["controller"]["schedule"]["warmup_steps"] == 6
    # under merge, it is the run key as given (the run's defaults fill the rest)
    assert by["wsm-mean"]["merge"] == {"weights": "mean"}
    assert by["wsm-mean"]["controller"]["schedule"]["warmup_steps"] == 0
    assert by["cosine-merged"]["merge"] == {"every": 3}
    assert by["cosine-merged"]["controller"]["schedule"]["name"] == "cosine"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "wsm", "weights": "sqr"}, "suite: baselines[2].weights must be one of sqrt,"),
        (
            {"name": "wsm", "window_frac": 0},
            "suite: baselines[2].window_frac must be in (0.0, 1.0]",
        ),
        (
            {"name": "wsm", "every": 0.5, "merge": {"every": 2}},
            "suite: baselines[2]: give wsm's merge keys (every) at its top level or under merge",
        ),
        (
            {"name": "cosine", "merge": {"every": 0}},
            "suite: baselines[2].merge.every must be an integer >= 1, got 0",
        ),
        (
            {"name": "cosine", "merge": {"weight": "mean"}},
            "suite: baselines[2].merge: unknown key 'weight' (did you mean 'weights'?)",
        ),
        (
            {"name": "wsm", "every": 20},  # the window is 0.2 of 60 = 12 steps
            "suite: baselines[2].every must be <= the merge window, 12 steps",
        ),
        (
            {"name": "cosine", "label": "c2", "merge": {"every": 20}},
            "suite: baselines[2].merge.every must be <= the merge window, 12 steps",
        ),
        ({"name": "wsm", "windw_frac": 0.2}, "did you mean 'window_frac'"),
    ],
)
def test_bad_merge_keys_are_refused_with_their_path(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        suite(entry)
    assert message in str(err.value), str(err.value)


def test_a_wsm_cell_runs_and_reports_its_merged_model(tmp_path) -> None:
    cell = next(c for c in suite({"name": "wsm"}).tune_cells() if c.method == "wsm")
    summary = autolr.run(cell.config).summary
    assert summary["merge"]["checkpoints"] == 12  # 0.2 of 60, every step, c_0 = 0
    assert summary["final_val_metric"] != summary["unmerged_final_val_metric"]

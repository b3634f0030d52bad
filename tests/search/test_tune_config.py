"""The tune config model: did-you-mean for unknown keys, key paths, and its defaults."""

from __future__ import annotations

import pytest

from autolr.cli import main
from search.tune import load_tune_config

BASE = {
    "task": "toy",
    "family": "cosine",
    "params": {"lr": {"low": 1e-3, "high": 0.3, "log": True}, "total_steps": "$budget"},
}


def test_defaults():
    cfg = load_tune_config(BASE)
    assert cfg.task == {"name": "toy"} and cfg.family == "cosine"
    assert cfg.params == BASE["params"]
    assert (cfg.interval, cfg.seed, cfg.trials, cfg.max_retry) == (50, 0, 20, 3)
    assert cfg.max_failures == 5
    assert (cfg.sampler, cfg.pruner) == ("tpe", "median")
    assert (cfg.budget_steps, cfg.eval_every, cfg.storage) == (None, None, None)
    assert cfg.study == "toy-cosine" and cfg.out == "runs/tune/toy-cosine"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trails": 3}, "tune config: unknown key 'trails' (did you mean 'trials'?)"),
        (
            {"params": {"lr": {"low": 0.1, "hihg": 1.0}}},
            "tune config: params.lr: unknown key 'hihg' (did you mean 'high'?)",
        ),
        (
            {"params": {"lr": {"low": 1.0, "high": 0.1}}},
            "tune config: params.lr.low must be < high (0.1), got 1.0",
        ),
        (
            {"params": {"lr": {"low": 0, "high": 0.1, "log": True}}},
            "tune config: params.lr.low must be > 0 with log: true, got 0.0",
        ),
        (
            {"params": {"warmup": {"choices": []}}},
            "tune config: params.warmup.choices must be a non-empty list, got []",
        ),
        ({"trials": 2.5}, "tune config: trials must be an integer >= 1, got 2.5"),
        ({"pruner": "medain"}, "tune config: pruner must be one of hyperband, median, none, got"),
        ({"params": {}}, "tune config: params must be a non-empty mapping, got {}"),
    ],
)
def test_errors_name_the_key_path(change, message):
    with pytest.raises(ValueError) as err:
        load_tune_config({**BASE, **change})
    assert str(err.value).startswith(message)


def test_integral_floats_and_search_flags():
    cfg = load_tune_config({**BASE, "budget_steps": 1e3, "trials": 5.0})
    assert cfg.budget_steps == 1000 and cfg.trials == 5
    ints = {"low": 1, "high": 4, "int": True}
    params = {"lr": 0.1, "total_steps": "$budget", "warmup_steps": ints}
    assert load_tune_config({**BASE, "params": params}).params["warmup_steps"] == ints


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    config = "{task: toy, family: cosine, params: {lr: {low: 1, high: 0.1}}, out: " + f"{out}}}"
    assert main(["tune", config]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "autolr tune: error: tune config: params.lr.low must be < high (0.1), got 1.0"
    assert not out.exists()

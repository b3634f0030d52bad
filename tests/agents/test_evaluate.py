import json

import numpy as np
import pytest
import yaml

from agents.evaluate import GRID, _replay, evaluate_instance, mean_ci, summarize
from agents.instances import InstanceSet
from agents.meta import MetaController, MLPPolicy
from autolr.cli import main


def _constant_policy(inst):
    return MetaController(MLPPolicy(2), lr=inst.lr)  # a = 0: keeps the initial LR


def test_a_policy_that_never_reacts_ties_with_its_replay(small):
    inst = InstanceSet(small).enumerate("test")[0]
    res = evaluate_instance(inst, _constant_policy, [200, 201, 202, 203, 204], [90000, 90001])
    assert res.scores["policy"] == res.scores["replay"]
    assert res.tuned["static"] / 0.5 in GRID and res.tuned["cosine"] / 0.5 in GRID
    # the tuned static LR is at least as good as the untuned one on average here
    assert res.mean("static") >= res.mean("policy") - 0.05
    assert all(0 <= o < 1 for o in res.overhead)
    summary = summarize([res])
    assert summary["methods"]["replay"]["policy_win_rate"] == 1.0
    assert summary["methods"]["policy"]["divergences"] == 0


def test_replay_reproduces_a_trace():
    trace = np.array([0.1] * 10 + [0.2] * 10 + [0.05] * 5)
    schedule = _replay(trace).schedule
    np.testing.assert_array_equal(schedule.values(np.arange(25)), trace)


def test_mean_ci():
    mean, ci = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and ci == pytest.approx(1.96 / np.sqrt(3))


def test_eval_and_meta_train_commands(tmp_path, small, capsys):
    small["test"][0]["budget_steps"] = 20  # 2 intervals: the command, not the numbers
    small["train"][0]["budget_steps"] = 20
    cfg = tmp_path / "small.yaml"
    policy = tmp_path / "p.json"
    meta = {"instances": small, "generations": 1, "population": 2, "episodes": 1, "hidden": 2}
    cfg.write_text(yaml.safe_dump(meta))
    assert main(["agents", "meta-train", str(cfg), "--out", str(policy)]) == 0
    assert policy.is_file() and policy.with_suffix(".csv").is_file()
    out = tmp_path / "eval"
    assert (
        main(["agents", "eval", "--policy", str(policy), "--config", str(cfg), "--out", str(out)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instances"] == 1 and set(summary["methods"]) == {
        "policy",
        "static",
        "cosine",
        "replay",
    }
    assert (out / "table.md").read_text().startswith("| method |")
    assert (out / "scores.png").stat().st_size > 0
    assert main(["agents", "eval", "--seeds", "4", "--config", str(cfg)]) == 2
    assert "--seeds must be >= 5, got 4" in capsys.readouterr().err

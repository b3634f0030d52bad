import json
import math

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from agents.actions import base_spec
from agents.evaluate import GRID, PEERS, SUITE, evaluate, evaluate_all, summarize
from agents.features import N_FEATURES
from agents.instances import InstanceSet
from agents.meta import MLPPolicy, save_policy
from autolr.bench import execute as bench_execute
from autolr.bench.cells import trace_schedule
from autolr.bench.store import ResultsStore
from autolr.cli import main
from autolr.controllers.fixed import Fixed

# grid x tuning seeds, trace, policy, base + default + auto, tuned, replay, the five peers
N_CELLS = 2 * 7 * 2 + 1 + 5 + 3 * 5 + 2 * 5 + 5 + len(PEERS) * 5


def _groups(small):
    groups = {}
    for inst in InstanceSet(small).enumerate("test"):
        groups.setdefault(inst.key(), []).append(inst)
    return groups


@pytest.fixture
def constant_policy(tmp_path):
    """A meta policy file whose output is a = 0: it keeps the initial LR."""
    return {"name": "meta", "policy": str(save_policy(MLPPolicy(2), tmp_path / "zero.json"))}


def test_a_policy_that_never_reacts_ties_with_its_replay(tmp_path, small, constant_policy):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    (res,) = evaluate(store, constant_policy, _groups(small), 5, [90000, 90001])
    assert res.scores["policy"] == res.scores["replay"]
    assert res.tuned["static"] / 0.5 in GRID and res.tuned["cosine"] / 0.5 in GRID
    # the tuned static LR is at least as good as the untuned one on average here
    assert res.mean("static") >= res.mean("policy") - 0.05
    assert all(0 <= o < 1 for o in res.overhead) and len(res.overhead) == 5
    summary = summarize([res])
    assert summary["methods"]["replay"]["policy_win_rate"] == 1.0
    assert summary["methods"]["policy"]["divergences"] == 0
    assert len(store.done_cells(SUITE)) == N_CELLS
    store.close()


def test_runs_land_in_the_store_a_rerun_skips_them_and_the_ci_is_student_t(
    tmp_path, small, constant_policy, monkeypatch
):
    out = tmp_path / "eval"
    summary, text = evaluate_all(constant_policy, small, 5, out, log=lambda _: None)
    store = ResultsStore(f"sqlite:///{out / 'results.db'}")
    cells = store.done_cells(SUITE)
    assert len(cells) == N_CELLS
    assert {c["track"] for c in cells} == {"tune", "self", "eval", "replay", "peer"}
    # each peer replaced the task's optimizer, and ran under its own schedule
    peers = {c["method"]: c for c in cells if c["track"] == "peer"}
    assert sorted(peers) == sorted(PEERS)
    for name, cell in peers.items():
        assert cell["config"]["optimizer"] == {"name": name}
        assert "controller" not in cell["config"]
        assert name.split("-")[0] in cell["summary"]["optimizer"]["name"].lower()
    finished = {c["key"]: c["finished"] for c in cells}

    def no_training(config):
        raise AssertionError("a finished cell ran again")

    monkeypatch.setattr(bench_execute, "run_cell", no_training)
    again, text_again = evaluate_all(constant_policy, small, 5, out, log=lambda _: None)
    assert again == summary and text_again == text
    assert {c["key"]: c["finished"] for c in store.done_cells(SUITE)} == finished

    # the 95% interval is Student's t with n - 1 degrees of freedom, not the normal 1.96
    for method, entry in summary["methods"].items():
        x = np.array(summary["per_instance"][0]["scores"][method])
        half = sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
        assert entry["mean_score"] == pytest.approx(x.mean(), rel=1e-12)
        assert entry["ci95"] == pytest.approx(half, rel=1e-12)
        assert entry["ci95"] > 1.96 * x.std(ddof=1) / math.sqrt(x.size) * 1.4
    store.close()


def test_a_retrained_policy_file_reruns_only_the_policy_cells(tmp_path, small, constant_policy):
    small["test"][0]["budget_steps"] = 20
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    evaluate(store, constant_policy, _groups(small), 5)
    policy = MLPPolicy(2)
    policy.params[2 * N_FEATURES + 4] = 0.5  # b2: a = tanh(0.5), the LR grows each interval
    save_policy(policy, constant_policy["policy"])
    evaluate(store, constant_policy, _groups(small), 5)
    # a new trace, policy and replay cells; the baselines' 28 + 10 runs are reused
    assert len(store.done_cells(SUITE)) == N_CELLS + 1 + 5 + 5
    store.close()


def test_replay_reproduces_a_trace():
    trace = np.array([0.1] * 10 + [0.2] * 10 + [0.05] * 5)
    schedule = Fixed(trace_schedule(trace)).schedule
    np.testing.assert_array_equal(schedule.values(np.arange(25)), trace)


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
        "base",
        "default",
        "static",
        "cosine",
        "auto",
        "replay",
        *PEERS,
    }
    assert (
        (out / "table.md")
        .read_text()
        .startswith(
            "| method | mean score ± 95% CI | divergences | policy match-or-beat rate | on test |"
        )
    )
    assert (out / "scores.png").stat().st_size > 0
    assert (out / "results.db").stat().st_size > 0
    assert main(["agents", "eval", "--seeds", "4", "--config", str(cfg)]) == 2
    assert "--seeds must be >= 5, got 4" in capsys.readouterr().err


def test_a_smoke_eval_runs_few_seeds_untuned_and_says_smoke(tmp_path, small, capsys):
    small["test"][0]["budget_steps"] = 20
    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump({"instances": small}))
    policy = save_policy(MLPPolicy(2), tmp_path / "zero.json")
    out = tmp_path / "smoke"
    args = ["agents", "eval", "--policy", str(policy), "--config", str(cfg), "--out", str(out)]
    assert main([*args, "--seeds", "0", "--smoke"]) == 2
    assert "--seeds must be >= 5, got 0" in capsys.readouterr().err
    assert main([*args, "--seeds", "2", "--smoke"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("**SMOKE run (2 seed(s) per instance, baselines untuned")
    assert "NOT numbers to report" in printed[1]
    assert (out / "table.md").read_text().startswith("**SMOKE run")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke"] is True and summary["seeds"] == 2
    assert summary["methods"]["policy"]["runs"] == 2
    assert summary["per_instance"][0]["tuned_lr"] == {"static": 0.5, "cosine": 0.5}  # nqm's
    store = ResultsStore(f"sqlite:///{out / 'results.db'}")
    tracks = [c["track"] for c in store.done_cells(SUITE)]
    store.close()
    # no grid: trace 1, policy 2, base + default + auto 3 x 2, baselines 2 x 2, replay 2,
    # the five peers 5 x 2
    assert "tune" not in tracks
    assert len(tracks) == 25


def test_instances_that_differ_only_in_lr_share_grid_runs_and_both_get_peaks(
    tmp_path, small, constant_policy
):
    """The grid runs do not depend on the starting LR, so two such instances share them (one
    stored row, labelled with the first): the second still finds its tuned peaks."""
    small["test"][0]["lr_factor"] = [1.0, 0.25]
    small["test"][0]["seeds"] = [200, 201]
    groups = _groups(small)
    assert len(groups) == 2
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    first, second = evaluate(store, constant_policy, groups, 2, [90000])
    assert first.key != second.key
    assert first.tuned == second.tuned  # the same grid runs chose them
    assert first.scores["static"] == second.scores["static"]  # so the same tuned runs
    assert first.scores["policy"] != second.scores["policy"]  # the policy starts elsewhere
    store.close()


def test_base_default_and_auto_run_from_the_instances_lr_and_pair_with_the_policy(
    tmp_path, small, constant_policy
):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    groups = _groups(small)
    (res,) = evaluate(store, constant_policy, groups, 5, [90000, 90001])
    cells = {c["method"]: c for c in store.done_cells(SUITE)}  # one run of each method
    store.close()
    inst = next(iter(groups.values()))[0]
    base = cells["base"]["config"]["controller"]["schedule"]
    assert base == base_spec("wsd", inst.lr, inst.budget_steps)  # a compounding policy: wsd
    default = cells["default"]["config"]["controller"]["schedule"]
    assert default["name"] == "cosine" and default["lr"] == inst.lr
    assert cells["auto"]["config"]["controller"] == {"name": "auto", "lr": inst.lr}
    summary = summarize([res])
    for method in ("base", "default", "auto", "static"):
        entry = summary["methods"][method]
        diffs = np.subtract(res.scores["policy"], res.scores[method])
        assert entry["paired_diff"] == pytest.approx(diffs.mean())
        assert entry["paired_ci95"] == pytest.approx(
            sps.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / math.sqrt(len(diffs))
        )
        # on test: nqm's loss, lower is better; the policy wins iff its mean is not higher
        mine, theirs = np.mean(res.tests["policy"]), np.mean(res.tests[method])
        assert entry["policy_win_rate_test"] == float(-math.log(mine / theirs) >= -0.01)
    # the replay of a policy that never reacts is the policy: a zero paired difference
    assert summary["methods"]["replay"]["paired_diff"] == 0.0


def test_a_residual_policys_base_is_its_own(tmp_path):
    from agents.actions import ActionSpec
    from agents.evaluate import policy_base

    spec = ActionSpec("residual", 1.0, "cosine")
    path = save_policy(MLPPolicy(2, action=spec), tmp_path / "res.json")
    assert policy_base({"name": "meta", "policy": str(path)}) == "cosine"
    plain = save_policy(MLPPolicy(2), tmp_path / "plain.json")
    assert policy_base({"name": "meta", "policy": str(plain)}) == "wsd"
    assert policy_base({"name": "plateau"}) == "wsd"

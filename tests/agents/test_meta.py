import json

import numpy as np
import pytest

import autolr
from agents.features import N_FEATURES
from agents.meta import DEFAULT_POLICY, MetaController, MLPPolicy, load_policy, save_policy
from agents.metatrain import centred_ranks, check_config, meta_train


def test_the_shipped_policy_loads_and_runs_a_session():
    policy = load_policy(DEFAULT_POLICY)
    assert policy.params.shape == (MLPPolicy.size(policy.hidden),)
    cfg = {"task": {"name": "nqm", "dim": 20}, "controller": {"name": "meta"}}
    result = autolr.run({**cfg, "budget_steps": 60, "interval": 10})
    s = result.summary
    assert s["controller"] == "meta" and s["steps_trained"] == 60 and s["rollbacks"] == 0
    assert s["final_val_metric"] < result.session.state.initial_loss
    lrs = np.asarray(result.history.steps["lr"])
    assert lrs.size == 60 and np.all(lrs > 0)
    assert result.session.controller.decisions == 6


def test_the_policy_formula():
    rng = np.random.default_rng(0)
    p = MLPPolicy(3, rng.normal(size=MLPPolicy.size(3)))
    w1, b1, w2, b2, v = p.unpack()
    x = rng.normal(size=N_FEATURES)
    assert p(x) == pytest.approx(np.tanh(v @ x + w2 @ np.tanh(w1 @ x + b1) + b2))
    assert MLPPolicy.initial(4, rng)(x) == 0.0  # starts as a constant LR


def test_a_saved_policy_round_trips(tmp_path):
    p = MLPPolicy(2, np.arange(MLPPolicy.size(2), dtype=float) / 100)
    path = save_policy(p, tmp_path / "p.json", note="x")
    q = load_policy(path)
    np.testing.assert_array_equal(p.params, q.params)
    c = MetaController(str(path), lr=0.1)
    assert c.policy.hidden == 2


def _write(tmp_path, data) -> str:
    path = tmp_path / "bad.json"
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: {**d, "feature_version": 0}, "feature_version 0"),
        (lambda d: {**d, "n_features": 5}, "n_features 5"),
        (lambda d: {**d, "params": d["params"][:-1]}, "wrong shape"),
        (lambda d: {**d, "hidden": 0}, "wrong shape"),
        (lambda d: {**d, "params": ["a"]}, "list of numbers"),
        (lambda d: {**d, "format": "other"}, "not an autolr-meta-policy file"),
        (lambda d: [1, 2], "not an autolr-meta-policy file"),
    ],
)
def test_a_bad_policy_file_fails_clearly(tmp_path, mutate, match):
    good = MLPPolicy(2).to_dict()
    with pytest.raises(ValueError, match=match):
        MetaController(_write(tmp_path, mutate(good)))


def test_garbage_bytes_and_missing_files_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="not a JSON policy file"):
        load_policy(_write(tmp_path, b"\x80\x04\x95garbage\xff"))
    with pytest.raises(FileNotFoundError, match="no such meta policy file"):
        load_policy(tmp_path / "missing.json")


def test_meta_training_is_reproducible(tmp_path, small):
    cfg = {"instances": small, "generations": 2, "population": 2, "episodes": 1, "hidden": 2}
    p1, curve1 = meta_train(cfg, out=tmp_path / "a.json", log=lambda _: None)
    p2, curve2 = meta_train(cfg, out=tmp_path / "b.json", log=lambda _: None)
    np.testing.assert_array_equal(p1.params, p2.params)
    assert [r["centre"] for r in curve1] == [r["centre"] for r in curve2]
    assert (tmp_path / "a.csv").read_text().startswith("generation,centre,")
    assert (tmp_path / "a.png").stat().st_size > 0
    assert json.loads((tmp_path / "a.json").read_text())["meta"]["config"]["hidden"] == 2


def test_es_ranks_and_config_checks():
    np.testing.assert_allclose(centred_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])
    with pytest.raises(ValueError, match="population must be even, got 3"):
        check_config({"population": 3})
    with pytest.raises(ValueError, match="unknown key 'generation'"):
        check_config({"generation": 3})
    with pytest.raises(ValueError, match=r"^meta-train: sigma must be >= 0, got -1\.0$"):
        check_config({"sigma": -1})


def test_the_shipped_configs_validate():
    from pathlib import Path

    import yaml

    from agents.rltrain import check_config as check_train
    from autolr.running.runner import load_config

    root = Path(__file__).resolve().parents[2] / "configs" / "agents"
    cfg = check_config(yaml.safe_load((root / "meta_default.yaml").read_text()))
    assert cfg["out"] == "runs/agents/meta_policy.json"  # not the shipped file: see its header
    assert check_train(yaml.safe_load((root / "ppo_nqm.yaml").read_text()))["algo"] == "ppo"
    assert load_config(root / "run_meta_nqm.yaml").controller == {"name": "meta"}

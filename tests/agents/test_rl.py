from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import autolr
from agents.features import encode
from agents.rl import RLController, load_policy
from agents.rltrain import check_config, train_rl
from autolr.controllers.base import build_controller

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ppo_policy(tmp_path_factory):
    """A few hundred PPO steps on tiny nqm episodes, saved."""
    from tests.agents.conftest import SMALL

    out = tmp_path_factory.mktemp("rl") / "ppo.pt"
    cfg = {
        "instances": SMALL,
        "timesteps": 256,
        "net_arch": [16],
        "algo_kwargs": {"n_steps": 64, "batch_size": 32, "n_epochs": 2},
    }
    path, rows = train_rl(cfg, out=str(out), log=None)
    return path, rows


def test_ppo_trains_end_to_end_and_writes_its_curve(ppo_policy):
    path, rows = ppo_policy
    assert path.is_file() and len(rows) >= 256 // 40
    # 4 intervals of 10 steps; a rollback charges its lost steps but goes on, so an episode
    # is longer only when one of its segments was rolled back part-way
    assert all(r["length"] == 4 for r in rows if r["rollbacks"] == 0)
    assert all(1 <= r["length"] <= 40 for r in rows)
    assert all(np.isfinite(r["return"]) and np.isfinite(r["score"]) for r in rows)
    header = path.with_suffix(".csv").read_text().splitlines()[0]
    assert header == "timesteps,episode,return,length,score,rollbacks"
    assert path.with_suffix(".png").stat().st_size > 0


def test_the_rl_controller_loads_and_runs_in_a_session(ppo_policy):
    path, _ = ppo_policy
    cfg = {
        "task": {"name": "nqm", "dim": 20},
        "controller": {"name": "rl", "policy": str(path)},
        "budget_steps": 50,
        "interval": 10,
    }
    result = autolr.run(cfg)
    assert result.summary["steps_trained"] == 50
    controller = result.session.controller
    assert isinstance(controller, RLController) and controller.decisions == 5
    # it acts as the saved policy says: η_1 = η_0 · 2^clip(mean action)
    policy, _ = load_policy(path)
    session = autolr.running.runner.build_session(autolr.running.runner.load_config(cfg))
    with torch.no_grad():
        mean = policy._predict(torch.from_numpy(encode(session.state))[None], True)
    a = float(np.clip(mean.numpy().ravel()[0], -1, 1))
    assert result.history.steps["lr"][0] == pytest.approx(0.5 * 2**a)


def test_a_bad_rl_policy_file_fails_clearly(ppo_policy, tmp_path):
    path, _ = ppo_policy
    data = torch.load(path, weights_only=True)
    cases = {
        "version": ({**data, "feature_version": 7}, "feature_version 7"),
        "features": ({**data, "n_features": 3}, "n_features 3"),
        "shape": ({**data, "net_arch": [8]}, "wrong shape"),
        "algo": ({**data, "algo": "dqn"}, "algo must be one of ppo, sac, got 'dqn'"),
        "format": ({"x": 1}, "not an autolr-rl-policy file"),
    }
    for name, (bad, match) in cases.items():
        torch.save(bad, tmp_path / f"{name}.pt")
        with pytest.raises(ValueError, match=match):
            RLController(str(tmp_path / f"{name}.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file \x00\xff" * 10)
    with pytest.raises(ValueError, match=r"garbage\.pt was refused: it is not a torch file") as err:
        RLController(str(tmp_path / "garbage.pt"))
    assert "weights_only" not in str(err.value)  # never the advice to load it unsafely
    with pytest.raises(FileNotFoundError):
        RLController(str(tmp_path / "missing.pt"))


def test_unsafe_pickles_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "autolr-rl-policy", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"holds a pickled print object") as err:
        RLController(str(tmp_path / "evil.pt"))
    assert "weights_only" not in str(err.value)


def test_train_config_checks():
    with pytest.raises(ValueError, match="algo must be one of ppo, sac, got 'a2c'"):
        check_config({}, algo="a2c")
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1, got 0"):
        check_config({"timesteps": 0})
    with pytest.raises(ValueError, match=r"sac needs env\.action continuous"):
        check_config({"algo": "sac", "env": {"action": "discrete"}})
    with pytest.raises(ValueError, match="unknown key 'timestep'"):
        check_config({"timestep": 3})


@pytest.mark.parametrize(
    ("algo", "action", "kwargs"),
    [
        ("sac", "continuous", {"learning_starts": 16, "batch_size": 16}),
        ("sac", "residual", {"learning_starts": 16, "batch_size": 16}),
        ("ppo", "discrete", {"n_steps": 16, "batch_size": 16, "n_epochs": 1}),
    ],
)
def test_sac_and_discrete_policies_load_and_act(tmp_path, small, algo, action, kwargs):
    cfg = {"instances": small, "env": {"action": action}, "net_arch": [8], "algo_kwargs": kwargs}
    path, _ = train_rl(cfg, algo=algo, timesteps=32, out=str(tmp_path / "p.pt"), log=None)
    controller = RLController(str(path), lr=0.5)
    assert controller.header["algo"] == algo and controller.header["action"] == action
    session = autolr.running.runner.build_session(
        autolr.running.runner.load_config({"task": {"name": "nqm", "dim": 10}, "budget_steps": 20})
    )
    a = controller.act(encode(session.state))
    assert -1.0 <= a <= 1.0
    if action == "discrete":
        assert a in (-1.0, 0.0, 1.0)


def test_rl_without_a_policy_loads_the_shipped_default():
    from agents import rl

    assert rl.DEFAULT_POLICY.name == "rl_default.pt" and rl.DEFAULT_POLICY.parent.name == "policies"
    controller = build_controller({"name": "rl"}, default_lr=0.1, budget_steps=100)
    assert isinstance(controller, RLController) and controller.lr == 0.1
    saved = torch.load(rl.DEFAULT_POLICY, weights_only=True)
    loaded = controller.policy.state_dict()
    assert loaded.keys() == saved["state_dict"].keys()
    for key, value in saved["state_dict"].items():
        assert torch.equal(loaded[key], value), key
    # what the file says it was trained on: configs/agents/rl_default.yaml, in full
    shipped = yaml.safe_load((ROOT / "configs/agents/rl_default.yaml").read_text())
    expected = {k: v for k, v in check_config(shipped).items() if k != "out"}
    assert saved["meta"]["config"] == expected
    assert (saved["algo"], saved["action"], saved["net_arch"]) == ("ppo", "residual", [32, 32])
    assert rl.DEFAULT_POLICY.with_suffix(".csv").is_file()
    assert rl.DEFAULT_POLICY.with_suffix(".png").is_file()


def test_a_missing_or_corrupt_shipped_policy_fails_clearly(tmp_path, monkeypatch):
    from agents import rl

    monkeypatch.setattr(rl, "DEFAULT_POLICY", tmp_path / "rl_default.pt")
    regenerate = "autolr agents train configs/agents/rl_default.yaml"
    with pytest.raises(ValueError, match="shipped default RL policy cannot be loaded") as err:
        build_controller({"name": "rl"}, default_lr=0.1)
    assert "no such RL policy file" in str(err.value) and regenerate in str(err.value)
    (tmp_path / "rl_default.pt").write_bytes(b"\x00 half a file")
    with pytest.raises(ValueError, match=r"rl_default\.pt was refused: it is not a torch file"):
        RLController()
    torch.save({"format": "autolr-meta-policy"}, tmp_path / "rl_default.pt")
    with pytest.raises(ValueError, match=f"not an autolr-rl-policy file.*{regenerate}"):
        RLController()

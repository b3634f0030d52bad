"""The agents' config models: train (RL), meta-train and instance sets."""

from __future__ import annotations

import pytest

from agents.instances import DEFAULT_INSTANCES, InstanceSet
from agents.metatrain import check_config as meta_config
from agents.rltrain import check_config as train_config
from autolr.cli import main


def test_train_defaults():
    cfg = train_config({})
    assert cfg == {
        "instances": None,
        "env": {},
        "algo": "ppo",
        "timesteps": 20000,
        "seed": 0,
        "net_arch": [32, 32],
        "algo_kwargs": {},
        "out": "runs/agents/rl_policy.pt",
    }
    assert train_config({"timesteps": 1e3}, algo="sac")["timesteps"] == 1000


def test_meta_train_defaults():
    cfg = meta_config(None)
    assert cfg == {
        "instances": None,
        "seed": 0,
        "hidden": 8,
        "generations": 30,
        "population": 12,
        "episodes": 3,
        "sigma": 0.1,
        "step_size": 0.05,
        "divergence_penalty": 1.0,
        "action": "continuous",
        "residual_range": 1.0,
        "residual_base": "wsd",
        "workers": 1,
        "out": "runs/agents/meta_policy.json",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timestep": 3}, "agents train: unknown key 'timestep' (did you mean 'timesteps'?)"),
        ({"env": {"actoin": "discrete"}}, "agents train: env: unknown key 'actoin' (did you mean"),
        ({"env": {"reward": "sparse"}}, "agents train: env.reward must be one of dense, terminal"),
        ({"net_arch": [32, 0]}, "agents train: net_arch[1] must be an integer >= 1, got 0"),
        (
            {"instances": {"train": [{"task": "nqm", "interval": 0}], "test": [{"task": "nqm"}]}},
            "agents train: instances.train[0].interval must be an integer >= 1, got 0",
        ),
    ],
)
def test_train_errors_name_the_key_path(raw, message):
    with pytest.raises(ValueError) as err:
        train_config(raw)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sigam": 0.1}, "meta-train: unknown key 'sigam' (did you mean 'sigma'?)"),
        ({"hidden": 2.5}, "meta-train: hidden must be an integer >= 1, got 2.5"),
        ({"workers": True}, "meta-train: workers must be an integer >= 1, got True"),
        (
            {"instances": {"train": [{"task": "nqm", "seeds": []}], "test": [{"task": "nqm"}]}},
            "meta-train: instances.train[0].seeds must be a non-empty list or {low, high}, got []",
        ),
    ],
)
def test_meta_train_errors_name_the_key_path(raw, message):
    with pytest.raises(ValueError) as err:
        meta_config(raw)
    assert str(err.value) == message


def test_instance_set_defaults_and_errors():
    family = InstanceSet({"train": [{"task": "nqm"}], "test": [{"task": "nqm"}]}).families["train"][
        0
    ]
    assert family.task == {"name": "nqm"} and family.params == {}
    assert family.lr_factor == [1.0] and family.seeds == {"low": 0, "high": 10000}
    assert (family.budget_steps, family.interval) == (None, 20)
    with pytest.raises(ValueError, match=r"^instances\.train\[0\]: unknown key 'intervl' \(did"):
        InstanceSet({"train": [{"task": "nqm", "intervl": 5}], "test": DEFAULT_INSTANCES["test"]})
    with pytest.raises(ValueError, match=r"^instances: unknown split 'tset' \(did you mean 'test'"):
        InstanceSet({"train": DEFAULT_INSTANCES["train"], "tset": []})


def test_cli_bad_agents_config_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["agents", "meta-train", "{population: 3}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "autolr agents: error: meta-train: population must be even, got 3"
    assert not out.exists() and not out.with_suffix(".csv").exists()

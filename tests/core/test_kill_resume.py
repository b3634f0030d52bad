"""A real ``autolr run`` process, SIGKILLed after its first checkpoint, resumes to the exact
metrics of an uninterrupted run: for every registered controller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import autolr
from autolr.controllers import CONTROLLERS
from autolr.loop.plain import NotPlainError, check_plain
from autolr.running.runner import build_session, load_config, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# Small enough for seconds per run; long enough that every controller's state is in use
# (autolrs and optuna have range-tested and searched) when the first checkpoint is taken.
CONTROLLER_SPECS: dict[str, dict[str, Any]] = {
    "auto": {"name": "auto", "coarse_frac": 0.02, "fine_at": 0.3, "fine_frac": 0.03},
    # the default decay start: the plateau test's windows straddle the first checkpoint
    "auto-plateau": {"name": "auto", "coarse_frac": 0.02},
    "fixed": {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.05, "warmup_steps": 10}},
    "plateau": {"name": "plateau", "patience": 1, "factor": 0.5},
    "greedy": {"name": "greedy"},
    "hypergradient": {"name": "hypergradient"},
    "autolrs": {"name": "autolrs", "k": 3, "tau0": 20, "trial_fraction": 0.25},
    "autolrs-fast": {
        "name": "autolrs",
        "preset": "fast",
        "k": 3,
        "tau0": 20,
        "trial_fraction": 0.25,
    },
    "optuna": {"name": "optuna", "trials": 2, "range_test_steps": 10},
    "optuna-every1": {"name": "optuna", "every": 1, "trials": 2, "range_test_steps": 10},
    "lr_finder": {"name": "lr_finder", "num_steps": 20},
    "rl": {"name": "rl"},  # the policy file is made by the fixture below
    "meta": {"name": "meta"},  # the shipped default policy
}


def test_every_registered_controller_is_covered():
    assert set(CONTROLLERS.names()) <= set(CONTROLLER_SPECS), "add the new controller here"


@pytest.fixture(scope="module")
def rl_policy(tmp_path_factory) -> str:
    from agents.rl import build_policy, save_policy

    path = tmp_path_factory.mktemp("rl") / "policy.pt"
    model = SimpleNamespace(policy=build_policy("ppo", "continuous", [8]))
    return str(save_policy(model, path, "ppo", "continuous", [8]))


def _config(name: str, rl_policy: str) -> dict[str, Any]:
    spec = dict(CONTROLLER_SPECS[name])
    if name == "rl":
        spec["policy"] = rl_policy
    return {
        "task": {"name": "nqm"},
        "controller": spec,
        "budget_steps": 300,
        "interval": 20,
        "eval_every": 50,
        "seed": 11,
        "checkpoint_every": 40,
    }


def _timeless(value: Any) -> Any:
    """A summary without its wall-time entries (seconds differ between runs)."""
    if isinstance(value, dict):
        return {
            k: _timeless(v)
            for k, v in value.items()
            if not (k.endswith("_s") or "time" in k or "seconds" in k)
        }
    return value


@pytest.mark.parametrize("name", sorted(CONTROLLER_SPECS))
def test_sigkill_after_the_first_checkpoint_then_resume(tmp_path, rl_policy, name):
    cfg = _config(name, rl_policy)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    full = tmp_path / "full"
    autolr.run(cfg, out=full)

    cut, mark = tmp_path / "cut", tmp_path / "killpoint"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOLR_TEST_KILLPOINT": str(mark)}
    cmd = [sys.executable, "-m", "tests.killpoint", "run", str(path), "--out", str(cut)]
    proc = subprocess.Popen([*cmd, "--quiet"], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), f"the run never reached a mid-run checkpoint (exit {proc.poll()})"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    killed_at = int(mark.read_text())
    assert 0 < killed_at < 300
    assert (cut / "checkpoint.pt").is_file() and not (cut / "summary.json").exists()
    state = torch.load(cut / "checkpoint.pt", weights_only=True)  # the bug: this raised
    assert state["ledger"]["kept"] == killed_at

    resume = [sys.executable, "-m", "autolr.cli", "run", str(path), "--out", str(cut)]
    done = subprocess.run(
        [*resume, "--resume", "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (cut / "metrics.csv").read_text() == (full / "metrics.csv").read_text()
    a = json.loads((full / "summary.json").read_text())
    b = json.loads((cut / "summary.json").read_text())
    assert _timeless(b) == _timeless(a)
    assert a["steps_trained"] + a["steps_probed"] + a["steps_lost"] == 300


@pytest.mark.parametrize("name", sorted(CONTROLLER_SPECS))
@pytest.mark.parametrize("task", ["nqm", "mnist1d-mlp"])
def test_every_checkpoint_of_a_run_holds_only_plain_values(rl_policy, name, task):
    cfg = load_config({**_config(name, rl_policy), "task": {"name": task}})
    session = build_session(cfg)
    while True:
        check_plain(session.state_dict())
        if not session.turn():
            break
    session.finish()
    check_plain(session.state_dict())


def test_the_issue_config_checkpoint_loads_with_weights_only(tmp_path):
    """mnist1d-mlp, fixed cosine with warmup: its initial LR came from numpy."""
    cfg = {
        "task": {"name": "mnist1d-mlp"},
        "controller": {
            "name": "fixed",
            "schedule": {"name": "cosine", "lr": 0.05, "total_steps": 3000, "warmup_steps": 100},
        },
        "budget_steps": 3000,
        "interval": 100,
        "eval_every": 250,
        "seed": 11,
    }
    session = build_session(load_config(cfg))
    save_checkpoint(session, tmp_path / "c.pt", {})
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert type(state["state"]["initial_lr"]) is float


class NumpyBest(autolr.Controller):
    name = "numpy-best"

    def propose(self, state, probe):
        return autolr.Segment.constant(0.1, state.interval)

    def state_dict(self):
        return {"best": np.float64(1.5), "trace": [1.0, np.arange(3)]}


def test_a_numpy_scalar_in_a_state_dict_is_refused_on_save_naming_its_path(tmp_path):
    cfg = load_config({"task": {"name": "nqm"}, "budget_steps": 20, "interval": 10})
    session = build_session(cfg)
    session.controller = NumpyBest()
    with pytest.raises(NotPlainError) as err:
        save_checkpoint(session, tmp_path / "c.pt", {})
    assert str(err.value).startswith(
        "checkpoint: controller.best is a numpy.float64; state_dicts must hold plain Python "
        "values and tensors"
    )
    assert not (tmp_path / "c.pt").exists()
    with pytest.raises(NotPlainError, match=r"x: trace\[1\] is a numpy\.ndarray"):
        check_plain({"trace": [1.0, np.arange(3)]}, "x")
    with pytest.raises(NotPlainError, match=r"top level key"):
        check_plain({np.int64(1): 2})
    check_plain({"t": torch.zeros(2), "n": None, "xs": (1, 2.0, "a", True), 3: [b""]})

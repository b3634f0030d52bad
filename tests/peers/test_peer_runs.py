"""Optimizer peers in ``autolr run``: they train, record what they ran with, keep their betas,
and resume bit for bit from a checkpoint that holds their own state."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

import autolr
from autolr.loop.plain import check_plain
from autolr.peers import PeerTrainee, make_peer
from autolr.running.runner import build_session, load_config
from tests.peers.bn import BatchNormTrainee
from tests.resume import whole_and_resumed

NAMES = ["dadapt-adam", "dog", "prodigy", "schedulefree-adamw", "schedulefree-sgd"]
CONFIG: dict[str, Any] = {
    "task": {"name": "toy"},
    "budget_steps": 60,
    "interval": 10,
    "eval_every": 20,
    "seed": 5,
    "checkpoint_every": 20,
}


# The toy's targets are large: schedule-free SGD at its package default lr 1.0 (20 times the
# toy's SGD lr) diverges there within 20 steps, so these runs give it lr 0.1.
ON_TOY = {"schedulefree-sgd": {"lr": 0.1}}


def config(name: str, **params: Any) -> dict[str, Any]:
    return {**CONFIG, "optimizer": {"name": name, **ON_TOY.get(name, {}), **params}}


def timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: timeless(v)
            for k, v in value.items()
            if not (k.endswith("_s") or "time" in k or "seconds" in k)
        }
    return value


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal state dicts: tensors bit for bit, everything else by value."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("name", NAMES)
def test_each_peer_trains_the_nqm_and_records_its_settings(name):
    nqm = {"task": {"name": "nqm"}, "budget_steps": 120, "eval_every": 40}
    cfg = {**CONFIG, **nqm, "optimizer": {"name": name}}  # every peer at its defaults
    result = autolr.run(cfg)
    h, s = result.history, result.summary
    val = h.eval_array("val_loss")
    assert h.eval_array("step").tolist() == [0, 40, 80, 120]
    assert val[-1] < 0.9 * val[0]  # it learned (schedule-free AdamW, at lr 0.0025, least)
    assert s["final_val_loss"] == val[-1] and math.isfinite(s["final_test_loss"])
    assert s["steps_charged"] == 120 and s["steps_probed"] == 0
    opt = s["optimizer"]
    assert opt["name"] == name and opt["version"]
    assert opt["package"] in {"schedulefree", "prodigyopt", "dadaptation", "dog-optimizer"}
    assert opt["settings"]["schedule"] == result.session.trainee.controller["schedule"]
    json.dumps(s, allow_nan=False)  # a plain JSON summary
    lrs = h.step_array("lr")
    if name.startswith("schedulefree") or name == "dog":  # no external decay
        assert np.all(lrs == opt["settings"]["lr"])
    else:  # cosine from 1 to 0 over the budget
        t = np.arange(120)
        np.testing.assert_allclose(lrs, 0.5 * (1 + np.cos(np.pi * t / 120)), rtol=1e-12)


def test_the_peers_own_estimates_move():
    prodigy = autolr.run(config("prodigy")).session.trainee.optimizer.param_groups[0]
    assert prodigy["d"] > 100 * prodigy["d0"]
    dadapt = autolr.run(config("dadapt-adam")).session.trainee.optimizer.param_groups[0]
    assert dadapt["d"] > 100 * 1e-6
    dog = autolr.run(config("dog")).session.trainee.optimizer.param_groups[0]
    assert float(dog["rbar"]) > 1e-3 and dog["reps_rel"] == 1e-6


@pytest.mark.parametrize("name", ["prodigy", "dadapt-adam", "schedulefree-adamw"])
def test_no_momentum_is_written_over_the_peers_betas(name):
    peer = autolr.run(config(name)).session.trainee.optimizer.param_groups[0]
    expected = (0.9, 0.9955159689799007) if name == "schedulefree-adamw" else (0.9, 0.999)
    assert tuple(peer["betas"]) == expected


def test_the_run_bounds_are_the_peers_unless_the_config_sets_them():
    session = build_session(load_config(config("prodigy")))
    assert (session.min_lr, session.max_lr) == (0.0, 10.0)
    session = build_session(load_config({**config("prodigy"), "min_lr": 0.01, "max_lr": 2.0}))
    assert (session.min_lr, session.max_lr) == (0.01, 2.0)
    # a controller given explicitly replaces the peer's schedule
    cfg = {**config("schedulefree-sgd"), "controller": {"name": "plateau", "lr": 0.5}}
    session = build_session(load_config(cfg))
    assert session.controller.name == "plateau"


class Killed(Exception):
    pass


@pytest.mark.parametrize("name", NAMES)
def test_a_killed_run_resumes_bit_identically(tmp_path, name):
    cfg = config(name)
    full = autolr.run(cfg, out=tmp_path / "full")

    def kill(session):
        if session.step >= 30:
            raise Killed

    with pytest.raises(Killed):
        autolr.run(cfg, out=tmp_path / "cut", callbacks=[kill])
    saved = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert saved["ledger"]["kept"] == 20  # the last checkpoint before the kill
    resumed = autolr.run(cfg, out=tmp_path / "cut", resume=True)

    a = (tmp_path / "full" / "metrics.csv").read_text()
    assert (tmp_path / "cut" / "metrics.csv").read_text() == a
    sa = json.loads((tmp_path / "full" / "summary.json").read_text())
    sb = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert timeless(sb) == timeless(sa)
    # the optimizer's own state (Prodigy's d, schedule-free's z, DoG's averager) and the
    # model end where the uninterrupted run's did, bit for bit
    ta, tb = full.session.trainee, resumed.session.trainee
    assert_same(tb.optimizer.state_dict(), ta.optimizer.state_dict(), "optimizer")
    assert_same(tb.model.state_dict(), ta.model.state_dict(), "model")


def test_the_checkpoint_holds_the_optimizers_own_state(tmp_path):
    for name, check in [
        ("prodigy", lambda g, s: g["d"] > g["d0"] and g["k"] == 60),
        ("schedulefree-adamw", lambda g, s: g["train_mode"] is True and g["k"] == 60),
        ("dog", lambda g, s: s["averager"]["t"] == 61 and "av_model" in s["averager"]),
    ]:
        autolr.run(config(name), out=tmp_path / name)
        state = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)
        opt = state["snapshot"]["optimizer"]
        assert check(opt["param_groups"][0], opt), name


@pytest.mark.parametrize("name", ["schedulefree-adamw", "schedulefree-sgd", "dog"])
def test_every_checkpoint_is_plain_and_taken_in_train_mode(name):
    session = build_session(load_config(config(name)))
    seen = []

    def check(s):
        state = s.state_dict()
        check_plain(state)
        groups = state["snapshot"]["optimizer"]["param_groups"]
        seen.append(all(g.get("train_mode", True) for g in groups))

    session.callbacks.append(check)
    session.run()
    assert len(seen) == 6 and all(seen)


@pytest.mark.parametrize("name", ["schedulefree-adamw", "dog"])
def test_a_batchnorm_model_resumes_bit_identically_from_a_saved_session(name):
    """In process, through torch.save and torch.load(weights_only=True): a BatchNorm model
    evaluated at its averaged point (statistics re-estimated) resumes exactly."""

    def fresh():
        torch.manual_seed(0)
        trainee = PeerTrainee(BatchNormTrainee(seed=4), make_peer(name), 60)
        return autolr.Session(
            trainee, autolr.build_controller(trainee.controller), 60, 10, eval_every=10
        )

    full, resumed = whole_and_resumed(fresh, 3)
    for col in ("train_loss", "lr"):
        assert resumed.history.step_array(col).tolist() == full.history.step_array(col).tolist()
    assert resumed.history.eval_array("val_metric").tolist() == (
        full.history.eval_array("val_metric").tolist()
    )
    assert resumed.history.test == full.history.test
    assert_same(resumed.trainee.optimizer.state_dict(), full.trainee.optimizer.state_dict())


def test_a_resume_with_another_optimizer_is_refused_either_way(tmp_path):
    autolr.run(config("prodigy"), out=tmp_path / "peer")
    assert "optimizer" in (tmp_path / "peer" / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"config key 'optimizer' differs"):
        autolr.run(CONFIG, out=tmp_path / "peer", resume=True)
    with pytest.raises(ValueError, match=r"config key 'optimizer' differs"):
        autolr.run(config("dog"), out=tmp_path / "peer", resume=True)
    autolr.run(CONFIG, out=tmp_path / "task")
    # a run without a peer resolves as it did before the key existed
    assert "optimizer" not in (tmp_path / "task" / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"config key 'optimizer' differs"):
        autolr.run(config("prodigy"), out=tmp_path / "task", resume=True)

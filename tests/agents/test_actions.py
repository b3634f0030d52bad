"""The ``residual`` action kind: its LRs, its bounds, and the same LRs in env and controllers."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.actions import ActionSpec, base_schedule
from agents.env import LRControlEnv, open_session
from agents.instances import Instance
from agents.meta import MetaController, MLPPolicy, load_policy, save_policy
from agents.policy import rollout
from agents.rl import RLController, build_policy
from agents.rl import save_policy as save_rl_policy
from autolr.controllers.base import build_controller


def _instance(lr=0.25, seed=3, budget=40, interval=10) -> Instance:
    return Instance({"name": "nqm", "dim": 10, "batch_size": 8}, seed, lr, budget, interval)


def _bounds(session):
    return session.min_lr, session.max_lr


def test_the_wsd_base_warms_up_holds_and_decays_over_the_budget():
    lrs = base_schedule("wsd", 0.5, 40).values(np.arange(41))
    np.testing.assert_allclose(lrs[:3], [0.0, 0.25, 0.5])  # 5% warmup: 2 steps
    np.testing.assert_allclose(lrs[2:32], 0.5)  # stable up to the last 20%
    np.testing.assert_allclose(lrs[32:], 0.5 * (1 - np.arange(9) / 8))  # linear decay to 0
    cos = base_schedule("cosine", 0.5, 40).values(np.arange(41))
    assert cos[2] == 0.5 and cos[-1] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(cos[2:]) <= 0)


@pytest.mark.parametrize(("base", "r"), [("wsd", 1.0), ("cosine", 0.5)])
def test_the_residual_lr_is_the_base_times_two_to_the_r_a_at_each_step(base, r):
    inst = _instance()
    env = LRControlEnv(action="residual", residual_range=r, residual_base=base)
    env.reset(seed=0, options={"instance": inst})
    actions = [1.0, 0.0, -1.0, 0.5]
    for a in actions:
        *_, info = env.step(np.array([a], np.float32))
        assert not info["diverged"]
    lrs = np.asarray(env.session.history.steps["lr"])
    want = base_schedule(base, inst.lr, inst.budget_steps).values(np.arange(40))
    want = want * np.repeat([2.0 ** (r * a) for a in actions], 10)
    np.testing.assert_allclose(lrs, np.clip(want, *_bounds(env.session)), rtol=1e-12)
    # step 0 of the warmup is 0, clamped to the task's min_lr; mid-interval values follow
    # the base (a segment over its values, not a constant)
    assert lrs[0] == env.session.min_lr and lrs[1] == pytest.approx(0.125 * 2**r)


def test_random_residual_actions_never_leave_the_base_times_two_to_the_plus_minus_r():
    inst, r = _instance(budget=60), 0.5
    env = LRControlEnv(action="residual", residual_range=r)
    env.action_space.seed(1)
    for seed in range(3):
        env.reset(seed=seed, options={"instance": inst})
        terminated = False
        while not terminated:
            *_, terminated, _, info = env.step(env.action_space.sample())
        session = env.session
        assert info["rollbacks"] == 0
        t = np.asarray(session.history.steps["charged"], dtype=int) - 1  # the base's clock
        base = base_schedule("wsd", inst.lr, inst.budget_steps).values(t)
        low, high = (np.clip(base * 2.0**s, *_bounds(session)) for s in (-r, r))
        lrs = np.asarray(session.history.steps["lr"])
        assert np.all(lrs >= low * (1 - 1e-12)) and np.all(lrs <= high * (1 + 1e-12))
        assert lrs.max() <= inst.lr * 2**r * (1 + 1e-12)  # never compounds past the peak


def test_compounding_can_run_away_where_residual_cannot():
    inst = _instance(lr=0.01)
    spent = {}
    for kind in ("continuous", "residual"):
        env = LRControlEnv(action=kind)
        env.reset(seed=0, options={"instance": inst})
        for _ in range(4):
            env.step(np.array([1.0], np.float32))
        spent[kind] = max(env.session.history.steps["lr"])
    assert spent["continuous"] == pytest.approx(0.01 * 2**4)
    assert spent["residual"] == pytest.approx(0.01 * 2)


def _drive_env(env, inst, controller):
    """The env driven by ``controller.act`` on its observations: the LR trace."""
    obs, _ = env.reset(seed=0, options={"instance": inst})
    terminated = False
    while not terminated:
        obs, _, terminated, _, _ = env.step(np.array([controller.act(obs)]))
    return np.asarray(env.session.history.steps["lr"])


def test_a_residual_meta_policy_applies_the_same_lrs_in_a_session_as_in_the_env(tmp_path):
    spec = ActionSpec("residual", residual_range=0.75, residual_base="cosine")
    rng = np.random.default_rng(0)
    policy = MLPPolicy(3, rng.normal(0, 0.5, MLPPolicy.size(3)), spec)
    path = save_policy(policy, tmp_path / "res.json")
    controller = MetaController(str(path), lr=0.25)
    assert controller.action_spec == spec
    inst = _instance()
    env = LRControlEnv(action="residual", residual_range=0.75, residual_base="cosine")
    via_env = _drive_env(env, inst, controller)
    via_controller = rollout(inst, MetaController(str(path), lr=inst.lr)).lrs
    assert len(set(np.round(via_env, 9))) > 4  # not a trivial trace
    np.testing.assert_array_equal(via_controller, via_env)
    # and a compounding controller on the same weights would not
    compounding = rollout(inst, MetaController(MLPPolicy(3, policy.params), lr=inst.lr)).lrs
    assert not np.allclose(compounding, via_env)


@pytest.fixture
def residual_rl_policy(tmp_path):
    spec = ActionSpec("residual", residual_range=0.5)
    torch.manual_seed(0)
    net = build_policy("ppo", "residual", [8])
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5)
    return save_rl_policy(SimpleNamespace(policy=net), tmp_path / "res.pt", "ppo", spec, [8])


def test_a_residual_rl_policy_applies_the_same_lrs_in_a_session_as_in_the_env(
    residual_rl_policy,
):
    saved = torch.load(residual_rl_policy, weights_only=True)
    assert (saved["action"], saved["residual_range"], saved["residual_base"]) == (
        "residual",
        0.5,
        "wsd",
    )
    controller = RLController(str(residual_rl_policy), lr=0.25)
    assert controller.action_spec == ActionSpec("residual", 0.5)
    inst = _instance()
    via_env = _drive_env(LRControlEnv(action="residual", residual_range=0.5), inst, controller)
    via_controller = rollout(inst, RLController(str(residual_rl_policy), lr=inst.lr)).lrs
    np.testing.assert_array_equal(via_controller, via_env)


def test_a_policy_runs_only_with_the_action_kind_it_records(tmp_path, residual_rl_policy):
    path = save_policy(MLPPolicy(2, action=ActionSpec("residual", 2.0)), tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert (data["action"], data["residual_range"], data["residual_base"]) == (
        "residual",
        2.0,
        "wsd",
    )
    assert load_policy(path).action == ActionSpec("residual", 2.0)
    with pytest.raises(ValueError, match=r"trained with action 'residual', but action "):
        MetaController(str(path), action="continuous")
    with pytest.raises(ValueError, match=r"res\.pt was trained with action 'residual'"):
        RLController(str(residual_rl_policy), action="continuous")
    assert MetaController(str(path), action="residual").action_spec.kind == "residual"
    spec = {"name": "meta", "policy": str(path), "action": "continuous"}
    with pytest.raises(ValueError, match="trained with action 'residual'"):
        build_controller(spec, default_lr=0.1)
    assert build_controller({**spec, "action": "residual"}, default_lr=0.1).lr == 0.1
    # the shipped policies are residual ones on a WSD base (x1/2..x2)
    assert MetaController().action_spec == ActionSpec("residual", 1.0, "wsd")
    with pytest.raises(ValueError, match="trained with action 'residual'"):
        MetaController(action="continuous")
    assert RLController().action_spec == ActionSpec("residual", 1.0, "wsd")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        ({"residual_range": -1}, r"m\.json: residual_range must be > 0, got -1\.0"),
        ({"residual_base": "step"}, r"m\.json: residual_base must be one of wsd, cosine"),
        ({"action": "discrete"}, r"m\.json: a meta policy's action must be one of continuous"),
        ({"action": "jump"}, r"m\.json: action must be one of continuous, discrete, residual"),
    ],
)
def test_a_bad_action_in_a_meta_policy_file_fails_clearly(tmp_path, mutate, match):
    path = save_policy(MLPPolicy(2, action=ActionSpec("residual")), tmp_path / "m.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **mutate}))
    with pytest.raises(ValueError, match=match):
        load_policy(path)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (0, r"^residual_range must be > 0, got 0\.0$"),
        (-0.5, r"^residual_range must be > 0, got -0\.5$"),
        ("big", r"^residual_range must be a number, got 'big'$"),
        (float("inf"), r"^residual_range must be finite and > 0, got inf$"),
    ],
)
def test_a_bad_residual_range_names_the_key_and_value(value, match):
    with pytest.raises(ValueError, match=match):
        LRControlEnv(action="residual", residual_range=value)


def test_the_train_configs_accept_residual():
    from agents.metatrain import check_config as check_meta
    from agents.rltrain import check_config as check_rl

    cfg = check_rl({"algo": "sac", "env": {"action": "residual", "residual_range": 0.5}})
    assert cfg["env"]["action"] == "residual"
    with pytest.raises(ValueError, match=r"env\.residual_range must be > 0, got 0\.0"):
        check_rl({"env": {"action": "residual", "residual_range": 0}})
    assert check_meta({"action": "residual"})["residual_base"] == "wsd"
    with pytest.raises(ValueError, match="action must be one of continuous, residual"):
        check_meta({"action": "discrete"})


def test_the_session_base_uses_its_own_initial_lr_and_budget():
    session = open_session(_instance(lr=0.3, budget=50))
    seg = ActionSpec("residual", 1.0).segment(session.state, 0.0)
    want = base_schedule("wsd", 0.3, 50).values(np.arange(10))
    np.testing.assert_allclose(seg.lrs(), want)

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from agents.env import ENV_ID, LRControlEnv, open_session
from agents.features import CLIP
from agents.instances import Instance
from autolr.loop.segment import Segment


@pytest.mark.parametrize("action", ["continuous", "discrete", "residual"])
def test_both_checkers_pass_without_warnings(small, action):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, instances=small, action=action, disable_env_checker=True)
        gym_check_env(env.unwrapped)
        sb3_check_env(LRControlEnv(small, action=action))


def test_reset_with_the_same_seed_gives_the_same_first_observation(small):
    env = LRControlEnv(small)
    obs1, info1 = env.reset(seed=7)
    obs2, info2 = env.reset(seed=7)
    np.testing.assert_array_equal(obs1, obs2)
    assert info1 == info2
    _, info3 = env.reset(seed=8)
    assert info3["instance"] != info1["instance"] or info3["seed"] != info1["seed"]


def test_observations_stay_in_bounds_over_a_random_rollout(small):
    env = LRControlEnv(small)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    seen = [obs]
    for _ in range(40):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        seen.append(obs)
        assert math.isfinite(reward) and not truncated
        if terminated:
            obs, _ = env.reset()
            seen.append(obs)
    for x in seen:
        assert env.observation_space.contains(x)
        assert np.all(np.abs(x) <= CLIP)


def _instance(lr=0.25, seed=3) -> Instance:
    return Instance({"name": "nqm", "dim": 10, "batch_size": 8}, seed, lr, 40, 10)


@pytest.mark.parametrize("reward", ["dense", "terminal", "both"])
def test_rewards_match_their_formula_on_a_scripted_rollout(reward):
    inst = _instance()
    env = LRControlEnv(action="discrete", reward=reward, terminal_weight=0.5)
    env.reset(seed=0, options={"instance": inst})
    actions = [2, 1, 0, 1]  # multipliers 2, 1, 1/2, 1
    rewards = [env.step(a)[1] for a in actions]
    # the same session, driven by hand
    session = open_session(inst)
    m0 = session.history.evals["val_metric"][0]
    lr, losses = inst.lr, [session.state.initial_loss]
    for a in actions:
        lr *= 2.0 ** (a - 1)
        losses.append(session.advance(Segment.constant(lr, 10)).loss_mean)
    session.finish()
    dense = [math.log(losses[t]) - math.log(losses[t + 1]) for t in range(4)]
    terminal = [0.0, 0.0, 0.0, -0.5 * math.log(session.state.val_metric / m0)]  # nqm: "min"
    want = {
        "dense": dense,
        "terminal": terminal,
        "both": [d + t for d, t in zip(dense, terminal, strict=True)],
    }[reward]
    assert rewards == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert sum(dense) == pytest.approx(math.log(losses[0] / losses[-1]))


@pytest.mark.parametrize(("action", "hold"), [("discrete", 1), ("residual", [0.0])])
def test_a_rollback_costs_the_penalty_and_the_episode_goes_on_to_the_budget(action, hold):
    env = LRControlEnv(action=action, divergence_penalty=2.5)
    inst = _instance(lr=4.0)  # nqm: SGD unstable at lr > 2
    env.reset(seed=0, options={"instance": inst})
    obs, reward, terminated, truncated, info = env.step(hold)
    assert not terminated and not truncated and info["diverged"] and info["rollbacks"] == 1
    assert reward == -2.5 and info["step"] == 0  # the model is back at the start
    assert env.observation_space.contains(obs) and obs[12] == 1.0  # the rolled_back feature
    assert "score" not in info
    steps, infos = 1, [info]
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(hold)
        assert not truncated and np.isfinite(reward)
        assert (reward == -2.5) == info["diverged"] or terminated
        steps, infos = steps + 1, [*infos, info]
    # the lost steps were charged: the budget ends the episode, rollbacks and all
    assert env.session.ledger.charged == inst.budget_steps and info["halted"] is None
    assert info["rollbacks"] == sum(i["diverged"] for i in infos) >= 1
    assert info["step"] + env.session.ledger.lost == inst.budget_steps
    assert steps <= inst.budget_steps and np.isfinite(info["score"])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(hold)


def test_the_split_option_picks_the_family(small):
    env = LRControlEnv(small, split="test")
    _, info = env.reset(seed=0)
    assert "dim=15" in info["instance"] and info["seed"] in range(200, 205)
    _, info = env.reset(seed=0, options={"split": "train"})
    assert "dim=15" not in info["instance"]


def test_actions_scale_the_lr_within_the_task_bounds():
    env = LRControlEnv()
    env.reset(seed=0, options={"instance": _instance(lr=0.25)})
    assert env.step(np.array([1.0], np.float32))[4]["lr"] == pytest.approx(0.5)
    assert env.step(np.array([-1.0], np.float32))[4]["lr"] == pytest.approx(0.25)
    assert env.step(np.array([0.5], np.float32))[4]["lr"] == pytest.approx(0.25 * 2**0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "val"}, "split must be 'train' or 'test', got 'val'"),
        ({"action": "box"}, "action must be one of continuous, discrete, residual, got 'box'"),
        ({"residual_range": 0}, r"^residual_range must be > 0, got 0\.0$"),
        ({"residual_base": "step"}, "residual_base must be one of wsd, cosine, got 'step'"),
        ({"reward": "sparse"}, "reward must be one of dense, terminal, both, got 'sparse'"),
        ({"divergence_penalty": -1}, r"^divergence_penalty must be >= 0, got -1\.0$"),
        ({"instances": {"train": []}}, r"instances.train must be a non-empty list"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRControlEnv(**kwargs)


def test_gym_make_with_the_passive_checker_warns_nothing(small):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, instances=small)
        env.reset(seed=1)
        for _ in range(4):
            env.step(env.action_space.sample())

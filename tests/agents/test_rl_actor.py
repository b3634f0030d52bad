"""The RL controller's direct actor path gives SB3's own deterministic action, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.actions import ActionSpec
from agents.rl import RLController, build_policy, deterministic_actor
from autolr.loop.state import StateTracker


def _perturbed(policy) -> None:
    # untrained heads start near zero (PPO's action_net is initialised with gain 0.01):
    # random weights make every output, and every discrete argmax, depend on the input
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize(
    ("algo", "action"),
    [("ppo", "continuous"), ("ppo", "residual"), ("ppo", "discrete"), ("sac", "continuous")],
)
def test_the_direct_actor_is_sb3s_deterministic_action(algo, action):
    policy = build_policy(algo, action, [16, 16])
    _perturbed(policy)
    policy.set_training_mode(False)
    actor = deterministic_actor(policy)
    obs = torch.from_numpy(np.random.default_rng(1).normal(0, 3, (200, 15)).astype(np.float32))
    with torch.no_grad():
        ours = torch.cat([actor(row[None]) for row in obs])
        sb3 = torch.cat([policy._predict(row[None], deterministic=True) for row in obs])
    assert ours.shape == sb3.shape
    assert torch.equal(ours, sb3)
    if action == "discrete":
        assert set(ours.tolist()) == {0, 1, 2}  # every branch of the argmax is exercised
    else:
        assert float(ours.std()) > 0.1


def test_a_gsde_policy_takes_sb3s_own_path():
    from stable_baselines3.common.policies import ActorCriticPolicy

    from agents.rl import _spaces

    obs_space, act_space = _spaces("continuous")
    policy = ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, net_arch=[8], use_sde=True)
    policy.set_training_mode(False)
    obs = torch.zeros(1, 15)
    with torch.no_grad():
        assert torch.equal(deterministic_actor(policy)(obs), policy._predict(obs, True))


def test_the_shipped_policy_acts_as_before():
    controller = RLController()
    rng = np.random.default_rng(2)
    for _ in range(50):
        features = rng.normal(0, 2, 15).astype(np.float32)
        with torch.no_grad():
            sb3 = controller.policy._predict(torch.from_numpy(features)[None], deterministic=True)
        assert controller.act(features) == float(np.clip(sb3.numpy().reshape(-1)[0], -1, 1))


def test_a_session_builds_its_residual_base_once():
    spec = ActionSpec("residual")

    def state(lr: float):
        return StateTracker().initial(
            budget=200, interval=20, lr=lr, lr_scale=(1.0,), initial_loss=1.0
        )

    first, again = spec.base(state(0.1)), spec.base(state(0.1))
    assert first is again
    other = spec.base(state(0.2))
    assert other is not first
    steps = np.arange(200)
    assert np.array_equal(other.values(steps), 2 * first.values(steps))


def test_sb3s_default_mlps_run_as_plain_torch_calls():
    from agents.rl import _plain_net

    ppo = build_policy("ppo", "continuous", [16, 16])
    assert (
        _plain_net(ppo.pi_features_extractor, ppo.mlp_extractor.policy_net, ppo.action_net)
        is not None
    )
    sac = build_policy("sac", "continuous", [16, 16]).actor
    assert _plain_net(sac.features_extractor, sac.latent_pi, sac.mu) is not None


@pytest.mark.parametrize("activation", [torch.nn.LeakyReLU, torch.nn.ReLU])
def test_other_layers_give_sb3s_action_too(activation):
    # LeakyReLU has no plain path (the modules run), ReLU has one: both are SB3's action
    from stable_baselines3.common.policies import ActorCriticPolicy

    from agents.rl import _plain_net, _spaces

    obs_space, act_space = _spaces("continuous")
    policy = ActorCriticPolicy(
        obs_space, act_space, lambda _: 0.0, net_arch=[8, 8], activation_fn=activation
    )
    _perturbed(policy)
    policy.set_training_mode(False)
    plain = _plain_net(
        policy.pi_features_extractor, policy.mlp_extractor.policy_net, policy.action_net
    )
    assert (plain is None) == (activation is torch.nn.LeakyReLU)
    actor = deterministic_actor(policy)
    obs = torch.from_numpy(np.random.default_rng(3).normal(0, 3, (50, 15)).astype(np.float32))
    with torch.no_grad():
        for row in obs:
            assert torch.equal(actor(row[None]), policy._predict(row[None], deterministic=True))

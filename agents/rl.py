"""``rl``: a stable-baselines3 policy (PPO or SAC) as a controller.

A policy file is a torch file of plain values and tensors only, read with
``torch.load(weights_only=True)`` (no pickle, so loading runs no code)::

    {format: "autolr-rl-policy", feature_version, n_features, algo: "ppo" | "sac",
     action: "continuous" | "discrete", net_arch: [...], state_dict: {...}, meta: {...}}

The controller rebuilds the SB3 policy network from ``algo``, the env's spaces and
``net_arch``, loads the weights and acts deterministically: the action becomes a log2 LR
multiplier exactly as in the env (``agents.env.log2_multiplier``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.env import ACTIONS, LRControlEnv, log2_multiplier
from agents.features import check_header, header
from agents.policy import PolicyController
from autolr.running.io import atomic_path, load_plain

FORMAT = "autolr-rl-policy"
ALGOS = ("ppo", "sac")


def _spaces(action: str) -> tuple[Any, Any]:
    env = LRControlEnv(action=action)  # builds no session until reset
    return env.observation_space, env.action_space


def build_policy(algo: str, action: str, net_arch: Any) -> Any:
    """An untrained SB3 policy network for ``algo`` on the env's spaces."""
    obs_space, act_space = _spaces(action)
    kwargs = {"net_arch": net_arch}
    if algo == "ppo":
        from stable_baselines3.common.policies import ActorCriticPolicy

        return ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **kwargs)
    if algo == "sac":
        from stable_baselines3.sac.policies import SACPolicy

        return SACPolicy(obs_space, act_space, lambda _: 0.0, **kwargs)
    raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {algo!r}")


def save_policy(
    model: Any, path: str | Path, algo: str, action: str, net_arch: Any, **meta: Any
) -> Path:
    """Write a trained SB3 model's policy weights and what rebuilds it to ``path``."""
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.policy.state_dict().items()}
    payload = {
        "format": FORMAT,
        **header(),
        "algo": algo,
        "action": action,
        "net_arch": net_arch,
        "state_dict": state,
        "meta": meta,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_policy(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """The SB3 policy in a policy file, and the file's header; ValueError on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such RL policy file: {path}")
    source = f"RL policy {path}"
    data = load_plain(path, source)  # its error says why, never "retry weights_only=False"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{source} is not an {FORMAT} file (format field missing or wrong)")
    check_header(data, source)
    algo, action = data.get("algo"), data.get("action")
    if algo not in ALGOS:
        raise ValueError(f"{source}: algo must be one of {', '.join(ALGOS)}, got {algo!r}")
    if action not in ACTIONS:
        raise ValueError(f"{source}: action must be one of {', '.join(ACTIONS)}, got {action!r}")
    try:
        policy = build_policy(algo, action, data.get("net_arch"))
        policy.load_state_dict(data["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{source}: weights do not fit a {algo} policy (wrong shape): {err}"
        ) from None
    policy.set_training_mode(False)
    return policy, {k: v for k, v in data.items() if k != "state_dict"}


class RLController(PolicyController):
    """A saved SB3 policy as a controller (``{name: rl, policy: PATH}``).

    Args:
        policy: a policy file written by ``autolr agents train``.
        lr: the initial LR (the task's lr when built from a config).
    """

    name = "rl"

    def __init__(self, policy: str | Path, lr: float | None = None) -> None:
        super().__init__(lr)
        if policy is None:
            raise ValueError("controller 'rl' needs a 'policy' file, got None")
        self.policy, self.header = load_policy(policy)
        self.action = self.header["action"]

    def act(self, features: np.ndarray) -> float:
        # policy._predict skips predict()'s generic input checks: a tenth of the cost.
        with torch.no_grad():
            action = self.policy._predict(torch.from_numpy(features)[None], deterministic=True)
        return log2_multiplier(self.action, action.numpy())

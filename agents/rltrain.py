"""Training an ``rl`` policy with stable-baselines3 on ``LRControlEnv``.

A config (YAML mapping) has the keys of ``DEFAULTS``: ``instances`` and ``env`` go to the
env, ``algo_kwargs`` to the SB3 algorithm (e.g. ``n_steps``, ``batch_size``), ``net_arch``
to its policy. The run writes the policy file, a CSV learning curve (one row per episode:
timesteps, return, length, final score) and a PNG of it; no TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor

from agents.env import LRControlEnv
from agents.metatrain import plot_curve, write_curve
from agents.rl import ALGOS, save_policy

DEFAULTS: dict[str, Any] = {
    "instances": None,
    "env": {},
    "algo": "ppo",
    "timesteps": 20000,
    "seed": 0,
    "net_arch": [32, 32],
    "algo_kwargs": {},
    "out": "runs/agents/rl_policy.pt",
}


class EpisodeLog(BaseCallback):
    """Collects one row per finished episode from the Monitor's ``info["episode"]``."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.log = log

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                row = {
                    "timesteps": self.num_timesteps,
                    "episode": len(self.rows) + 1,
                    "return": float(info["episode"]["r"]),
                    "length": int(info["episode"]["l"]),
                    "score": float(info.get("score", float("nan"))),
                }
                self.rows.append(row)
                if self.log and row["episode"] % 20 == 0:
                    recent = self.rows[-20:]
                    mean = sum(r["return"] for r in recent) / len(recent)
                    self.log(
                        f"episode {row['episode']}  steps {self.num_timesteps}  "
                        f"return(20) {mean:+.3f}"
                    )
        return True


def check_config(config: Mapping[str, Any] | None, **overrides: Any) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    for key, value in {
        **(config or {}),
        **{k: v for k, v in overrides.items() if v is not None},
    }.items():
        if key not in DEFAULTS:
            raise ValueError(f"agents train: unknown key {key!r}; accepted: {', '.join(DEFAULTS)}")
        cfg[key] = value
    if cfg["algo"] not in ALGOS:
        raise ValueError(
            f"agents train: algo must be one of {', '.join(ALGOS)}, got {cfg['algo']!r}"
        )
    t = cfg["timesteps"]
    if isinstance(t, bool) or not isinstance(t, int) or t < 1:
        raise ValueError(f"agents train: timesteps must be an integer >= 1, got {t!r}")
    for key in ("env", "algo_kwargs"):
        if not isinstance(cfg[key], Mapping):
            raise ValueError(f"agents train: {key} must be a mapping, got {cfg[key]!r}")
    if cfg["algo"] == "sac" and cfg["env"].get("action", "continuous") != "continuous":
        raise ValueError("agents train: algo sac needs env.action continuous")
    return cfg


def train_rl(
    config: Mapping[str, Any] | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    **overrides: Any,
) -> tuple[Path, list[dict[str, float]]]:
    """Train, save the policy and its learning curve; return the policy path and the curve."""
    cfg = check_config(config, **overrides)
    env = Monitor(LRControlEnv(cfg["instances"], split="train", **cfg["env"]))
    if cfg["algo"] == "ppo":
        from stable_baselines3 import PPO as Algo
    else:
        from stable_baselines3 import SAC as Algo
    model = Algo(
        "MlpPolicy",
        env,
        seed=cfg["seed"],
        policy_kwargs={"net_arch": cfg["net_arch"]},
        device="cpu",
        verbose=0,
        **cfg["algo_kwargs"],
    )
    callback = EpisodeLog(None if progress else log)
    model.learn(total_timesteps=cfg["timesteps"], callback=callback, progress_bar=progress)
    path = Path(cfg["out"])
    action = cfg["env"].get("action", "continuous")
    plain = {k: v for k, v in cfg.items() if k != "out"}
    save_policy(model, path, cfg["algo"], action, cfg["net_arch"], config=plain)
    write_curve(callback.rows, path.with_suffix(".csv"))
    if callback.rows:
        plot_curve(callback.rows, path.with_suffix(".png"), "timesteps", ["return", "score"])
    return path, callback.rows

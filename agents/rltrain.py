"""Training an ``rl`` policy with stable-baselines3 on ``LRControlEnv``.

A config (YAML mapping) has the keys of ``TrainConfig`` (defaults: ``DEFAULTS``):
``instances`` and ``env`` go to the env, ``algo_kwargs`` to the SB3 algorithm (e.g.
``n_steps``, ``batch_size``), ``net_arch`` to its policy. The run writes the policy file, a
CSV learning curve (one row per episode: timesteps, return, length, final score, rollbacks)
and a PNG of it; no TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor

from agents.actions import BASES, ActionSpec
from agents.env import ACTIONS, REWARDS, LRControlEnv
from agents.instances import InstancesField
from agents.metatrain import CURVE_SUFFIXES, plot_curve, write_curve
from agents.outputs import check_outputs
from agents.rl import ALGOS, save_policy
from autolr.checks import Choice, Int, NonNegative, Positive
from autolr.running.config import parse_model


class EnvOptions(BaseModel):
    """The ``env`` keys of a train config: ``LRControlEnv``'s options."""

    model_config = ConfigDict(extra="forbid")
    action: Choice(*ACTIONS) = "continuous"
    reward: Choice(*REWARDS) = "both"
    terminal_weight: NonNegative() = 1.0
    divergence_penalty: NonNegative() = 1.0
    residual_range: Positive() = 1.0
    residual_base: Choice(*BASES) = "wsd"


class TrainConfig(BaseModel):
    """An ``agents train`` config. ``instances`` and ``env`` go to the env (kept as given,
    after validation), ``algo_kwargs`` to the SB3 algorithm, ``net_arch`` to its policy."""

    model_config = ConfigDict(extra="forbid")
    instances: InstancesField = None
    env: dict[str, Any] = Field(default_factory=dict)
    algo: Choice(*ALGOS) = "ppo"
    timesteps: Int(1) = 20000
    seed: Int(0) = 0
    net_arch: list[Int(1)] = Field(default_factory=lambda: [32, 32])
    algo_kwargs: dict[str, Any] = Field(default_factory=dict)
    out: str = "runs/agents/rl_policy.pt"

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, Any]) -> dict[str, Any]:
        parse_model(EnvOptions, env, "", root=("env",))
        return env

    @model_validator(mode="after")
    def _sac_is_continuous(self) -> TrainConfig:
        if self.algo == "sac" and self.env.get("action", "continuous") == "discrete":
            raise ValueError("algo sac needs env.action continuous or residual (a Box)")
        return self


DEFAULTS: dict[str, Any] = TrainConfig().model_dump()


class EpisodeLog(BaseCallback):
    """Collects one row per finished episode from the Monitor's ``info["episode"]``; logs the
    mean return of the last ``every`` episodes, every ``every`` episodes."""

    every = 20

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
                    "rollbacks": int(info.get("rollbacks", 0)),
                }
                self.rows.append(row)
                if self.log and row["episode"] % self.every == 0:
                    recent = self.rows[-self.every :]
                    mean = sum(r["return"] for r in recent) / len(recent)
                    self.log(
                        f"episode {row['episode']}  steps {self.num_timesteps}  "
                        f"return({self.every}) {mean:+.3f}"
                    )
        return True


def check_config(config: Mapping[str, Any] | None, **overrides: Any) -> dict[str, Any]:
    """The config with defaults filled in (``overrides`` that are not None replace keys);
    a ValueError names a bad key path or value."""
    raw = {**(config or {}), **{k: v for k, v in overrides.items() if v is not None}}
    return parse_model(TrainConfig, raw, "agents train").model_dump()


def train_rl(
    config: Mapping[str, Any] | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
    overwrite: bool = False,
    **overrides: Any,
) -> tuple[Path, list[dict[str, float]]]:
    """Train, save the policy and its learning curve; return the policy path and the curve.

    Refused before training, as ``meta_train`` (``agents.outputs``): an existing file needs
    ``overwrite``; a path inside an installed package needs the ``out`` override."""
    cfg = check_config(config, **overrides)
    path = Path(cfg["out"])
    explicit = overrides.get("out") is not None
    check_outputs(path, CURVE_SUFFIXES, overwrite=overwrite, explicit=explicit)
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
    env_options = EnvOptions(**cfg["env"])
    action = ActionSpec(env_options.action, env_options.residual_range, env_options.residual_base)
    plain = {k: v for k, v in cfg.items() if k != "out"}
    save_policy(model, path, cfg["algo"], action, cfg["net_arch"], config=plain)
    write_curve(callback.rows, path.with_suffix(".csv"))
    if callback.rows:
        curve = path.with_suffix(".png")
        plot_curve(callback.rows, curve, "timesteps", ["return", "score"], smooth=EpisodeLog.every)
    return path, callback.rows

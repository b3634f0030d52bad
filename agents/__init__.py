"""Agents: a gymnasium env for LR control (``autolr/LRControl-v0``), an RL controller
(``rl``) and a meta-learned policy (``meta``), sharing one feature encoder."""

from agents.env import ENV_ID, LRControlEnv

__all__ = ["ENV_ID", "LRControlEnv"]

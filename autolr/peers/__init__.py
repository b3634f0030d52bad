"""Optimizer peers: self-tuning optimizers that replace a task's optimizer.

``schedulefree-adamw``, ``schedulefree-sgd``, ``prodigy``, ``dadapt-adam`` and ``dog`` (see
each module for its documented defaults and their sources). A run names one with the
config key ``optimizer: {name: ..., ...params}``; a suite lists them under ``optimizers``
(the self-tuning track, cells of track ``peer``). The packages are imported on first use.
"""

from autolr.peers import d_adaptation, dog_averaged, schedule_free
from autolr.peers.base import PEERS, MissingPackage, Peer, make_peer
from autolr.peers.trainee import PeerTrainee, with_peer

__all__ = [
    "PEERS",
    "MissingPackage",
    "Peer",
    "PeerTrainee",
    "d_adaptation",
    "dog_averaged",
    "make_peer",
    "schedule_free",
    "with_peer",
]

"""A task's trainee with its optimizer replaced by a peer, evaluated where the peer says.

``PeerTrainee`` keeps the task's model, data and seed (``batch``, ``loss``, the data
checksum) and swaps in the peer's optimizer. Its ``evaluate``, for a peer whose evaluation
point is not its training point (schedule-free, DoG):

1. saves the model's state (parameters and buffers);
2. moves the parameters to the evaluation point (``optimizer.eval()``, or the average);
3. re-estimates BatchNorm statistics there, if the model has BatchNorm layers
   (``autolr.loop.batchnorm``: forward passes, not optimizer steps);
4. evaluates with the task's own ``evaluate``;
5. leaves the evaluation point (``optimizer.train()``) and loads the saved state back.

So training never sees an evaluation: the training point comes back bit for bit, even
though schedule-free's eval/train round trip (two lerps) is not exact in floating point,
and the optimizer is back in train mode. Snapshots and checkpoints are taken between steps,
never inside ``evaluate``: they hold the training point, with schedule-free's
``train_mode`` flags True, and the optimizer's full state (schedule-free's ``z``,
Prodigy's ``d``, DoG's averager), which restores bit-identically.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import torch

from autolr.loop import batchnorm
from autolr.loop.history import History
from autolr.loop.trainee import SplitSizes, Trainee
from autolr.peers.base import Peer, make_peer


class PeerTrainee(Trainee):
    """``inner`` (a task's trainee) trained by ``peer`` for ``budget`` steps.

    ``info`` is the task's, with the peer's LR as its ``lr``, the peer's description as its
    ``optimizer``, and the peer's LR bounds ``[0, peer.max_lr]`` as ``min_lr``/``max_lr``
    (the task's bounds are for the task's optimizer; a peer's LR is its own, or a multiplier
    on its own estimate). ``controller`` is the fixed schedule the peer runs under.
    """

    def __init__(self, inner: Trainee, peer: Peer, budget: int) -> None:
        if inner.train_step is not None:
            raise ValueError(
                f"optimizer peer {peer.name!r}: this trainee steps itself (train_step), so "
                "its optimizer cannot be replaced"
            )
        if not inspect.signature(inner.evaluate).parameters:
            raise ValueError(
                f"optimizer peer {peer.name!r}: this trainee's evaluate() takes no split; "
                "peers need evaluate(split)"
            )
        self.inner = inner
        self.peer = peer
        self.model = inner.model
        self.device = inner.device
        self.seed = inner.seed
        self.uses_global_rng = inner.uses_global_rng
        built = peer.build(inner.model, budget)
        self.optimizer = inner.optimizer = built.optimizer  # the task's own is dropped
        self.eval_point = built.eval_point
        self.settings = built.settings
        self.controller = peer.controller(budget)
        self.info = dataclasses.replace(
            inner.info, lr=peer.lr, optimizer=peer.describe(), min_lr=0.0, max_lr=peer.max_lr
        )

    def batch(self, i: int) -> Any:
        return self.inner.batch(i)

    def loss(self, batch: Any) -> torch.Tensor:
        return self.inner.loss(batch)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        if self.eval_point is None:
            return self.inner.evaluate(split)
        saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        try:
            self.eval_point.enter()
            batchnorm.reestimate(self.model, self._forward, self.peer.bn_batches)
            return self.inner.evaluate(split)
        finally:
            self.eval_point.leave()
            self.model.load_state_dict(saved)

    def _forward(self, i: int) -> None:
        self.inner.loss(self.inner.batch(i))

    def split_sizes(self) -> SplitSizes | None:
        return self.inner.split_sizes()

    def data_checksum(self) -> str | None:
        return self.inner.data_checksum()

    def set_budget(self, budget_steps: int) -> None:
        self.inner.set_budget(budget_steps)

    def extra_metrics(self) -> dict[str, float]:
        return self.inner.extra_metrics()  # of the inner evaluate, at the evaluation point

    def summary_extras(self, history: History) -> dict[str, Any]:
        return self.inner.summary_extras(history)

    def summary(self) -> dict[str, Any]:
        """The summary's ``optimizer`` entry: the peer, its package version and settings."""
        return self.peer.summary(self.settings)


def with_peer(trainee: Trainee, spec: Any, budget: int) -> PeerTrainee:
    """``trainee`` with its optimizer replaced by the peer ``spec`` names."""
    return PeerTrainee(trainee, make_peer(spec), budget)

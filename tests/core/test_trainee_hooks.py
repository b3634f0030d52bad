"""The Trainee's optional hooks: ``set_budget`` (told by the Session), ``extra_metrics``
(recorded with each evaluation: History.extras, metrics.csv columns, checkpoints) and
``summary_extras`` (summary keys); forwarded by PeerTrainee. A trainee without them
writes the outputs it always wrote."""

from __future__ import annotations

import csv
import math

import pytest

from autolr.controllers import Fixed
from autolr.loop.history import History
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from autolr.peers.trainee import with_peer
from autolr.running.runner import write_metrics
from tests.toy import ToyTrainee


class Hooked(ToyTrainee):
    """A toy trainee with every hook: its extra metric is the validation loss times 10,
    and, from the third evaluation on, a second one."""

    def __init__(self) -> None:
        super().__init__()
        self.budgets: list[int] = []
        self.evaluations = 0

    def set_budget(self, budget_steps: int) -> None:
        self.budgets.append(budget_steps)

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        loss, metric = super().evaluate(split)
        if split == "val":
            self.evaluations += 1
            self.last = loss
        return loss, metric

    def extra_metrics(self) -> dict[str, float]:
        extra = {"ten": 10 * self.last}
        if self.evaluations >= 3:
            extra["late"] = float(self.evaluations)
        return extra

    def summary_extras(self, history: History) -> dict[str, object]:
        return {"evaluations": len(history.evals["step"])}


def session(trainee, budget: int = 40) -> Session:
    return Session(trainee, Fixed(Segment.constant(0.05, 10).schedule), budget, 10, eval_every=10)


def test_the_session_tells_the_budget_and_records_the_extras(tmp_path):
    trainee = Hooked()
    s = session(trainee)
    assert trainee.budgets == [40]
    s.run()
    h = s.history
    assert h.evals["step"] == [0, 10, 20, 30, 40]
    assert h.extras["ten"] == pytest.approx([10 * v for v in h.evals["val_loss"]])
    late = h.extras["late"]  # a name that first came at the third evaluation: NaN before
    assert all(math.isnan(v) for v in late[:2]) and late[2:] == [3.0, 4.0, 5.0]
    write_metrics(h, tmp_path / "metrics.csv")
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "step",
        "charged",
        "lr",
        "train_loss",
        "val_loss",
        "val_metric",
        "ten",
        "late",
    ]
    assert rows[1][0] == "0" and float(rows[1][6]) == h.extras["ten"][0] and rows[1][7] == "nan"
    assert rows[21][0] == "20" and float(rows[21][7]) == 3.0 and rows[22][6:] == ["", ""]


def test_extras_survive_a_checkpoint():
    s = session(Hooked())
    s.run()
    again = History()
    again.load_state_dict(s.history.state_dict())
    assert again.extras["ten"] == s.history.extras["ten"]
    old = s.history.state_dict()
    del old["extras"]  # a checkpoint from before extras
    again.load_state_dict(old)
    assert again.extras == {}


def test_a_trainee_without_hooks_writes_what_it_always_wrote(tmp_path):
    s = session(ToyTrainee())
    s.run()
    assert s.history.extras == {} and s.trainee.summary_extras(s.history) == {}
    write_metrics(s.history, tmp_path / "metrics.csv")
    with open(tmp_path / "metrics.csv") as fh:
        head = next(csv.reader(fh))
    assert head == ["step", "charged", "lr", "train_loss", "val_loss", "val_metric"]


def test_a_peer_forwards_the_hooks():
    inner = Hooked()
    peer = with_peer(inner, {"name": "schedulefree-adamw"}, 40)
    s = session(peer)
    assert inner.budgets == [40]
    s.run()
    assert s.history.extras["ten"][-1] == pytest.approx(10 * s.history.evals["val_loss"][-1])
    assert peer.summary_extras(s.history) == {"evaluations": 5}


def test_summary_extras_may_not_replace_a_summary_key():
    from autolr.running.config import validate
    from autolr.running.runner import summarize

    class Clashing(Hooked):
        def summary_extras(self, history: History) -> dict[str, object]:
            return {"seed": 7}

    s = session(Clashing(), budget=10)
    s.run()
    with pytest.raises(ValueError, match="seed"):
        summarize(s, validate({"task": {"name": "toy"}}))

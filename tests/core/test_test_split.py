"""The test split: evaluated once, at the end of a run, and never seen by a controller."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

import autolr
from autolr.controllers import Fixed
from autolr.loop.history import History
from autolr.loop.segment import Segment
from autolr.loop.session import Session
from tests.toy import ToyTrainee


class Counting(ToyTrainee):
    """A toy trainee that logs every evaluation: (split, how many turns had begun)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.calls: list[tuple[str, int]] = []
        self.turns = 0

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        self.calls.append((split, self.turns))
        return super().evaluate(split)


class Recording(Fixed):
    """A constant LR that keeps every state it is shown and probes with validation."""

    def __init__(self, trainee: Counting) -> None:
        super().__init__(Segment.constant(0.05, 10).schedule)
        self.trainee = trainee
        self.seen: list[dict[str, object]] = []

    def propose(self, state, probe):
        self.trainee.turns += 1
        self.seen.append(dataclasses.asdict(state))
        result = probe.run(0.01, 2, validate=True)  # a probe's evaluation is validation
        assert result.val_metric is not None
        return super().propose(state, probe)

    def observe(self, state):
        self.seen.append(dataclasses.asdict(state))


def test_the_test_split_is_evaluated_once_after_the_last_turn():
    trainee = Counting()
    controller = Recording(trainee)
    session = Session(trainee, controller, budget_steps=60, interval=10, eval_every=20)
    session.run()
    tests = [(i, call) for i, call in enumerate(trainee.calls) if call[0] == "test"]
    assert len(tests) == 1
    index, (_, turns) = tests[0]
    assert index == len(trainee.calls) - 1  # the very last evaluation of the run ...
    assert turns == trainee.turns  # ... after the controller's last turn
    assert sum(split == "val" for split, _ in trainee.calls) > 5  # evaluations, probes
    # the numbers are the final model's, on the test data (not the validation data)
    test_loss, test_metric = trainee.evaluate("test")
    assert session.history.test == {
        "step": session.step,
        "charged": session.ledger.charged,
        "test_loss": test_loss,
        "test_metric": test_metric,
    }
    assert test_metric != session.state.val_metric
    # no state a controller saw carries a test number, under any name
    assert controller.seen and all("test" not in key for s in controller.seen for key in s)
    values = {v for s in controller.seen for v in s.values() if isinstance(v, float)}
    assert not values & {test_loss, test_metric}
    session.finish()  # finishing again (a resumed, finished run) evaluates nothing
    assert sum(split == "test" for split, _ in trainee.calls) == 2  # ours above, the run's


def test_the_test_numbers_survive_a_checkpoint():
    session = Session(ToyTrainee(), Fixed(Segment.constant(0.05, 10).schedule), 30, 10)
    session.run()
    history = History()
    history.load_state_dict(session.state_dict()["history"])
    assert history.test == session.history.test and history.test is not None
    old = session.state_dict()["history"]
    del old["test"]  # a checkpoint from before test splits
    history.load_state_dict(old)
    assert history.test is None


def test_summary_has_test_metrics_sizes_and_checksum(tmp_path):
    config = {"task": {"name": "toy"}, "budget_steps": 40, "interval": 10, "seed": 1}
    result = autolr.run(config, out=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    test = result.history.test
    assert summary["final_test_metric"] == test["test_metric"] == -test["test_loss"]
    assert summary["final_test_loss"] == test["test_loss"] > 0
    assert summary["final_val_metric"] is not None
    # the toy trainee has no split sizes nor checksum: the keys are there, empty
    assert summary["val_size"] is summary["test_size"] is summary["size_unit"] is None
    assert summary["data_sha256"] is None


def test_a_trainee_without_a_test_split_still_runs():
    class Legacy(ToyTrainee):
        def evaluate(self) -> tuple[float, float]:  # written before test splits
            return super().evaluate()

    session = Session(Legacy(), Fixed(Segment.constant(0.05, 10).schedule), 30, 10)
    session.run()
    assert session.history.test is None
    assert math.isfinite(session.state.val_metric)


def test_a_bad_split_is_named():
    with pytest.raises(ValueError, match=r"split.*'train'"):
        ToyTrainee().evaluate("train")

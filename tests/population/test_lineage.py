"""A population's accounts from its members' logs (autolr.population.lineage), on
hand-written logs: every step charged, repeats included, and spread over lineage steps."""

import json

import numpy as np
import pytest

from autolr.population.lineage import Accounts


def stretch(trial, start, end, lr, metric, charged=None, seconds=1.0, ended=None):
    return {
        "kind": "train",
        "trial": trial,
        "time": end,
        "start": start,
        "end": end,
        "charged": end - start if charged is None else charged,
        "seconds": seconds,
        "lr": lr,
        "val_metric": metric,
        "ended": ended,
    }


def write(folder, lines):
    for line in lines:
        with open(folder / f"{line['trial']}.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")


@pytest.fixture
def accounts(tmp_path):
    # a diverges at step 7; at the sync step 50 it copies b's checkpoint and trains 50..100;
    # b pauses and resumes from its own checkpoint (no exploit)
    write(
        tmp_path,
        [
            stretch("a", 0, 7, 4.0, float("nan"), ended="diverged at step 7"),
            stretch("b", 0, 50, 0.5, 0.2),
            {"kind": "restore", "trial": "a", "from": "b", "time": 50, "step": 50},
            {"kind": "restore", "trial": "b", "from": "b", "time": 50, "step": 50},
            stretch("a", 50, 100, 0.6, 0.05),
            stretch("b", 50, 100, 0.5, 0.08),
        ],
    )
    return Accounts.read(tmp_path)


def test_every_step_of_every_member_is_charged(accounts):
    assert accounts.charged == 7 + 50 + 50 + 50
    assert accounts.seconds == 4.0
    assert [(r["trial"], r["from"]) for r in accounts.exploits] == [("a", "b")]
    members = accounts.members()
    assert members["a"] == {
        "charged": 57,
        "exploits": 1,
        "step": 100,
        "lr": 0.6,
        "val_metric": 0.05,
        "ended": None,
    }
    assert (members["b"]["charged"], members["b"]["exploits"]) == (100, 0)


def test_charged_at_a_lineage_step_spreads_each_stretch_over_its_kept_steps(accounts):
    got = accounts.charged_at([0, 7, 25, 50, 75, 100])
    # a's 7 steps by step 7; b's 50 spread over 0..50; then two stretches over 50..100
    assert got == pytest.approx([0, 14, 32, 57, 107, 157])
    assert accounts.seconds_at([50, 100]) == pytest.approx([2.0, 4.0])


def test_a_stretch_trained_again_after_a_restore_is_charged_twice(tmp_path):
    # asynchronous PBT: c restores d's checkpoint at step 50 after reaching 100 itself
    write(
        tmp_path,
        [
            stretch("c", 0, 100, 1.0, 0.3),
            stretch("d", 0, 50, 0.5, 0.1),
            {"kind": "restore", "trial": "c", "from": "d", "time": 50, "step": 50},
            stretch("c", 50, 100, 0.4, 0.05),
        ],
    )
    acc = Accounts.read(tmp_path)
    assert acc.charged == 200
    assert acc.charged_at(np.array([50.0, 100.0])) == pytest.approx([100.0, 200.0])

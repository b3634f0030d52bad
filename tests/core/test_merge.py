"""Checkpoint merging (run key ``merge``): weights by hand, the merged parameters against a
hand-computed average, the WSD equivalence, rollbacks, BatchNorm, resume and the config."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import autolr
from autolr.controllers import Fixed
from autolr.loop import batchnorm
from autolr.loop.merge import Merger, merge_weights
from autolr.loop.session import Session
from autolr.loop.trainee import TaskInfo, Trainee, check_split
from autolr.running.runner import build_session, load_config
from tests.peers.bn import BatchNormTrainee
from tests.resume import whole_and_resumed
from tests.toy import ToyTrainee

ROOT = Path(__file__).resolve().parents[2]

# ---- the weights ---------------------------------------------------------------------------


def test_weights_by_hand() -> None:
    r2, r3 = math.sqrt(0.5), math.sqrt(0.75)
    # sqrt: w_i = 1 - sqrt((i-1)/4) = 1, 1 - 1/2, 1 - sqrt(1/2), 1 - sqrt(3/4)
    np.testing.assert_allclose(
        merge_weights("sqrt", 4), [0.0, 0.5, r2 - 0.5, r3 - r2, 1 - r3], rtol=1e-15, atol=1e-16
    )
    np.testing.assert_allclose(merge_weights("linear", 4), [0, 0.25, 0.25, 0.25, 0.25], atol=1e-16)
    # cosine: w = 1, (1 + cos(pi/4))/2, 1/2, (1 + cos(3pi/4))/2
    a = (1 - math.cos(math.pi / 4)) / 2
    np.testing.assert_allclose(merge_weights("cosine", 4), [0, a, 0.5 - a, 0.5 - a, a], atol=1e-15)
    np.testing.assert_allclose(merge_weights("mean", 3), [0.25] * 4, rtol=1e-15)
    # ema with beta = 1/2 (also the default for k = 3: 1 - 2/(k+1)): 1/8, 1/8, 1/4, 1/2
    np.testing.assert_allclose(merge_weights("ema", 3, 0.5), [0.125, 0.125, 0.25, 0.5])
    np.testing.assert_allclose(merge_weights("ema", 3), [0.125, 0.125, 0.25, 0.5])
    np.testing.assert_allclose(
        merge_weights("ema", 2, 0.9), [0.81, 0.1 * 0.9, 0.1], rtol=1e-14
    )  # the EMA theta <- 0.9 theta + 0.1 theta_j from theta_0
    assert merge_weights("sqrt", 1).tolist() == [0.0, 1.0]  # one block: the final model


@pytest.mark.parametrize("kind", ["sqrt", "linear", "cosine"])
def test_the_decay_that_the_weights_emulate_is_the_shape_at_each_blocks_start(kind: str) -> None:
    k = 7
    c = merge_weights(kind, k)
    w = np.cumsum(c[::-1])[::-1][1:]  # w_i = sum_{j >= i} c_j, i = 1..k
    p = np.arange(k) / k
    f = {"sqrt": 1 - np.sqrt(p), "linear": 1 - p, "cosine": (1 + np.cos(np.pi * p)) / 2}[kind]
    np.testing.assert_allclose(w, f, rtol=1e-13, atol=1e-15)
    assert c.sum() == pytest.approx(1.0, abs=1e-15) and (c >= 0).all()


def test_window_positions_from_budget_window_frac_and_every() -> None:
    model = torch.nn.Linear(2, 1)
    m = Merger({"window_frac": 0.2, "weights": "sqrt", "every": 5}, 100, model)
    assert (m.k, m.window, m.positions) == (4, 20, [85, 90, 95, 100])  # c_0 = 0: 80 dropped
    m = Merger({"window_frac": 0.2, "weights": "mean", "every": 6}, 100, model)
    assert (m.k, m.window, m.positions) == (3, 18, [82, 88, 94, 100])
    assert m.weights == [0.25] * 4
    # a window that starts at step 0 takes the model as given at once
    m = Merger({"window_frac": 1.0, "weights": "mean", "every": 5}, 10, model)
    assert m.positions == [0, 5, 10] and m.taken == 1


# ---- the merged parameters -------------------------------------------------------------------


def _recording_session(merge: dict[str, Any], budget: int = 40, **kw: Any):
    """A toy session stepped one kept step per turn, recording the parameters at each."""
    trainee = ToyTrainee(seed=3)
    session = Session(
        trainee, Fixed({"name": "constant", "lr": 0.05}), budget, 1, merge=merge, **kw
    )
    seen = {0: [p.detach().double().clone() for p in trainee.model.parameters()]}

    def record(s: Session) -> None:
        seen[s.step] = [p.detach().double().clone() for p in s.trainee.model.parameters()]

    session.callbacks.append(record)
    return session, seen


@pytest.mark.parametrize(
    "merge",
    [
        {"window_frac": 0.5, "weights": "sqrt", "every": 4},
        {"window_frac": 0.25, "weights": "mean", "every": 2},
        {"window_frac": 0.3, "weights": "ema", "every": 3, "ema_decay": 0.7},
        {"window_frac": 0.2, "weights": "linear", "every": 1},
    ],
    ids=lambda m: m["weights"],
)
def test_merged_parameters_equal_the_hand_computed_average(merge: dict[str, Any]) -> None:
    session, seen = _recording_session(merge)
    session.run()
    m = session.merge
    k, every = m.k, merge["every"]
    c = merge_weights(merge["weights"], k, merge.get("ema_decay"))
    steps = [40 - (k - j) * every for j in range(k + 1)]
    expected = [sum(cj * seen[s][i] for cj, s in zip(c, steps, strict=True)) for i in range(4)]
    merged = list(m.merged().values())
    assert m.taken == len(m.positions) == int((c > 0).sum())
    for got, want in zip(merged, expected, strict=True):
        torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-7)


def test_the_final_evaluation_is_of_the_merged_model_and_training_resumes_untouched() -> None:
    session, seen = _recording_session({"window_frac": 0.5, "weights": "sqrt", "every": 4})
    session.run()
    trainee = session.trainee
    # the training model is back, exactly as it ended
    for p, q in zip(trainee.model.parameters(), seen[40], strict=True):
        assert torch.equal(p.detach().double(), q)
    training_val, training_test = trainee.evaluate(), trainee.evaluate("test")
    report = session.merge.report
    assert (report["val_loss"], report["val_metric"]) == training_val
    assert (report["test_loss"], report["test_metric"]) == training_test
    # the last evaluation row, the state and history.test are the merged model's
    with torch.no_grad():
        for p, v in zip(trainee.model.parameters(), session.merge.merged().values(), strict=True):
            p.copy_(v)
    merged_val, merged_test = trainee.evaluate(), trainee.evaluate("test")
    last = session.history.last_eval
    assert last["step"] == 40 and (last["val_loss"], last["val_metric"]) == merged_val
    assert session.state.val_metric == merged_val[1]
    test = session.history.test
    assert (test["test_loss"], test["test_metric"]) == merged_test
    assert merged_val != training_val
    # the evaluations during the run were of the training model (the toy evaluates every 20)
    assert session.history.evals["step"] == [0, 20, 40]


class LinearLoss(Trainee):
    """loss(theta; batch i) = theta . x_i: its gradient x_i does not depend on theta, so a
    merge of a constant-LR SGD run is exactly the run with the emulated decay."""

    info = TaskInfo("linear-loss", "synthetic", 50, 1, 0, "neg", "max", 0.0, 0.1, "sgd")
    uses_global_rng = False

    def __init__(self) -> None:
        self.model = torch.nn.Linear(6, 1, bias=False, dtype=torch.float64)
        torch.nn.init.zeros_(self.model.weight)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.device, self.seed = torch.device("cpu"), 0

    def batch(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.random.default_rng([7, i]).normal(size=(1, 6)))

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).sum() + 100.0  # positive: no divergence rule in play

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        check_split(split)
        value = float(self.model.weight.detach().sum())
        return value, -value


@pytest.mark.parametrize("kind", ["sqrt", "linear", "cosine"])
def test_a_merge_of_constant_lr_sgd_is_the_wsd_run_of_the_same_shape(kind: str) -> None:
    merged = Session(
        LinearLoss(), Fixed({"name": "wsm", "lr": 0.01}), 50, 10, merge={"weights": kind}
    )
    merged.run()
    wsd = Session(
        LinearLoss(),
        Fixed({"name": "wsd", "lr": 0.01, "total_steps": 50, "warmup_steps": 0,
               "decay_steps": 10, "decay": kind}),
        50,
        10,
    )  # fmt: skip
    wsd.run()
    assert merged.merge.window == 10
    want = wsd.trainee.model.weight.detach()
    torch.testing.assert_close(merged.merge.merged()["weight"], want, rtol=1e-12, atol=1e-14)


# ---- rollbacks -------------------------------------------------------------------------------


def test_a_rollback_restores_the_merge_as_well() -> None:
    """A spike at step 85 diverges and is rolled back (the LR is then capped at 0.1, so the
    retry trains at 0.1; the 5 lost steps are charged, so the run keeps 95): the merge
    equals that of a clean run with 0.1 at step 85, after its first 95 steps."""

    def session(values: list[float]) -> Session:
        ctrl = Fixed({"name": "piecewise", "boundaries": [85, 86], "values": values})
        return Session(
            ToyTrainee(seed=2),
            ctrl,
            100,
            5,
            rescue=True,
            rollback_lr_factor=0.01,
            merge={"window_frac": 0.3, "weights": "sqrt"},
        )

    spiked = session([0.05, 1e6, 0.05])
    with pytest.warns(RuntimeWarning, match="above max_lr"):
        while spiked.turn():
            pass
    clean = session([0.05, 0.1, 0.05])
    while clean.step < 95:
        clean.turn()
    assert spiked.rollbacks == 1 and clean.rollbacks == 0 and spiked.halted is None
    assert spiked.step == clean.step == 95 and spiked.ledger.lost == 5
    assert spiked.history.step_array("lr").tolist() == clean.history.step_array("lr").tolist()
    assert spiked.merge.taken == clean.merge.taken == 25  # checkpoints 71 ... 95
    for (n, a), (_, b) in zip(spiked.merge.buffer.items(), clean.merge.buffer.items(), strict=True):
        assert torch.equal(a, b), n


# ---- BatchNorm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bn_batches", [3, 0])
def test_batchnorm_statistics_are_reestimated_for_the_merged_model(bn_batches: int) -> None:
    trainee = BatchNormTrainee(seed=1)
    session = Session(
        trainee,
        Fixed({"name": "constant", "lr": 0.05}),
        60,
        10,
        merge={"window_frac": 0.5, "weights": "mean", "every": 5, "bn_batches": bn_batches},
    )
    session.run()
    trained = {k: v.clone() for k, v in trainee.model.state_dict().items()}
    merged_val = session.history.last_eval["val_metric"]
    assert session.merge.report["bn_passes"] == bn_batches
    # by hand: the merged parameters, then (if any) BatchNorm statistics averaged over
    # training batches 0..n-1 at those parameters
    with torch.no_grad():
        for name, value in session.merge.merged().items():
            trainee.model.get_parameter(name).copy_(value)
    if bn_batches:
        bn = trainee.model[1]
        bn.reset_running_stats()
        with torch.no_grad():
            hidden = [trainee.model[0](trainee.batch(i)[0]) for i in range(bn_batches)]
        bn.running_mean.copy_(torch.stack([h.mean(0) for h in hidden]).mean(0))
        bn.running_var.copy_(torch.stack([h.var(0) for h in hidden]).mean(0))
    assert trainee.evaluate()[1] == pytest.approx(merged_val, rel=1e-5)
    # and the training model's statistics were put back after the merged evaluation
    trainee.model.load_state_dict(trained)
    assert session.merge.report["val_metric"] == trainee.evaluate()[1]
    assert batchnorm.batchnorm_layers(trainee.model)


# ---- resume --------------------------------------------------------------------------------


@pytest.mark.parametrize("turns", [2, 10, 12])  # before the window, inside it, at its end
def test_a_merging_session_resumes_bit_identically_from_a_saved_checkpoint(turns: int) -> None:
    def fresh() -> Session:
        return Session(
            ToyTrainee(seed=5),
            Fixed({"name": "wsm", "lr": 0.05, "warmup_steps": 10}),
            120,
            10,
            eval_every=30,
            merge={"window_frac": 0.25, "weights": "sqrt", "every": 3},
        )

    full, resumed = whole_and_resumed(fresh, turns)
    assert resumed.history.step_array("train_loss").tolist() == (
        full.history.step_array("train_loss").tolist()
    )
    assert resumed.history.evals["val_metric"] == full.history.evals["val_metric"]
    assert resumed.history.test == full.history.test
    assert resumed.merge.report == full.merge.report
    for a, b in zip(resumed.merge.buffer.values(), full.merge.buffer.values(), strict=True):
        assert torch.equal(a, b)
    # a finished run finishes again at the same step without evaluating anything twice
    before = (list(full.history.evals["val_metric"]), dict(full.history.test))
    full.finish()
    assert (full.history.evals["val_metric"], full.history.test) == before


def test_sigkill_inside_the_window_then_resume_gives_the_uninterrupted_run(tmp_path) -> None:
    """tests/core/test_kill_resume.py's pattern: a real ``autolr run``, killed right after
    its first checkpoint (step 40, two merge checkpoints in), resumed with ``--resume``."""
    cfg = {
        "task": {"name": "nqm"},
        "controller": {"name": "fixed", "schedule": {"name": "wsm", "lr": 0.05}},
        "merge": {"window_frac": 0.9, "weights": "sqrt", "every": 5},
        "budget_steps": 300,
        "interval": 20,
        "eval_every": 50,
        "seed": 11,
        "checkpoint_every": 40,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    full = tmp_path / "full"
    autolr.run(cfg, out=full)
    cut, mark = tmp_path / "cut", tmp_path / "killpoint"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOLR_TEST_KILLPOINT": str(mark)}
    cmd = [sys.executable, "-m", "tests.killpoint", "run", str(path), "--out", str(cut), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), f"the run never reached a mid-run checkpoint (exit {proc.poll()})"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    state = torch.load(cut / "checkpoint.pt", weights_only=True)
    assert state["ledger"]["kept"] == int(mark.read_text()) == 40
    assert state["merge"]["taken"] == 2 and state["merge"]["buffer"]  # steps 35 and 40
    resume = [sys.executable, "-m", "autolr.cli", "run", str(path), "--out", str(cut)]
    done = subprocess.run(
        [*resume, "--resume", "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (cut / "metrics.csv").read_text() == (full / "metrics.csv").read_text()
    a = json.loads((full / "summary.json").read_text())
    b = json.loads((cut / "summary.json").read_text())
    timeless = {"wall_time_s", "time_to_target_s", "provenance", "controller_stats"}
    assert {k: v for k, v in a.items() if k not in timeless} == {
        k: v for k, v in b.items() if k not in timeless
    }
    assert (
        a["merge"]["checkpoints"] == 54 and a["final_val_metric"] != a["unmerged_final_val_metric"]
    )


# ---- the run key -----------------------------------------------------------------------------

BASE = {
    "task": {"name": "toy"},
    "controller": {"name": "fixed", "schedule": {"name": "wsm", "lr": 0.05, "warmup_steps": 5}},
    "budget_steps": 60,
    "interval": 10,
}


def test_a_run_reports_the_merged_and_the_unmerged_model(tmp_path) -> None:
    result = autolr.run({**BASE, "merge": {"window_frac": 0.5, "every": 5}}, out=tmp_path / "r")
    s = result.summary
    report = result.session.merge.report
    assert s["final_val_metric"] == result.history.last_eval["val_metric"]
    assert s["unmerged_final_val_metric"] == report["val_metric"] != s["final_val_metric"]
    assert s["unmerged_final_test_loss"] == report["test_loss"] != s["final_test_loss"]
    assert s["final_test_metric"] == result.history.test["test_metric"]
    assert s["merge"] == {
        "weights": "sqrt",
        "window_frac": 0.5,
        "every": 5,
        "ema_decay": None,
        "window_steps": 30,
        "first_step": 35,
        "checkpoints": 6,
        "planned": 6,
        "bn_passes": 0,
    }
    assert "merge:" in (tmp_path / "r" / "config.yaml").read_text()
    plain = autolr.run({**BASE, "controller": None}, out=tmp_path / "plain").summary
    assert "merge" not in plain and "unmerged_final_val_metric" not in plain
    assert "merge" not in load_config({"task": {"name": "toy"}}).model_dump()


@pytest.mark.parametrize(
    ("merge", "message"),
    [
        ({"window_frac": 0}, "config: merge.window_frac must be in (0.0, 1.0], got 0"),
        ({"window_frac": 1.5}, "config: merge.window_frac must be in (0.0, 1.0], got 1.5"),
        (
            {"weights": "sqr"},
            "config: merge.weights must be one of sqrt, linear, cosine, mean, ema",
        ),
        ({"every": 0}, "config: merge.every must be an integer >= 1, got 0"),
        ({"ema_decay": 0.9}, "config: merge.ema_decay must be given only with weights: ema"),
        ({"weights": "ema", "ema_decay": 1.0}, "config: merge.ema_decay must be in (0.0, 1.0)"),
        ({"bn_batches": -1}, "config: merge.bn_batches must be an integer >= 0, got -1"),
        (
            {"windowfrac": 0.2},
            "config: merge: unknown key 'windowfrac' (did you mean 'window_frac'",
        ),
        ("sqrt", "config: merge must be a mapping"),
    ],
)
def test_bad_merge_parameters_are_refused_naming_the_key(merge: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        load_config({**BASE, "merge": merge})
    assert str(err.value).startswith(message), str(err.value)


def test_merge_errors_that_need_the_budget_or_the_trainee() -> None:
    cfg = load_config({**BASE, "merge": {"window_frac": 0.05, "every": 10}})
    with pytest.raises(ValueError, match=r"^config: merge.every must be <= the merge window, 3 "):
        build_session(cfg)
    with pytest.raises(ValueError, match=r"^config: schedule 'wsm' merges checkpoints"):
        load_config(BASE)
    peer = {"task": {"name": "toy"}, "optimizer": {"name": "schedulefree-sgd"}, "merge": {}}
    with pytest.raises(ValueError, match=r"merge cannot be combined with optimizer"):
        build_session(load_config(peer))

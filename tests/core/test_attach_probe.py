"""``autolr.attach`` with probes: a ``train_step`` closure, every probe step charged to
``budget_steps``, everything undone bit-identically, and ``auto`` choosing as in a Session."""

import math

import numpy as np
import pytest
import torch

import autolr
from autolr.controllers.base import build_controller
from autolr.loop.closure import ClosureTrainee
from autolr.loop.closure_probe import ClosureProbe
from autolr.loop.session import Session


class Regression:
    """y = x @ w + noise; a linear model (with BatchNorm when ``bn``), the user's own step.

    ``step(batch)`` is one whole training step; ``train_step()`` does it on the next batch of
    its own stream (``calls`` counts them); ``full_step()`` on the whole data set."""

    def __init__(self, optimizer: str = "sgd", bn: bool = False, seed: int = 0) -> None:
        torch.manual_seed(seed)
        layers: list[torch.nn.Module] = [torch.nn.Linear(8, 1)]
        if bn:
            layers = [torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)]
        self.model = torch.nn.Sequential(*layers)
        params = self.model.parameters()
        if optimizer == "adam":
            self.opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=0.01)
        else:
            self.opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        rng = np.random.default_rng(seed)
        self.x = torch.from_numpy(rng.normal(size=(128, 8))).float()
        w = torch.from_numpy(rng.normal(size=(8, 1))).float()
        self.y = self.x @ w + 0.1 * torch.from_numpy(rng.normal(size=(128, 1))).float()
        self.calls = 0
        self.lrs_seen: list[float] = []

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.random.default_rng([7, i]).integers(0, 128, size=16)
        return self.x[rows], self.y[rows]

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        self.lrs_seen.append(self.opt.param_groups[0]["lr"])
        self.opt.zero_grad()
        loss = torch.nn.functional.mse_loss(self.model(batch[0]), batch[1])
        loss.backward()
        self.opt.step()
        return loss.item()

    def train_step(self) -> float:
        self.calls += 1
        return self.step(self.batch(10_000 + self.calls))

    def full_step(self, _batch: object = None) -> float:
        self.calls += 1
        return self.step((self.x, self.y))


def _state(r: Regression) -> dict[str, object]:
    """Everything a probe must put back, cloned."""
    return {
        "model": {k: v.clone() for k, v in r.model.state_dict().items()},
        "params": [p.detach().clone() for p in r.model.parameters()],
        "opt": {
            i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
            for i, s in r.opt.state_dict()["state"].items()
        },
        "groups": [
            {k: v for k, v in g.items() if k != "params"}
            for g in r.opt.state_dict()["param_groups"]
        ],
        "rng": torch.get_rng_state(),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert all(torch.equal(p, q) for p, q in zip(a["params"], b["params"], strict=True))
    assert a["opt"].keys() == b["opt"].keys() and a["opt"]
    for i in a["opt"]:
        for k, v in a["opt"][i].items():
            w = b["opt"][i][k]
            assert torch.equal(v, w) if torch.is_tensor(v) else v == w, (i, k)
    assert a["groups"] == b["groups"]
    assert torch.equal(a["rng"], b["rng"])


def _cosine() -> dict[str, object]:
    return {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.05, "total_steps": 100}}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_probe_restores_everything_and_charges_its_steps(optimizer):
    r = Regression(optimizer, bn=True)
    handle = autolr.attach(
        r.opt, _cosine(), interval=10, budget_steps=100, train_step=r.train_step, model=r.model
    )
    assert isinstance(handle.probe, ClosureProbe)
    for i in range(13):  # into the second segment: momenta, moments, BatchNorm stats exist
        handle.step(r.step(r.batch(i)))
    before, lr_next = _state(r), r.opt.param_groups[0]["lr"]
    assert lr_next == pytest.approx(0.025 * (1 + math.cos(math.pi * 13 / 100)))
    r.lrs_seen.clear()
    res = handle.probe.run(0.02, 7)
    assert res.steps == 7 and not res.diverged and res.val_loss is None
    assert res.losses.shape == (7,) and np.all(np.isfinite(res.losses))
    assert r.calls == 7 and r.lrs_seen == [0.02] * 7  # the probe's LR, through train_step
    _assert_same(before, _state(r))
    assert r.opt.param_groups[0]["lr"] == lr_next and handle.lr == lr_next
    assert (handle.ledger.probe, handle.ledger.kept) == (7, 10)
    assert (handle.step_count, handle.charged, handle.remaining) == (13, 20, 80)


def test_the_kept_run_after_a_probe_is_bit_identical_to_one_without():
    finals = []
    for probe in (False, True):
        r = Regression("adam")
        handle = autolr.attach(r.opt, _cosine(), interval=6, train_step=r.train_step)
        for i in range(20):
            if probe and i in (3, 12):
                handle.probe.run(0.1, 5)
            handle.step(r.step(r.batch(i)))
        finals.append([p.detach().clone() for p in r.model.parameters()])
        assert handle.ledger.probe == (10 if probe else 0) and handle.step_count == 20
    assert all(torch.equal(p, q) for p, q in zip(*finals, strict=True))


def test_a_probe_stops_at_a_nan_loss_and_still_restores():
    r = Regression("sgd")
    handle = autolr.attach(r.opt, _cosine(), interval=10, budget_steps=50, train_step=r.train_step)
    for i in range(4):
        handle.step(r.step(r.batch(i)))

    def poisoned() -> float:
        loss = r.train_step()
        if r.calls == 3:
            with torch.no_grad():
                for p in r.model.parameters():
                    p.fill_(math.nan)
            return math.nan
        return loss

    handle.probe.train_step = poisoned
    before = _state(r)
    res = handle.probe.run(0.05, 10)
    assert res.diverged and res.steps == 3 and math.isnan(res.losses[-1])
    assert np.all(np.isfinite(res.losses[:2]))
    _assert_same(before, _state(r))
    assert handle.ledger.probe == 3 and handle.charged == 7


def test_auto_in_a_users_loop_spends_exactly_the_budget():
    r = Regression("sgd")
    spec = {"name": "auto", "coarse_frac": 0.02, "fine_at": 0.3, "fine_frac": 0.03}
    handle = autolr.attach(r.opt, spec, interval=10, budget_steps=300, train_step=r.train_step)
    ctrl, ledger = handle.controller, handle.ledger
    assert ctrl.budget == 300 and ledger.probe == ctrl.probe_steps == 6 * len(ctrl.coarse["lrs"])
    assert r.calls == ledger.probe and handle.charged == ledger.probe and not handle.done
    kept_lrs = []
    i = 0
    while not handle.done:
        kept_lrs.append(handle.lr)
        handle.step(r.step(r.batch(i)))
        i += 1
    assert handle.charged == ledger.charged == 300 and handle.remaining == 0
    assert ledger.probe == ctrl.probe_steps == r.calls > 0
    assert handle.step_count == ledger.kept == i == 300 - ctrl.probe_steps
    assert len(ctrl.fine["lrs"]) == 3 and ctrl.phase == "decay"
    assert ctrl.probe_steps == 6 * len(ctrl.coarse["lrs"]) + 9 * 3
    # the run: up to the coarse round's peak, then from the fine round's choice (here half
    # of it) a linear decay to zero over the budget left
    lrs = np.asarray(kept_lrs)
    after = int(np.flatnonzero(np.isclose(lrs, ctrl.peak, rtol=1e-9))[-1])  # the decay's start
    assert 0 < after < lrs.size - 100 and lrs.max() >= ctrl.peak
    np.testing.assert_allclose(np.diff(lrs[after:]), -ctrl.peak / (lrs.size - after))


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "auto", "coarse_frac": 0.02, "fine_at": 0.3, "fine_frac": 0.03},
        # the default: the decay starts where the loss stops falling (the plateau test)
        {"name": "auto", "coarse_frac": 0.02},
    ],
    ids=["fine-round", "plateau"],
)
def test_auto_chooses_as_in_a_session_on_full_batch_data(spec):
    # every step on the whole data set: the data stream is the same for a Session's probes
    # (which replay its batches) and for attach's (which spend the user's next ones)
    a = Regression("sgd", seed=1)
    ctrl = build_controller(spec, default_lr=0.01, budget_steps=300)
    trainee = ClosureTrainee(a.model, a.opt, a.full_step, [None], 300)
    session = Session(trainee, ctrl, 300, interval=10, eval_every=0)
    while session.turn():
        pass
    b = Regression("sgd", seed=1)
    handle = autolr.attach(b.opt, spec, interval=10, budget_steps=300, train_step=b.full_step)
    kept_lrs = []
    while not handle.done:
        kept_lrs.append(handle.lr)
        handle.step(b.full_step())
    mine = handle.controller
    assert session.ledger.rollbacks == 0
    rounds = ("coarse", "fine") if "fine_frac" in spec else ("coarse",)
    for round_ in rounds:
        got, want = getattr(mine, round_), getattr(ctrl, round_)
        assert got["lrs"] == want["lrs"] and len(got["lrs"]) >= 3
        np.testing.assert_allclose(got["scores"], want["scores"], rtol=1e-6)
    assert mine.peak == ctrl.peak and mine.probe_steps == ctrl.probe_steps
    assert mine.decay_start == ctrl.decay_start and 0.1 <= ctrl.decay_start <= 0.5
    assert handle.ledger.probe == session.ledger.probe
    assert handle.charged == session.ledger.charged == 300
    np.testing.assert_array_equal(kept_lrs, session.history.steps["lr"])
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_lr_finder_runs_its_range_test_through_the_closure():
    r = Regression("sgd")
    spec = {"name": "lr_finder", "num_steps": 30, "start_lr": 1e-4, "end_lr": 10.0}
    handle = autolr.attach(r.opt, spec, interval=10, budget_steps=100, train_step=r.train_step)
    found = handle.controller.found
    assert found is not None and 0 < handle.ledger.range_test == r.calls <= 30
    assert handle.ledger.probe == 0 and handle.remaining == 100 - handle.ledger.range_test


def test_a_controller_may_be_given_by_name():
    r = Regression("sgd")
    handle = autolr.attach(r.opt, "plateau", interval=5)
    assert handle.controller.name == "plateau" and handle.probe is None and not handle.done


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"budget_steps": 100}, r"controller 'auto' needs probes: pass train_step"),
        ({"train_step": lambda: 0.0}, r"'auto' needs probes, .* pass budget_steps to attach"),
        ({"budget_steps": 100, "train_step": 3}, "train_step must be callable"),
    ],
)
def test_a_probing_controller_needs_train_step_and_budget_steps(kwargs, needle):
    r = Regression("sgd")
    with pytest.raises(ValueError, match=needle):
        autolr.attach(r.opt, "auto", interval=10, **kwargs)
    assert r.calls == 0

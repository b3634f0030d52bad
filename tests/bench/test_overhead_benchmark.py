"""benchmarks/overhead.py --controllers: a controller's share beyond its charged steps."""

import argparse
import math

import torch

from benchmarks.overhead import controller_loop, controller_shares


def test_controller_loop_spends_the_budget(monkeypatch):
    built = []
    import benchmarks.overhead as overhead

    real = overhead.build_session

    def keep(cfg):
        built.append(real(cfg))
        return built[-1]

    monkeypatch.setattr(overhead, "build_session", keep)
    torch.set_num_threads(1)
    cpu, wall = controller_loop({"name": "nqm"}, 0, 120, 20, "auto")
    session = built[0]
    assert session.done and session.ledger.charged == 120
    assert session.ledger.probes > 0  # auto's probes ran, charged
    assert cpu > 0 and wall > 0


def test_controller_shares_measure_fixed_first():
    args = argparse.Namespace(task="nqm", steps=60, interval=20, repeats=1, controllers=["plateau"])
    shares = controller_shares({"name": "nqm"}, args)
    assert list(shares) == ["fixed", "plateau"]
    assert all(math.isfinite(v) and v > -1.0 for v in shares.values())


def test_controller_loop_observes_every_turn(monkeypatch):
    from autolr.controllers.plateau import Plateau

    seen = []
    monkeypatch.setattr(Plateau, "observe", lambda self, state: seen.append(state.step))
    controller_loop({"name": "nqm"}, 0, 100, 20, "plateau")
    assert seen == [20, 40, 60, 80, 100]

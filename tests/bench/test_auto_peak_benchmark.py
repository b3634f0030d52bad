"""benchmarks/auto_peak.py: coarse rounds on a real task, rules on hand-made grids, outcome
curves from a hand-made store."""

import json
import math

import numpy as np
import pytest

from autolr.controllers.auto import vertex
from benchmarks.auto_peak import at, basin, coarse, curves, lowest, main, regrets, rules, shipped
from tests.bench.handmade import put

LRS = [1.0, 4.0, 16.0, 64.0, 256.0]


def test_basin_and_lowest_take_the_candidates_within_delta_of_the_best():
    scores = [5.0, 2.99, 2.98, 2.97, 4.0]  # 4, 16 and 64 within 1% of 2.97
    assert basin(0.01)(LRS, scores) == pytest.approx(16.0)
    assert basin(0.01, 2.0)(LRS, scores) == pytest.approx(8.0)
    assert lowest(0.01)(LRS, scores) == 4.0
    # 0.5%: 2.99 is 0.67% above the best, 2.98 0.34%
    assert lowest(0.005)(LRS, scores) == 16.0
    assert basin(0.005)(LRS, scores) == pytest.approx(32.0)
    # the run stops at a candidate outside the band, even when one past it is inside
    assert lowest(0.01)(LRS, [2.975, 9.0, 2.98, 2.97, 9.0]) == 16.0
    # a diverged neighbour ends it too
    assert lowest(0.5)(LRS, [2.01, math.inf, 2.1, 2.0, 9.0]) == 16.0


def test_the_shipped_rule_is_auto_s_vertex_halved():
    scores = [5.0, 3.0, 2.5, 2.7, 4.0]
    assert shipped(2.0)(LRS, scores) == pytest.approx(vertex(LRS, scores) / 2)
    assert "shipped (vertex/2)" in rules()


def test_the_curve_is_log_linear_and_bounded_by_its_worst():
    curve = (np.array([1.0, 10.0, 100.0]), np.array([0.5, 0.9, 0.7]))
    assert at(curve, math.sqrt(10.0), -1.0) == pytest.approx(0.7)  # halfway in log LR
    assert at(curve, 10.0, -1.0) == pytest.approx(0.9)
    # past the top the last segment goes on (0.2 lower per decade), bounded by the worst 0.5
    assert at(curve, 1000.0, -1.0) == pytest.approx(0.5)
    assert at(curve, 100.0 * math.sqrt(10.0), -1.0) == pytest.approx(0.6)
    # a diverged point counts as the worst finite one
    loss = (np.array([1.0, 10.0, 100.0]), np.array([0.3, 0.1, math.inf]))
    assert at(loss, 100.0, 1.0) == pytest.approx(0.3)


def test_curves_take_the_better_baseline_at_each_peak(store, tmp_path):
    for method, finals in {"wsd": (0.8, 0.9, 0.4), "cosine-warmup": (0.85, 0.7, 0.5)}.items():
        for peak, final in zip((0.1, 0.2, 0.4), finals, strict=True):
            put(store, "t", method, "tune", 1000, final, peak=peak)
    put(store, "t", "step", "tune", 1000, 0.99, peak=0.1)  # not asked for
    put(store, "t", "wsd", "eval", 0, 0.99, peak=0.2)  # not a tuning run
    path = str(store.url).removeprefix("sqlite:///")
    found = curves(path, "s", ["wsd", "cosine-warmup"], {"t": "max"})
    assert list(found["t"][0]) == [0.1, 0.2, 0.4]
    assert list(found["t"][1]) == [0.85, 0.9, 0.5]
    # a round whose rule lands on 0.2 has no regret; one on 0.1 has 0.05
    rounds = [{"task": "t", "lrs": [0.1, 0.2, 0.4], "scores": [2.0, 1.0, 3.0]}]
    out = regrets(rounds, found, {"t": "max"}, {"best": lowest(0.0), "low": lambda a, b: 0.1})
    assert out["best"]["t"] == [pytest.approx(0.0)]
    assert out["low"]["t"] == [pytest.approx(0.05)]


def test_a_coarse_round_on_nqm_reproduces_auto_s_peak(capsys):
    row = coarse("nqm", 1000, lr_mult=0.1)
    # nqm's lr 0.5 x 0.1, five candidates x4 apart; the grid may grow past an edge
    assert pytest.approx([lr for lr in row["lrs"] if 0.05 / 17 < lr < 0.81]) == [
        0.05 / 16,
        0.05 / 4,
        0.05,
        0.2,
        0.8,
    ]
    assert row["task_lr"] == 0.5 and row["lr_mult"] == 0.1
    assert row["peak"] == pytest.approx(shipped(2.0)(row["lrs"], row["scores"]))
    assert main(["collect", "--tasks", "nqm", "--seeds", "1000", "--lr-mults", "1"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["lrs"][:5] == pytest.approx([0.5 / 16, 0.5 / 4, 0.5, 2.0, 8.0])


def test_the_bracket_replay_reads_the_recorded_scores():
    from benchmarks.auto_peak import bracket, bracket_table

    # initial lr 1: the five-point grid 1/16 .. 16 grew to 64; the bracket starts at 1/4,
    # 1, 4 (best 4, the edge), grows to 16 (the best, inside once 64 is read): five probes
    lrs = [1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0]
    scores = [9.0, 8.0, 6.0, 3.0, 2.0, 2.5]
    r = {"task": "t", "task_lr": 1.0, "lr_mult": 1.0, "lrs": lrs, "scores": scores}
    assert bracket(r) == ([1 / 4, 1.0, 4.0, 16.0, 64.0], [8.0, 6.0, 3.0, 2.0, 2.5])
    # a candidate the grid never had: no replay
    down = {**r, "scores": [9.0, 2.0, 6.0, 7.0, 8.0, 9.0]}
    assert bracket(down) == ([1 / 16, 1 / 4, 1.0, 4.0], [9.0, 2.0, 6.0, 7.0])
    edge = {**r, "scores": [1.0, 2.0, 6.0, 7.0, 8.0, 9.0]}  # wants 1/64
    assert bracket(edge) is None
    table = bracket_table([r, down, edge]).splitlines()
    # one task: 2 of 3 replayed, both on the grid's peak; 6 probes on the grid each, 5 and 4
    assert table[-1] == "| t | 2 of 3 | 2 | 6.00 | 4.50 |"


def test_edge_wary_takes_the_neighbour_of_an_edge_best_only_when_it_is_close():
    from benchmarks.auto_peak import edge_wary

    # the top edge best by 0.1% over its neighbour: the neighbour, halved
    assert edge_wary(0.005)(LRS, [5.0, 4.0, 3.5, 3.003, 3.0]) == 32.0
    # by 10%: the edge is trusted (as shipped: the edge itself, halved)
    assert edge_wary(0.005)(LRS, [5.0, 4.0, 3.5, 3.3, 3.0]) == 128.0
    # the bottom edge likewise; a best inside the grid is the shipped vertex
    assert edge_wary(0.005)(LRS, [3.0, 3.001, 3.5, 4.0, 5.0]) == 2.0
    inside = [5.0, 3.0, 2.5, 2.7, 4.0]
    assert edge_wary(0.005)(LRS, inside) == pytest.approx(shipped(2.0)(LRS, inside))

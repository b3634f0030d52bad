"""`auto`: the rounds' choices by hand, every probe charged, the bounds, the shape, resume."""

import math

import numpy as np
import pytest

import autolr
from autolr.controllers import CONTROLLERS, Auto
from autolr.controllers.auto import edge_wary, plateaued, rank_rho, score, vertex
from autolr.controllers.base import build_controller
from autolr.loop.probe import ProbeResult
from autolr.loop.segment import Segment
from autolr.running.runner import build_session, load_config


class FakeProbe:
    """A probe whose loss is (log10 peak - log10 best)^2, the peak being the segment's
    highest LR; LRs above ``blowup`` diverge. Records what it was asked."""

    def __init__(self, best: float, budget: int = 1000, blowup: float = math.inf) -> None:
        self.best, self.remaining, self.blowup = best, budget, blowup
        self.asked: list[tuple[float, int]] = []

    def run(self, segment: Segment, steps: int | None = None, **_: object) -> ProbeResult:
        n = segment.steps if steps is None else steps
        peak = float(segment.lrs().max())
        self.asked.append((peak, n))
        self.remaining -= n
        if peak > self.blowup:
            return ProbeResult(np.full(2, np.inf), 2, True)
        return ProbeResult(np.full(n, math.log10(peak / self.best) ** 2), n, False)


def _state(step=0, charged=0, budget=1000, lr=1.0):
    cfg = load_config({"task": {"name": "toy"}, "budget_steps": budget, "interval": 20})
    return build_session(cfg).state.evolve(step=step, charged=charged, lr=lr)


def test_score_is_the_cooldowns_last_third_and_inf_when_diverged():
    res = ProbeResult(np.array([9.0, 9.0, 9.0, 3.0, 2.0, 1.0, 1.0]), 7, False)
    assert score(res, 6) == pytest.approx(1.0)  # the last 6 // 3 = 2 losses
    assert score(res, 9) == pytest.approx(4.0 / 3.0)  # the last 3
    assert score(ProbeResult(np.array([1.0]), 1, True), 6) == math.inf
    assert score(ProbeResult(np.array([np.nan, np.nan]), 2, False), 6) == math.inf


def test_blowup_counts_a_probe_that_ended_far_above_its_first_loss_as_diverged():
    blew = ProbeResult(np.array([3.0, 2.0, 50.0, 400.0, 400.0, 400.0]), 6, False)
    assert score(blew, 3) == 400.0  # off (None): any finite loss is a score
    assert score(blew, 3, blowup=2.0) == math.inf  # 400 > 2 x 3
    assert score(blew, 3, blowup=200.0) == 400.0  # 400 <= 200 x 3
    fell = ProbeResult(np.array([3.0, 2.0, 1.0]), 3, False)
    assert score(fell, 3, blowup=1.0) == 1.0
    # a first loss that is not positive and finite gives no reference: the score stands
    assert score(ProbeResult(np.array([np.nan, 2.0, 9.0]), 3, False), 3, 2.0) == 9.0
    assert score(ProbeResult(np.array([0.0, 2.0, 9.0]), 3, False), 3, 2.0) == 9.0


def test_blowup_keeps_the_vertex_off_a_blown_up_neighbour():
    # the loss falls with the LR up to 8; at 16 and above a probe blows up to 100x its
    # first loss without diverging: with blowup the best (4, as 16 is out) is not dragged
    # toward the lower neighbour by the parabola through 16
    class Cliff(FakeProbe):
        def run(self, segment, steps=None, **kw):
            res = super().run(segment, steps, **kw)
            peak = self.asked[-1][0]
            losses = np.linspace(3.0, 3.0 - math.log2(peak) / 4 if peak < 10 else 300.0, res.steps)
            return ProbeResult(losses, res.steps, False)

    off = Auto(lr=1.0, budget_steps=1000, shrink=1.0, blowup=None)
    off.propose(_state(), Cliff(best=1.0))
    on = Auto(lr=1.0, budget_steps=1000, shrink=1.0)  # the default, 2
    assert on.blowup == 2.0
    on.propose(_state(), Cliff(best=1.0))
    assert off.coarse["lrs"] == on.coarse["lrs"] == [0.25, 1.0, 4.0, 16.0]
    assert math.isfinite(off.coarse["scores"][-1]) and math.isinf(on.coarse["scores"][-1])
    assert on.peak == 4.0  # next to a diverged point: the best itself
    assert 2.0 <= off.peak < 4.0  # the parabola through 16's 300 pulls it down
    with pytest.raises(ValueError, match="blowup"):
        Auto(lr=1.0, budget_steps=1000, blowup=0.5)


def test_rank_rho_by_hand():
    assert rank_rho([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]) == pytest.approx(1.0)
    assert rank_rho([1.0, 2.0, 3.0], [30.0, 20.0, 10.0]) == pytest.approx(-1.0)
    assert rank_rho([1.0, 2.0, 3.0], [2.0, 1.0, 3.0]) == pytest.approx(0.5)
    assert rank_rho([1.0, 2.0], [1.0, 2.0]) is None
    assert rank_rho([1.0, math.inf, 2.0, 3.0], [1.0, 5.0, 2.0, 3.0]) == pytest.approx(1.0)


def test_vertex_refines_the_best_between_its_neighbours():
    # the parabola through (log 1, 1), (log 4, 0.5), (log 16, 0.9): its vertex, exp(x*)
    x = np.log([1.0, 4.0, 16.0])
    a, b, _ = np.polyfit(x, [1.0, 0.5, 0.9], 2)
    assert vertex([1.0, 4.0, 16.0], [1.0, 0.5, 0.9]) == pytest.approx(math.exp(-b / (2 * a)))
    assert vertex([1.0, 4.0, 16.0], [1.0, 0.5, 1.0]) == pytest.approx(4.0)
    # kept within half a grid step (x2 of a x4 grid), at the edge, beside a divergence
    assert vertex([1.0, 4.0, 16.0], [1.0, 0.5, 0.5000001]) == pytest.approx(8.0)
    assert vertex([1.0, 4.0, 16.0], [0.4, 0.5, 1.0]) == 1.0
    assert vertex([1.0, 4.0, 16.0], [1.0, 0.5, math.inf]) == 4.0
    assert math.isnan(vertex([1.0, 4.0], [math.inf, math.inf]))


def test_coarse_round_grows_at_the_edge_then_fine_round_refines():
    # initial lr 1, the best 10 (the probe's loss is quadratic in log lr): the bracket 1/4,
    # 1, 4 (x4) puts the best at 4, the edge; the grid grows to 16 (the best, again at the
    # edge), then to 64 (worse) and stops; the parabola through 4, 16 and 64 has its vertex
    # at the best, 10; the fine round tries 5, 10, 20 and keeps 10
    ctrl = Auto(lr=1.0, budget_steps=1000, fine_at=0.1, fine_frac=0.02, shrink=1.0)
    probe = FakeProbe(best=10.0)
    seg = ctrl.propose(_state(), probe)
    third = round(0.01 * 1000 / 3)
    coarse = [1 / 4, 1.0, 4.0, 16.0, 64.0]
    assert [p for p, _ in probe.asked] == pytest.approx(coarse)
    assert all(n == 3 * third for _, n in probe.asked)
    assert ctrl.peak == pytest.approx(10.0) and ctrl.phase == "stable"
    # the run: a 20-step warmup (2% of the budget) from peak / 21 to the peak, in segments
    # that end where the fine round is due (100 charged steps)
    assert seg.steps == 20 and seg.lrs()[0] == pytest.approx(10.0 / 21)
    assert seg.lrs()[-1] == pytest.approx(10.0 / 21 + 19 * (10.0 - 10.0 / 21) / 20)
    charged = ctrl.probe_steps
    assert charged == 5 * 3 * third
    seg = ctrl.propose(_state(step=40, charged=40 + charged), probe)
    assert seg.steps == 100 - 40 - charged == 15
    np.testing.assert_allclose(seg.lrs(), 10.0)
    probe.asked.clear()
    seg = ctrl.propose(_state(step=100 - charged, charged=100), probe)
    assert [p for p, _ in probe.asked] == pytest.approx([5.0, 10.0, 20.0])
    assert all(n == 20 for _, n in probe.asked)
    assert ctrl.peak == pytest.approx(10.0) and ctrl.phase == "decay"
    # then a linear decay to zero over the budget left, from the fine round's choice
    left = probe.remaining
    assert seg.lrs()[0] == pytest.approx(10.0)
    assert seg.lrs()[1] == pytest.approx(10.0 * (1 - 1 / left))
    stats = ctrl.stats()
    assert stats["peak_lr"] == pytest.approx(10.0) and stats["coarse_lr"] == pytest.approx(16.0)
    assert stats["probe_steps"] == charged + 60
    assert stats["probe_fraction"] == pytest.approx((charged + 60) / 1000)
    # (the coarse scores at 5 and 20 tie to rounding: interpolate from the stored values)
    at = np.log(ctrl.fine["lrs"])
    interp = np.interp(at, np.log(ctrl.coarse["lrs"]), ctrl.coarse["scores"])
    assert stats["rank_rho"] == rank_rho(list(interp), ctrl.fine["scores"])


def test_an_initial_lr_ten_times_off_either_way_finds_the_peak():
    # lr0 0.1: the bracket 0.025, 0.1, 0.4 has its best at the edge 0.4; it grows to 1.6,
    # then 6.4 (worse); lr0 10: the edge 2.5, then 0.625, then 0.156 (worse); either way the
    # vertex between the neighbours is the best, 1, and the fine round keeps it
    for lr0 in (0.1, 10.0):
        ctrl = Auto(lr=lr0, budget_steps=1000, fine_frac=0.02, shrink=1.0)
        probe = FakeProbe(best=1.0)
        ctrl.propose(_state(lr=lr0), probe)
        assert ctrl.peak == pytest.approx(1.0) and len(ctrl.coarse["lrs"]) == 5
        ctrl.propose(_state(step=200, charged=200), probe)
        assert ctrl.peak == pytest.approx(1.0)


def test_by_default_the_run_is_at_half_the_coarse_best_and_there_is_no_fine_round():
    ctrl = Auto(lr=1.0, budget_steps=1000)
    probe = FakeProbe(best=10.0)
    ctrl.propose(_state(), probe)
    # the vertex, 10, halved
    assert ctrl.peak == pytest.approx(5.0) and ctrl.stats()["coarse_lr"] == pytest.approx(16.0)
    asked = len(probe.asked)
    # (no losses observed: no plateau, so the decay starts at decay_max, half the budget)
    seg = ctrl.propose(_state(step=446, charged=500), probe)
    assert len(probe.asked) == asked and ctrl.phase == "decay"
    assert seg.lrs()[0] == pytest.approx(5.0) and ctrl.stats()["rank_rho"] is None
    assert ctrl.stats()["decay_start"] == 0.5


def test_plateaued_compares_the_last_two_windows():
    falling = np.linspace(2.0, 1.0, 100)
    assert plateaued(falling, 50, 2.0) is False
    # equal means: no drop at all; a rise is no drop either
    assert plateaued(np.tile([1.0, 1.2], 50), 50, 2.0) is True
    assert plateaued(falling[::-1], 50, 2.0) is True
    # a drop of 0.1 with per-step sd 0.1 over windows of 50: z = 0.1 / sqrt(2 * 0.01 / 50) = 5
    noisy = np.concatenate([np.tile([1.1, 1.3], 25), np.tile([1.0, 1.2], 25)])
    assert plateaued(noisy, 50, 4.9) is False and plateaued(noisy, 50, 5.1) is True
    assert plateaued(falling[:99], 50, 2.0) is None
    assert plateaued(np.r_[falling[:-1], np.nan], 50, 2.0) is None


def _feed(ctrl, probe, losses_of, start, stop, interval=20):
    """Propose and observe segments from charged step ``start`` until the decay starts or
    ``stop``; ``losses_of(k)`` gives the train losses of kept steps k, k+1, ... Returns the
    charged step at which the decay started (None if not) and the segments' lengths."""
    charged, lengths = start, []
    kept = charged - ctrl.probe_steps
    while charged < stop:
        seg = ctrl.propose(_state(step=kept, charged=charged), probe)
        if ctrl.phase == "decay":
            return charged, lengths
        lengths.append(seg.steps)
        losses = losses_of(np.arange(kept, kept + seg.steps))
        ctrl.observe(
            _state(step=kept + seg.steps, charged=charged + seg.steps).evolve(losses=losses)
        )
        charged, kept = charged + seg.steps, kept + seg.steps
    return None, lengths


def test_the_decay_starts_when_the_loss_stops_falling():
    probe = FakeProbe(best=10.0)
    # a loss that is flat (alternating 1.0, 1.2) from the start: the plateau test holds as
    # soon as it may: the first segment boundary past decay_min (15% of the budget, 150
    # charged steps) after the 54 probe steps
    flat = Auto(lr=1.0, budget_steps=1000)
    flat.propose(_state(), probe)
    start = flat.probe_steps
    at, _ = _feed(flat, probe, lambda k: 1.0 + 0.2 * (k % 2), start, 1000)
    assert start == 45 and at == 165 and flat.stats()["decay_start"] == pytest.approx(0.165)
    assert len(flat.recent) == 100  # two windows of 5% of the budget
    # a loss that keeps falling: held at the peak until decay_max, the segments cut there
    falling = Auto(lr=1.0, budget_steps=1000)
    falling.propose(_state(), FakeProbe(best=10.0))
    at, lengths = _feed(falling, probe, lambda k: 2.0 - 1e-3 * k + 0.01 * (k % 2), start, 1000)
    assert at == 500 and falling.stats()["decay_start"] == 0.5
    assert sum(lengths) == 500 - start and lengths[-1] == (500 - start) % 20
    seg = falling.propose(_state(step=500 - start, charged=500), probe)
    assert seg.lrs()[0] == pytest.approx(5.0) and seg.lrs()[1] < 5.0
    # a fixed start (fine_at) ignores the losses
    fixed = Auto(lr=1.0, budget_steps=1000, fine_at=0.3)
    fixed.propose(_state(), FakeProbe(best=10.0))
    at, _ = _feed(fixed, probe, lambda k: 1.0 + 0.2 * (k % 2), start, 1000)
    assert at == 300 and fixed.recent == []


def test_rolled_back_losses_never_reach_the_plateau_test():
    ctrl = Auto(lr=1.0, budget_steps=1000)
    probe = FakeProbe(best=10.0)
    ctrl.propose(_state(), probe)
    ctrl.observe(_state(step=20, charged=80).evolve(losses=np.ones(20)))
    ctrl.observe(_state(step=20, charged=100).evolve(rolled_back=True, losses=np.ones(20)))
    assert ctrl.recent == [1.0] * 20 and ctrl.rollbacks == 1


@pytest.mark.parametrize(
    ("best", "asked", "peak"),
    [
        # down three times: 1/4 is the edge, then 1/16, then 1/64 (the best, inside once
        # 1/256 scores worse)
        (0.01, [1 / 4, 1.0, 4.0, 1 / 16, 1 / 64, 1 / 256], None),
        # the best out of reach: three more candidates and no further (x1/256 is the edge)
        (1e-5, [1 / 4, 1.0, 4.0, 1 / 16, 1 / 64, 1 / 256], 1 / 256),
        # the best inside the bracket: no growth
        (1.2, [1 / 4, 1.0, 4.0], None),
    ],
)
def test_the_bracket_grows_while_the_best_is_at_its_edge(best, asked, peak):
    ctrl = Auto(lr=1.0, budget_steps=1000, shrink=1.0)
    probe = FakeProbe(best=best)
    ctrl.propose(_state(), probe)
    assert [p for p, _ in probe.asked] == pytest.approx(asked)
    assert ctrl.coarse["lrs"] == pytest.approx(sorted(asked))
    assert ctrl.probe_steps == len(asked) * 3 * round(0.01 * 1000 / 3)
    if peak is not None:  # at the edge: the edge itself, not the vertex
        assert ctrl.peak == pytest.approx(peak)
    else:  # inside: the vertex between the best's neighbours, within half a step of it
        i = int(np.argmin(ctrl.coarse["scores"]))
        assert 0 < i < len(asked) - 1
        assert ctrl.coarse["lrs"][i] / 2 <= ctrl.peak <= ctrl.coarse["lrs"][i] * 2


def test_edge_tol_distrusts_an_edge_best_by_a_hair():
    lrs = [1.0, 4.0, 16.0, 64.0, 256.0]
    flat = [5.0, 4.0, 3.5, 3.003, 3.0]  # the top edge wins by 0.1%
    assert edge_wary(lrs, flat, None) == vertex(lrs, flat) == 256.0  # off: the edge
    assert edge_wary(lrs, flat, 0.005) == 64.0
    assert edge_wary(lrs, flat, 0.0005) == 256.0  # 0.1% is more than 0.05%
    assert edge_wary(lrs, [3.0, 3.001, 3.5, 4.0, 5.0], 0.005) == 4.0  # the bottom edge
    inside = [5.0, 3.0, 2.5, 2.7, 4.0]
    assert edge_wary(lrs, inside, 0.5) == vertex(lrs, inside)

    # in the controller: a probe whose loss falls with the LR up to 10 and is flat above it
    # (but for a 0.01% tilt toward the top): the bracket grows to its reach, x256, whose
    # edge wins by a hair; with edge_tol (the default) the run takes the neighbour, 64
    class Flat(FakeProbe):
        def run(self, segment, steps=None, **kw):
            res = super().run(segment, steps, **kw)
            peak = self.asked[-1][0]
            tilt = 1e-4 if peak >= 10 else 1e-2  # below 10 the loss falls with the LR
            level = (1.0 if peak >= 10 else 2.0) - tilt * math.log(peak)
            return ProbeResult(np.full(res.steps, level), res.steps, False)

    off = Auto(lr=1.0, budget_steps=1000, shrink=1.0, edge_tol=None)
    off.propose(_state(), Flat(best=1.0))
    on = Auto(lr=1.0, budget_steps=1000, shrink=1.0)  # the default, 0.005
    assert on.edge_tol == 0.005
    on.propose(_state(), Flat(best=1.0))
    assert off.coarse["lrs"] == on.coarse["lrs"] and max(on.coarse["lrs"]) == 256.0
    assert off.peak == 256.0 and on.peak == 64.0
    with pytest.raises(ValueError, match="edge_tol"):
        Auto(lr=1.0, budget_steps=1000, edge_tol=-0.1)


def test_the_earlier_grid_is_an_option():
    # five candidates x1/16 .. x16, grown by at most two: the versions before 2026-12-03
    ctrl = Auto(lr=1.0, budget_steps=1000, candidates=5, extend=2)
    probe = FakeProbe(best=10.0)
    ctrl.propose(_state(), probe)
    assert [p for p, _ in probe.asked] == pytest.approx([1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0])


def test_diverged_candidates_are_never_chosen():
    ctrl = Auto(lr=1.0, budget_steps=1000)
    probe = FakeProbe(best=100.0, blowup=2.0)  # everything above 2 diverges
    ctrl.propose(_state(), probe)
    assert ctrl.peak == pytest.approx(0.5)  # the best that did not diverge, 1, halved
    assert math.isinf(ctrl.coarse["scores"][-1])


def test_rollbacks_halve_the_peak_three_times_then_the_guard_is_off():
    ctrl = Auto(lr=1.0, budget_steps=1000)
    probe = FakeProbe(best=10.0)
    ctrl.propose(_state(), probe)
    assert ctrl.peak == pytest.approx(5.0)
    rolled = _state(step=40, charged=100).evolve(rolled_back=True)
    for n in range(1, 6):
        ctrl.observe(rolled)
        assert ctrl.rollbacks == n and ctrl.peak == pytest.approx(5.0 / 2 ** min(n, 3))
        seg = ctrl.propose(_state(step=40, charged=100), probe)
        assert seg.undo == (0.5 if n < 3 else None)
    assert seg.lrs()[0] == pytest.approx(5.0 / 8)


def test_candidates_stay_within_the_bounds():
    ctrl = Auto(lr=1.0, budget_steps=1000, min_lr=0.2, max_lr=3.0, fine_frac=0.02, shrink=1)
    probe = FakeProbe(best=10.0)
    ctrl.propose(_state(), probe)
    ctrl.propose(_state(step=200, charged=200), probe)
    assert all(0.2 <= p <= 3.0 for p, _ in probe.asked)
    assert ctrl.peak == pytest.approx(3.0)


def _config(**params):
    return {
        "task": {"name": "toy"},
        "controller": {"name": "auto", "coarse_frac": 0.02, "fine_at": 0.3, **params},
        "budget_steps": 300,
        "interval": 20,
        "seed": 3,
    }


def test_every_probe_is_charged_in_a_real_run():
    result = autolr.run(_config(fine_frac=0.03))
    ctrl, ledger, s = result.session.controller, result.session.ledger, result.summary
    assert ledger.probe == ctrl.probe_steps > 0 and ledger.range_test == 0
    assert s["steps_charged"] == 300
    assert s["steps_probed"] == ctrl.probe_steps
    assert s["steps_trained"] == 300 - ctrl.probe_steps - s["steps_lost"]
    assert s["controller_stats"]["probe_steps"] == ctrl.probe_steps
    # coarse: 5 (or more) candidates of 3 * 2 steps; fine: 3 of 9
    assert ctrl.probe_steps == 6 * len(ctrl.coarse["lrs"]) + 9 * len(ctrl.fine["lrs"])
    # the last kept steps decay linearly to the task's min_lr
    lrs = np.asarray(result.history.steps["lr"])
    after = probe_end = len(lrs) - (300 - 90 - ctrl.probe_steps + 6 * len(ctrl.coarse["lrs"]))
    assert lrs[after] == pytest.approx(ctrl.peak) and probe_end > 0
    np.testing.assert_allclose(np.diff(lrs[after:]), -ctrl.peak / (len(lrs) - after))


def test_the_run_respects_the_sessions_bounds():
    cfg = _config()
    cfg.update(min_lr=0.01, max_lr=0.08)
    result = autolr.run(cfg)
    ctrl = result.session.controller
    assert (ctrl.min_lr, ctrl.max_lr) == (0.01, 0.08)
    assert all(0.01 <= lr <= 0.08 for lr in ctrl.coarse["lrs"] + ctrl.fine["lrs"])
    lrs = np.asarray(result.history.steps["lr"])
    assert lrs.max() <= 0.08 and lrs.min() >= 0.01


def test_state_dict_resumes_mid_search():
    cfg = load_config(_config())
    a = build_session(cfg)
    a.turn()  # the coarse round and the first segment
    saved = a.controller.state_dict()
    assert a.controller.phase == "stable"
    fresh = build_controller(dict(cfg.controller), default_lr=0.05, budget_steps=300)
    fresh.load_state_dict(saved)
    state = a.state
    np.testing.assert_array_equal(
        fresh.propose(state, a.probe).lrs(), a.controller.propose(state, a.probe).lrs()
    )
    assert fresh.stats() == a.controller.stats()


def test_a_state_from_the_earlier_version_is_refused_naming_the_keys():
    saved = Auto(lr=1.0, budget_steps=1000).state_dict()
    del saved["recent"], saved["decay_start"]
    with pytest.raises(ValueError, match="lacks recent, decay_start: it was written by an earlier"):
        Auto(lr=1.0, budget_steps=1000).load_state_dict(saved)


def test_defaults_and_registration():
    ctrl = build_controller({"name": "auto"}, default_lr=0.1, budget_steps=1000)
    assert CONTROLLERS.get("auto") is Auto and ctrl.needs_probe and not Auto.peer
    assert (ctrl.lr, ctrl.budget, ctrl.candidates, ctrl.spread) == (0.1, 1000, 3, 4.0)
    assert ctrl.extend == 3
    assert ctrl.stats()["peak_lr"] is None


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"candidates": 4}, "candidates must be odd"),
        ({"candidates": 1}, "candidates must be an integer >= 3"),
        ({"spread": 1.0}, "spread"),
        ({"fine_at": 1.0}, "fine_at"),
        ({"decay_min": 0.6}, r"decay_min \(0.6\) must be <= decay_max \(0.5\)"),
        ({"decay_max": 1.0}, "decay_max"),
        ({"plateau_window": 0.0}, "plateau_window"),
        ({"coarse_frac": 0.0}, "coarse_frac"),
        ({"min_lr": 2.0, "max_lr": 1.0}, r"min_lr \(2.0\) must be <= max_lr \(1.0\)"),
        ({"peak": 1.0}, "unknown parameter .peak. for controller .auto."),
    ],
)
def test_bad_params_fail_naming_them(params, needle):
    with pytest.raises(ValueError, match=needle):
        build_controller({"name": "auto", **params}, default_lr=0.1, budget_steps=100)


def test_catch_divergence_rolls_back_and_halves_instead_of_ending_the_run():
    from autolr.controllers.auto import MAX_HALVINGS
    from autolr.loop.session import Session
    from tests.toy import ToyTrainee

    def run(**kw):
        ctrl = Auto(budget_steps=400, **kw)
        s = Session(ToyTrainee(seed=0, nan_at=100), ctrl, 400, 20)
        s.run()
        return s, ctrl

    # batch 100 is NaN at any LR: off, the run ends there
    plain, off = run(catch_divergence=False)
    assert plain.halted == "diverged at step 101 (non-finite loss)" and plain.rollbacks == 0
    # on (the default since 2026-12-03): rolled back and the peak halved each time, charged,
    # until MAX_HALVINGS, after which it no longer catches and the run ends on the same batch
    caught, on = run()
    assert on.catch_divergence is True
    assert on.rollbacks == caught.rollbacks == MAX_HALVINGS
    assert on.peak == pytest.approx(off.peak / 2**MAX_HALVINGS)
    assert caught.halted == "diverged at step 101 (non-finite loss)"
    assert caught.ledger.lost > 0 and caught.ledger.charged == caught.ledger.kept + (
        caught.ledger.lost + caught.ledger.probes
    )
    with pytest.raises(ValueError, match="catch_divergence"):
        Auto(catch_divergence=1)

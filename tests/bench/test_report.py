"""The report (issue #13): the summary that opens it, the untuned-default and peer tracks,
and terminal tables that fit 100 columns, on a hand-made results store."""

import io
import math

import numpy as np
import pytest
from rich.console import Console
from scipy import stats as sps

from autolr.bench import ResultsStore
from autolr.bench.analysis import analyse
from autolr.bench.readme import report_table
from autolr.bench.report import print_tables, write_report
from autolr.bench.standings import summarise, verdict
from autolr.bench.stats import welch_ci
from autolr.bench.tables import (
    compute_table,
    standings_table,
    summary_lines,
    task_table,
    winners_table,
)
from autolr.bench.views import compute_inclusive, profiles, replay_comparisons
from tests.bench.handmade import FINALS, fill, put


@pytest.fixture
def store(tmp_path):
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.db'}")
    fill(s)
    yield s
    s.close()


def welch(a, b):
    """Welch's interval by hand: (mean a - mean b, t_{0.975, df} · se)."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return np.mean(a) - np.mean(b), sps.t.ppf(0.975, df) * math.sqrt(va + vb)


def test_welch_ci_by_hand_and_its_edge_cases():
    a, b = [0.9, 0.95, 0.91, 0.97], [0.8, 0.9]
    diff, half = welch_ci(a, b)
    assert (diff, half) == pytest.approx(welch(a, b))
    assert welch_ci([1.0, 1.0], [0.5, 0.5]) == (0.5, 0.0)  # no spread: a zero-width interval
    assert math.isnan(welch_ci([1.0], [0.5, 0.6])[1])  # one seed: no interval
    assert math.isnan(welch_ci([math.nan], [0.5])[0])  # no finite value: no difference
    assert welch_ci([1.0, math.nan, 2.0], [0.0, 1.0])[0] == 1.0  # non-finite left out


def test_verdict_follows_the_direction():
    assert verdict(0.1, 0.05, sign=1) == "better" and verdict(0.1, 0.05, sign=-1) == "worse"
    assert verdict(0.1, 0.2, sign=1) == "tied" and verdict(-0.1, 0.05, sign=1) == "worse"
    assert verdict(0.1, math.nan, sign=1) == "no CI"


def test_default_and_peer_rows_have_their_names_and_no_tuning_cost(store):
    (rep,) = analyse(store, "s")
    _head, rows = task_table(rep)
    tracks = {r[0].removesuffix(" *"): r[1] for r in rows}
    assert tracks["constant"] == "tuned" and tracks["constant-default"] == "untuned default"
    assert tracks["prodigy"] == tracks["lr_finder"] == "peer"
    assert tracks["plateau"] == "self-tuning" and tracks["plateau-replay"] == "replay"
    # the table lists tuned baselines, then defaults, peers, and controllers with replays
    order = [r[0].removesuffix(" *") for r in rows]
    assert order[:3] == ["constant", "cosine-warmup", "constant-default"]
    assert order[-3:] == ["hypergradient", "plateau", "plateau-replay"]
    compute = {c.method: c for c in compute_inclusive(rep)}
    # 2 peaks x 2 tuning seeds x 100 steps for each tuned baseline; nothing for the rest
    assert compute["constant"].tuning == 400 and compute["constant"].total == 500
    for method in ("constant-default", "prodigy", "lr_finder", "schedule-free-adamw"):
        assert compute[method].tuning == 0
    assert compute["prodigy"].total == 100 and compute["prodigy"].ratio == pytest.approx(0.2)
    assert "plateau-replay" not in compute
    _, table = compute_table([rep])
    assert ["t", "constant-default", "untuned default", "0", "∞", "∞", "∞"] in table
    assert ["t", "prodigy", "peer", "0", "100", "100", "0.2"] in table
    assert set(profiles([rep])) == {m for m, t in FINALS if t != "replay"}
    # lr_finder is a peer (a controller practitioners pick): even with a replay stored, the
    # replay ablation stays with the self-tuning controllers
    for seed in (0, 1, 2):
        put(store, "t", "lr_finder-replay", "replay", seed, 0.8)
    (rep,) = analyse(store, "s")
    assert [c.closed.method for c in replay_comparisons([rep])] == ["plateau"]


def test_a_failed_peer_or_default_cell_keeps_its_track(store):
    for method, track in (("dog", "peer"), ("cosine-default", "default")):
        key = f"t/{method}/{track}/0"
        cell = {"key": key, "suite": "s", "task": "t", "method": method, "track": track}
        assert store.claim({**cell, "seed": 0, "peak_lr": None, "config": {}})
        assert store.fail(key, "Traceback (most recent call last):\nValueError: nope")
    (rep,) = analyse(store, "s")
    assert (rep.rows["dog"].track, rep.rows["dog"].failed) == ("peer", 1)
    assert rep.rows["cosine-default"].track == "default"
    _, rows = task_table(rep)
    assert next(r[:3] for r in rows if r[0] == "dog") == ["dog", "peer", "0 (+1 failed)"]


def test_summary_names_the_winner_and_where_each_controller_stands(store):
    (rep,) = analyse(store, "s")
    s = summarise(rep)
    # plateau 0.93 ± 0.025 and prodigy 0.92 ± 0.025: their intervals overlap
    assert (s.winner.method, s.runner_up.method, s.tied) == ("plateau", "prodigy", True)
    assert [r.method for r in s.ranked][:3] == ["plateau", "prodigy", "constant"]
    assert "plateau-replay" not in [r.method for r in s.ranked]
    assert list(s.standings) == ["hypergradient", "plateau"]  # controllers only
    plateau = {c.reference: c for c in s.standings["plateau"]}
    # references: the best tuned baseline (the target's), the best default, the best peer
    assert {k: c.method for k, c in plateau.items()} == {
        "tuned": "constant",
        "default": "constant-default",
        "peer": "prodigy",
    }
    diff, half = welch(FINALS[("plateau", "self")], FINALS[("constant", "eval")])
    assert (plateau["tuned"].diff, plateau["tuned"].ci) == pytest.approx((diff, half))
    assert plateau["tuned"].verdict == "better"  # +0.04 ± 0.023
    assert plateau["peer"].verdict == "tied"  # +0.01 ± 0.023
    assert {c.verdict for c in s.standings["hypergradient"]} == {"worse", "better"}
    _head, rows = winners_table([s])
    assert rows == [
        [
            "t",
            "test accuracy (higher is better)",
            "plateau 0.93 ± 0.025",
            "prodigy 0.92 ± 0.025",
            "tied within CIs",
        ]
    ]
    lines = summary_lines([rep])
    assert lines[1:4] == [
        "t (test accuracy, higher is better)",
        "  winner: plateau 0.93 ± 0.025, tied within CIs with prodigy 0.92 ± 0.025",
        "  controller − reference: tuned = constant, default = constant-default, peer = prodigy",
    ]
    assert lines[5] == (
        "  plateau        tuned +0.04 ± 0.023 better; default +0.32 ± 0.023 better; "
        "peer +0.01 ± 0.023 tied"
    )


def test_summary_respects_a_lower_is_better_metric(tmp_path):
    s = ResultsStore(f"sqlite:///{tmp_path / 'min.db'}")
    for seed, final in ((100, 3.0), (101, 3.2)):
        put(s, "lm", "constant", "tune", seed, final, peak=0.1, mode="min", metric="bpb")
    finals = {("constant", "eval"): (3.0, 3.1, 3.05), ("auto", "self"): (2.5, 2.6, 2.55)}
    for (method, track), per_seed in finals.items():
        for seed, final in enumerate(per_seed):
            put(s, "lm", method, track, seed, final, mode="min", metric="bpb")
    (sm,) = [summarise(rep) for rep in analyse(s, "s")]
    s.close()
    # the lower mean wins, clear of the runner-up's interval; a lower mean is "better"
    assert (sm.winner.method, sm.runner_up.method, sm.tied) == ("auto", "constant", False)
    (c,) = sm.standings["auto"]
    assert (c.reference, c.diff, c.verdict) == ("tuned", pytest.approx(-0.5), "better")
    assert winners_table([sm])[1][0][-1] == "ahead beyond CIs"
    # no default nor peer in this suite: no column for them
    assert standings_table([sm])[0] == ["task", "controller", "vs best tuned baseline"]


def test_report_opens_with_the_summary_and_the_compute_inclusive_view(store, tmp_path, capsys):
    path = write_report(store, "s", tmp_path, console=True, plain=True)
    text = path.read_text()
    order = ["## Summary", "## Compute-inclusive view", "## How to read the tables", "## t\n"]
    at = [text.index(h) for h in order]
    assert at == sorted(at) and text.index("## Across tasks") > at[-1]
    assert "| t | plateau | constant: +0.04 ± 0.023 better |" in text
    assert "![t curves](curves_t.png)" in text and "[detail_t.png](detail_t.png)" in text
    for name in ("curves_t.png", "detail_t.png", "profiles.png"):
        assert (tmp_path / name).stat().st_size > 0
    # the README's quickstart table is still the first task's table, not the summary's
    assert report_table(text).startswith("| method | track | seeds | final accuracy (test")
    # on the terminal: the tables, then the summary at the end
    out = capsys.readouterr().out
    assert out.index("compute-inclusive: charged steps") < out.index("Summary: final metric")
    assert out.rstrip().endswith("peer +0.01 ± 0.023 tied")


def test_terminal_tables_fit_100_columns(store):
    for method, track in (("hypergradient", "self"), ("cosine-warmup", "tune")):
        key = f"t/{method}/{track}/9"
        cell = {"key": key, "suite": "s", "task": "t", "method": method, "track": track}
        assert store.claim({**cell, "seed": 9, "peak_lr": 0.3, "config": {}})
        store.fail(key, "RuntimeError: loss is nan at step 40")
    reports = analyse(store, "s")
    con = Console(width=100, record=True, file=io.StringIO())
    print_tables(reports, plain=False, console=con)
    text = con.export_text()
    lines = text.splitlines()
    assert "┃" in text and max(len(line) for line in lines) <= 100
    assert "…" not in text  # no column cut short
    # every method's label whole on one line, in the task's table and the compute view
    for method in {m for m, _ in FINALS}:
        assert sum(f"│ {method} " in line for line in lines) >= 1, method
    assert any("│ t    │ constant-default    │ default │" in line for line in lines)
    assert "loss is nan at step 40" in text  # the failed cells, with their reasons

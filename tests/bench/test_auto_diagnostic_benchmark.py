"""benchmarks/auto_diagnostic.py: auto's coarse ranking against its candidates' outcomes."""

import json
import math

from autolr.running.runner import run
from benchmarks.auto_diagnostic import VERSION, diagnose, main, stage_outcome


def test_own_stage_is_the_run_autolr_run_makes(tmp_path):
    own = stage_outcome("nqm", 0)
    cfg = {"task": {"name": "nqm"}, "seed": 0, "controller": dict(VERSION)}
    summary = run(cfg, out=tmp_path / "run").summary
    assert own["final_val_metric"] == summary["final_val_metric"]  # bit for bit
    assert own["peak"] == own["own_peak"] == summary["controller_stats"]["peak_lr"]


def test_the_run_observes_every_turn(monkeypatch):
    # the controller sees each segment's outcome (a rollback halves auto's peak there)
    from autolr.controllers.auto import Auto

    seen = []
    monkeypatch.setattr(Auto, "observe", lambda self, state: seen.append(state.step))
    stage_outcome("nqm", 0)
    assert len(seen) >= 19 and seen == sorted(seen)  # (1000 - probes) / 50 turns, in order


def test_a_candidate_peak_replaces_the_peak_and_keeps_the_probes():
    own = stage_outcome("nqm", 0)
    other = stage_outcome("nqm", 0, peak=own["lrs"][1])
    assert other["lrs"] == own["lrs"] and other["scores"] == own["scores"]
    assert other["peak"] == own["lrs"][1] and other["probe_steps"] == own["probe_steps"]
    assert other["final_val_metric"] != own["final_val_metric"]


def test_diagnose_on_nqm(capsys):
    out = diagnose("nqm", 0)
    assert len(out["outcomes"]) == len(out["lrs"]) == len(out["scores"])
    assert out["rank_rho"] is None or -1.0 <= out["rank_rho"] <= 1.0
    finite = [v for v in out["outcomes"] if math.isfinite(v)]
    assert out["best_candidate_outcome"] == min(finite)  # nqm: a loss, lower is better
    assert out["regret"] == out["auto_outcome"] - out["best_candidate_outcome"]
    assert main(["--tasks", "nqm", "--seeds", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["lrs"] == out["lrs"]


def test_between_inserts_geometric_midpoints():
    from benchmarks.auto_diagnostic import between

    assert between([1.0, 4.0, 16.0], 1) == [1.0, 4.0, 16.0]
    got = between([1.0, 4.0, 16.0], 2)
    assert [round(x, 12) for x in got] == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_per_step_runs_the_peaks_between_the_candidates():
    one = diagnose("nqm", 0)
    two = diagnose("nqm", 0, per_step=2)
    assert len(two["peaks"]) == 2 * len(one["lrs"]) - 1
    # the candidates' own runs are the same runs, bit for bit
    assert two["peak_outcomes"][::2] == one["outcomes"] == two["outcomes"]
    finite = [v for v in two["peak_outcomes"] if math.isfinite(v)]
    assert two["peak_outcomes"][two["peaks"].index(two["best_peak"])] == min(finite)

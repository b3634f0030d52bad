"""benchmarks/auto_decay.py: `auto`'s decay start, fixed against the plateau test."""

import json

import pytest

from autolr.running.runner import run
from benchmarks.auto_decay import main, run_one, table


def test_a_row_is_the_run_autolr_run_makes(tmp_path):
    row = run_one("nqm", 0, None)
    # the grid the study pins (auto's before 2026-12-03), the decay's start auto's own
    ctrl = {"name": "auto", "candidates": 5, "extend": 2}
    cfg = {"task": {"name": "nqm"}, "seed": 0, "threads": 1, "controller": ctrl}
    summary = run(cfg, out=tmp_path / "run").summary
    assert row["final_val_metric"] == summary["final_val_metric"]  # bit for bit
    assert row["decay_start"] == summary["controller_stats"]["decay_start"]
    assert 0.15 <= row["decay_start"] <= 0.5


def test_a_fixed_start_changes_only_the_shape():
    fixed, online = run_one("nqm", 0, 0.8), run_one("nqm", 0, None)
    assert fixed["decay_start"] == 0.8
    # the same probes and the same peak: only the decay's start differs
    assert (fixed["peak"], fixed["probe_steps"]) == (online["peak"], online["probe_steps"])
    assert fixed["final_val_metric"] != online["final_val_metric"]


def test_main_prints_a_line_per_run_and_the_table(capsys):
    assert main(["--tasks", "powerlaw", "--seeds", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in out[:4]]
    assert [r["fine_at"] for r in rows] == [0.1, 0.5, 0.8, None]
    assert out[4].startswith("| task | seed | from 0.1 |") and out[-1].startswith(
        "| powerlaw | 0 |"
    )
    assert table(rows).splitlines()[-1] == out[-1]


def test_bad_workers_fail_naming_them(capsys):
    with pytest.raises(SystemExit):
        main(["--workers", "0"])
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err


def test_the_initial_lr_multiplier_moves_the_grid_and_the_window_losses_are_finite():
    row = run_one("nqm", 0, None, 0.1)
    assert row["lr_mult"] == 0.1 and "lr_mult" not in run_one("nqm", 0, None)
    # nqm's lr 0.5 x 0.1: the grid 0.05 x (1/16 .. 16) crowns 0.8; after the vertex and the
    # halving the peak is below 0.8 / 2 + a half grid step
    assert 0.05 / 16 <= row["peak"] <= 0.8
    # a run that learns: its loss before the decay is below what the best probe reached
    assert 0 < row["decay_window_loss"] < row["coarse_best_score"]


def test_starts_plateau_runs_the_test_alone(capsys):
    assert main(["--tasks", "powerlaw", "--seeds", "0", "--starts", "plateau"]) == 0
    out = capsys.readouterr().out.splitlines()
    (row,) = [json.loads(line) for line in out if line.startswith("{")]
    assert row["fine_at"] is None and out[-3] == "| task | seed | plateau (start) |"
    assert out[-1] == f"| powerlaw | 0 | {row['final_val_metric']:.4g} ({row['decay_start']:.2f}) |"
    with pytest.raises(SystemExit):
        main(["--lr-mult", "0"])
    assert "--lr-mult must be > 0, got 0.0" in capsys.readouterr().err

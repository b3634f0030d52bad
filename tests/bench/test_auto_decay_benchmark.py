"""benchmarks/auto_decay.py: `auto`'s decay start, fixed against the plateau test."""

import json

import pytest

from autolr.running.runner import run
from benchmarks.auto_decay import main, run_one, table


def test_a_row_is_the_run_autolr_run_makes(tmp_path):
    row = run_one("nqm", 0, None)
    cfg = {"task": {"name": "nqm"}, "seed": 0, "threads": 1, "controller": {"name": "auto"}}
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

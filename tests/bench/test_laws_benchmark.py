"""benchmarks/laws.py at a tiny budget: its runs, fits, tables and its reuse of runs."""

import json

import pytest

from autolr.laws import load
from benchmarks.laws import HELD_OUT, main, schedules


def test_schedules_are_the_documented_protocol():
    s = schedules(0.1, 1000)
    assert s["two-stage"][0]["milestones"] == [650]  # the drop at 70% (after a 50-step warmup)
    assert s["wsd"][0]["decay_steps"] == 200 and s["step"][0]["step_size"] == 340
    assert s["cosine-2x"] == (
        {"name": "cosine", "lr": 0.1, "total_steps": 2000, "warmup_steps": 100},
        2000,
    )
    assert all(spec.get("lr", spec.get("max_lr")) == 0.1 for spec, _ in s.values())


def test_tiny_run(tmp_path, capsys):
    out = tmp_path / "laws"
    args = ["--tasks", "toy", "--budget", "60", "--seeds", "0", "1", "--out", str(out)]
    assert main([*args, "--peaks", "toy:cosine-warmup=0.05", "toy:wsd=0.1"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "laws.json").read_text())
    t = report["tasks"]["toy"]
    assert t["peaks"]["cosine-warmup"] == 0.05 and t["peaks"]["wsd_from"] == "argument"
    for form in ("mpl", "tissue"):
        f = t["forms"][form]
        assert list(f["schedules"]) == ["constant", "cosine", "two-stage", *HELD_OUT]
        assert -1.0 <= f["spearman_heldout"] <= 1.0 and -1.0 <= f["spearman_all"] <= 1.0
        assert load(out / f"toy-{form}.json").form.name == form
        assert (out / f"toy-{form}.png").stat().st_size > 0
    rows = t["optimal"]["rows"]
    assert list(rows) == ["law-optimal (mpl)", "cosine (tuned)", "wsd (tuned)"]
    assert rows["wsd (tuned)"]["peak"] == 0.1 and rows["cosine (tuned)"]["peak"] == 0.05
    assert t["optimal"]["spec"]["name"] == "piecewise_linear"
    assert max(t["optimal"]["spec"]["values"]) == pytest.approx(0.05)
    cached = sorted(p.name for p in (out / "runs").iterdir())
    assert len(cached) == 2 * (8 + 1 + 1)  # 8 schedules, the tuned WSD, the optimum; 2 seeds
    assert "| toy | law-optimal (mpl) | 0.05 |" in printed
    # a rerun reuses every cached run
    assert main([*args, "--peaks", "toy:cosine-warmup=0.05", "toy:wsd=0.1"]) == 0
    assert "ran " not in capsys.readouterr().out

"""benchmarks/agents.py: the decision-cost table, and its refusals of bad flags."""

from __future__ import annotations

import sys

import pytest

from benchmarks import agents as bench


def _run(monkeypatch, capsys, *argv: str) -> str:
    monkeypatch.setattr(sys, "argv", ["agents.py", *argv])
    bench.main()
    return capsys.readouterr().out


def test_a_row_per_task_and_controller_with_the_median_cost(monkeypatch, capsys):
    out = _run(
        monkeypatch,
        capsys,
        "--tasks",
        "nqm",
        "--steps",
        "40",
        "--interval",
        "10",
        "--rl",
        "default",
        "--repeats",
        "2",
    )
    rows = [line.split("|")[1:-1] for line in out.splitlines()[2:]]
    assert [(r[0].strip(), r[1].strip()) for r in rows] == [("nqm", "meta"), ("nqm", "rl")]
    for row in rows:
        assert float(row[2]) > 0  # µs per decision
        assert 0 < float(row[3].strip().rstrip("%")) < 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeats", "0"], "--repeats must be at least 1, got 0"),
        (["--steps", "10", "--interval", "20"], "--steps (10) must be at least --interval (20)"),
    ],
)
def test_bad_flags_are_refused_naming_the_value(monkeypatch, capsys, argv, message):
    with pytest.raises(SystemExit) as err:
        _run(monkeypatch, capsys, *argv)
    assert err.value.code == 2
    assert message in capsys.readouterr().err

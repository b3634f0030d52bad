"""benchmarks/executors.py: the executors run the same cells and are timed side by side."""

import json

import pytest

import benchmarks.executors as executors


def test_local_and_pool_are_timed_on_the_same_cells(tmp_path, capsys):
    out = tmp_path / "numbers.json"
    argv = ["--task", "nqm", "--budget", "20", "--seeds", "1", "--executors", "local"]
    assert executors.main([*argv, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "nqm, 20 steps a cell, 5 cells, 2 workers" in table  # 3 tune, 1 eval, 1 plateau
    rows = json.loads(out.read_text())["rows"]
    assert list(rows) == ["local", "pool"]
    assert rows["pool"]["vs_pool"] == 1.0
    assert rows["local"]["per_cell_s"] == pytest.approx(rows["local"]["wall_s"] / 5)


def test_executors_that_disagree_are_not_compared(tmp_path, monkeypatch):
    real = executors.finals

    def skewed(out):
        got = real(out)
        if out.name == "local":  # as if the local executor had computed something else
            key = next(iter(got))
            got[key] = (got[key][0] + 1.0, got[key][1])
        return got

    monkeypatch.setattr(executors, "finals", skewed)
    argv = ["--task", "nqm", "--budget", "20", "--seeds", "1", "--executors", "local"]
    with pytest.raises(SystemExit, match="local's cells differ from the pool's"):
        executors.main(argv)

"""Failed cells are shown, counted in the exit code and listed in the report (issue #11)."""

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from autolr.bench import ResultsStore, bench
from autolr.bench.report import pipe_width, terminal_console
from autolr.bench.store import error_reason
from autolr.cli import main

ROOT = Path(__file__).resolve().parents[2]
SUITE = {
    "name": "fails",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 2, "span": 2},
    "tasks": [{"name": "toy", "budget_steps": 20, "eval_every": 10}],
    "baselines": [{"name": "constant"}],
    "controllers": [{"name": "plateau", "patience": 1}],
    "replay": False,
}
# a controller that passes every check and raises once training starts
BOOM = textwrap.dedent(
    """
    from autolr.controllers.base import CONTROLLERS, Controller

    class Boom(Controller):
        \"\"\"Raises when asked for a segment.\"\"\"

        def propose(self, state, probe):
            raise RuntimeError(f"boom at step {state.step}")

    if "boom" not in CONTROLLERS:
        CONTROLLERS.add("boom", Boom)
    """
)


def test_a_failing_cell_prints_its_reason_exits_1_and_is_in_the_report(tmp_path):
    (tmp_path / "boom_plugin.py").write_text(BOOM)
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({**SUITE, "controllers": [{"name": "boom"}]}))
    out = tmp_path / "out"
    env = {
        **os.environ,
        "AUTOLR_PLUGINS": "tests.toy,boom_plugin",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
    }
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "autolr.cli", "bench", str(suite), "--out", str(out), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    for seed in (0, 1):  # one line per failed cell, with its reason, even with --quiet
        line = f"[failed] self   toy / boom seed {seed}: RuntimeError: boom at step 0"
        assert line in done.stderr.splitlines()
    assert "2 cells failed" in done.stderr
    report = (out / "report.md").read_text()
    assert "## Failed cells" in report
    assert "| toy | boom | self | 0 | – | RuntimeError: boom at step 0 |" in report
    # the method whose every cell failed is still in the task's table, marked failed
    assert "| boom | self-tuning | 0 (+2 failed) | failed | failed |" in report
    assert "| constant * | tuned | 2 |" in report
    # stdout is a pipe: the tables come as markdown, the failed cells among them
    assert "failed cells: 2" in done.stdout
    assert "| toy | boom | self | 1 | – | RuntimeError: boom at step 0 |" in done.stdout
    assert "┃" not in done.stdout
    # the summary ends the output, after the tables; boom has nothing to compare
    summary = done.stdout[done.stdout.index("Summary: final metric") :]
    assert done.stdout.index("failed cells: 2") < done.stdout.index("Summary: final metric")
    assert "  winner: constant " in summary
    assert "  boom  no finite final (every run failed or diverged)" in summary.splitlines()
    with sqlite3.connect(out / "results.db") as con:
        states = dict(con.execute("select method || seed, status from cells where track='self'"))
    assert states == {"boom0": "failed", "boom1": "failed"}


def test_a_task_whose_only_baseline_failed_is_still_reported(tmp_path, capsys):
    bench(SUITE, out=tmp_path)
    db = tmp_path / "results.db"
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\nmore'
    with sqlite3.connect(db) as con:  # as if every run of the only baseline had failed
        keys = [k for (k,) in con.execute("select key from cells where method = 'constant'")]
        con.execute(
            "update cells set status = 'failed', error = ?, summary = NULL "
            "where method = 'constant'",
            (trace,),
        )
    (tmp_path / "report.md").unlink()
    assert main(["report", str(tmp_path), "--plain"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "## toy" in text and "no target: no tuned baseline finished" in text
    assert f"| constant | tuned | 0 (+{len(keys)} failed) | failed |" in text
    assert "| plateau | self-tuning | 2 |" in text  # the controller keeps its numbers
    assert "| constant | failed | 0/0 | 0 |" in text  # and across tasks (no target: 0/0)
    assert text.count("ValueError: bad more") == len(keys)
    printed = capsys.readouterr().out
    assert f"failed cells: {len(keys)}" in printed and "| toy | constant | tune |" in printed


def test_error_reason_is_the_exception_line_of_a_traceback():
    chained = (
        'Traceback (most recent call last):\n  File "a", line 1, in f\n    g()\n'
        "KeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:"
        '\n\nTraceback (most recent call last):\n  File "b", line 2\n'
        "ValueError: config: width must be > 0\ngot -1"
    )
    assert error_reason(chained) == "ValueError: config: width must be > 0 got -1"
    assert error_reason("") == "unknown error"
    assert len(error_reason("E: " + "x" * 1000)) == 300


def test_tables_are_not_wrapped_at_80_columns_when_piped(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert pipe_width() == 120 and terminal_console().width == 120  # pytest's stdout: no TTY
    monkeypatch.setenv("COLUMNS", "200")
    assert terminal_console().width == 200


def test_rich_tables_on_request(tmp_path, capsys):
    bench(SUITE, out=tmp_path)
    capsys.readouterr()
    from autolr.bench.analysis import analyse
    from autolr.bench.report import print_tables

    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    print_tables(analyse(store, "fails"), plain=False)
    store.close()
    out = capsys.readouterr().out
    assert "┃" in out and "|---|" not in out
    assert max(len(line) for line in out.splitlines()) <= 120

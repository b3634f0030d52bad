"""``autolr run`` and ``find-lr``: existing folders, thread defaults, LR bounds, bad values,
refused files, temporary files and the CLI's own flags (issue #11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import autolr
from autolr.cli import main
from autolr.running.outdir import OUTPUTS, default_out

ROOT = Path(__file__).resolve().parents[2]

CFG = {
    "task": {"name": "nqm"},
    "controller": {"name": "plateau", "patience": 1},
    "budget_steps": 60,
    "interval": 10,
    "eval_every": 30,
    "seed": 3,
}


def _write(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _disk(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# ---- an existing --out ---------------------------------------------------------------------


def test_an_existing_run_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", _write(tmp_path, CFG), "--out", str(out), "--quiet"]) == 0
    before = _disk(out)
    other = _write(tmp_path, {**CFG, "controller": {"name": "greedy"}}, "other.yaml")
    capsys.readouterr()
    assert main(["run", other, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert _disk(out) == before  # nothing changed on disk


def test_overwrite_removes_the_old_outputs_first(tmp_path):
    out = tmp_path / "out"
    autolr.run(CFG, out=out)
    stale = out / ".lr.png.k3j2x.tmp"  # what a SIGKILL mid-plot leaves
    stale.write_bytes(b"half a png")
    keep = out / "notes.txt"  # not ours: never touched
    keep.write_text("mine")

    class Killed(Exception):
        pass

    def kill(session):
        raise Killed

    greedy = {**CFG, "controller": {"name": "greedy"}, "checkpoint_every": 10}
    with pytest.raises(Killed):
        autolr.run(greedy, out=out, overwrite=True, callbacks=[kill])
    # the new run died early: nothing of the old run may pose as its result
    assert not (out / "summary.json").exists() and not (out / "lr.png").exists()
    assert not stale.exists() and keep.read_text() == "mine"
    assert yaml.safe_load((out / "config.yaml").read_text())["controller"]["name"] == "greedy"
    result = autolr.run(greedy, out=out, overwrite=True)
    assert json.loads((out / "summary.json").read_text())["controller"] == "greedy"
    assert result.summary["steps_trained"] == 60


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    out = tmp_path / "out"
    cmd = ["run", _write(tmp_path, CFG), "--out", str(out), "--resume", "--overwrite"]
    assert main(cmd) == 2
    assert "--resume and --overwrite" in capsys.readouterr().err and not out.exists()


def test_default_out_differs_when_the_config_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, CFG)
    assert main(["run", path, "--quiet"]) == 0
    assert main(["run", path, "--quiet", "--set", "controller.factor=0.5"]) == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.startswith("nqm-plateau-s3-") for f in folders)
    assert all(len(f.rpartition("-")[2]) == 8 for f in folders)
    capsys.readouterr()
    assert main(["run", path, "--quiet"]) == 2  # the same config again: its folder exists
    assert "--resume" in capsys.readouterr().err
    resolved = autolr.running.runner.load_config(CFG).model_dump()
    assert default_out(resolved).name in folders


# ---- threads ---------------------------------------------------------------------------


def test_runs_default_to_one_thread(tmp_path):
    torch.set_num_threads(2)
    try:
        autolr.run({**CFG, "budget_steps": 10})
        assert torch.get_num_threads() == 1
        autolr.run({**CFG, "budget_steps": 10, "threads": 2})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_resume_with_another_thread_count_is_refused_naming_threads(tmp_path):
    # measured: digits-cnn's convolutions give other float results on 2 threads than on 1,
    # so a resumed run on another count would not continue the same run
    out = tmp_path / "out"
    autolr.run(CFG, out=out)
    with pytest.raises(ValueError, match=r"'threads' differs .*changes the results"):
        autolr.run({**CFG, "threads": 2}, out=out, resume=True)
    torch.set_num_threads(1)


# ---- silent nonsense -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("controller", "needle"),
    [
        (
            {"name": "fixed", "schedule": {"name": "cosine", "lr": 1.0e6}},
            "peak LR 1e+06 is above max_lr 10",
        ),
        ({"name": "greedy", "lr": 1.0e6}, "lr 1e+06 is above max_lr 10"),
        ({"name": "fixed", "schedule": {"name": "constant", "lr": 1e-9}}, "below min_lr 0.0001"),
    ],
)
def test_a_configured_lr_outside_the_bounds_is_an_error(tmp_path, capsys, controller, needle):
    out = tmp_path / "out"
    assert (
        main(["run", _write(tmp_path, {**CFG, "controller": controller}), "--out", str(out)]) == 2
    )
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_a_cosine_decaying_below_min_lr_is_fine():
    cfg = {**CFG, "controller": {"name": "fixed", "schedule": {"name": "cosine", "lr": 0.1}}}
    assert autolr.run(cfg).summary["steps_trained"] == 60


def test_an_adaptive_lr_above_max_lr_is_clamped_with_one_warning():
    cfg = {
        **CFG,
        "controller": {"name": "greedy", "lr": 0.015, "factor": 0.5, "patience": 0},
        "max_lr": 0.02,
        "budget_steps": 80,
    }
    with pytest.warns(RuntimeWarning, match="above max_lr 0.02: clamped") as caught:
        result = autolr.run(cfg)
    assert len([w for w in caught if "max_lr" in str(w.message)]) == 1
    assert result.history.step_array("lr").max() == 0.02


def test_budget_steps_true_is_an_error_naming_it(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", _write(tmp_path, {**CFG, "budget_steps": True}), "--out", str(out)]) == 2
    assert "budget_steps must be an integer" in capsys.readouterr().err and not out.exists()


def test_find_lr_needs_enough_steps_for_a_suggestion(tmp_path, capsys):
    plot = tmp_path / "f.png"
    assert main(["find-lr", "--task", "nqm", "--steps", "2", "--plot", str(plot)]) == 2
    assert "--steps must be >= 20" in capsys.readouterr().err and not plot.exists()
    with pytest.raises(ValueError, match="num_steps must be an integer >= 20"):
        autolr.find_lr("nqm", num_steps=19)
    assert main(["find-lr", "--task", "nqm", "--steps", "20", "--plot", str(plot)]) == 0
    assert plot.is_file()


def test_a_checkpoint_holding_a_numpy_scalar_is_refused_saying_why(tmp_path):
    out = tmp_path / "out"
    autolr.run(CFG, out=out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["controller"]["rule"]["best"] = np.float64(1.0)  # what older versions wrote
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(ValueError) as err:
        autolr.run(CFG, out=out, resume=True)
    message = str(err.value)
    assert "checkpoint.pt was refused: it holds a pickled numpy" in message
    assert "only plain Python values and tensors are read" in message
    assert "weights_only" not in message


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (lambda b: b"", "is an empty file"),
        (lambda b: b[: len(b) // 2], "is a truncated or damaged torch file"),
        (lambda b: b"junk\n", "is not a torch file"),
    ],
)
def test_a_damaged_checkpoint_says_what_it_is(tmp_path, mangle, needle):
    out = tmp_path / "out"
    autolr.run(CFG, out=out)
    path = out / "checkpoint.pt"
    path.write_bytes(mangle(path.read_bytes()))
    with pytest.raises(ValueError, match=needle) as err:
        autolr.run(CFG, out=out, resume=True)
    assert "weights_only" not in str(err.value)


# ---- temporary files ---------------------------------------------------------------------


def _stalled_in_plot(tmp_path: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    mark = tmp_path / "killpoint"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUTOLR_TEST_KILLPOINT": str(mark),
        "AUTOLR_TEST_STALL": "plot",
    }
    cmd = [sys.executable, "-m", "tests.killpoint", "run", _write(tmp_path, CFG)]
    proc = subprocess.Popen([*cmd, "--out", str(out), "--quiet"], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), f"the run never reached its plots (exit {proc.poll()})"
    tmp = Path(mark.read_text())
    assert tmp.parent == out and tmp.name.startswith(".lr.png.") and tmp.exists()
    return proc, tmp


def test_sigterm_while_plotting_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    proc, tmp = _stalled_in_plot(tmp_path, out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not tmp.exists() and not list(out.glob(".*.tmp"))


def test_a_run_into_a_folder_removes_what_a_sigkill_left(tmp_path, capsys):
    out = tmp_path / "out"
    proc, tmp = _stalled_in_plot(tmp_path, out)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert tmp.exists()  # nothing can clean up after SIGKILL ...
    assert main(["run", _write(tmp_path, CFG), "--out", str(out), "--resume", "--quiet"]) == 0
    assert not list(out.glob(".*.tmp"))  # ... so the next run into the folder does
    assert all((out / name).is_file() for name in OUTPUTS)


# ---- the CLI's own flags -------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"autolr {autolr.__version__}"


def test_every_option_has_help(capsys):
    for verb in (["run"], ["bench"], ["report"], ["find-lr"]):
        with pytest.raises(SystemExit):
            main([*verb, "--help"])
        text = capsys.readouterr().out
        assert "--quiet" not in text or "progress bar" in text
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "results store" in capsys.readouterr().out

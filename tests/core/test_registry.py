"""Registries read their entry-point groups: ours resolve, a third party's join, and a
broken, clashing, missing or shadowed entry point fails with a message that says why."""

import configparser
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import autolr.cli
from autolr.cli import main
from autolr.controllers import CONTROLLERS
from autolr.entrypoints import EntryPointError
from autolr.loop.trainee import TASKS, make_task
from autolr.registry import Registry
from autolr.schedules import SCHEDULES, build
from tests.fakedist import make_dist

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TASKS = [
    "cifar10-resnet",
    "continual-lm",
    "digits-cnn",
    "idx-cnn",
    "mnist1d-cnn",
    "mnist1d-mlp",
    "nqm",
    "powerlaw",
    "stdlib-lm",
    "text-lm",
]
SHIPPED_CONTROLLERS = [
    "auto",
    "autolrs",
    "fixed",
    "greedy",
    "hypergradient",
    "lr_finder",
    "meta",
    "optuna",
    "plateau",
    "rl",
]


def rescan(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    """Make a module-level registry read its group again (restored after the test)."""
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(registry, "_declared", dict(registry._declared))
    monkeypatch.setattr(registry, "_scanned", False)


def _setup_cfg_groups() -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    groups = {}
    for group, text in parser["options.entry_points"].items():
        pairs = [line.split("=", 1) for line in text.strip().splitlines()]
        groups[group] = {k.strip(): v.strip() for k, v in pairs}
    return groups


def test_installed_entry_points_are_those_setup_cfg_declares():
    declared = _setup_cfg_groups()
    assert set(declared) >= {"autolr.tasks", "autolr.controllers", "autolr.cli"}
    installed = importlib.metadata.distribution("autolr").entry_points
    for group, entries in declared.items():
        got = {ep.name: ep.value for ep in installed if ep.group == group}
        assert got == entries, f"reinstall (pip install -e .): {group} is stale"
    assert sorted(declared["autolr.tasks"]) == SHIPPED_TASKS
    assert declared["autolr.cli"] == {"agents": "agents.cli", "tune": "search.cli"}


def test_every_shipped_task_and_controller_resolves_by_name():
    assert [n for n in TASKS.names() if n != "toy"] == SHIPPED_TASKS
    assert [n for n in CONTROLLERS.names() if n in SHIPPED_CONTROLLERS] == SHIPPED_CONTROLLERS
    for name in SHIPPED_TASKS:
        factory = TASKS.get(name)
        assert factory.__module__.startswith("tasks.") and callable(factory.describe)
    for name in SHIPPED_CONTROLLERS:
        assert CONTROLLERS.get(name).name == name
    assert TASKS.entry_point("nqm").value == "tasks.nqm:make"
    assert TASKS.entry_point("toy") is None  # added in code by tests.toy
    assert make_task("nqm", seed=0).info.name == "nqm"
    with pytest.raises(ValueError, match=r"unknown task 'nqmm' \(did you mean 'nqm'\?\)"):
        TASKS.get("nqmm")


def test_autolr_names_no_task_and_no_upper_layer_controller():
    for path in [*ROOT.joinpath("autolr").rglob("*.py")]:
        text = path.read_text()
        assert "tasks.nqm" not in text and "agents.rl" not in text, path
        assert "search.autolrs" not in text and "agents.meta" not in text, path


def test_a_third_party_distribution_registers_tasks_and_controllers(tmp_path, monkeypatch):
    module = (
        "from autolr.controllers import Fixed\n"
        "from tests.toy import make_toy\n"
        "def make(seed, device='cpu', width=4):\n"
        "    return make_toy(seed=seed, device=device)\n"
        "make.describe = make_toy.describe\n"
        "class Mine(Fixed):\n"
        "    name = 'mine'\n"
    )
    groups = {
        "autolr.tasks": {"third-task": "third_mod:make"},
        "autolr.controllers": {"mine": "third_mod:Mine"},
    }
    monkeypatch.syspath_prepend(
        str(make_dist(tmp_path, "third-party", groups, {"third_mod": module}))
    )
    tasks = Registry("task", group="autolr.tasks", shipped=True)
    controllers = Registry("controller", group="autolr.controllers", shipped=True)
    assert tasks.names() == sorted([*SHIPPED_TASKS, "third-task"])
    assert tasks.entry_point("third-task").dist == "third-party"
    assert tasks.get("third-task")(seed=3).seed == 3
    assert controllers.get("mine").__name__ == "Mine"
    assert controllers.get("rl").__name__ == "RLController"  # ours still there


def test_a_third_party_schedule_may_register_itself_while_it_loads(tmp_path, monkeypatch):
    module = (
        "import numpy as np\n"
        "from autolr.schedules.base import Schedule, family\n"
        "@family('third-flat')\n"
        "def flat(lr: float = 0.1) -> Schedule:\n"
        "    return Schedule(lambda t: np.full(t.shape, lr), {})\n"
    )
    groups = {"autolr.schedules": {"third-flat": "third_sched:flat"}}
    monkeypatch.syspath_prepend(
        str(make_dist(tmp_path, "third-sched", groups, {"third_sched": module}))
    )
    rescan(monkeypatch, SCHEDULES)
    assert "third-flat" in SCHEDULES.names()
    sched = build({"name": "third-flat", "lr": 0.25})
    assert sched(7) == 0.25 and sched.spec == {"name": "third-flat", "lr": 0.25}


def test_a_broken_entry_point_names_itself_its_group_and_the_cause(tmp_path, monkeypatch):
    groups = {"autolr.tasks": {"broken": "no_such_module_q:make"}}
    monkeypatch.syspath_prepend(str(make_dist(tmp_path, "broken-dist", groups)))
    tasks = Registry("task", group="autolr.tasks", shipped=True)
    assert "broken" in tasks  # listed without importing it
    with pytest.raises(EntryPointError) as err:
        tasks.get("broken")
    text = str(err.value)
    assert "entry point 'broken' = 'no_such_module_q:make'" in text
    assert "group 'autolr.tasks' (from broken-dist)" in text
    assert "ModuleNotFoundError: No module named 'no_such_module_q'" in text
    assert tasks.get("nqm").__module__ == "tasks.nqm"  # the others still load


def test_a_name_two_distributions_declare_differently_is_an_error(tmp_path, monkeypatch):
    for i in (1, 2):
        groups = {"autolr.tasks": {"twin": f"twin{i}:make"}}
        monkeypatch.syspath_prepend(str(make_dist(tmp_path / str(i), f"twin-{i}", groups)))
    tasks = Registry("task", group="autolr.tasks")
    with pytest.raises(EntryPointError, match="task 'twin' is declared differently") as err:
        tasks.get("twin")
    assert "'twin1:make'" in str(err.value) and "'twin2:make'" in str(err.value)


def test_stale_metadata_tells_to_reinstall(monkeypatch, capsys):
    tasks = Registry("task", group="autolr.no-such-group", shipped=True)
    with pytest.raises(ValueError, match=r"unknown task 'nqm'.*stale; run pip install -e \."):
        tasks.get("nqm")
    mine = Registry("task", group="autolr.no-such-group")  # not shipped by autolr: no hint
    with pytest.raises(ValueError) as err:
        mine.get("nqm")
    assert "pip install" not in str(err.value)
    stale = Registry("command", group="autolr.no-such-group", shipped=True)
    monkeypatch.setattr(autolr.cli, "COMMANDS", stale)
    assert main(["agents", "eval"]) == 2
    assert "unknown command 'agents'" in capsys.readouterr().err


def test_a_third_party_cli_verb_and_a_broken_one(tmp_path, monkeypatch, capsys):
    module = (
        "def add_parser(sub):\n"
        "    p = sub.add_parser('hello')\n"
        "    p.add_argument('--name', default='world')\n"
        "    p.set_defaults(func=lambda args: print('hello', args.name))\n"
    )
    groups = {"autolr.cli": {"hello": "hello_cmd", "broken": "no_such_cmd_q"}}
    monkeypatch.syspath_prepend(
        str(make_dist(tmp_path, "hello-dist", groups, {"hello_cmd": module}))
    )
    monkeypatch.setattr(
        autolr.cli, "COMMANDS", Registry("command", group="autolr.cli", shipped=True)
    )
    assert main(["hello", "--name", "you"]) == 0
    assert capsys.readouterr().out == "hello you\n"
    assert main(["broken"]) == 2
    err = capsys.readouterr().err
    assert "entry point 'broken' = 'no_such_cmd_q' in group 'autolr.cli'" in err
    parser = autolr.cli.build_parser()
    assert parser.parse_args(["tune", "x.yaml"]).config == "x.yaml"  # the rest still work
    assert set(parser.broken) == {"broken"}


def _in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_file_in_the_working_directory_that_shadows_a_package_is_named(tmp_path):
    (tmp_path / "tasks.py").write_text("print('my own tasks')\n")
    code = "from autolr.loop.trainee import make_task\nmake_task('nqm', seed=0)"
    res = _in(tmp_path, "-c", code)
    assert res.returncode != 0
    assert f"the file {tmp_path / 'tasks.py'} shadows the package 'tasks'" in res.stderr
    assert "rename tasks.py, or run from another directory" in res.stderr
    assert "entry point 'nqm' = 'tasks.nqm:make' in group 'autolr.tasks'" in res.stderr
    (tmp_path / "tasks.py").unlink()
    (tmp_path / "agents.py").write_text("")
    res = _in(tmp_path, "-m", "autolr.cli", "agents", "eval", "--help")
    assert res.returncode == 2 and res.stderr.startswith("autolr: error: cannot load entry point")
    assert f"the file {tmp_path / 'agents.py'} shadows the package 'agents'" in res.stderr

"""Every shipped config and suite validates: keys, task parameters, controller names."""

from pathlib import Path

import pytest
import yaml

from autolr.bench import load_suite
from autolr.controllers.base import build_controller
from autolr.loop.trainee import task_info
from autolr.running.runner import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUNS = sorted([*(CONFIGS / "tasks").glob("*.yaml"), *(CONFIGS / "controllers").glob("*.yaml")])
SUITES = sorted((CONFIGS / "bench").glob("*.yaml"))
# suites that run no tuned baseline: their tuned reference is the cpu suite's
UNTUNED_SUITES = {
    "cpu-lr",
    "cpu-fresh-lr",
    "cpu-fresh2-lr",
    "cpu-fresh3-lr",
    "cpu-fresh4-lr",
    "cpu-fresh5-lr",
    "auto-catch-design",
    "auto-blowup-design",
}


@pytest.mark.parametrize("path", RUNS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_run_config_validates(path):
    cfg = load_config(path)
    info = task_info(cfg.task)
    ctrl = build_controller(
        cfg.controller, default_lr=info.lr, budget_steps=cfg.budget_steps or info.budget_steps
    )
    assert ctrl.name == cfg.controller["name"]


def test_one_config_per_task_and_builtin_controller():
    assert {p.stem for p in (CONFIGS / "tasks").glob("*.yaml")} == {
        "nqm",
        "powerlaw",
        "digits-cnn",
        "mnist1d-mlp",
        "mnist1d-cnn",
        "stdlib-lm",
        "text-lm",
        "continual-lm",
        "cifar10-resnet",
        "idx-cnn",
    }
    assert {p.stem for p in (CONFIGS / "controllers").glob("*.yaml")} >= {
        "fixed",
        "plateau",
        "greedy",
        "hypergradient",
    }


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_suite_validates(path):
    suite = load_suite(yaml.safe_load(path.read_text()))
    if path.stem in UNTUNED_SUITES:
        assert not suite.tune_cells() and suite.default_cells() and suite.self_cells()
    else:
        assert suite.tune_cells()
    assert len(suite.tasks) >= 1

"""YAML 1.2 floats (issue #11): every YAML entry point reads ``3e-4`` and ``1e3`` as numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from autolr.bench import load_suite
from autolr.cli import main
from autolr.running.config import apply_overrides
from autolr.running.io import load_yaml_arg
from autolr.running.runner import load_config
from autolr.schedules import build
from autolr.yamlio import load


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e-4", 3e-4),
        ("1e-3", 1e-3),
        ("1e6", 1e6),
        ("1E6", 1e6),
        ("-2.5e+3", -2500.0),
        ("+1e2", 100.0),
        (".5e1", 5.0),
        ("3.e2", 300.0),
        ("1.0e-3", 1e-3),  # YAML 1.1 forms are unchanged
        ("0.5", 0.5),
        (".inf", float("inf")),
    ],
)
def test_floats_in_scientific_notation(text, value):
    loaded = load(f"x: {text}")["x"]
    assert type(loaded) is float and loaded == value


@pytest.mark.parametrize("text", ["e3", "1e", "1e3x", "abc", "3e-4s", "1e3.5", "'3e-4'", '"1e3"'])
def test_strings_that_are_not_numbers_stay_strings(text):
    loaded = load(f"x: {text}")["x"]
    assert isinstance(loaded, str) and loaded == text.strip("'\"")


def test_pyyaml_alone_reads_them_as_strings():
    # The bug this loader fixes (YAML 1.1 wants a dot and a signed exponent).
    assert yaml.safe_load("[3e-4, 1e3, 1E6]") == ["3e-4", "1e3", "1E6"]


def test_ints_bools_and_nulls_are_unchanged():
    assert load("[12, 1_000, 0x10, true, null, 1.5]") == [12, 1000, 16, True, None, 1.5]


def test_a_run_config_file(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("task: {name: toy, lr: 3e-4}\nbudget_steps: 1e3\nmin_lr: 1e-6\n")
    cfg = load_config(path)
    assert cfg.task == {"name": "toy", "lr": 3e-4}
    assert cfg.budget_steps == 1000 and type(cfg.budget_steps) is int
    assert cfg.min_lr == 1e-6


def test_an_inline_run_config():
    cfg = load_config("{task: {name: stdlib-lm, lr: 3e-4}, budget_steps: 1e3}")
    assert cfg.task["lr"] == 3e-4 and cfg.budget_steps == 1000
    assert load_yaml_arg("{lr: 3e-4, name: 1e3x}") == {"lr": 3e-4, "name": "1e3x"}


def test_set_overrides():
    raw = apply_overrides(
        {"task": {"name": "toy"}},
        ["task.lr=1e-3", "budget_steps=1e3", "controller.name=fixed", "device=1e3x"],
    )
    assert raw["task"]["lr"] == 1e-3 and raw["budget_steps"] == 1000.0
    assert raw["device"] == "1e3x"
    cfg = load_config({"task": {"name": "toy"}}, ["task.lr=1e-3", "budget_steps=1e3"])
    assert cfg.task["lr"] == 1e-3 and cfg.budget_steps == 1000


def test_cli_run_with_a_set_in_scientific_notation(tmp_path: Path):
    out = tmp_path / "out"
    sets = ["--set", "task.lr=1e-2", "--set", "budget_steps=2e1"]
    code = main(["run", "{task: {name: toy}, interval: 10}", *sets, "--out", str(out), "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_trained"] == 20


def test_a_schedule_spec(tmp_path: Path):
    sched = build("{name: cosine, lr: 1e-3, total_steps: 1e2}")
    assert sched.spec["lr"] == 1e-3 and sched.spec["total_steps"] == 100
    assert sched(0) == pytest.approx(1e-3)
    out = tmp_path / "s.csv"
    args = ["schedule", "{name: cosine, lr: 1e-3, total_steps: 100}", "--steps", "3"]
    assert main([*args, "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert float(rows[0]["lr"]) == pytest.approx(1e-3)


def test_a_suite_file(tmp_path: Path):
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: sci\nseeds: [0]\ntuning_seeds: [1]\n"
        "tasks: [{name: toy, lr: 3e-4, budget_steps: 1e2}]\n"
        "baselines: [{name: constant}]\n"
    )
    suite = load_suite(path)
    assert suite.tasks[0].spec["lr"] == 3e-4
    assert suite.tasks[0].run["budget_steps"] == 100


def test_tune_and_agents_configs(tmp_path: Path):
    from agents.metatrain import check_config
    from search.tune import load_tune_config

    path = tmp_path / "tune.yaml"
    path.write_text(
        "task: toy\nfamily: cosine\nbudget_steps: 1e2\n"
        "params: {lr: {low: 1e-4, high: 1e-1, log: true}, total_steps: $budget}\n"
    )
    cfg = load_tune_config(path)
    assert cfg.params["lr"] == {"low": 1e-4, "high": 0.1, "log": True}
    assert cfg.budget_steps == 100 and cfg.params["total_steps"] == "$budget"
    meta = check_config(load_yaml_arg("{sigma: 1e-2, step_size: 5e-2, generations: 1e1}"))
    assert (meta["sigma"], meta["step_size"], meta["generations"]) == (0.01, 0.05, 10)

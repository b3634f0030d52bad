"""The whole suite is checked before anything is written (issue #11, item 2)."""

import copy
from pathlib import Path

import pytest
import yaml

from autolr.bench import load_suite
from autolr.bench.checking import check_suite
from autolr.bench.suite import Suite
from autolr.cli import main
from autolr.running.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "name": "checks",
    "seeds": [0],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 2, "span": 2},
    "tasks": [{"name": "nqm", "budget_steps": 20}],
    "baselines": [{"name": "constant"}, {"name": "cosine", "warmup_steps_frac": 0.1}],
    "controllers": [{"name": "plateau", "patience": 1}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"controllers": [{"name": "plateau", "patince": 3}]},
            "suite: controllers[0].patince: unknown key (did you mean 'patience'?)",
        ),
        (
            {"controllers": [{"name": "plateau", "patience": -3}]},
            "suite: controllers[0].patience must be an integer >= 0, got -3",
        ),
        (
            {"baselines": [{"name": "constant"}, {"name": "cosine", "warmup_step_frac": 0.1}]},
            "suite: baselines[1].warmup_step_frac: unknown key (did you mean 'warmup_steps_frac'?)",
        ),
        (
            {"baselines": [{"name": "constant"}, {"name": "cosine", "warmup_steps_frac": 1.5}]},
            "suite: baselines[1].warmup_steps_frac must be in [0, 1], got 1.5",
        ),
        (
            {"tasks": [{"name": "nqm", "budget_steps": -10}]},
            "suite: tasks[0].budget_steps must be an integer >= 1, got -10",
        ),
        (
            {"tasks": [{"name": "nqm", "budget_steps": 20, "dimm": 4}]},
            "suite: tasks[0].dimm: unknown key (did you mean 'dim'?)",
        ),
        (
            {"tasks": [{"name": "nqm", "budget_steps": 20, "dim": 0}]},
            "suite: tasks[0].dim must be an integer >= 1, got 0",
        ),
        (
            {"baselines": [{"name": "wsd", "warmup_steps_frac": 0.9, "decay_steps_frac": 0.5}]},
            "suite: baselines[0] (on task 'nqm', budget 20): ",
        ),
        (
            {"baselines": [{"name": "constant", "kinds": ["vison"]}]},
            "suite: baselines[0].kinds: 'vison' is not a task kind",
        ),
        ({"interval": True}, "suite: interval must be an integer >= 1, got True"),
        ({"seeds": ["3"]}, "suite: seeds[0] must be an integer >= 0, got '3'"),
        ({"grid": {"points": 2.5}}, "suite: grid.points must be an integer >= 1, got 2.5"),
    ],
)
def test_a_bad_suite_exits_2_naming_the_key_and_writes_nothing(tmp_path, capsys, change, message):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({**BASE, **change}))
    out = tmp_path / "out"
    assert main(["bench", str(suite), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not out.exists()  # no folder, so no results.db and no report


def test_an_explicit_store_is_not_created_for_a_bad_suite(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({**BASE, "controllers": [{"name": "plateau", "patince": 1}]}))
    db = tmp_path / "elsewhere" / "results.db"
    assert main(["bench", str(suite), "--out", str(tmp_path / "o"), "--store", str(db)]) == 2
    assert "patince" in capsys.readouterr().err
    assert not db.exists() and not db.parent.exists()


def test_checking_builds_methods_without_changing_the_suite_or_its_cells():
    raw = yaml.safe_load((ROOT / "configs/bench/quickstart.yaml").read_text())
    pristine = copy.deepcopy(raw)
    checked = Suite(raw)
    assert raw == pristine  # the raw suite is not mutated
    unchecked = Suite(copy.deepcopy(pristine), check=False)

    def keys(s: Suite) -> list[str]:
        return [c.key for c in s.tune_cells() + s.self_cells()]

    before = keys(checked)
    specs = [copy.deepcopy(m.spec) for m in checked.baselines + checked.controllers]
    check_suite(checked)  # building every method again leaves specs and cells alone
    assert [m.spec for m in checked.baselines + checked.controllers] == specs
    assert keys(checked) == before == keys(unchecked)
    assert len(before) == len(set(before)) == 2 * 2 * 5 * 1 + 2 * 2 * 3


def test_every_method_is_built_on_every_task_it_runs_on():
    # 30 warmup steps fit the first task's default budget but not the second's 20 steps
    raw = {
        **BASE,
        "tasks": [{"name": "nqm"}, {"name": "nqm", "label": "short", "budget_steps": 20}],
        "baselines": [{"name": "wsd", "warmup_steps": 30, "decay_steps_frac": 0.2}],
    }
    load_suite({**raw, "tasks": raw["tasks"][:1]})  # valid on the long task alone
    with pytest.raises(ConfigError, match=r"suite: baselines\[0\] \(on task 'short', budget 20\)"):
        load_suite(raw)

"""parse_model and RunConfig: errors name the key path, values follow autolr.checks."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from autolr.checks import Int, Positive
from autolr.running.config import ConfigError, key_path, parse_model, validate


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: Int(1) = 7
    span: Positive() = 8.0


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    grid: Inner = Inner()
    items: list[Inner] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"name": "a", "grid": {"pionts": 3}},
            "thing: grid: unknown key 'pionts' (did you mean 'points'?)",
        ),
        ({"nmae": "a"}, "thing: unknown key 'nmae' (did you mean 'name'?)"),
        ({"name": "a", "items": [{}, {"span": -1}]}, "thing: items[1].span must be > 0, got -1.0"),
        (
            {"name": "a", "grid": {"points": True}},
            "thing: grid.points must be an integer >= 1, got True",
        ),
        (
            {"name": "a", "grid": {"points": 2.5}},
            "thing: grid.points must be an integer >= 1, got 2.5",
        ),
        ({"name": "a", "grid": 3}, "thing: grid must be a mapping, got 3"),
        ({}, "thing: name is required"),
        ([1], "thing must be a mapping of keys, got [1]"),
    ],
)
def test_messages_name_the_key_path(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_model(Outer, raw, "thing")
    assert str(err.value) == message


def test_a_nested_part_parsed_under_a_root():
    with pytest.raises(ConfigError, match=r"^sub\.grid\.points must be an integer >= 1, got 0$"):
        parse_model(Outer, {"name": "a", "grid": {"points": 0}}, "", root=("sub",))
    assert key_path(("train", 0, "task", "lr")) == "train[0].task.lr"


def test_integral_floats_are_ints():
    assert parse_model(Outer, {"name": "a", "grid": {"points": 1e3}}, "x").grid.points == 1000


def test_run_config_defaults_and_rules():
    cfg = validate({"task": {"name": "toy"}})
    assert (cfg.interval, cfg.seed, cfg.budget_steps, cfg.eval_every) == (50, 0, None, None)
    assert (cfg.divergence_factor, cfg.rollback_lr_factor, cfg.device) == (10.0, 0.5, "cpu")
    with pytest.raises(ValueError, match=r"^config: interval must be an integer >= 1, got True$"):
        validate({"task": {"name": "toy"}, "interval": True})
    with pytest.raises(ValueError, match=r"^config: lr_multipliers\[1\] must be > 0, got -1\.0$"):
        validate({"task": {"name": "toy"}, "lr_multipliers": [1, -1]})
    with pytest.raises(ValueError, match=r"^config: unknown key 'intervall' \(did you mean"):
        validate({"task": {"name": "toy"}, "intervall": 5})

"""The keys of pbt and pb2 (autolr.population.config): defaults, and errors that name the
key and the value, in a suite and in a cell's run config."""

import pytest

from autolr.bench.suite import Suite
from autolr.population.config import PB2Config, PBTConfig, parse_population
from autolr.population.run import make_scheduler, run_population


def suite(entry, budget=100):
    return Suite(
        {
            "name": "p",
            "tasks": [{"name": "nqm", "budget_steps": budget}],
            "baselines": [{"name": "constant"}],
            "populations": [entry],
        }
    )


def test_defaults_follow_ray_and_the_lr_range_is_the_grid_span():
    cfg = parse_population({"name": "pbt", "perturbation_interval": 50}, "t")
    assert isinstance(cfg, PBTConfig) and cfg.population == 4
    assert (cfg.quantile_fraction, cfg.resample_probability) == (0.25, 0.25)
    assert cfg.perturbation_factors == (1.2, 0.8) and cfg.synch is True
    assert cfg.lr_range(0.5) == (0.0625, 4.0)
    assert cfg.initial_lrs(0.5) == pytest.approx([0.0625, 0.25, 1.0, 4.0])
    pb2 = parse_population({"name": "pb2", "population": 3, "perturbation_interval": 7}, "t")
    assert isinstance(pb2, PB2Config) and pb2.initial_lrs(1.0) == pytest.approx([0.125, 1, 8])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "pbt", "population": 1, "perturbation_interval": 50},
            "suite: populations[0].population must be an integer >= 2, got 1",
        ),
        ({"name": "pbt"}, "suite: populations[0].perturbation_interval is required"),
        (
            {"name": "pb2", "perturbation_interval": 0},
            "suite: populations[0].perturbation_interval must be an integer >= 1, got 0",
        ),
        (
            {"name": "pbt", "perturbation_interval": 2.5},
            "suite: populations[0].perturbation_interval must be an integer >= 1, got 2.5",
        ),
        (
            {"name": "pbt", "perturbation_interval": 100},
            "suite: populations[0].perturbation_interval 100 is not below budget_steps 100 "
            "of task 'nqm'",
        ),
        (
            {"name": "pbt", "perturbation_interval": 10, "burn_in_period": 150},
            "suite: populations[0].burn_in_period 150 is not below budget_steps 100",
        ),
        (
            {"name": "pbt", "perturbation_interval": 10, "quantile_fraction": 0.7},
            "suite: populations[0].quantile_fraction must be in [0.0, 0.5], got 0.7",
        ),
        # PB2 chooses the LR by its GP bandit: PBT's explore keys are not its keys
        (
            {"name": "pb2", "perturbation_interval": 10, "resample_probability": 0.5},
            "suite: populations[0]: unknown key 'resample_probability'",
        ),
        (
            {"name": "pbt", "perturbation_interval": 10, "populaton": 3},
            "unknown key 'populaton' (did you mean 'population'?)",
        ),
        ({"name": "pbx"}, "suite: populations[0].name must be one of ['pbt', 'pb2'], got 'pbx'"),
        (
            {"name": "pbt", "perturbation_interval": 10, "kinds": ["visoin"]},
            "populations[0].kinds: 'visoin' is not a task kind",
        ),
    ],
)
def test_bad_keys_name_the_key_and_the_value(entry, message):
    with pytest.raises(ValueError, match=None) as err:
        suite(entry)
    assert message in str(err.value)


def test_a_cell_config_is_checked_before_ray_starts():
    run = {"task": {"name": "nqm"}, "budget_steps": 40, "seed": 0}
    with pytest.raises(ValueError, match=r"config: population.population must be an integer"):
        run_population({**run, "population": {"name": "pbt", "population": 0}})
    with pytest.raises(ValueError, match=r"population.perturbation_interval 40 is not below"):
        run_population({**run, "population": {"name": "pbt", "perturbation_interval": 40}})
    with pytest.raises(ValueError, match="no controller or optimizer key"):
        run_population({**run, "controller": {"name": "plateau"}, "population": {}})


def test_the_schedulers_are_rays_with_the_documented_parameters():
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2

    cfg = parse_population(
        {"name": "pbt", "perturbation_interval": 25, "perturbation_factors": [2, 0.5]}, "t"
    )
    pbt = make_scheduler(cfg, "min", (0.1, 1.0))
    assert type(pbt) is PopulationBasedTraining
    assert (pbt._perturbation_interval, pbt._perturbation_factors) == (25, (2.0, 0.5))
    assert pbt._hyperparam_mutations["lr"].lower == 0.1 and pbt._synch is True
    cfg = parse_population({"name": "pb2", "perturbation_interval": 25, "synch": False}, "t")
    pb2 = make_scheduler(cfg, "max", (0.01, 1.0))
    assert type(pb2) is PB2 and pb2._hyperparam_bounds == {"log10_lr": [-2.0, 0.0]}
    assert pb2._synch is False

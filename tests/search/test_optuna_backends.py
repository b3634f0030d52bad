"""Optuna samplers, pruners and storages are chosen by name or URL scheme."""

import optuna
import pytest

from search.optuna_backends import PRUNERS, SAMPLERS, make_pruner, make_sampler
from search.optuna_segments import OptunaController
from search.storage import STORAGES, open_storage, storage_scheme
from search.tune import load_tune_config, tune


def test_samplers_by_name():
    assert SAMPLERS.names() == ["gp", "random", "tpe"]
    tpe = make_sampler("tpe", 3, 7)
    assert isinstance(tpe, optuna.samplers.TPESampler) and tpe._n_startup_trials == 7
    assert isinstance(make_sampler("gp", 3, 2), optuna.samplers.GPSampler)
    assert isinstance(make_sampler("random", 3, 2), optuna.samplers.RandomSampler)
    # the seed reaches the sampler: equal seeds draw equal values
    draws = []
    for _ in range(2):
        study = optuna.create_study(sampler=make_sampler("random", 11, 0))
        draws.append(study.ask().suggest_float("x", 0.0, 1.0))
    assert draws[0] == draws[1]
    with pytest.raises(ValueError, match=r"sampler: unknown sampler 'tpee' \(did you mean 'tpe'"):
        make_sampler("tpee", 0, 2)


def test_pruners_by_name():
    assert PRUNERS.names() == ["hyperband", "median", "none"]
    median = make_pruner("median")
    assert isinstance(median, optuna.pruners.MedianPruner) and median._n_startup_trials == 3
    assert isinstance(make_pruner("hyperband"), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match=r"pruner: unknown pruner 'medain' \(did you mean"):
        make_pruner("medain")


def test_config_and_controller_checks_name_the_key():
    base = {"task": "toy", "family": "constant", "params": {"lr": {"low": 0.01, "high": 1}}}
    with pytest.raises(ValueError, match=r"sampler must be one of .*did you mean 'random'"):
        load_tune_config({**base, "sampler": "randm"})
    with pytest.raises(ValueError, match=r"pruner must be one of .*did you mean 'hyperband'"):
        load_tune_config({**base, "pruner": "hyperbnd"})
    assert load_tune_config({**base, "sampler": "gp", "pruner": "none"}).sampler == "gp"
    with pytest.raises(ValueError, match=r"sampler must be one of .*did you mean 'gp'"):
        OptunaController(sampler="gpp")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("sqlite:///x.db", "sqlite"),
        ("postgresql+psycopg2://u@h/db", "postgresql"),
        ("postgresql://u@h/db", "postgresql"),
        ("journal:out/study.journal", "journal"),
        ("out/study.journal", "journal"),
        ("memory:a", "memory"),
    ],
)
def test_storage_schemes(url, scheme):
    assert storage_scheme(url) == scheme and scheme in STORAGES


def test_storages_by_url(tmp_path):
    journal = open_storage(str(tmp_path / "j" / "study.journal"))
    assert isinstance(journal, optuna.storages.JournalStorage)
    assert (tmp_path / "j").is_dir()
    assert isinstance(open_storage(f"journal:{tmp_path}/k.journal"), optuna.storages.JournalStorage)
    rdb = open_storage(f"sqlite:///{tmp_path / 's.db'}", max_retry=5)
    assert isinstance(rdb, optuna.storages.RDBStorage) and rdb.heartbeat_interval == 10
    assert rdb.failed_trial_callback._max_retry == 5
    memory = open_storage("memory:one")
    assert isinstance(memory, optuna.storages.InMemoryStorage)
    assert open_storage("memory:one") is memory and open_storage("memory:two") is not memory
    with pytest.raises(ValueError, match=r"unknown storage scheme 'postgres' \(did you mean"):
        open_storage("postgres://u@h/db")


def test_tune_in_memory(tmp_path):
    cfg = {
        "task": "toy",
        "family": "constant",
        "params": {"lr": {"low": 0.01, "high": 0.3, "log": True}},
        "budget_steps": 40,
        "eval_every": 20,
        "interval": 20,
        "trials": 2,
        "pruner": "none",
        "storage": "memory:tune-test",
        "out": str(tmp_path / "out"),
    }
    result = tune(cfg)
    assert result.counts["complete"] == 2 and 0.01 <= result.params["lr"] <= 0.3
    assert not (tmp_path / "out" / "study.journal").exists()
    with pytest.raises(ValueError, match="lives in one process; --workers 2 needs a file"):
        tune(cfg, workers=2)

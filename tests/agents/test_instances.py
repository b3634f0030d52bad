import numpy as np
import pytest

from agents.instances import DEFAULT_INSTANCES, InstanceSet


def test_sampling_is_a_function_of_the_rng(small):
    a = [InstanceSet(small).sample("train", np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    draws = [InstanceSet(small).sample("train", np.random.default_rng(s)) for s in range(30)]
    assert {d.task["dim"] for d in draws} == {10, 20}
    assert all(0.25 <= d.lr <= 0.5 for d in draws)  # nqm lr 0.5 × log-uniform [0.5, 1]
    assert all(d.budget_steps == 40 and d.interval == 10 for d in draws)


def test_enumerate_lists_every_test_instance():
    insts = InstanceSet().enumerate("test")
    assert len(insts) == 2 * 2 * 2 * 5
    assert len({i.key() for i in insts}) == 8
    assert {i.seed for i in insts} == set(DEFAULT_INSTANCES["test"][0]["seeds"])


def test_test_and_train_values_are_disjoint():
    train, test = DEFAULT_INSTANCES["train"][0], DEFAULT_INSTANCES["test"][0]
    assert not set(train["params"]["dim"]) & set(test["params"]["dim"])
    assert not set(train["params"]["batch_size"]) & set(test["params"]["batch_size"])
    assert min(test["seeds"]) >= train["seeds"]["high"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"train": [{"task": "nqm", "bogus": 1}]}, "unknown key 'bogus'"),
        ({"train": [{"task": {"dim": 3}}]}, r"instances.train\[0\].task must be a mapping"),
        ({"train": [{"task": "nqm", "params": {"dim": []}}]}, "params.dim must be a non-empty"),
        ({"train": [{"task": "nqm", "lr_factor": {"low": 0, "high": 1, "log": True}}]}, "low > 0"),
        ({"train": [{"task": "nqm", "interval": 0}]}, "interval must be an integer >= 1, got 0"),
        ({"train": [{"task": "nqm", "params": {"width": [3]}}]}, "unknown parameter 'width'"),
        ({"valid": []}, "unknown split 'valid'"),
    ],
)
def test_bad_specs_name_the_field(spec, match):
    full = {"test": DEFAULT_INSTANCES["test"], **spec}
    with pytest.raises(ValueError, match=match):
        InstanceSet(full)


def test_distributions_cannot_be_enumerated(small):
    with pytest.raises(ValueError, match=r"instances.train\[0\].lr_factor must be a list"):
        InstanceSet(small).enumerate("train")


def test_the_old_key_lr_scale_still_reads_as_lr_factor():
    from agents.instances import Family

    assert Family.model_validate({"task": "nqm", "lr_scale": [0.5]}).lr_factor == [0.5]
    with pytest.raises(ValueError, match="lr_scale must be absent when lr_factor is given"):
        Family.model_validate({"task": "nqm", "lr_scale": [0.5], "lr_factor": [1.0]})

"""The shipped cross-family instance set, set names, leave-one-family-out."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from agents.instances import (
    DEFAULT_INSTANCES,
    InstanceSet,
    leave_one_family_out,
    load_instance_set,
    shipped_sets,
)
from agents.metatrain import check_config as meta_config
from agents.rltrain import check_config as train_config

FAMILIES = {
    "vision": {"digits-cnn", "mnist1d-mlp", "mnist1d-cnn"},
    "language": {"stdlib-lm"},
    "synthetic": {"nqm", "powerlaw"},
}
# the parameters whose train and test values must not meet (where an entry varies them)
DISJOINT = (
    "width",
    "batch_size",
    "data_seed",
    "seq_len",
    "dim",
    "corpus_bytes",
    "alpha",
    "weight_decay",
    "beta",
    "noise",
)


def _values(entry: dict[str, Any], key: str) -> Any:
    """A fixed value (a one-item list), a list or a {low, high} of an entry, or None."""
    if key in entry["task"]:
        return [entry["task"][key]]
    return entry.get("params", {}).get(key)


def _meets(a: Any, b: Any) -> bool:
    def span(v: Any) -> tuple[float, float] | None:
        return (v["low"], v["high"]) if isinstance(v, dict) else None

    if span(a) and span(b):
        return not (span(a)[1] < span(b)[0] or span(b)[1] < span(a)[0])
    if span(a) or span(b):
        dist, items = (a, b) if span(a) else (b, a)
        return any(dist["low"] <= x <= dist["high"] for x in items)
    return bool(set(a) & set(b))


def test_the_shipped_set_loads_by_name_with_three_labelled_families():
    assert "families" in shipped_sets()
    spec = load_instance_set("families")
    assert set(spec) == {"train", "test"}
    sets = InstanceSet("families")
    assert sets.labels() == ["vision", "language", "synthetic"]
    for split in ("train", "test"):
        names = {label: set() for label in FAMILIES}
        for fam in sets.families[split]:
            names[fam.family].add(fam.task["name"])
        assert names == FAMILIES, split
    assert InstanceSet().labels() == []  # the nqm set is unchanged and unlabelled


def test_train_and_test_values_and_seeds_are_disjoint_in_every_family():
    spec = load_instance_set("families")
    checked = Counter()
    for test in spec["test"]:
        train = [t for t in spec["train"] if t["task"]["name"] == test["task"]["name"]]
        assert train and all(t["family"] == test["family"] for t in train)
        for entry in train:
            assert max(entry["seeds"]["high"], 0) < min(test["seeds"]), test["task"]
            for key in DISJOINT:
                a, b = _values(entry, key), _values(test, key)
                if a is not None and b is not None:
                    assert not _meets(a, b), (test["task"]["name"], key, a, b)
                    checked[test["family"]] += 1
    assert all(checked[f] >= 4 for f in FAMILIES), checked


def test_every_test_instance_builds_and_keys_are_distinct_per_budget():
    insts = InstanceSet("families").enumerate("test")
    assert len(insts) == 8 * 5
    assert len({i.key() for i in insts}) == 8
    assert {i.seed for i in insts} == set(range(10000, 10005))
    assert all(5 <= i.budget_steps // i.interval <= 60 for i in insts)


def test_sampled_decisions_lr_factors_and_families_are_in_range():
    sets = InstanceSet("families")
    rng = np.random.default_rng(0)
    draws = [sets.sample("train", rng) for _ in range(600)]
    decisions = [d.budget_steps / d.interval for d in draws]
    assert min(decisions) >= 5 and max(decisions) <= 60
    assert len(set(decisions)) > 5
    assert all(d.seed < 10000 for d in draws)
    labels = Counter(
        next(f for f, names in FAMILIES.items() if d.task["name"] in names) for d in draws
    )
    assert all(150 < n < 250 for n in labels.values()), labels  # a family, then an entry
    for fam in sets.families["train"]:
        assert fam.lr_factor == {"low": 0.3, "high": 3.0, "log": True}
        budgets, intervals = fam.budget_steps, fam.interval
        assert min(budgets) / max(intervals) >= 5 and max(budgets) / min(intervals) <= 60
    optimizers = {d.task.get("optimizer") for d in draws if d.task["name"] != "nqm"}
    assert optimizers == {"sgd", "sgd-plain", "adam", "adamw"}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_leave_one_family_out_trains_on_the_others_and_tests_on_it(family):
    sets = InstanceSet({"set": "families", "leave_out": family})
    train_labels = {f.family for f in sets.families["train"]}
    assert train_labels == set(FAMILIES) - {family}
    assert {f.family for f in sets.families["test"]} == {family}
    full = load_instance_set("families")
    assert len(sets.families["train"]) == sum(f["family"] != family for f in full["train"])
    assert len(sets.families["test"]) == sum(f["family"] == family for f in full["test"])
    assert leave_one_family_out(full, family)["test"] == [
        f for f in full["test"] if f["family"] == family
    ]
    # the same from a spec given in full
    assert InstanceSet({**full, "leave_out": family}).enumerate("test") == sets.enumerate("test")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"set": "families", "leave_out": "visoin"},
            r"unknown family 'visoin' \(did you mean 'vision'\?\); families: vision, language",
        ),
        ({"set": "familes"}, r"unknown instance set 'familes' \(did you mean 'families'\?\)"),
        ("famlies", r"unknown instance set 'famlies' \(did you mean 'families'\?\)"),
        ({"set": "families", "train": []}, "give a shipped set's name or train and test"),
        ({**DEFAULT_INSTANCES, "leave_out": "synthetic"}, r"instances.train\[0\] has none"),
        ({"set": "families", "leave_out": 3}, "leave_out must be a family label, got 3"),
        ({"set": "families", "leave_ot": "vision"}, r"did you mean 'leave_out'"),
    ],
)
def test_bad_set_names_and_families_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        InstanceSet(spec)


def test_a_one_family_set_cannot_leave_its_family_out():
    spec = {k: [{**f, "family": "synthetic"} for f in v] for k, v in DEFAULT_INSTANCES.items()}
    with pytest.raises(ValueError, match="leaves no family to train on"):
        leave_one_family_out(spec, "synthetic")


def test_two_budgets_for_one_key_cannot_be_enumerated():
    fam = {"task": "nqm", "lr_factor": [1.0], "seeds": [1], "budget_steps": [100, 200]}
    with pytest.raises(ValueError, match="appears with two budgets or intervals"):
        InstanceSet({"train": [fam], "test": [fam]}).enumerate("test")


def test_budget_and_interval_lists_are_checked():
    fam = {"task": "nqm", "budget_steps": [100, 0]}
    with pytest.raises(ValueError, match="budget_steps must be an integer >= 1, got 0"):
        InstanceSet({"train": [fam], "test": DEFAULT_INSTANCES["test"]})


def test_the_trainers_configs_take_a_set_name_and_leave_out():
    assert meta_config({"instances": "families"})["instances"] == "families"
    lofo = {"set": "families", "leave_out": "language"}
    assert train_config({"instances": lofo})["instances"] == lofo
    with pytest.raises(ValueError, match="unknown family 'langauge'"):
        meta_config({"instances": {"set": "families", "leave_out": "langauge"}})

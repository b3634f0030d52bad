"""The shipped policies and instance sets are package data: a wheel carries them.

setup.cfg's ``packages = find:`` takes only folders with an ``__init__.py``, and its
``package_data`` (``*.yaml, *.pt, *.json``) only files inside those packages; before the
folders were packages, a non-editable install had no default policy and no instance set.
"""

from importlib import resources

from agents.instances import InstanceSet


def test_the_shipped_data_folders_are_packages_holding_their_files():
    policies = resources.files("agents.policies")
    assert policies.joinpath("meta_default.json").is_file()
    assert policies.joinpath("rl_default.pt").is_file()
    assert resources.files("agents.instance_sets").joinpath("families.yaml").is_file()


def test_the_families_set_loads_by_name():
    names = {inst.task["name"] for inst in InstanceSet("families").enumerate("test")}
    assert {"digits-cnn", "stdlib-lm", "nqm", "powerlaw"} <= names

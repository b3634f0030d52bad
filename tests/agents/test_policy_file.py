"""A policy's kind is read from the file's declared format, not from its name."""

import shutil

import pytest
import torch

from agents.instances import InstanceSet
from agents.meta import DEFAULT_POLICY, MetaController
from agents.policy_file import declared_format, policy_kind, policy_spec
from autolr.controllers.base import build_controller


def test_the_file_not_its_extension_decides_the_kind(tmp_path):
    renamed = tmp_path / "policy.pt"  # a meta policy with an RL-looking name
    shutil.copy(DEFAULT_POLICY, renamed)
    assert declared_format(renamed) == "autolr-meta-policy"
    assert policy_kind(renamed) == "meta" and policy_kind("meta") == "meta"
    rl = tmp_path / "policy.json"  # an RL-format torch file with a JSON-looking name
    torch.save({"format": "autolr-rl-policy", "algo": "ppo"}, rl)
    assert policy_kind(rl) == "rl"


def test_a_spec_builds_the_declared_kind(tmp_path, small):
    inst = InstanceSet(small).enumerate("test")[0]
    renamed = tmp_path / "policy.bin"
    shutil.copy(DEFAULT_POLICY, renamed)
    spec = policy_spec(str(renamed))
    assert spec == {"name": "meta", "policy": str(renamed.resolve())}
    controller = build_controller({**spec, "lr": inst.lr})
    assert isinstance(controller, MetaController) and controller.lr == inst.lr
    assert policy_spec("meta")["policy"] == str(DEFAULT_POLICY.resolve())
    rl = tmp_path / "policy.json"
    torch.save({"format": "autolr-rl-policy", "algo": "dqn"}, rl)
    with pytest.raises(ValueError, match=r"RL policy \S*policy.json"):
        policy_spec(str(rl))  # read by the RL loader, whatever the suffix


def test_unknown_and_unreadable_files_fail_clearly(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="declares format 'something-else'; expected one of"):
        policy_kind(other)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\xff not a policy")
    with pytest.raises(ValueError, match="neither a torch nor a JSON file"):
        policy_kind(garbage)
    with pytest.raises(FileNotFoundError, match="no such policy file"):
        policy_kind(tmp_path / "missing.json")

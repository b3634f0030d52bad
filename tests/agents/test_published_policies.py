"""The leave-one-family-out policies that docs/agents.md reports still load under the
current feature version: a bump of ``FEATURE_VERSION`` without retraining them fails here,
not in a reader's `autolr run`. And every committed RL policy file is in the form
``save_torch`` writes, so that a retraining on the same machine kind can be compared with it
byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agents.policy_file import policy_kind, policy_spec
from agents.rl import DEFAULT_POLICY
from autolr.running.io import save_torch

LOFO = Path(__file__).resolve().parents[2] / "docs" / "results" / "agents-lofo"
POLICIES = sorted([*LOFO.glob("*/meta_*.json"), *LOFO.glob("*/rl_*.pt")])


def test_every_reported_policy_is_found():
    folders = {p.parent.name for p in POLICIES}
    assert folders == {
        "all",
        "vision",
        "language",
        "synthetic",
        "rl-vision",
        "rl-language",
        "rl-synthetic",
    }


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_reported_policy_loads(path: Path):
    spec = policy_spec(str(path))  # builds the controller: refused under another version
    assert spec == {"name": policy_kind(path), "policy": str(path)}
    assert spec["name"] == ("rl" if path.suffix == ".pt" else "meta")


@pytest.mark.parametrize(
    "path",
    [DEFAULT_POLICY, *(p for p in POLICIES if p.suffix == ".pt")],
    ids=lambda p: p.name,
)
def test_a_committed_rl_policy_is_what_save_torch_writes(path: Path, tmp_path):
    again = save_torch(torch.load(path, map_location="cpu", weights_only=True), tmp_path / "p.pt")
    assert again.read_bytes() == path.read_bytes()

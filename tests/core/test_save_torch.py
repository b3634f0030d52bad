"""``save_torch``: atomic, and the same bytes for the same object, whatever temporary name
the atomic write used (torch names a zip archive's root folder after the file it writes)."""

from __future__ import annotations

import zipfile

import pytest
import torch

from autolr.running.io import save_torch

STATE = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": 7, "name": "x"}


def test_the_same_object_saves_as_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert save_torch(STATE, a) == a
    first = a.read_bytes()
    save_torch(STATE, a)  # a second write goes through another temporary file
    save_torch(STATE, b)
    assert a.read_bytes() == first == b.read_bytes()
    roots = {name.split("/")[0] for name in zipfile.ZipFile(a).namelist()}
    assert roots == {"archive"}
    back = torch.load(a, weights_only=True)
    assert torch.equal(back["w"], STATE["w"]) and back["step"] == 7 and back["name"] == "x"


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "p.pt"
    save_torch(STATE, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - torch's pickler raises its own types
        save_torch({"f": lambda: 0}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pt"]

"""Each integration module says which extra to install when its library is missing."""

from __future__ import annotations

import importlib
import sys

import pytest

from autolr.integrations.extras import MissingExtra, require


@pytest.mark.parametrize(
    "module, library, extra",
    [
        ("autolr.integrations.lightning", "lightning", "lightning"),
        ("autolr.integrations.transformers", "transformers", "hf"),
        ("autolr.integrations.transformers", "accelerate", "hf"),
    ],
)
def test_a_missing_library_names_its_extra(monkeypatch, module, library, extra):
    monkeypatch.delitem(sys.modules, module, raising=False)  # imported afresh
    monkeypatch.setitem(sys.modules, library, None)  # importing it now fails
    with pytest.raises(MissingExtra, match=rf"needs the '{library}' package, .*autolr\[{extra}\]"):
        importlib.import_module(module)


def test_a_library_missing_a_dependency_of_its_own_shows_that(tmp_path, monkeypatch):
    # installed, but broken: the error is the library's, not a hint to install the extra
    (tmp_path / "brokenlib").mkdir()
    (tmp_path / "brokenlib" / "__init__.py").write_text("import dependency_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="dependency_not_there") as err:
        require("brokenlib", "broken", "a test")
    assert not isinstance(err.value, MissingExtra)

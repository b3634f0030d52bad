"""LAW.json: round trip, and a clear error naming the field for a bad or corrupt file."""

import json
import math

import pytest

from autolr.laws import Law, LawFileError, load
from tests.laws.curves import MPL, TISSUE


def test_round_trip(tmp_path):
    law = Law("tissue", TISSUE, {"r2": math.nan, "runs": [{"source": "a", "r2": 0.9}]})
    path = tmp_path / "law.json"
    law.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "autolr-law" and data["version"] == 1 and data["form"] == "tissue"
    assert data["fit"]["r2"] is None  # NaN is no JSON: written as null
    back = load(path)
    assert back.form.name == "tissue" and back.params == TISSUE
    assert back.fit["runs"] == [{"source": "a", "r2": 0.9}]
    assert Law.load(path).params == TISSUE


def good() -> dict:
    return {"format": "autolr-law", "version": 1, "form": "mpl", "params": dict(MPL), "fit": {}}


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"is not valid JSON \(Expecting value at line 1 column 1\)"),
        ('{"form": "mpl",', r"is not valid JSON"),
        ("[1, 2]", r"a law file holds a JSON object, got list"),
        ({k: v for k, v in good().items() if k != "form"}, r"field 'form' is missing"),
        ({**good(), "format": "other"}, r"field 'format' is 'other', expected 'autolr-law'"),
        ({**good(), "version": 2}, r"field 'version' is 2; this autolr reads law files up to"),
        ({**good(), "version": "1"}, r"field 'version' must be an integer >= 1, got '1'"),
        ({**good(), "form": "power"}, r"field 'form' is 'power'; known forms: mpl, tissue"),
        ({**good(), "params": {**MPL, "alpha": -2}}, r"field params\.alpha must be in \(0, inf\)"),
        ({**good(), "params": {**MPL, "beta": "x"}}, r"field params\.beta must be a number"),
        ({**good(), "params": [1, 2]}, r"field params must be a mapping"),
        ({**good(), "fit": 3}, r"field 'fit' must be an object, got 3"),
    ],
)
def test_bad_files_name_the_field(tmp_path, content, message):
    path = tmp_path / "law.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(LawFileError, match=message):
        load(path)


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "law.json"
    path.write_bytes(b"\x89PNG\xff\xfe\x00")
    with pytest.raises(LawFileError, match="not a law file"):
        load(path)
    with pytest.raises(FileNotFoundError, match="no law file at"):
        load(tmp_path / "missing.json")

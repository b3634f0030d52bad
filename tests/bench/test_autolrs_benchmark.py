"""benchmarks/autolrs.py: its suite runs through ``autolr bench`` and its table is right."""

import numpy as np
import pytest

from autolr.bench import ResultsStore
from autolr.bench.store_location import store_url
from benchmarks.autolrs import main, suite, table


def test_suite_is_the_documented_protocol():
    s = suite(["mnist1d-cnn"], None, 3, 1000, ["autolrs"])
    assert s["grid"] == {"points": 7, "span": 8}  # lr * 2**j, j = -3..3
    assert s["seeds"] == [0, 1, 2] and s["tuning_seeds"] == [1000]
    assert [b["name"] for b in s["baselines"]] == ["cosine", "step"]
    assert s["tasks"] == [{"name": "mnist1d-cnn"}]  # the task's default budget


def test_tiny_run_and_table(tmp_path, capsys):
    out = tmp_path / "b"
    # 100 steps fit no stage of the paper preset (tau0 = 100): "autolrs-fast" searches
    args = ["--tasks", "toy", "--budget", "100", "--variants", "autolrs", "autolrs-fast"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    store = ResultsStore(store_url(None, out), create=False)
    try:
        cells = store.done_cells("autolrs")
        assert len(cells) == 2 * 7 + 2 * 3 + 2 * 3  # tuning grids, tuned baselines, autolrs
        cos = [c for c in cells if c["track"] == "eval" and c["method"] == "cosine"]
        target = np.mean([c["summary"]["final_val_metric"] for c in cos])
        lines = table(store, "autolrs")
    finally:
        store.close()
    assert f"mean final neg_loss: {target:.4f}" in printed
    paper = next(line for line in lines if line.startswith("| autolrs |"))
    assert [x.strip() for x in paper.split("|")[1:-1]][1] == "-"  # no peak lr
    row = next(line for line in lines if line.startswith("| autolrs-fast |"))
    cells_ = [x.strip() for x in row.split("|")[1:-1]]
    assert cells_[1] == "-" and float(cells_[7]) > 0  # no peak lr; probe steps charged
    assert -1.0 <= float(cells_[9]) <= 1.0  # forecast rho from the run's summary
    cos_row = next(line for line in lines if line.startswith("| cosine |"))
    assert cos_row.split("|")[3].strip().startswith(f"{target:.4f}")


def test_bad_arguments_and_missing_store(tmp_path):
    with pytest.raises(SystemExit):
        main(["--seeds", "2"])
    with pytest.raises(FileNotFoundError, match=r"no results database at .*missing"):
        main(["--from", str(tmp_path / "missing")])
    # a folder holding a store: suites it does not hold are named
    ResultsStore(store_url(None, tmp_path)).close()
    with pytest.raises(ValueError, match="no finished runs of suite 'nope'"):
        main(["--from", str(tmp_path), "--suite", "nope"])


def test_variants_name_their_presets():
    from benchmarks.autolrs import VARIANTS

    assert VARIANTS["autolrs"] == {"name": "autolrs"}  # the default preset: paper
    assert VARIANTS["autolrs-paper"]["preset"] == "paper"
    assert VARIANTS["autolrs-fast"] == {"name": "autolrs", "preset": "fast"}
    s = suite(["toy"], 100, 3, 1000, list(VARIANTS))
    assert [c["label"] for c in s["controllers"]] == list(VARIANTS)

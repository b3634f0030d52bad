"""benchmarks/auto_paired.py: two methods paired on the same seeds, from a tiny real suite
(nqm, 60 steps) run into a store."""

import math

import pytest
import yaml

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import final_of
from autolr.bench.harness import load_suite, suite_plan
from autolr.bench.stats import mean_ci
from benchmarks.auto_paired import main, paired, render

SUITE = {
    "name": "pairs",
    "seeds": [0, 1, 2],
    "tuning_seeds": [1000],
    "interval": 10,
    "tasks": [{"name": "nqm", "budget_steps": 60, "eval_every": 20}],
    "baselines": [
        {"name": "cosine", "warmup_steps_frac": 0.05, "tuned": False, "label": "cosine-default"}
    ],
    "controllers": [{"name": "auto"}],
    "replay": False,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    out = tmp_path_factory.mktemp("auto_paired")
    db = out / "results.db"
    bench(SUITE, out=out / "pairs", store=str(db))
    s = ResultsStore(f"sqlite:///{db}", create=False)
    yield s, db
    s.close()


def finals(store, method):
    cells = [c for c in store.done_cells("pairs") if c["method"] == method]
    return {c["seed"]: final_of(c["summary"]) for c in cells if c["track"] != "tune"}


def test_paired_differences_are_per_seed(stored):
    store, _ = stored
    (row,) = paired(store, {"pairs": None}, "auto", "cosine-default")
    a, b = finals(store, "auto"), finals(store, "cosine-default")
    assert sorted(a) == sorted(b) == [0, 1, 2] == row["seeds"]
    diffs = [a[s] - b[s] for s in (0, 1, 2)]
    assert all(map(math.isfinite, diffs)) and any(d != 0 for d in diffs)
    assert (row["diff"], row["ci"]) == pytest.approx(mean_ci(diffs))
    # nqm's loss: lower is better, so a seed where auto's final is lower is a win
    assert row["better"] == sum(d < 0 for d in diffs)
    assert row["worse"] == sum(d > 0 for d in diffs)
    assert row["better"] + row["equal"] + row["worse"] == 3 and row["nonfinite"] == 0
    lo, hi = row["diff"] - row["ci"], row["diff"] + row["ci"]
    want = "better" if hi < 0 else "worse" if lo > 0 else "tied"
    assert row["verdict"] == want
    # each side's divergences and rollbacks, summed from its runs' summaries
    cells = store.done_cells("pairs")
    for i, method in enumerate(("auto", "cosine-default")):
        runs = [c["summary"] for c in cells if c["method"] == method and c["track"] != "tune"]
        runs = [s for s in runs if s is not None]
        assert row["diverged"][i] == sum(bool(s["diverged"]) for s in runs)
        assert row["rollbacks"][i] == sum(s["rollbacks"] for s in runs)


def test_a_method_against_itself_is_equal_on_every_seed(stored):
    store, _ = stored
    (row,) = paired(store, {"pairs": None}, "auto", "auto")
    assert (row["diff"], row["ci"]) == (0.0, 0.0)
    assert (row["better"], row["equal"], row["worse"]) == (0, 3, 0)
    assert row["verdict"] == "tied"
    text = render([row], "auto", "auto")
    assert "| pairs | nqm (min) | 3 |" in text
    assert "better on 0, equal on 3, worse on 0" in text
    n = row["rollbacks"][0]
    assert row["rollbacks"][0] == row["rollbacks"][1] and f"| 0 / 0 | {n:g} / {n:g} |" in text
    assert f"Divergences: `auto` 0, `auto` 0; rollbacks: `auto` {n:g}, `auto` {n:g}." in text
    # a method the store does not hold: no row
    assert paired(store, {"pairs": None}, "auto", "wsd") == []


def test_the_cli_reads_the_suite_files_plan(stored, tmp_path, capsys):
    store, db = stored
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    assert set(suite_plan(load_suite(path), store).values()) == {"auto", "cosine-default"}
    out = tmp_path / "paired.md"
    args = ["--store", str(db), "--suites", str(path), "--b", "cosine-default"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    (row,) = paired(store, {"pairs": None}, "auto", "cosine-default")
    assert f"{row['better']}, equal on {row['equal']}" in printed
    with pytest.raises(SystemExit):  # no such method: a clear error, not an empty table
        main(["--store", str(db), "--suites", str(path), "--b", "nope"])
    assert "'nope'" in capsys.readouterr().err

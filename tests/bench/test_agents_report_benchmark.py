"""benchmarks/agents_report.py: the policies' table from a tiny real ``cpu-agents`` suite
(nqm, 60 steps) run into a store."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import final_of
from autolr.bench.standings import verdict
from autolr.bench.stats import mean_ci, welch_ci
from benchmarks.agents_report import REFERENCES, main, policy_table, rates, render

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "bench" / "cpu-agents.yaml"
WSD = {"name": "wsd", "warmup_steps_frac": 0.05, "decay_steps_frac": 0.2}
SUITE = {
    "name": "cpu-agents",
    "seeds": [0, 1, 2],
    "tuning_seeds": [1000],
    "interval": 10,
    "grid": {"points": 2, "span": 2},
    "tasks": [{"name": "nqm", "budget_steps": 60, "eval_every": 20}],
    # no tuned cosine: its column stays "–" and out of the counts
    "baselines": [
        {"name": "constant"},
        WSD,
        {**WSD, "tuned": False, "label": "wsd-base"},
        {"name": "cosine", "warmup_steps_frac": 0.05, "tuned": False, "label": "cosine-default"},
    ],
    "controllers": [{"name": "meta"}, {"name": "rl"}],
    "replay": True,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("agents_report")
    bench(SUITE, out=out, store=str(out / "results.db"))
    s = ResultsStore(f"sqlite:///{out / 'results.db'}", create=False)
    yield s
    s.close()


def finals(store, method):
    cells = [c for c in store.done_cells("cpu-agents") if c["method"] == method]
    cells = [c for c in cells if c["track"] != "tune"]
    return [final_of(c["summary"]) for c in sorted(cells, key=lambda c: c["seed"])]


def test_the_table_holds_the_stored_finals(store):
    rows = policy_table(store)
    assert [(e["task"], e["policy"]["method"]) for e in rows] == [("nqm", "meta"), ("nqm", "rl")]
    for e in rows:
        mine = finals(store, e["policy"]["method"])
        assert len(mine) == 3 and all(map(math.isfinite, mine))
        assert (e["policy"]["mean"], e["policy"]["ci"]) == pytest.approx(mean_ci(mine))
        base = finals(store, "wsd-base")
        diff, ci = welch_ci(mine, base)
        vs = e["vs"]["wsd-base"]
        assert (vs.diff, vs.ci) == pytest.approx((diff, ci))
        assert vs.verdict == verdict(diff, ci, -1.0)  # a loss: lower is better
        assert e["ahead"]["wsd-base"] == (np.mean(mine) < np.mean(base))
        assert e["ahead"]["constant"] == (np.mean(mine) <= np.mean(finals(store, "constant")))
        assert e["refs"]["cosine-warmup"] is None and e["vs"]["cosine-warmup"] is None
        assert e["ahead"]["cosine-warmup"] is None
        # the replay, paired by seed: positive means the closed loop was better
        replay = finals(store, f"{e['policy']['method']}-replay")
        paired = [-(a - b) for a, b in zip(mine, replay, strict=True)]
        assert e["replay"].pairs == 3
        assert (e["replay"].advantage, e["replay"].ci) == pytest.approx(mean_ci(paired))


def test_the_counts_add_up(store):
    rows = policy_table(store)
    counted = rates(rows)
    for e in rows:
        r = counted[e["policy"]["method"]]
        assert r["runs"] == 3 and r["diverged"] == e["policy"]["diverged"]
        for label, _, _ in REFERENCES:
            a, n = r["ahead"][label]
            assert n == (e["ahead"][label] is not None) and a == bool(e["ahead"][label])
    text = render(rows)
    line = next(x for x in text.splitlines() if x.startswith("| meta |"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[4] == "–"  # no tuned cosine ran
    a, n = counted["meta"]["ahead"]["wsd-base"]
    assert cells[1] == f"{a}/{n}" and n == 1


def test_main_prints_and_writes(store, tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    out = tmp_path / "agents.md"
    db = store.engine.url.database
    assert main(["--store", db, "--suite", str(suite), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert "## The learned policies on the CPU suite's tasks" in printed
    assert "| nqm | rl |" in printed
    with pytest.raises(FileNotFoundError):
        main(["--store", str(tmp_path / "missing.db"), "--suite", ""])
    assert "No run of suite" in render([])


def test_the_shipped_suite_has_every_reference_and_the_policies_base():
    from agents.actions import DECAY_FRACTION, WARMUP_FRACTION

    raw = yaml.safe_load(SHIPPED.read_text())
    labels = {b.get("label", b["name"]): b for b in raw["baselines"]}
    assert {label for label, _, _ in REFERENCES} <= set(labels)
    base = labels["wsd-base"]
    assert base["tuned"] is False
    assert (base["warmup_steps_frac"], base["decay_steps_frac"]) == (
        WARMUP_FRACTION,
        DECAY_FRACTION,
    )
    assert [c["name"] for c in raw["controllers"]] == ["meta", "rl"] and raw["replay"]

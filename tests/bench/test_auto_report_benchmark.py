"""benchmarks/auto_report.py: the initial-LR table, from tiny real suites
named ``cpu`` and ``cpu-lr`` (nqm, 60 steps) run into one store."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from autolr.bench import ResultsStore, bench
from autolr.bench.analysis import final_of
from autolr.bench.harness import load_suite, suite_plan
from autolr.bench.standings import verdict
from autolr.bench.stats import mean_ci, welch_ci
from autolr.loop.trainee import task_info
from benchmarks.auto_report import initial_lr_table, main, render

DEFAULT = {"name": "cosine", "warmup_steps_frac": 0.05, "tuned": False, "label": "cosine-default"}
COMMON = {"seeds": [0, 1, 2], "tuning_seeds": [1000], "interval": 10}
CPU = {
    **COMMON,
    "name": "cpu",
    "grid": {"points": 2, "span": 2},
    "tasks": [{"name": "nqm", "budget_steps": 60, "eval_every": 20}],
    "baselines": [{"name": "constant"}, DEFAULT],
    "controllers": [{"name": "auto"}, {"name": "plateau"}],
    "replay": True,  # auto-replay: a row of track "replay"
}
# only x10: the x0.1 column stays missing
CPU_LR = {
    **COMMON,
    "name": "cpu-lr",
    "tasks": [{"name": "nqm", "lr": 5.0, "label": "nqm-x10", "budget_steps": 60, "eval_every": 20}],
    "baselines": [DEFAULT],
    "controllers": [{"name": "auto"}],
    "replay": False,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("auto_report")
    db = out / "results.db"
    bench(CPU, out=out / "cpu", store=str(db))
    bench(CPU_LR, out=out / "cpu-lr", store=str(db))
    s = ResultsStore(f"sqlite:///{db}", create=False)
    yield s
    s.close()


def finals(store, suite, task, method):
    cells = [c for c in store.done_cells(suite) if (c["task"], c["method"]) == (task, method)]
    cells = [c for c in cells if c["track"] != "tune"]
    return [final_of(c["summary"]) for c in sorted(cells, key=lambda c: c["seed"])]


def test_the_table_holds_the_stored_finals(store):
    (row,) = initial_lr_table(store)
    assert row["task"] == "nqm" and row["mode"] == "min"
    auto1 = finals(store, "cpu", "nqm", "auto")
    assert len(auto1) == 3 and all(map(math.isfinite, auto1))
    assert row["auto"]["x1"]["mean"] == pytest.approx(np.mean(auto1), rel=1e-12)
    assert row["auto"]["x1"]["ci"] == pytest.approx(mean_ci(auto1)[1])
    # the best tuned baseline is the suite's only tuned one, from suite cpu
    assert row["tuned"]["method"] == "constant"
    assert row["tuned"]["mean"] == pytest.approx(np.mean(finals(store, "cpu", "nqm", "constant")))
    # x10 comes from suite cpu-lr's task nqm-x10, against cosine-default at the same LR
    auto10 = finals(store, "cpu-lr", "nqm-x10", "auto")
    default10 = finals(store, "cpu-lr", "nqm-x10", "cosine-default")
    assert row["auto"]["x10"]["mean"] == pytest.approx(np.mean(auto10))
    diff, ci = welch_ci(auto10, default10)
    vs = row["vs_default"]["x10"]
    assert (vs.diff, vs.ci) == pytest.approx((diff, ci))
    assert vs.verdict == verdict(diff, ci, -1.0)  # nqm's loss: lower is better
    assert row["vs_tuned"]["x10"].method == "constant"
    assert row["auto"]["x10"]["runs"] == 3
    # x0.1 was not run: no cells, and "–" in the rendered tables
    assert row["auto"]["x0.1"] is None and row["default"]["x0.1"] is None
    assert row["vs_tuned"]["x0.1"] is None and row["vs_default"]["x0.1"] is None
    text = render([row])
    line = next(x for x in text.splitlines() if x.startswith("| nqm | loss"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[3] == "–" and cells[6] == "–"  # auto x0.1, cosine-default x0.1
    assert cells[4].startswith(f"{np.mean(auto1):.4g} ± ")
    standing = next(x for x in text.splitlines() if x.startswith("| nqm | x0.1 |"))
    assert standing == "| nqm | x0.1 | – | – | – | – | – |"


def test_a_missing_suite_gives_dashes_not_a_crash(store):
    (row,) = initial_lr_table(store, lr_suite="not-run")
    assert row["auto"]["x1"] is not None
    assert all(row[k][m] is None for k in ("auto", "default") for m in ("x0.1", "x10"))
    assert initial_lr_table(store, suite="not-run", lr_suite="not-run") == []
    (only_lr,) = initial_lr_table(store, suite="not-run")
    assert only_lr["tuned"] is None and only_lr["auto"]["x1"] is None
    assert only_lr["vs_tuned"]["x10"] is None and only_lr["vs_default"]["x10"] is not None
    text = render([only_lr])
    assert "| nqm | x10 | – |" in text
    assert "(x1: suite cpu; x0.1 and x10: suite cpu-lr)" in text
    named = render([only_lr], suite="cpu-fresh", lr_suite="cpu-fresh-lr")
    assert "(x1: suite cpu-fresh; x0.1 and x10: suite cpu-fresh-lr)" in named


def test_only_the_planned_runs_are_read(store):
    plans = {"cpu": suite_plan(load_suite(CPU), store)}
    assert initial_lr_table(store, plans=plans) == initial_lr_table(store)
    # a plan without auto's runs (as if its settings had changed since): no auto at x1
    plans["cpu"] = {k: m for k, m in plans["cpu"].items() if not m.startswith("auto")}
    (row,) = initial_lr_table(store, plans=plans)
    assert row["auto"]["x1"] is None and row["default"]["x1"] is not None


def test_main_prints_and_writes(store, tmp_path, capsys):
    db = store.engine.url.database
    out = tmp_path / "auto.md"
    suites = []
    for raw in (CPU, CPU_LR):
        suites.append(tmp_path / f"{raw['name']}.yaml")
        suites[-1].write_text(yaml.safe_dump(raw))
    assert main(["--store", db, "--out", str(out), "--suites", *map(str, suites)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert "## auto with the initial LR off by 10x" in printed and "Wall-time" not in printed
    with pytest.raises(FileNotFoundError):
        main(["--store", str(tmp_path / "missing.db"), "--suites"])


def test_the_shipped_lr_suite_is_the_cpu_suites_tasks_off_by_10x():
    bench_dir = Path(__file__).resolve().parents[2] / "configs" / "bench"
    cpu = yaml.safe_load((bench_dir / "cpu.yaml").read_text())
    raw = yaml.safe_load((bench_dir / "cpu-lr.yaml").read_text())
    assert raw["name"] == "cpu-lr" and raw["replay"] is False
    assert {k: raw[k] for k in ("seeds", "tuning_seeds", "interval")} == {
        k: cpu[k] for k in ("seeds", "tuning_seeds", "interval")
    }
    assert raw["baselines"] == [DEFAULT] and DEFAULT in cpu["baselines"]
    assert raw["controllers"] == [{"name": "auto"}]
    names = [t["name"] for t in cpu["tasks"]]
    expected = [
        {"name": n, "lr": pytest.approx(m * task_info(n).lr), "label": f"{n}-x{m:g}"}
        for n in names
        for m in (0.1, 10)
    ]
    assert raw["tasks"] == expected

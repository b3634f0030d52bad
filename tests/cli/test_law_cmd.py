"""``autolr law fit|predict|optimize``: a round trip on run folders written by hand."""

import csv
import json

import numpy as np
import pytest

from autolr.bench.store import ResultsStore
from autolr.cli import main
from autolr.laws import Law, load, read_run
from autolr.running.config import apply_overrides
from autolr.running.io import load_yaml_arg
from autolr.schedules import build
from tests.laws.curves import MPL, PEAK, noisy_runs, write_metrics

STEPS = 200
COSINE = f"{{name: cosine, lr: {PEAK}, total_steps: {STEPS}, warmup_steps: 10}}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return [
        str(write_metrics(root / name, lrs, losses))
        for name, (lrs, losses) in noisy_runs(Law("mpl", MPL), STEPS).items()
    ]


def test_fit_predict_optimize_round_trip(runs, tmp_path, capsys):
    law_file = tmp_path / "law.json"
    assert (
        main(["law", "fit", *runs, "--out", str(law_file), "--plot", str(tmp_path / "f.png")]) == 0
    )
    out = capsys.readouterr().out
    law = load(law_file)
    assert law.form.name == "mpl" and law.fit["r2"] > 0.999
    assert law.params["L0"] == pytest.approx(MPL["L0"], rel=0.05)
    assert f"fit: R² {law.fit['r2']:.4f} over 3 runs" in out
    assert (tmp_path / "f.png").stat().st_size > 0

    # predict: the final loss printed, the curve in the CSV, the run's actual curve beside it
    cos = runs[1]
    args = ["law", "predict", str(law_file), COSINE, "--steps", str(STEPS), "--run", cos]
    args += ["--csv", str(tmp_path / "p.csv"), "--plot", str(tmp_path / "p.png")]
    assert main(args) == 0
    out = capsys.readouterr().out
    final = law.final_loss(COSINE, STEPS)
    assert f"predicted final loss (step {STEPS}): {final:.6g}" in out
    assert "actual final loss (mean of the last window)" in out
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == STEPS and list(rows[0]) == ["step", "lr", "predicted", "actual"]
    assert float(rows[-1]["predicted"]) == pytest.approx(final, rel=1e-12)
    assert float(rows[-1]["lr"]) == build(load_yaml_arg(COSINE))(STEPS - 1)
    actual = [float(r["actual"]) for r in rows if r["actual"]]
    assert len(actual) == len(read_run(cos).points(2, 0.05)[0])

    # optimize: a spec `autolr schedule` and `autolr run --set controller.schedule=...` read
    spec_file = tmp_path / "opt.yaml"
    args = ["law", "optimize", str(law_file), "--steps", str(STEPS), "--warmup-steps", "10"]
    assert main([*args, "--out", str(spec_file), "--plot", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    text = spec_file.read_text()
    sched = build(load_yaml_arg(str(spec_file)))
    set_ = apply_overrides({"controller": {"name": "plateau"}}, [f"controller.schedule={text}"])
    assert build(set_["controller"]["schedule"]) == sched
    lrs = sched.values(np.arange(STEPS))
    assert lrs.max() == pytest.approx(PEAK) and lrs.min() >= 0.0
    best = law.final_loss(sched, STEPS)
    assert f"predicted final loss: {best:.6g}" in out
    assert best <= law.final_loss(COSINE, STEPS)
    assert main(["schedule", str(spec_file), "--steps", "5"]) == 0


def test_fit_from_a_results_store(tmp_path, capsys):
    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    for i, (name, (lrs, losses)) in enumerate(noisy_runs(Law("mpl", MPL), STEPS).items()):
        cell = {
            "key": f"k{i}",
            "suite": "s",
            "task": "toy",
            "method": name,
            "track": "tune",
            "seed": 0,
            "peak_lr": PEAK,
            "config": {},
        }
        assert store.claim(cell)
        empty = np.array([])
        curves = {"lr": lrs, "train_loss": losses, "step_charged": np.arange(1, STEPS + 1)}
        curves.update({f: empty for f in ("eval_step", "eval_charged", "eval_metric")})
        curves.update({f: empty for f in ("eval_loss", "eval_wall")})
        assert store.finish(f"k{i}", {}, curves)
    store.close()
    law_file = tmp_path / "law.json"
    args = ["law", "fit", "--store", str(tmp_path), "--task", "toy", "--out", str(law_file)]
    methods = ["--method", "cosine", "--method", "two-stage"]
    assert main([*args, "--form", "tissue", *methods, "--free", "lam"]) == 0
    law = load(law_file)
    assert "lam" in law.fit["free"] and law.fit["fixed"] == {}
    assert [r["source"] for r in law.fit["runs"]] == [
        f"s/toy/cosine/tune seed 0 peak {PEAK:g}",
        f"s/toy/two-stage/tune seed 0 peak {PEAK:g}",
    ]
    capsys.readouterr()
    assert main([*args, "--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no run of task 'toy' matches the filters; it has: constant (tune)" in err


def test_errors_exit_2_and_say_why(runs, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.csv").write_text("step,charged,lr,val_loss\n1,1,0.1,\n")
    assert main(["law", "fit", str(bad), "--out", str(tmp_path / "l.json")]) == 2
    assert "missing column 'train_loss'" in capsys.readouterr().err
    assert main(["law", "fit", *runs, "--form", "power", "--out", str(tmp_path / "l.json")]) == 2
    assert "unknown law form 'power'" in capsys.readouterr().err
    assert main(["law", "fit", "--store", str(tmp_path), "--out", str(tmp_path / "l.json")]) == 2
    assert "--store and --task go together" in capsys.readouterr().err
    assert main(["law", "fit", "--out", str(tmp_path / "l.json")]) == 2
    assert "no runs" in capsys.readouterr().err
    assert main(["law", "fit", *runs, "--fix", "B", "--out", str(tmp_path / "l.json")]) == 2
    assert "--fix expects NAME=NUMBER, got 'B'" in capsys.readouterr().err
    assert main(["law", "fit", *runs, "--free", "lam", "--out", str(tmp_path / "l.json")]) == 2
    assert "--free lam: not a parameter of law form 'mpl'" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.json"
    good = {"format": "autolr-law", "version": 1, "form": "mpl", "params": {**MPL, "C": -1}}
    corrupt.write_text(json.dumps(good))
    assert main(["law", "predict", str(corrupt), COSINE, "--steps", "10"]) == 2
    assert "field params.C must be in (0, inf), got -1" in capsys.readouterr().err
    assert main(["law", "optimize", str(corrupt), "--steps", "10", "--out", "x.yaml"]) == 2
    assert "field params.C" in capsys.readouterr().err
    assert not (tmp_path / "l.json").exists()


def test_runs_that_ended_on_a_divergence_are_left_out_of_a_store_fit(tmp_path):
    from autolr.laws.data import from_store

    store = ResultsStore(f"sqlite:///{tmp_path / 'results.db'}")
    empty = np.array([])
    names = []
    for i, (name, (lrs, losses)) in enumerate(noisy_runs(Law("mpl", MPL), STEPS).items()):
        cell = {"key": f"k{i}", "suite": "s", "task": "toy", "method": name, "track": "tune"}
        assert store.claim({**cell, "seed": 0, "peak_lr": PEAK, "config": {}})
        curves = {"lr": lrs, "train_loss": losses, "step_charged": np.arange(1, STEPS + 1)}
        curves.update({f: empty for f in ("eval_step", "eval_charged", "eval_metric")})
        curves.update({f: empty for f in ("eval_loss", "eval_wall")})
        halted = "diverged at step 7 (blow-up loss)" if i == 0 else None
        assert store.finish(f"k{i}", {"halted": halted}, curves)
        names.append(name)
    store.close()
    sources = [c.source for c in from_store(str(tmp_path), "toy")]
    assert len(sources) == len(names) - 1
    assert not any(f"/{names[0]}/" in s for s in sources)

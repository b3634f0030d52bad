"""The bench gives the same results whichever executor runs its cells."""

import numpy as np
import pytest

from autolr.bench import ResultsStore, bench
from autolr.cli import main

SUITE = {
    "name": "tiny",
    "seeds": [0, 1],
    "tuning_seeds": [100],
    "interval": 10,
    "grid": {"points": 2, "span": 4},
    "tasks": [{"name": "toy", "budget_steps": 40, "eval_every": 20}],
    "baselines": [{"name": "constant"}],
    "controllers": [{"name": "plateau", "patience": 1}],
    "replay": False,  # one pool fewer: each phase spawns its own
}


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "time" not in k}
    return value


def _results(out, **kwargs):
    bench(SUITE, out=out, **kwargs)
    store = ResultsStore(f"sqlite:///{out / 'results.db'}")
    try:
        cells = {c["key"]: c for c in store.done_cells("tiny")}
        curves = {key: store.curves(key) for key in cells}
    finally:
        store.close()
    return {k: _untimed(c["summary"]) for k, c in cells.items()}, curves


def test_local_and_pool_executors_give_identical_results(tmp_path):
    local, local_curves = _results(tmp_path / "local", executor="local")
    pool, pool_curves = _results(tmp_path / "pool", executor="pool", workers=2)
    assert len(local) == 2 + 2 + 2  # tune, eval, self
    assert local == pool
    for key, curves in local_curves.items():
        for name in ("lr", "train_loss", "eval_metric", "step_charged"):
            np.testing.assert_array_equal(curves[name], pool_curves[key][name])


def test_an_unknown_executor_is_refused_before_anything_runs(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(str(SUITE).replace("'", '"'))
    code = main(["bench", str(suite), "--executor", "pol", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown executor 'pol' (did you mean 'pool'?)" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="executor 'local' runs one job at a time"):
        bench(SUITE, out=tmp_path / "o", executor="local", workers=2)

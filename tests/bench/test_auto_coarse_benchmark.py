"""benchmarks/auto_coarse.py: the coarse round alone, charged, on a real task."""

import json
import math

from benchmarks.auto_coarse import coarse_round, main


def test_coarse_round_on_nqm(capsys):
    out = coarse_round("nqm", 0.02, seed=1000)
    # nqm's budget 1000, lr 0.5: five probes of 3 * round(20 / 3) = 21 steps on a x4 grid
    assert out["lrs"] == [0.5 / 16, 0.5 / 4, 0.5, 2.0, 8.0]
    assert out["probe_steps"] <= 5 * 21 and len(out["scores"]) == 5
    best = min(range(5), key=lambda i: out["scores"][i])
    assert math.isfinite(out["scores"][best]) and out["vertex"] > 0
    assert main(["--tasks", "nqm", "--fracs", "0.01"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["task"] == "nqm" and line["coarse_frac"] == 0.01

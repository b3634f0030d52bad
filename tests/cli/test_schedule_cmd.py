import csv

import numpy as np
import pytest

from autolr.cli import main
from autolr.schedules import cosine, one_cycle


def test_schedule_prints_a_table(capsys):
    assert main(["schedule", "{name: cosine, lr: 0.1, total_steps: 100}", "--steps", "101"]) == 0
    out = capsys.readouterr().out
    assert "0.1" in out and "100" in out


def test_schedule_writes_exact_csv(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: one_cycle\nmax_lr: 0.1\ntotal_steps: 50\n")
    out = tmp_path / "s.csv"
    assert main(["schedule", str(spec), "--steps", "50", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    s = one_cycle(max_lr=0.1, total_steps=50)
    assert [float(r["lr"]) for r in rows] == s.values(np.arange(50)).tolist()
    assert [float(r["momentum"]) for r in rows] == s.momentum.values(np.arange(50)).tolist()


def test_schedule_plot_overlays_specs(tmp_path):
    out = tmp_path / "s.png"
    code = main(
        [
            "schedule",
            "{name: cosine, lr: 0.1, total_steps: 30}",
            "{name: wsd, lr: 0.1, total_steps: 30, warmup_steps: 3, decay_steps: 10}",
            "--steps",
            "30",
            "--plot",
            str(out),
        ]
    )
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_two_specs_to_csv_have_two_columns(tmp_path):
    out = tmp_path / "two.csv"
    main(
        [
            "schedule",
            "{name: constant, lr: 0.5}",
            "{name: cosine, lr: 0.1, total_steps: 9}",
            "--steps",
            "10",
            "--csv",
            str(out),
        ]
    )
    rows = list(csv.DictReader(out.open()))
    assert set(rows[0]) == {"step", "lr_0", "lr_1"}
    assert float(rows[3]["lr_1"]) == cosine(lr=0.1, total_steps=9)(3)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["{name: cosine, lr: -1, total_steps: 5}", "--steps", "5"], "lr must be > 0"),
        (["{name: cosin, lr: 1, total_steps: 5}", "--steps", "5"], "did you mean 'cosine'"),
        (["missing.yaml", "--steps", "5"], "missing.yaml"),
        (["{name: constant, lr: 1}", "--steps", "0"], "--steps"),
    ],
)
def test_schedule_bad_input_is_a_clear_error(argv, needle, capsys, tmp_path):
    out = tmp_path / "never.csv"
    assert main(["schedule", *argv, "--csv", str(out)]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_schedule_accepts_infinite_and_wsm(tmp_path):
    out = tmp_path / "inf.csv"
    spec = (
        "{name: infinite, lr: 1.0, warmup_steps: 4, cooldown_steps: 8, constant_ratio: 0.5, "
        "anneal_start: 20, anneal_steps: 10, min_lr: 0.05}"
    )
    assert main(["schedule", spec, "{name: wsm, lr: 0.1}", "--steps", "31", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    lrs = [float(r["lr_0"]) for r in rows]
    assert lrs[4] == 1.0 and lrs[12] == 0.5 and lrs[20] == 0.5 and lrs[30] == 0.05
    assert lrs[25] == pytest.approx(0.5 * 0.1**0.5, rel=1e-12)
    assert {float(r["lr_1"]) for r in rows} == {0.1}

"""Reading runs: metrics.csv as ``autolr run`` writes it, and what makes one unreadable."""

import numpy as np
import pytest

from autolr.laws import Curve, FitError, read_run
from tests.laws.curves import write_metrics


def test_read_run_skips_the_step_0_evaluation_and_keeps_nan_losses(tmp_path):
    lrs, losses = np.array([0.1, 0.1, 0.05]), np.array([2.0, np.nan, 1.5])
    run = read_run(write_metrics(tmp_path / "r", lrs, losses))
    assert isinstance(run, Curve) and run.source == str(tmp_path / "r")
    np.testing.assert_array_equal(run.lrs, lrs)
    np.testing.assert_array_equal(run.losses, losses)
    assert read_run(tmp_path / "r" / "metrics.csv").lrs.tolist() == lrs.tolist()


@pytest.mark.parametrize(
    "text, message",
    [
        ("step,charged,lr\n1,1,0.1\n", "missing column 'train_loss'"),
        ("step,lr,train_loss\n", "no rows with an LR"),
        ("step,lr,train_loss\n1,0.1,2.0\n3,0.1,2.0\n", r"the steps must be 1, 2, \.\.\., n"),
        ("step,lr,train_loss\n1,0.1,x\n", "line 2: could not convert string to float: 'x'"),
        ("step,lr,train_loss\n1,-0.1,2\n", r"the LR at step 1 is -0\.1"),
    ],
)
def test_unreadable_metrics_say_why(tmp_path, text, message):
    (tmp_path / "metrics.csv").write_text(text)
    with pytest.raises(FitError, match=message):
        read_run(tmp_path)


def test_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no metrics\.csv at"):
        read_run(tmp_path / "nope")

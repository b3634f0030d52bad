"""benchmarks/divergence_count.py: which baseline runs the divergence rule stopped."""

from benchmarks.divergence_count import count, fired


def _cell(task, track, halted=None, rollbacks=0, lost=0, peak=0.1, method="constant"):
    summary = {
        "halted": halted,
        "rollbacks": rollbacks,
        "steps_lost": lost,
        "budget_steps": 100,
        "steps_trained": 100 - lost,
        "final_val_metric": 0.5,
    }
    return {
        "task": task,
        "track": track,
        "method": method,
        "seed": 0,
        "peak_lr": peak,
        "summary": summary,
    }


def test_fired_is_a_rollback_or_a_halt_on_divergence():
    assert fired({"rollbacks": 2, "halted": None})
    assert fired({"rollbacks": 0, "halted": "diverged at step 40 (blow-up loss)"})
    assert fired({"rollbacks": 0, "halted": "diverged: 6 rollbacks in a row at step 9"})
    assert not fired({"rollbacks": 0, "halted": None})
    assert not fired({"rollbacks": 0, "halted": "collapsed"})  # not the divergence rule


def test_count_per_task_and_track():
    cells = [
        _cell("a", "tune", halted="diverged at step 40 (blow-up loss)", peak=4.0),
        _cell("a", "tune"),
        _cell("a", "eval", rollbacks=1, lost=30),
        _cell("a", "eval"),
        _cell("a", "self", halted="diverged at step 3 (non-finite loss)"),  # not a baseline
        _cell("b", "eval"),
    ]
    out = count(cells)
    assert out["a"]["tune"] == [1, 2, 0, 200]
    assert out["a"]["eval"] == [1, 2, 30, 200]
    assert out["b"]["eval"] == [0, 1, 0, 100] and out["b"]["firings"] == []
    assert len(out["a"]["firings"]) == 2 and "peak 4" in out["a"]["firings"][0]

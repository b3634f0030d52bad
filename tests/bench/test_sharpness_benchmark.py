"""benchmarks/sharpness.py: its tables count and compare what the runs say."""

from benchmarks.sharpness import _compare, guard_table, warmup_table


def _row(guard, final, diverged=False, reached=False, capped=None, low=None, seed=0):
    row = {
        "task": "digits-cnn",
        "lr": 0.4,
        "seed": seed,
        "guard": guard,
        "mode": "max",
        "final_val_metric": final,
        "diverged": diverged,
        "steps_to_target": 700 if reached else None,
        "wall_time_s": 2.0,
    }
    if guard == "on":
        row.update(guard_capped_steps=capped, guard_min_cap=low)
    return row


def test_the_guard_table_counts_seeds_per_arm():
    rows = [
        _row("off", 0.09, diverged=True),
        _row("off", None, diverged=True, seed=1),  # no finite metric: the worst
        _row("on", 0.97, reached=True, capped=1400, low=0.1),
        _row("on", 0.95, capped=1200, low=0.05, seed=1),
    ]
    off, on = guard_table(rows)[2:]
    assert off.startswith("| digits-cnn | 0.4 | off | -inf | -inf | 0/2 | 2/2 | – | – |")
    assert on.startswith("| digits-cnn | 0.4 | on | 0.9600 | 0.9500 | 1/2 | 0/2 | 1300 | 0.05 |")


def test_the_warmup_verdict_allows_ten_percent():
    assert _compare(0.8, 1.0) == "lower" and _compare(1.2, 1.0) == "higher"
    assert _compare(0.95, 1.0).startswith("about the same")
    rows = [
        {
            "lr": 0.05,
            "warmup_steps": w,
            "window": 10,
            "step": [5, 10, 15, 20],
            "sharpness": [1.0, peak, 2.0, 2.0 * (w == 0) + 1.0],
            "seg_lr": [0.05] * 4,
            "final_val_metric": 0.97,
        }
        for w, peak in ((0, 10.0), (10, 5.0))
    ]
    lines = warmup_table(rows)
    assert lines[2].startswith("| 0.05 | 0 | 10 (10) | 2.5 |")
    assert "peak λmax is lower (5 vs 10 without)" in lines[-1]
    assert "mean after the window lower (1.5 vs 2.5)" in lines[-1]

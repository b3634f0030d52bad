"""A hand-made results store with every track a report shows: tuned baselines (with their
tuning grid), an untuned default, peers, controllers and a replay. No training: each run's
finals and curves are written by hand, so every number of the report is known."""

import numpy as np

from autolr.bench import ResultsStore

STEPS = 100
EVAL_CHARGED = np.array([0.0, 50.0, 100.0])
SEEDS = (0, 1, 2)

# final test accuracy per evaluation seed (task "t", mode max). The best tuned baseline is
# "constant" (its tuning mean 0.87 beats cosine-warmup's 0.85); the winner is "plateau"
# (mean 0.93), tied within CIs with "prodigy" (0.92); hypergradient is clearly worse than
# everything but the default.
FINALS = {
    ("constant", "eval"): (0.88, 0.90, 0.89),
    ("cosine-warmup", "eval"): (0.86, 0.87, 0.85),
    ("constant-default", "default"): (0.60, 0.62, 0.61),
    ("prodigy", "peer"): (0.91, 0.93, 0.92),
    ("schedule-free-adamw", "peer"): (0.80, 0.81, 0.79),
    ("lr_finder", "peer"): (0.84, 0.86, 0.85),
    ("plateau", "self"): (0.92, 0.94, 0.93),
    ("hypergradient", "self"): (0.70, 0.71, 0.72),
    ("plateau-replay", "replay"): (0.90, 0.91, 0.92),
}
# the tuning grid: (method, peak) -> finals on tuning seeds 100 and 101
TUNING = {
    ("constant", 0.1): (0.90, 0.84),
    ("constant", 0.2): (0.70, 0.70),
    ("cosine-warmup", 0.1): (0.79, 0.81),
    ("cosine-warmup", 0.2): (0.84, 0.86),
}
PEAKS = {"constant": 0.1, "cosine-warmup": 0.2}


def lr_curve(method: str, seed: int) -> np.ndarray:
    """A distinct LR per method (its label's length sets the level), seeds apart by 1%."""
    return np.full(STEPS, 1e-3 * len(method) * (1 + 0.01 * seed))


def loss_curve(method: str, seed: int) -> np.ndarray:
    return np.linspace(2.0, 0.5, STEPS) * (1 + 0.05 * seed) + 0.001 * len(method)


def put(store, task, method, track, seed, final, peak=None, charged=None, **summary):
    """A done cell: evaluations 0.1, 0.5·(0.1 + final)… ending at ``final`` at charged
    steps 0, 50, 100 (``charged``: the kept steps' charged counts, default 1..100)."""
    key = f"{task}/{method}/{track}/{seed}/{peak}"
    cell = {"key": key, "suite": "s", "task": task, "method": method, "track": track}
    assert store.claim({**cell, "seed": seed, "peak_lr": peak, "config": {}})
    full = {
        "mode": "max",
        "metric": "accuracy",
        "final_val_metric": final,
        "final_test_metric": final,
        "wall_time_s": 1.0,
        "steps_probed": 0,
        "steps_charged": STEPS,
        "rollbacks": 0,
        "steps_lost": 0,
        "diverged": False,
        **summary,
    }
    step_charged = np.arange(1.0, STEPS + 1) if charged is None else np.asarray(charged)
    curves = {
        "lr": lr_curve(method, seed),
        "train_loss": loss_curve(method, seed),
        "step_charged": step_charged,
        "eval_step": np.array([0.0, 50.0, 100.0]),
        "eval_charged": EVAL_CHARGED,
        "eval_metric": np.array([0.1, 0.5 * (0.1 + final), final]),
        "eval_loss": np.zeros(3),
        "eval_wall": EVAL_CHARGED / 100,
    }
    assert store.finish(key, full, curves)
    return key


def fill(store: ResultsStore, finals=FINALS) -> None:
    """Every run of ``finals`` on task "t", after the tuning grid of the two baselines."""
    for (method, peak), pair in TUNING.items():
        for seed, final in zip((100, 101), pair, strict=True):
            put(store, "t", method, "tune", seed, final, peak=peak)
    for (method, track), per_seed in finals.items():
        for seed, final in zip(SEEDS, per_seed, strict=True):
            put(store, "t", method, track, seed, final, peak=PEAKS.get(method))

"""One Bayesian-optimization step over a normalised 1-D log-LR, with BoTorch.

Inputs are x = (log lr - log lo) / (log hi - log lo) in [0, 1]; outcomes are losses to
*minimise*, fitted as y = -loss by a float64 ``SingleTaskGP`` with a standardised outcome.
With ``ages`` (how many stages ago each point was observed) the GP is over (x, age) with a
time-decayed product kernel, k = s * k_rbf(x, x') * exp(-|age - age'| / l_age), and predicts
at age 0: old stages inform the new one, less the older they are.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autolr.checks import check_choice, check_int, check_positive, check_range

ACQUISITIONS = ("ucb", "logei")


@dataclass(frozen=True)
class Suggestion:
    """The next point ``x``, the acquisition value there, and the wall time of fit + acqf."""

    x: float
    value: float
    seconds: float


def load_backend() -> None:
    """Import BoTorch and GPyTorch now (seconds, once per process), so that a controller's
    first GP fit inside a timed run does not pay for it."""
    for name in ("botorch.acquisition", "botorch.fit", "botorch.models", "gpytorch"):
        importlib.import_module(name)


def fit_gp(
    x: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    ages: Sequence[float] | np.ndarray | None = None,
) -> torch.nn.Module:
    """A fitted ``SingleTaskGP`` on (x[, age]) -> -loss (float64, standardised outcome)."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    xs = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    y = -np.asarray(loss, dtype=np.float64).reshape(-1, 1)
    if xs.shape[0] != y.shape[0] or xs.shape[0] < 1:
        raise ValueError(
            f"x and loss must be equally long and non-empty, got {xs.shape[0]} and {y.shape[0]}"
        )
    if not np.isfinite(y).all():
        raise ValueError("loss must be finite (score diverged trials before fitting)")
    covar = None
    if ages is not None:
        a = np.asarray(ages, dtype=np.float64).reshape(-1, 1)
        xs = np.concatenate([xs, a], axis=1)
        covar = ScaleKernel(RBFKernel(active_dims=(0,)) * MaternKernel(nu=0.5, active_dims=(1,)))
    train_x = torch.from_numpy(xs)
    train_y = torch.from_numpy(y)
    model = SingleTaskGP(train_x, train_y, covar_module=covar, outcome_transform=Standardize(m=1))
    if train_x.shape[0] >= 2:
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a failed fit keeps the prior's hyperparameters
            with contextlib.suppress(Exception), one_thread():
                fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": 60}})
    model.eval()
    return model


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny GP algebra on one thread: on a busy CPU, torch's thread pool makes a
    12-point GP fit 5-7x slower than a single thread (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _inputs(grid: np.ndarray, timed: bool) -> torch.Tensor:
    g = torch.from_numpy(grid).reshape(-1, 1, 1)
    if timed:
        g = torch.cat([g, torch.zeros_like(g)], dim=-1)
    return g


def posterior_mean(model: torch.nn.Module, x: np.ndarray, timed: bool = False) -> np.ndarray:
    """The GP's predicted loss (= -mean of -loss) at ``x`` (and age 0)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpytorch rounds tiny negative variances up
        post = model.posterior(_inputs(np.asarray(x, dtype=np.float64), timed).squeeze(1))
        return -post.mean.reshape(-1).numpy()


def suggest(
    x: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    *,
    ages: Sequence[float] | np.ndarray | None = None,
    acquisition: str = "ucb",
    beta: float = 2.0,
    grid: int = 256,
    min_gap: float = 0.02,
    taken: Sequence[float] = (),
    lower: float = 0.0,
) -> Suggestion:
    """The next x in [0, 1] to evaluate, maximising the acquisition over a dense grid.

    ucb:   alpha(x) = mu(x) + sqrt(beta) * sigma(x) on -loss (the paper's LCB on the loss);
    logei: alpha(x) = log E[max(-loss(x) - best, 0)], best = max observed -loss.
    Only x >= ``lower`` is searched. Points within ``min_gap`` of ``taken`` (default: the
    observed x at age 0) are skipped: a probe on the same batches from the same snapshot is
    deterministic, so a repeat teaches nothing.
    """
    from botorch.acquisition import LogExpectedImprovement, UpperConfidenceBound

    acquisition = check_choice("acquisition", acquisition, ACQUISITIONS)
    beta = check_positive("beta", beta)
    grid = check_int("grid", grid, 2)
    start = time.perf_counter()
    model = fit_gp(x, loss, ages)
    timed = ages is not None
    if acquisition == "ucb":
        acqf = UpperConfidenceBound(model, beta=beta)
    else:
        best = float(-np.min(np.asarray(loss, dtype=np.float64)[_current(x, ages)]))
        acqf = LogExpectedImprovement(model, best_f=best)
    points = np.linspace(check_range("lower", lower, 0.0, 1.0, high_open=True), 1.0, grid)
    with torch.no_grad(), one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = acqf(_inputs(points, timed)).numpy().astype(np.float64)
    avoid = np.asarray(taken if taken else np.asarray(x)[_current(x, ages)], dtype=np.float64)
    if avoid.size:
        near = np.abs(points[:, None] - avoid[None, :]).min(axis=1) < min_gap
        if not near.all():
            values = np.where(near, -np.inf, values)
    values = np.where(np.isfinite(values), values, -np.inf)
    i = int(np.argmax(values)) if np.isfinite(values).any() else 0
    return Suggestion(float(points[i]), float(values[i]), time.perf_counter() - start)


def _current(
    x: Sequence[float] | np.ndarray, ages: Sequence[float] | np.ndarray | None
) -> np.ndarray:
    n = len(x)
    if ages is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(ages, dtype=np.float64) == 0
    return mask if mask.any() else np.ones(n, dtype=bool)


def minimise(
    fn: Callable[[float], float],
    n_init: int = 2,
    n_iter: int = 6,
    acquisition: str = "ucb",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``fn: [0, 1] -> float`` by BO (for tests and quick use): (xs, values)."""
    rng = np.random.default_rng(seed)
    xs = list(rng.uniform(0.0, 1.0, check_int("n_init", n_init, 1)))
    ys = [float(fn(v)) for v in xs]
    for _ in range(check_int("n_iter", n_iter, 0)):
        s = suggest(xs, ys, acquisition=acquisition)
        xs.append(s.x)
        ys.append(float(fn(s.x)))
    return np.asarray(xs), np.asarray(ys)


def worst_score(scores: Sequence[float]) -> float:
    """The score given to a diverged or NaN trial: worse than every finite one.

    worst = max(finite) + max(spread, 0.1 * |max(finite)|, 1e-6), spread = max - min of the
    finite scores; with no finite score it is 1.0 (then only the order matters).
    """
    finite = [s for s in scores if math.isfinite(s)]
    if not finite:
        return 1.0
    hi, lo = max(finite), min(finite)
    return hi + max(hi - lo, 0.1 * abs(hi), 1e-6)

"""Loss-curve forecasters: fit a short trial's losses, predict the loss many steps later.

AutoLRS (Jin et al., 2021) fits L(t) = a * exp(b t) + c to a trial's losses and reads the
fit at the stage length. Both models here are fitted by variable projection: for a fixed
shape parameter the model is linear in (a, c), solved exactly by least squares; the shape
parameter is searched on a log grid and then refined by a robust (soft-L1) nonlinear fit,
so that one noisy minibatch loss cannot bend the curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import spearmanr

from autolr.checks import check_choice, check_int


@dataclass(frozen=True)
class Fit:
    """A fitted curve: ``model`` is "exp" or "power", ``params`` are (a, b, c)."""

    model: str
    a: float
    b: float
    c: float

    def __call__(self, t: float | np.ndarray) -> float | np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        if self.model == "exp":
            out = self.a * np.exp(self.b * t) + self.c
        else:
            out = self.a * (t + 1.0) ** (-self.b) + self.c
        return float(out) if out.ndim == 0 else out


def _basis(model: str, b: float, t: np.ndarray) -> np.ndarray:
    return np.exp(b * t) if model == "exp" else (t + 1.0) ** (-b)


def _linear_fit(model: str, b: float, t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares (a, c) for fixed b, and the residual sum of squares."""
    design = np.stack([_basis(model, b, t), np.ones_like(t)], axis=1)
    (a, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    rss = float(((design @ np.array([a, c]) - y) ** 2).sum())
    return float(a), float(c), rss


def _shape_grid(model: str, n: int) -> np.ndarray:
    if model == "exp":  # decay rates from one e-fold over 100 trials to one per step
        return -np.clip(np.logspace(-1, 1.5, 48) / max(n, 1), 1e-4, 5.0)
    return np.logspace(-2, 1, 48)


def fit_curve(losses: Sequence[float] | np.ndarray, model: str = "exp") -> Fit:
    """Fit ``model`` to ``losses[t]`` at t = 0, 1, ..., n - 1.

    exp:   L(t) = a * exp(b * t) + c,      b < 0 for a decaying curve;
    power: L(t) = a * (t + 1) ** (-b) + c, b > 0 for a decaying curve.

    Robust: the shape b is chosen on a grid by least squares, then (a, b, c) are refined with
    a soft-L1 loss, rho(z) = 2 * (sqrt(1 + z) - 1), at the scale of the residuals' MAD.
    Needs >= 3 finite losses; fewer (or a flat curve) gives the constant fit a=0, c=mean.
    """
    model = check_choice("model", model, ("exp", "power"))
    y = np.asarray(losses, dtype=np.float64)
    t = np.arange(y.size, dtype=np.float64)
    keep = np.isfinite(y)
    t, y = t[keep], y[keep]
    if y.size < 3 or float(np.ptp(y)) == 0.0:
        return Fit(model, 0.0, 0.0, float(y.mean()) if y.size else math.nan)
    scale = float(np.std(y)) or 1.0
    grid = _shape_grid(model, y.size)
    fits = [(b, *_linear_fit(model, b, t, y)) for b in grid]
    b0, a0, c0, _ = min(fits, key=lambda f: f[3])
    resid = y - (a0 * _basis(model, b0, t) + c0)
    f_scale = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-3 * scale)

    def residuals(p: np.ndarray) -> np.ndarray:
        return (p[0] * _basis(model, p[1], t) + p[2] - y) / scale

    bounds = ([-np.inf, -5.0, -np.inf], [np.inf, 0.0, np.inf])
    if model == "power":
        bounds = ([-np.inf, 0.0, -np.inf], [np.inf, 20.0, np.inf])
    try:
        sol = least_squares(
            residuals,
            np.array([a0, b0, c0]),
            loss="soft_l1",
            f_scale=f_scale / scale,
            bounds=bounds,
            max_nfev=200,
        )
        a, b, c = (float(v) for v in sol.x)
    except (ValueError, np.linalg.LinAlgError):
        a, b, c = a0, b0, c0
    if not all(math.isfinite(v) for v in (a, b, c)):
        a, b, c = a0, b0, c0
    return Fit(model, a, b, c)


def forecast(
    losses: Sequence[float] | np.ndarray, horizon: int, model: str = "exp", min_fit: int = 6
) -> float:
    """The fitted curve's value at step ``horizon - 1`` (the loss after ``horizon`` steps).

    Guarded, because a trial is short and noisy: with fewer than ``min_fit`` finite losses
    the forecast is the mean of the last quarter (``tail``); otherwise the fit is clipped to
    [tail - max(0, head - tail), max(losses)], head being the mean of the first quarter: a
    trial may not be forecast to fall further after it ends than it fell during it, nor
    to rise. A non-negative loss is kept >= 0.
    """
    horizon = check_int("horizon", horizon, 1)
    y = np.asarray(losses, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return math.inf
    q = max(1, y.size // 4)
    head, tail = float(y[:q].mean()), float(y[-q:].mean())
    if y.size < min_fit:
        return tail
    value = float(fit_curve(y, model)(horizon - 1))
    if not math.isfinite(value):
        return tail
    low = tail - max(0.0, head - tail)
    if y.min() >= 0:
        low = max(low, 0.0)
    return float(np.clip(value, low, float(y.max())))


FORECASTERS: dict[str, Callable[..., float]] = {
    "exp": lambda losses, horizon: forecast(losses, horizon, "exp"),
    "power": lambda losses, horizon: forecast(losses, horizon, "power"),
    "last": lambda losses, horizon: float(np.asarray(losses)[-max(1, len(losses) // 4) :].mean()),
}


def rank_correlation(forecasts: Sequence[float], actual: Sequence[float]) -> float:
    """Forecast quality: Spearman's rho between forecast losses and the losses reached.

    rho = 1 - 6 * sum(d_i^2) / (n (n^2 - 1)) with d_i the rank differences (ties averaged);
    non-finite pairs are dropped; NaN when fewer than 3 pairs remain or a side is constant.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if f.shape != a.shape:
        raise ValueError(f"forecasts and actual differ in length: {f.size} != {a.size}")
    keep = np.isfinite(f) & np.isfinite(a)
    if keep.sum() < 3 or np.ptp(f[keep]) == 0 or np.ptp(a[keep]) == 0:
        return math.nan
    return float(spearmanr(f[keep], a[keep]).statistic)

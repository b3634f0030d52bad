"""Fitting a law to runs: Huber loss on log loss, a grid of starts, then L-BFGS-B.

The recipe of both papers (after Hoffmann et al. 2022): minimise

    Σ_points Huber_δ(log L̂(t) − log L(t)),   δ = 1e-3,

over every run's points (``autolr.laws.data``: window means of the train loss) at once; it
is divided here by N·δ, which moves no minimum but gives L-BFGS-B a well-scaled objective.
Every point of a coarse grid of parameters is evaluated, and L-BFGS-B runs from the best
``starts`` of them; the best end point wins. The fit works with LRs divided by the largest
LR of the runs (so every LR is at most 1, and one grid serves every task) and reports the
parameters in the LR's own units. Scale parameters (A, B, C) are searched on a log scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize

from autolr.checks import check_int, check_positive
from autolr.laws.data import Curve, FitError, as_curves, default_window
from autolr.laws.forms import evaluate, get_form, one_thread, peak_index
from autolr.laws.law import Law
from autolr.laws.space import Prepared, SearchSpace

HUBER_DELTA = 1e-3


def fit(
    runs: Any,
    form: str = "mpl",
    *,
    window: int | None = None,
    skip: float = 0.05,
    fixed: Mapping[str, float] | None = None,
    delta: float = HUBER_DELTA,
    starts: int = 3,
    max_iter: int = 500,
) -> Law:
    """Fit a law form to runs and return the ``Law`` (its ``fit`` holds the diagnostics).

    Args:
        runs: run folders (their metrics.csv), ``(lrs, losses)`` pairs or ``Curve``s.
        form: "mpl" (multi-power law) or "tissue".
        window: steps per window mean (default: run length // 100, at least 1).
        skip: the fraction of each run's first steps left out (the fastest, least lawful part).
        fixed: parameters held at a value instead of fitted; default the form's own (tissue
            holds ``lam = 0.999``, the paper's value); ``{}`` fits every parameter.
        delta: the Huber threshold on log loss.
        starts: how many of the best grid points L-BFGS-B starts from.
        max_iter: L-BFGS-B's iteration limit per start.

    Raises FitError (a ValueError) saying why when the runs cannot identify the law.
    """
    with one_thread():
        return _fit(runs, form, window, skip, fixed, delta, starts, max_iter)


def _fit(
    runs: Any,
    form: str,
    window: int | None,
    skip: float,
    fixed: Mapping[str, float] | None,
    delta: float,
    starts: int,
    max_iter: int,
) -> Law:
    law_form = get_form(form)
    if not 0 <= skip < 1:
        raise FitError(f"skip must be in [0, 1), got {skip!r}")
    try:
        window = None if window is None else check_int("window", window, 1)
        starts = check_int("starts", starts, 1)
        max_iter = check_int("max_iter", max_iter, 1)
        delta = check_positive("delta", delta)
    except ValueError as err:
        raise FitError(str(err)) from None
    held = dict(law_form.fixed if fixed is None else fixed)
    for name, value in held.items():
        param = next((p for p in law_form.params if p.name == name), None)
        if param is None:
            raise FitError(f"fixed.{name} is not a parameter of law form {law_form.name!r}")
        held[name] = param.check(value, "fixed")
    free = [n for n in law_form.names if n not in held]
    if not free:
        raise FitError("every parameter is held (fixed): there is nothing to fit")
    curves = as_curves(runs)
    r = max(float(c.lrs.max()) for c in curves)
    data = [_prepare(c, r, window, skip) for c in curves]
    total = sum(len(d.rows) for d in data)
    if total < 2 * len(free):
        raise FitError(
            f"too few points: {total} window means for {len(free)} free parameters (need >= "
            f"{2 * len(free)}); give longer runs, more runs, or a smaller window"
        )
    unfixed_decay = [n for n in law_form.decay_params if n in free]
    if unfixed_decay and not any(_decays(d) for d in data):
        raise FitError(
            "no run lowers its LR after its peak, so the annealing term "
            f"({', '.join(unfixed_decay)}) cannot be fitted: add a run with a decay "
            "(cosine, or a two-stage run)"
        )
    space = SearchSpace(law_form, free, held, data, r)
    objective = _objective(space, data, delta)
    grid = sorted(
        ((objective(z, grad=False), i, z) for i, z in enumerate(space.grid())),
        key=lambda x: (not math.isfinite(x[0]), x[0], x[1]),
    )
    if not math.isfinite(grid[0][0]):
        raise FitError("the law is not finite at any starting point of the grid")
    best = None
    for _, _, z0 in grid[:starts]:
        res = minimize(
            objective,
            z0,
            jac=True,
            method="L-BFGS-B",
            bounds=space.bounds,
            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9},
        )
        if math.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise FitError("L-BFGS-B ended at a non-finite objective from every start")
    params = law_form.from_unit(space.params(best.x), r)
    try:
        law = Law(law_form, params)
    except ValueError as err:
        raise FitError(f"the fit ended outside the law's domain: {err}") from None
    law.fit = _diagnostics(
        law,
        data,
        space,
        best,
        {
            "window": window,
            "skip": skip,
            "delta": delta,
            "starts": starts,
            "grid_points": len(grid),
            "lr_ref": r,
        },
    )
    return law


def _prepare(curve: Curve, r: float, window: int | None, skip: float) -> Prepared:
    rows, means = curve.points(window, skip)
    w = default_window(len(curve)) if window is None else window
    if rows.size == 0:
        raise FitError(
            f"{curve.source}: too few points: no window of {w} steps with finite losses "
            f"after skipping the first {skip:.0%} of its {len(curve)} steps"
        )
    return Prepared(
        curve,
        torch.as_tensor(curve.lrs / r, dtype=torch.float64),
        torch.as_tensor(rows),
        torch.as_tensor(means, dtype=torch.float64),
        peak_index(curve.lrs),
        w,
    )


def _decays(run: Prepared) -> bool:
    lrs = run.curve.lrs
    return bool(np.any(lrs[run.peak + 1 :] < lrs[run.peak]))


def _objective(space: SearchSpace, data: list[Prepared], delta: float) -> Any:
    count = sum(len(d.rows) for d in data)
    floor = 1e-12 * space.lo

    def value(z: np.ndarray, grad: bool = True) -> Any:
        zt = torch.tensor(np.asarray(z, dtype=np.float64), requires_grad=grad)
        with torch.set_grad_enabled(grad):
            p = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in space.params(zt).items()}
            total = torch.zeros((), dtype=torch.float64)
            for d in data:
                pred = space.form.curve(p, d.lrs, d.rows, d.peak)
                resid = torch.log(pred.clamp(min=floor)) - torch.log(d.target)
                total = total + torch.nn.functional.huber_loss(
                    resid, torch.zeros_like(resid), reduction="sum", delta=delta
                )
            loss = total / (count * delta)  # ~ mean |residual|: well scaled for L-BFGS-B
        f = loss.item()
        if not grad:
            return f
        if not math.isfinite(f):
            return f, np.zeros(len(z))
        loss.backward()
        g = zt.grad.numpy().copy()
        g[~np.isfinite(g)] = 0.0
        return f, g

    return value


def _diagnostics(
    law: Law, data: list[Prepared], space: SearchSpace, res: Any, settings: dict[str, Any]
) -> dict[str, Any]:
    runs, warnings = [], []
    all_y, all_pred = [], []
    for d in data:
        with torch.no_grad():
            pred = evaluate(law.form, law.params, d.curve.lrs, d.rows).numpy()
        y = d.target.numpy()
        all_y.append(y)
        all_pred.append(pred)
        runs.append(
            {
                "source": d.curve.source,
                "steps": len(d.curve),
                "points": len(y),
                "window": d.window,
                "r2": r2(y, pred),
                "rmse_log": float(np.sqrt(np.mean((np.log(pred) - np.log(y)) ** 2))),
                "final_loss": float(y[-1]),
                "final_predicted": float(pred[-1]),
            }
        )
    for i, name in enumerate(space.free):
        lo, hi = space.bounds[i]
        if min(abs(res.x[i] - lo), abs(res.x[i] - hi)) <= 1e-6 * max(1.0, abs(res.x[i])):
            warnings.append(f"{name} ended at a bound of its search box: the runs barely pin it")
    if not res.success:
        warnings.append(f"L-BFGS-B did not converge: {res.message}")
    y, pred = np.concatenate(all_y), np.concatenate(all_pred)
    return {
        "objective": float(res.fun),
        "r2": r2(y, pred),
        "runs": runs,
        "free": list(space.free),
        "fixed": dict(space.held),
        "peak_lr": max(float(d.curve.lrs.max()) for d in data),
        "steps": max(len(d.curve) for d in data),
        "optimizer": {
            "method": "L-BFGS-B",
            "iterations": int(res.nit),
            "message": str(res.message),
        },
        "settings": settings,
        "warnings": warnings,
    }


def r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination 1 − SS_res / SS_tot (NaN if the actual is flat)."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    if ss_tot == 0:
        return math.nan
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / ss_tot

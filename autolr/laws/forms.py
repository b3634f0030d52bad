"""Loss-curve laws: the multi-power law (Luo et al. 2025) and the Tissue et al. (2024) form.

A law predicts the training loss L(t) after t optimizer steps from the LRs η_1..η_t alone.
The loss logged at step t (``metrics.csv`` row ``step = t``) is paired with the sums through
η_t, as both papers pair them. The peak step W is the first step whose LR the next step does
not exceed (W = 1 for a schedule that starts at its peak); steps 1..W are the warmup and
η_W is the papers' η_0.

    S(t)   = Σ_{τ≤t} η_τ                      the LR area, warmup included (S1(t) + S_W)
    d_k    = η_{k−1} − η_k                     the LR drop at step k > W

    mpl:    L(t) = L0 + A·S(t)^−α − LD(t)
            LD(t) = B·Σ_{k=W+1}^{t} d_k·G(η_k^−γ·S_k(t)),  S_k(t) = Σ_{τ=k}^{t} η_τ
            G(x) = 1 − (C·x + 1)^−β
    tissue: L(t) = L0 + A·S(t)^−α − C·S2(t)
            S2(t) = Σ_{k=W+1}^{t} m_k,  m_k = λ·m_{k−1} + d_k,  m_W = 0
                  = Σ_{k=W+1}^{t} d_k·(1 − λ^{t−k+1}) / (1 − λ)

A rise after the peak is a negative drop (the multi-power law's non-monotone case). The
curves are computed in torch (float64), so fitting and schedule optimisation get gradients
from the same code that predicts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from autolr.checks import CheckError, check_number
from autolr.registry import Registry

Tensor = torch.Tensor
Params = Mapping[str, Any]
ROWS_PER_CHUNK = 512  # rows of the (rows x drops) matrices held at once when predicting


@dataclass(frozen=True)
class Param:
    """A law parameter: its domain [low, high] (``open_low``: low excluded)."""

    name: str
    low: float = 0.0
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    meaning: str = ""

    def check(self, value: Any, where: str = "params") -> float:
        name = f"{where}.{self.name}"
        v = check_number(name, value)
        too_low = v <= self.low if self.open_low else v < self.low
        too_high = v >= self.high if self.open_high else v > self.high
        if too_low or too_high:
            lo = "(" if self.open_low else "["
            hi = ")" if self.open_high or math.isinf(self.high) else "]"
            raise CheckError(name, value, f"in {lo}{self.low:g}, {self.high:g}{hi}")
        return v


@dataclass(frozen=True)
class Form:
    """A law's formula, parameters and curve.

    ``curve(p, lrs, rows, peak)`` gives L at the 0-based ``rows`` (row j is step j + 1) of
    the LR sequence ``lrs``, whose peak is at 0-based index ``peak``; ``to_unit`` and
    ``from_unit`` rewrite parameters for LRs divided by ``r`` (fitting works in those
    units, where every LR is at most 1).
    """

    name: str
    formula: str
    params: tuple[Param, ...]
    curve: Callable[[dict[str, Tensor], Tensor, Tensor, int], Tensor]
    to_unit: Callable[[dict[str, float], float], dict[str, float]]
    from_unit: Callable[[dict[str, float], float], dict[str, float]]
    fixed: dict[str, float] = field(default_factory=dict)  # held, not fitted, by default
    decay_params: tuple[str, ...] = ()  # identified only by runs that lower their LR

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def check(self, params: Any, where: str = "params") -> dict[str, float]:
        """Every parameter present, finite and in its domain; ValueError naming the field."""
        if not isinstance(params, Mapping):
            raise ValueError(f"{where} must be a mapping of parameter values, got {params!r}")
        unknown = sorted(set(params) - set(self.names))
        if unknown:
            raise ValueError(
                f"{where}.{unknown[0]} is not a parameter of law form {self.name!r} "
                f"(its parameters: {', '.join(self.names)})"
            )
        out = {}
        for p in self.params:
            if p.name not in params:
                raise ValueError(f"{where}.{p.name} is missing (law form {self.name!r})")
            out[p.name] = p.check(params[p.name], where)
        return out


FORMS: Registry[Form] = Registry("law form")


def peak_index(lrs: np.ndarray) -> int:
    """The 0-based index of the peak step W: the first LR the next one does not exceed."""
    lrs = np.asarray(lrs, dtype=np.float64)
    falls = np.flatnonzero(lrs[1:] <= lrs[:-1])
    return int(falls[0]) if falls.size else len(lrs) - 1


def _drops(lrs: Tensor, peak: int) -> tuple[Tensor, Tensor]:
    """The 0-based steps k > peak and their drops η_{k−1} − η_k; zero drops are left out
    when the LRs are data (no gradient is wanted through them)."""
    k = torch.arange(peak + 1, len(lrs))
    d = lrs[k - 1] - lrs[k]
    if not lrs.requires_grad:
        keep = d != 0
        k, d = k[keep], d[keep]
    return k, d


def _in_chunks(fn: Callable[[Tensor], Tensor], rows: Tensor) -> Tensor:
    if torch.is_grad_enabled() or len(rows) <= ROWS_PER_CHUNK:
        return fn(rows)
    return torch.cat(
        [fn(rows[i : i + ROWS_PER_CHUNK]) for i in range(0, len(rows), ROWS_PER_CHUNK)]
    )


def _power_term(p: dict[str, Tensor], area: Tensor) -> Tensor:
    return p["L0"] + p["A"] * area ** (-p["alpha"])


def mpl_curve(p: dict[str, Tensor], lrs: Tensor, rows: Tensor, peak: int) -> Tensor:
    area = torch.cumsum(lrs, 0)
    k, d = _drops(lrs, peak)
    # η_k^−γ, with η_k floored so that a zero LR gives x = 0·huge = 0, not 0·inf
    floor = 1e-12 * float(lrs.detach().abs().max().clamp(min=1e-300))
    scaled = lrs[k].clamp(min=floor) ** (-p["gamma"])

    def loss_drop(r: Tensor) -> Tensor:
        # S_k(t) = S(t) − S(k−1), and 0 for k > t (an empty sum)
        s_k = (area[r][:, None] - area[k - 1][None, :]).clamp(min=0.0)
        g = 1.0 - (p["C"] * scaled[None, :] * s_k + 1.0) ** (-p["beta"])
        return p["B"] * (g * d[None, :]).sum(1)

    return _power_term(p, area[rows]) - _in_chunks(loss_drop, rows)


def tissue_curve(p: dict[str, Tensor], lrs: Tensor, rows: Tensor, peak: int) -> Tensor:
    area = torch.cumsum(lrs, 0)
    k, d = _drops(lrs, peak)
    lam = p["lam"]

    def s2(r: Tensor) -> Tensor:
        lag = (r[:, None] - k[None, :] + 1).clamp(min=0).to(lrs.dtype)  # t − k + 1, 0 if k > t
        return (d[None, :] * (1.0 - lam**lag) / (1.0 - lam)).sum(1)

    return _power_term(p, area[rows]) - p["C"] * _in_chunks(s2, rows)


def _mpl_to_unit(p: dict[str, float], r: float) -> dict[str, float]:
    return {
        **p,
        "A": p["A"] * r ** (-p["alpha"]),
        "B": p["B"] * r,
        "C": p["C"] * r ** (1.0 - p["gamma"]),
    }


def _mpl_from_unit(p: dict[str, float], r: float) -> dict[str, float]:
    return {
        **p,
        "A": p["A"] * r ** p["alpha"],
        "B": p["B"] / r,
        "C": p["C"] * r ** (p["gamma"] - 1.0),
    }


def _tissue_to_unit(p: dict[str, float], r: float) -> dict[str, float]:
    return {**p, "A": p["A"] * r ** (-p["alpha"]), "C": p["C"] * r}


def _tissue_from_unit(p: dict[str, float], r: float) -> dict[str, float]:
    return {**p, "A": p["A"] * r ** p["alpha"], "C": p["C"] / r}


_POWER = (
    Param("L0", meaning="the loss an infinite LR area would reach"),
    Param("A", open_low=True, meaning="the power law's scale"),
    Param("alpha", open_low=True, meaning="the power law's exponent in the LR area"),
)

FORMS.add(
    "mpl",
    Form(
        name="mpl",
        formula="L0 + A*S^-alpha - B*sum_k (eta_{k-1}-eta_k)*(1-(C*eta_k^-gamma*S_k+1)^-beta)",
        params=(
            *_POWER,
            Param("B", meaning="the scale of the loss drop that LR decay brings"),
            Param("C", open_low=True, meaning="how fast a drop's benefit arrives"),
            Param("beta", open_low=True, meaning="the exponent of the drop's saturation G"),
            Param("gamma", meaning="how a lower LR slows its drop's saturation"),
        ),
        curve=mpl_curve,
        to_unit=_mpl_to_unit,
        from_unit=_mpl_from_unit,
        decay_params=("B", "C", "beta", "gamma"),
    ),
)

FORMS.add(
    "tissue",
    Form(
        name="tissue",
        formula="L0 + A*S1^-alpha - C*S2, S2 = sum_k m_k, m_k = lam*m_{k-1} + eta_{k-1}-eta_k",
        params=(
            *_POWER,
            Param("C", meaning="the loss drop per unit of annealing area S2"),
            Param("lam", open_low=True, high=1.0, open_high=True, meaning="S2's momentum decay"),
        ),
        curve=tissue_curve,
        to_unit=_tissue_to_unit,
        from_unit=_tissue_from_unit,
        fixed={"lam": 0.999},  # the paper's value
        decay_params=("C",),
    ),
)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile: the law's tensors are small, and on a busy CPU
    a thread pool makes their backward passes a hundred times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def get_form(name: Any) -> Form:
    """The law form ``name`` (ValueError listing the forms otherwise)."""
    return FORMS.get(name)


def evaluate(
    form: Form, params: Params, lrs: np.ndarray | Tensor, rows: np.ndarray | Tensor | None = None
) -> Tensor:
    """``form``'s loss at the 0-based ``rows`` (default: every step) of ``lrs``, in torch."""
    lr_t = torch.as_tensor(lrs, dtype=torch.float64)
    if rows is None:
        rows = torch.arange(len(lr_t))
    rows_t = torch.as_tensor(rows, dtype=torch.long)
    p = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
    return form.curve(p, lr_t, rows_t, peak_index(lr_t.detach().numpy()))

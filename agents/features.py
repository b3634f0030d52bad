"""The one feature encoder that the env, the ``rl`` and the ``meta`` controllers share.

Every feature is a ratio, a log-ratio, a cosine, a fraction or a flag of the TrainingState,
so no raw scale (loss units, LR units, parameter norms) reaches a policy, and each is clipped
to ``[-CLIP, CLIP]`` so that a ``Box(-CLIP, CLIP)`` observation space is honest. ``L`` is the
interval's mean train loss, ``L0`` the initial loss, ``η`` the LR, ``η0`` the initial LR::

    0 loss_rel      = ln(L / L0) / 4
    1 loss_trend    = loss_slope · interval         (change of ln L over one interval)
    2 loss_noise    = loss_std / L                  (coefficient of variation)
    3 loss_vs_best  = ln(L / best_loss)
    4 update_ratio  = log10(‖Δθ‖ / ‖θ‖) + 3         (relative weight change per step)
    5 decrease_pred = log10(−g·Δθ / L) / 2          (first-order relative decrease of the step
                                                     taken; 0 when the step went uphill)
    6 grad_cos      = hypergrad_cos                 (cos(−g_n, Δθ_{n−1}), Baydin et al.)
    7 lr_rel        = log2(η / η0) / 4
    8 fraction      = charged / budget
    9 val_present   = 1 if a validation loss was measured, else 0
   10 val_rel       = ln(val_loss / L0) / 4         (0 when absent)
   11 val_gap       = (val_loss − L) / val_loss     (at most 1; 0 when absent)
   12 rolled_back   = 1 if the last segment diverged and was rolled back, else 0
   13 rollbacks     = min(rollbacks, 4) / 4
   14 step_cos      = cos(−g_n, Δθ_n)               (how much of the step goes downhill)

Every feature means the same under every optimizer (version 2). Version 1 had
``decrease_pred = log10(η ‖g‖² / L) / 2``, the first-order decrease of a plain-SGD step: under
momentum the step is about ``1/(1 − β)`` times longer, under Adam it is not along ``g`` at all,
so the same value meant a different step under each. Version 2 measures the step the
optimizer actually took (``−g_n · Δθ_n``, equal to ``η ‖g‖²`` for plain SGD), and adds its
direction (``step_cos``: 1 for plain SGD; below 1 under momentum, preconditioning or weight
decay; negative when the step went uphill, a sign of an LR past the edge of stability).
``update_ratio`` (weight change relative to the weights) needs no correction: it is the same
quantity whatever made the step. Version 1's ``val_gap = ln(val_loss / L)`` reached the clip
(5) when the train loss went to zero on a small vision set, a value the synthetic tasks
never produce; ``(val_loss − L) / val_loss`` is the share of the validation loss that the
train loss does not explain: at most 1 however small the train loss, 0 for no gap.

Missing values (NaN before the first segment) encode as 0. Changing a formula, the order or
the count means bumping ``FEATURE_VERSION``: saved policies record it and refuse to load
under another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from autolr.loop.state import TrainingState

FEATURE_VERSION = 2
FEATURE_NAMES: tuple[str, ...] = (
    "loss_rel",
    "loss_trend",
    "loss_noise",
    "loss_vs_best",
    "update_ratio",
    "decrease_pred",
    "grad_cos",
    "lr_rel",
    "fraction",
    "val_present",
    "val_rel",
    "val_gap",
    "rolled_back",
    "rollbacks",
    "step_cos",
)
N_FEATURES = len(FEATURE_NAMES)
CLIP = 5.0
_TINY = 1e-12


def _ln_ratio(a: float | None, b: float | None) -> float:
    """ln(a / b) for positive finite a, b; NaN otherwise."""
    if a is None or b is None or not (a > 0 and b > 0):
        return math.nan
    ratio = a / b
    return math.log(ratio) if 0 < ratio < math.inf else math.nan


def encode(state: TrainingState) -> np.ndarray:
    """The feature vector of ``state``: float32, shape ``(N_FEATURES,)``, in [-CLIP, CLIP]."""
    loss = state.loss_mean
    l0 = state.initial_loss
    ln10 = math.log(10.0)
    val = state.val_loss
    has_val = val is not None and math.isfinite(val)
    # ln(−g·Δθ / L): NaN (encoded 0) when the step went uphill or was not measured
    ln_pred = _ln_ratio(state.step_decrease, loss)
    values = [
        _ln_ratio(loss, l0) / 4.0,
        state.loss_slope * state.interval,
        state.loss_std / loss if loss > 0 else math.nan,
        _ln_ratio(loss, state.best_loss),
        _ln_ratio(state.update_ratio, 1.0) / ln10 + 3.0,
        ln_pred / ln10 / 2.0,
        state.hypergrad_cos,
        _ln_ratio(state.lr, state.initial_lr) / math.log(2.0) / 4.0,
        state.fraction,
        1.0 if has_val else 0.0,
        _ln_ratio(val, l0) / 4.0 if has_val else 0.0,
        (val - loss) / val if has_val and val > 0 else 0.0,
        1.0 if state.rolled_back else 0.0,
        min(state.rollbacks, 4) / 4.0,
        state.step_cos,
    ]
    # NaN as 0, the rest clipped into [-CLIP, CLIP] (infinities to the bounds): in plain
    # Python, as numpy's nan_to_num and clip cost more than the rest of a decision
    return np.array(
        [0.0 if v != v else min(max(float(v), -CLIP), CLIP) for v in values], dtype=np.float32
    )


def header() -> dict[str, Any]:
    """What every saved policy records about the features it was trained on."""
    return {"feature_version": FEATURE_VERSION, "n_features": N_FEATURES}


def check_header(meta: Mapping[str, Any], source: str) -> None:
    """Raise ValueError unless ``meta`` was written for this encoder's version and size."""
    version = meta.get("feature_version")
    if version != FEATURE_VERSION:
        raise ValueError(
            f"{source}: policy was trained on feature_version {version!r}, but this autolr "
            f"encodes feature_version {FEATURE_VERSION}; retrain the policy"
        )
    n = meta.get("n_features")
    if n != N_FEATURES:
        raise ValueError(
            f"{source}: policy expects n_features {n!r}, but the encoder gives {N_FEATURES}"
        )

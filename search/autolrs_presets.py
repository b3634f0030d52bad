"""AutoLRS's presets: the paper's constants, the "paper" and "fast" defaults, and the
budget scaling of the stage lengths (``search.autolrs`` documents them)."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Final

# The paper's constants (Jin et al., ICLR 2021; the authors' autolrs_server.py).
PAPER_K: Final = 10  # LR_TO_EXPLORE: trials per stage
PAPER_TRIAL_FRACTION: Final = 0.1  # LR_STEPS / EXPLOITATION_STEP = 100 / 1000
PAPER_KAPPA: Final = 1e6  # skopt's LCB: loss mean - kappa * sigma
PAPER_TAU0_STEPS: Final = 1000  # EXPLOITATION_STEP: the first stage's length
PAPER_TAU_MAX_STEPS: Final = 8000  # TAU_MAX: the longest stage; validation from there on
PAPER_TAU_RATIO: Final = PAPER_TAU_MAX_STEPS // PAPER_TAU0_STEPS  # 8
# gp.suggest's UCB is mean + sqrt(beta) * sigma on -loss (BoTorch's UpperConfidenceBound),
# which is -(loss mean - kappa * sigma) for beta = kappa ** 2
PAPER_BETA: Final = PAPER_KAPPA**2
# the paper's one initial point is a log-uniform draw in [min_lr, max_lr]; we use its
# expectation in x (the log-midpoint), so that runs are deterministic
PAPER_INITIAL_X: Final = (0.5,)
MIN_TRIAL_STEPS: Final = 10  # the "paper" preset's shortest trial: the exp fit needs >= 6

PRESETS: Final = ("paper", "fast")
CHOICES: Final = ("forecast", "gp_mean")
VAL_RULES: Final = ("tau_max",)


class FromPreset(enum.Enum):
    """The default of a parameter whose None means "off": its value comes from the preset."""

    FROM_PRESET = "from the preset"


FROM_PRESET: Final = FromPreset.FROM_PRESET


@dataclasses.dataclass(frozen=True)
class Preset:
    """The defaults a preset gives (tau0 and tau_max are scaled by ``_taus``)."""

    k: int
    trial_fraction: float
    beta: float
    initial_x: tuple[float, ...]
    choose: str
    val_after: float | str
    max_decay: float | None
    final_decay: bool
    undo: float | None
    widen: bool


PRESET_VALUES: Final = {
    "paper": Preset(
        k=PAPER_K,
        trial_fraction=PAPER_TRIAL_FRACTION,
        beta=PAPER_BETA,
        initial_x=PAPER_INITIAL_X,
        choose="forecast",
        val_after="tau_max",
        max_decay=None,
        final_decay=False,
        undo=None,
        widen=False,
    ),
    "fast": Preset(
        k=4,
        trial_fraction=0.05,
        beta=2.0,
        initial_x=(0.25, 0.75),
        choose="gp_mean",
        val_after=0.75,
        max_decay=2.0,
        final_decay=True,
        undo=0.5,
        widen=True,
    ),
}


def default_tau0(preset: str, budget: int | None, trial_fraction: float) -> int:
    """A preset's first stage length for ``budget`` steps (see the module docstring)."""
    if preset == "paper":
        shortest = math.ceil(MIN_TRIAL_STEPS / trial_fraction - 1e-9)
        return max(shortest, PAPER_TAU0_STEPS if budget is None else budget // 16)
    return max(10, (4000 if budget is None else budget) // 16)


def default_tau_max(preset: str, budget: int | None, tau0: int) -> int:
    """A preset's longest stage, given the first one: 8 * tau0 (paper), budget / 4 (fast)."""
    if preset == "paper":
        return PAPER_TAU_RATIO * tau0
    return max(tau0, (4000 if budget is None else budget) // 4)

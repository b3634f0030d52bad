"""Checkpoint merging: a weighted average of the parameters over the last window of a run.

After WSM (Tian et al. 2025, "WSM: Decay-Free Learning Rate Schedule via Checkpoint Merging
for LLM Pre-training", arXiv 2507.17634). Checkpoints θ_0 … θ_k taken every K steps, and
merged as θ̂ = Σ_j c_j θ_j (Σ c_j = 1), give

    θ̂ = θ_0 − Σ_{i=1..k} w_i · (θ_(i−1) − θ_i),    w_i = Σ_{j≥i} c_j,

so the update of block i (the K steps from θ_(i−1) to θ_i) counts with factor w_i: the merge
emulates a decay whose factors are the w_i. Conversely, a decay w_1 ≥ … ≥ w_k gives the
merge weights c_0 = 1 − w_1, c_j = w_j − w_(j+1), c_k = w_k.

The window. With the budget T and W = max(1, round(window_frac · T)), the checkpoints are at
steps s_j = T − (k − j)·K, j = 0 … k, with k = ⌊W / K⌋ (K = ``every`` must be <= W): the
window ends at the end of the run and each checkpoint's weight is known from its position
before training. The weights (``merge_weights``):

- ``sqrt``, ``linear``, ``cosine``: the decay of that shape over the window, w_i = f((i − 1)/k)
  with f(p) = 1 − √p (Hägele et al.'s 1−√ cooldown), 1 − p, or (1 + cos πp)/2. Block i gets
  the factor that ``wsd`` (same shape, ``decay_steps = kK``, ``min_lr = 0``) gives the first
  step of that block; with K = 1, exactly ``wsd``'s factor of every step. Since f(0) = 1,
  c_0 = 0: the checkpoint at the window's start only anchors it. ``linear`` is therefore the
  plain mean of θ_1 … θ_k.
- ``mean``: c_j = 1 / (k + 1), the plain average of all k + 1 checkpoints (θ_0 included).
- ``ema``: an exponential moving average θ̄ ← β θ̄ + (1 − β) θ_j started at θ_0:
  c_0 = β^k, c_j = (1 − β) β^(k − j). β is ``ema_decay`` per checkpoint; by default
  β = 1 − 2/(k + 1), the EMA whose span (pandas' ``span``) is the window's k checkpoints.

Online, with one extra copy of the parameters: the buffer accumulates Σ c_j θ_j (in float32
at least) as the checkpoints pass, and is divided by the sum of the weights taken when the
run ends. A run whose kept steps stop before T (probes, rollbacks, a halt) merges the
checkpoints it reached; one that reached none delivers its training model.

Only parameters are averaged. BatchNorm statistics of the merged model are re-estimated
(``autolr.loop.batchnorm``, over training batches 0 … ``bn_batches`` − 1); other buffers
are the training model's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, model_validator

from autolr.checks import CheckError, Choice, Int, Range
from autolr.loop import batchnorm, ddp

if TYPE_CHECKING:
    from autolr.loop.session import Session

WEIGHTS = ("sqrt", "linear", "cosine", "mean", "ema")
BN_BATCHES = 50  # as the optimizer peers' default (the schedule-free README's example)


class MergeConfig(BaseModel):
    """The run key ``merge`` (``autolr.running.config.RunConfig``).

    window_frac: the window's length, a fraction of the budget, in (0, 1]
    weights:     sqrt, linear, cosine, mean or ema (see the module's docstring)
    every:       K, steps between checkpoints (1: every step of the window)
    ema_decay:   β of ``ema`` per checkpoint, in (0, 1); default 1 − 2/(k + 1)
    bn_batches:  training batches that re-estimate BatchNorm statistics (0: none)
    """

    model_config = ConfigDict(extra="forbid")

    window_frac: Range(0.0, 1.0, low_open=True) = 0.2
    weights: Choice(*WEIGHTS) = "sqrt"
    every: Int(1) = 1
    ema_decay: Range(0.0, 1.0, low_open=True, high_open=True) | None = None
    bn_batches: Int(0) = BN_BATCHES

    @model_validator(mode="after")
    def _ema_decay_only_with_ema(self) -> MergeConfig:
        if self.ema_decay is not None and self.weights != "ema":
            raise CheckError("ema_decay", self.ema_decay, "given only with weights: ema")
        return self


def _shape(kind: str, p: np.ndarray) -> np.ndarray:
    if kind == "sqrt":
        return 1.0 - np.sqrt(p)
    if kind == "linear":
        return 1.0 - p
    return 0.5 * (1.0 + np.cos(np.pi * p))


def merge_weights(kind: str, k: int, ema_decay: float | None = None) -> np.ndarray:
    """The merge weights c_0 … c_k (float64, summing to 1) of checkpoints θ_0 … θ_k."""
    if k < 1:
        raise ValueError(f"a merge needs k >= 1 checkpoints after the first, got {k}")
    if kind == "mean":
        return np.full(k + 1, 1.0 / (k + 1))
    if kind == "ema":
        beta = 1.0 - 2.0 / (k + 1) if ema_decay is None else float(ema_decay)
        c = (1.0 - beta) * beta ** np.arange(k, -1, -1, dtype=np.float64)
        c[0] = beta**k
        return c
    if kind not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {kind!r}")
    w = _shape(kind, np.arange(k, dtype=np.float64) / k)  # w_i = f((i - 1) / k), i = 1..k
    c = np.empty(k + 1)
    c[0] = 1.0 - w[0]
    c[1:k] = w[:-1] - w[1:]
    c[k] = w[-1]
    return c


def _accumulator_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32) if dtype.is_floating_point else dtype


class Merger:
    """The merge of one run: where the checkpoints fall, their weights and the buffer.

    ``positions`` are the kept steps of the checkpoints with a positive weight and
    ``weights`` those weights (``merge_weights``). The session calls ``take`` after every
    kept step (``wrap``), ``mark``/``restore`` around a segment that may be rolled back, and
    ``finish`` after its own final evaluations.
    """

    def __init__(
        self, config: MergeConfig | Mapping[str, Any], budget: int, model: torch.nn.Module
    ) -> None:
        cfg = config if isinstance(config, MergeConfig) else MergeConfig.model_validate(config)
        self.config = cfg
        self.model = model
        window = max(1, round(cfg.window_frac * budget))
        if cfg.every > window:
            raise CheckError(
                "every",
                cfg.every,
                f"<= the merge window, {window} steps (window_frac {cfg.window_frac:g} of "
                f"the budget {budget})",
            )
        k = window // cfg.every
        c = merge_weights(cfg.weights, k, cfg.ema_decay)
        steps = [budget - (k - j) * cfg.every for j in range(k + 1)]
        self.k = k
        self.window = k * cfg.every
        self.positions = [s for s, cj in zip(steps, c, strict=True) if cj > 0]
        self.weights = [float(cj) for cj in c if cj > 0]
        self.taken = 0  # checkpoints accumulated: positions[:taken]
        self.buffer: dict[str, torch.Tensor] | None = None
        self.report: dict[str, Any] | None = None  # the unmerged final numbers, once finished
        if self.positions[0] == 0:  # a window that starts at step 0: the model as given
            self.take()

    # ---- during training -----------------------------------------------------------------

    def wrap(self, step: Callable[[int], float], base: int) -> Callable[[int], float]:
        """``step`` (local step k trains batch ``base + k``), then a checkpoint if the kept
        step ``base + k + 1`` is one."""
        if self.taken >= len(self.positions):
            return step

        def stepped(k: int) -> float:
            loss = step(k)
            if self.taken < len(self.positions) and base + k + 1 == self.positions[self.taken]:
                self.take()
            return loss

        return stepped

    def take(self) -> None:
        """Add the model's parameters, times the next checkpoint's weight, to the buffer."""
        c = self.weights[self.taken]
        with torch.no_grad():
            params = self.model.named_parameters()
            if self.buffer is None:
                self.buffer = {
                    n: p.detach().to(_accumulator_dtype(p.dtype)).mul(c) for n, p in params
                }
            else:
                for n, p in params:
                    self.buffer[n].add_(p.detach(), alpha=c)
        self.taken += 1

    def mark(self, step: int, n: int) -> tuple[int, dict[str, torch.Tensor] | None] | None:
        """What ``restore`` needs if kept steps ``step + 1 … step + n`` are rolled back:
        None when no checkpoint falls among them (nothing to copy)."""
        if self.taken >= len(self.positions) or self.positions[self.taken] > step + n:
            return None
        return self.taken, _clone(self.buffer)

    def restore(self, mark: tuple[int, dict[str, torch.Tensor] | None] | None) -> None:
        if mark is not None:
            self.taken, self.buffer = mark[0], _clone(mark[1])

    # ---- the merged model ----------------------------------------------------------------

    def merged(self) -> dict[str, torch.Tensor]:
        """The merged parameters (by name, in the model's dtypes): the buffer divided by the
        sum of the weights taken. Empty before the first checkpoint."""
        if self.buffer is None:
            return {}
        total = sum(self.weights[: self.taken])
        params = dict(self.model.named_parameters())
        return {n: (b / total).to(params[n].dtype) for n, b in self.buffer.items()}

    def finish(self, session: Session) -> None:
        """Swap in the merged model, re-estimate BatchNorm, evaluate validation (and test,
        where the session has it), and put the training model back.

        The session has just evaluated its training model at this step (the last
        evaluation row, and ``history.test``): those numbers move to ``report``; the merged
        model's replace them, and ``session.state``'s validation numbers. Finishing again
        at the same step does nothing. Building and validating the merged model is charged
        to the wall time; the test evaluation, as every test evaluation, is not.
        """
        step, history = session.step, session.history
        if self.report is not None and self.report["step"] == step:
            return
        last, test = history.last_eval, history.test
        assert last is not None and int(last["step"]) == step
        report: dict[str, Any] = {
            "step": step,
            "checkpoints": self.taken,
            "val_loss": last["val_loss"],
            "val_metric": last["val_metric"],
            "test_loss": None if test is None else test["test_loss"],
            "test_metric": None if test is None else test["test_metric"],
            "bn_passes": 0,
        }
        if self.buffer is None:  # no checkpoint reached: the training model is delivered
            self.report = report
            return
        trainee, model = session.trainee, self.model
        start = time.perf_counter()
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            with torch.no_grad():
                for name, value in self.merged().items():
                    model.get_parameter(name).copy_(value)

            def forward(i: int) -> None:
                trainee.loss(trainee.batch(i))

            report["bn_passes"] = batchnorm.reestimate(model, forward, self.config.bn_batches)
            val_loss, val_metric = ddp.evaluate(trainee)
            session.ledger.seconds += time.perf_counter() - start
            if test is not None:
                test_loss, test_metric = ddp.evaluate(trainee, "test")
        finally:
            model.load_state_dict(saved)
        history.replace_last_eval(
            val_loss=float(val_loss), val_metric=float(val_metric), wall_time=session.wall_time
        )
        if test is not None:
            history.test = {
                **test,
                "test_loss": float(test_loss),
                "test_metric": float(test_metric),
            }
        session.state = session.state.evolve(val_loss=float(val_loss), val_metric=float(val_metric))
        self.report = report

    def summary(self) -> dict[str, Any]:
        """The summary's ``merge`` entry: the settings, the window and what was merged."""
        cfg = self.config
        return {
            "weights": cfg.weights,
            "window_frac": cfg.window_frac,
            "every": cfg.every,
            "ema_decay": cfg.ema_decay,
            "window_steps": self.window,
            "first_step": self.positions[0],
            "checkpoints": self.taken,
            "planned": len(self.positions),
            "bn_passes": None if self.report is None else self.report["bn_passes"],
        }

    # ---- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "taken": self.taken,
            "buffer": _clone(self.buffer),
            "report": None if self.report is None else dict(self.report),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.taken = int(state["taken"])
        self.buffer = _clone(state["buffer"])
        self.report = None if state["report"] is None else dict(state["report"])


def _clone(buffer: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    return None if buffer is None else {n: t.detach().clone() for n, t in buffer.items()}

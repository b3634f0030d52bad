"""``meta``: a small MLP over the shared features, meta-trained across task instances.

The policy maps the features ``x`` (``agents.features``) to a log2 LR multiplier::

    a = tanh(v · x + w2 · tanh(W1 x + b1) + b2),   η_t = η_{t-1} · 2^a   (continuous)
                                                  η(k) = base(k) · 2^(r · a)  (residual)

(a linear term ``v · x`` beside one hidden layer: simple rules are easy for ES to find). The
policy's action kind (``agents.actions``) is part of it and of its file (``action``, and
``residual_range``/``residual_base`` for ``residual``); a file without ``action`` (the
shipped default) is ``continuous``.

It sees only normalised features, so it needs no per-task tuning and no knowledge of the
task's scale. ``agents.metatrain`` fits it by evolution strategies; a default policy ships
as ``agents/policies/meta_default.json``. A policy file is JSON (no pickle): loading one
runs no code, and a file of the wrong shape or feature version fails with a ValueError.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from agents.actions import ActionSpec
from agents.features import N_FEATURES, check_header, header
from agents.policy import PolicyController
from autolr.running.io import atomic_path

FORMAT = "autolr-meta-policy"
META_ACTIONS = ("continuous", "residual")  # the MLP's output is a number in [-1, 1]
DEFAULT_POLICY = Path(__file__).resolve().parent / "policies" / "meta_default.json"


class MLPPolicy:
    """``a = tanh(v · x + w2 · tanh(W1 x + b1) + b2)``; its parameters as one flat vector.

    The vector is ``[W1 (hidden × n_features), b1 (hidden), w2 (hidden), b2 (1), v
    (n_features)]``. ``action`` is how ``a`` becomes the LR (default ``continuous``).
    """

    def __init__(
        self, hidden: int, params: np.ndarray | None = None, action: ActionSpec | None = None
    ) -> None:
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
        self.hidden = hidden
        self.action = ActionSpec() if action is None else action
        if self.action.kind not in META_ACTIONS:
            raise ValueError(
                f"a meta policy's action must be one of {', '.join(META_ACTIONS)}, "
                f"got {self.action.kind!r}"
            )
        self.params = np.zeros(self.size(hidden)) if params is None else np.asarray(params, float)
        if self.params.shape != (self.size(hidden),):
            raise ValueError(
                f"params must have shape ({self.size(hidden)},) for hidden={hidden}, "
                f"got {self.params.shape}"
            )

    @staticmethod
    def size(hidden: int) -> int:
        return hidden * N_FEATURES + 2 * hidden + 1 + N_FEATURES

    @classmethod
    def initial(
        cls,
        hidden: int,
        rng: np.random.Generator,
        scale: float = 0.5,
        action: ActionSpec | None = None,
    ) -> MLPPolicy:
        """Random first layer, zero output and linear terms: ``a = 0`` (a constant LR, or
        the residual base itself)."""
        policy = cls(hidden, action=action)
        n = hidden * N_FEATURES
        policy.params[:n] = rng.normal(0.0, scale / math.sqrt(N_FEATURES), n)
        return policy

    def unpack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
        """``(W1, b1, w2, b2, v)``."""
        h, n = self.hidden, N_FEATURES
        p = self.params
        w1 = p[: h * n].reshape(h, n)
        b1 = p[h * n : h * n + h]
        w2 = p[h * n + h : h * n + 2 * h]
        return w1, b1, w2, float(p[h * n + 2 * h]), p[h * n + 2 * h + 1 :]

    def __call__(self, x: np.ndarray) -> float:
        w1, b1, w2, b2, v = self.unpack()
        x = np.asarray(x, float)
        return float(np.tanh(v @ x + w2 @ np.tanh(w1 @ x + b1) + b2))

    def to_dict(self, **meta: Any) -> dict[str, Any]:
        return {
            "format": FORMAT,
            **header(),
            **self.action.header(),
            "hidden": self.hidden,
            "params": [float(v) for v in self.params],
            "meta": meta,
        }


def save_policy(policy: MLPPolicy, path: str | Path, **meta: Any) -> Path:
    """Write ``policy`` (and ``meta``, plain JSON values) to ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(policy.to_dict(**meta), indent=1) + "\n")
    return path


def load_policy(path: str | Path) -> MLPPolicy:
    """Read a policy file; ValueError if it is not a valid policy for this feature encoder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such meta policy file: {path}")
    source = f"meta policy {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{source} is not a JSON policy file: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{source} is not an {FORMAT} file (format field missing or wrong)")
    check_header(data, source)
    action = ActionSpec.from_header(data, source, default="continuous")
    hidden, params = data.get("hidden"), data.get("params")
    if not isinstance(params, list) or not all(isinstance(v, int | float) for v in params):
        raise ValueError(f"{source}: params must be a list of numbers")
    values = np.asarray(params, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{source}: params contain NaN or infinity")
    try:
        MLPPolicy(hidden, values)
    except ValueError as err:
        raise ValueError(f"{source}: wrong shape: {err}") from None
    try:
        return MLPPolicy(hidden, values, action)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


class MetaController(PolicyController):
    """The meta-learned policy as a controller (``{name: meta, policy: PATH}``).

    Args:
        policy: a policy file from ``autolr agents meta-train``; None for the shipped default.
        lr: the initial LR (the task's lr when built from a config).
        action: the action kind the caller expects (``continuous`` or ``residual``); None
            takes the policy's. A policy recorded with another kind is a ValueError.
    """

    name = "meta"

    def __init__(
        self,
        policy: str | Path | MLPPolicy | None = None,
        lr: float | None = None,
        action: str | None = None,
    ) -> None:
        super().__init__(lr)
        if isinstance(policy, MLPPolicy):
            self.policy, source = policy, "the meta policy"
        else:
            path = DEFAULT_POLICY if policy is None else policy
            self.policy, source = load_policy(path), f"meta policy {path}"
        self.policy.action.check_expected(action, source)
        self.action_spec = self.policy.action

    def act(self, features: np.ndarray) -> float:
        return self.policy(features)

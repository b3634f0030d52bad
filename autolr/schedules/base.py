"""The Schedule type, the warmup option, the family registry and `build`.

A schedule is a pure float64 function of the integer step. Each family is one small function
that checks its arguments and returns a `Schedule` wrapping a vectorised closure
``t (int64 array) -> lr (float64 array)``. ``sched(t)`` and ``sched.values(ts)`` go through
the same closure, so there is one source of truth for every value.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import yaml

from autolr import yamlio
from autolr.checks import bad, check_choice, check_int, check_nonnegative
from autolr.registry import Registry, check_known

Curve = Callable[[np.ndarray], np.ndarray]

SCHEDULES: Registry[Callable[..., Schedule]] = Registry("schedule", group="autolr.schedules")


class Schedule:
    """A pure function ``step -> lr`` in float64.

    Attributes:
        spec: a plain mapping ``{"name": ..., **params}``; ``build(spec)`` rebuilds it.
        momentum: a Schedule for momentum (or Adam's beta1), or None.
    """

    __slots__ = ("_curve", "momentum", "spec")

    def __init__(
        self, curve: Curve, spec: Mapping[str, Any], momentum: Schedule | None = None
    ) -> None:
        self._curve = curve
        self.spec = dict(spec)
        self.momentum = momentum

    def values(self, steps: Sequence[int] | np.ndarray) -> np.ndarray:
        """The schedule at each step, as a float64 array of the same shape."""
        t = np.asarray(steps)
        if t.dtype.kind not in "iu":
            if t.dtype.kind == "f" and t.size and np.all(np.floor(t) == t):
                t = t.astype(np.int64)
            elif t.size:
                raise ValueError(f"steps must be integers, got dtype {t.dtype}")
            else:
                t = t.astype(np.int64)
        t = t.astype(np.int64, copy=False)
        if t.size and int(t.min()) < 0:
            raise ValueError(f"steps must be >= 0, got {int(t.min())}")
        out = np.asarray(self._curve(t), dtype=np.float64)
        return np.broadcast_to(out, t.shape).copy()

    def __call__(self, step: int) -> float:
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise ValueError(f"step must be an integer, got {step!r}")
        return float(self.values(np.array([step], dtype=np.int64))[0])

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.spec.items() if k != "name")
        return f"{self.spec.get('name', 'schedule')}({params})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and other.spec == self.spec

    __hash__ = None  # type: ignore[assignment]


# ---- warmup: the common option of every decaying family ---------------------------------

WARMUPS = ("linear", "cosine", "exp")


def check_warmup(
    warmup_steps: Any, warmup_start_lr: Any, warmup: Any, total_steps: int | None = None
) -> tuple[int, float, str]:
    """Validate the three warmup options; returns them normalised."""
    w = check_int("warmup_steps", warmup_steps, 0)
    start = check_nonnegative("warmup_start_lr", warmup_start_lr)
    kind = check_choice("warmup", warmup, WARMUPS)
    if total_steps is not None and w > total_steps:
        raise bad("warmup_steps", w, f"<= total_steps ({total_steps})")
    if kind == "exp" and w > 0 and start <= 0:
        raise bad("warmup_start_lr", start, "> 0 with warmup='exp'")
    return w, start, kind


def warmup_ramp(
    t: np.ndarray, warmup_steps: int, start: float, peak: float, kind: str
) -> np.ndarray:
    """The warmup value at steps ``t < warmup_steps``, rising from ``start`` towards ``peak``.

    linear: start + (peak - start) * t / w
    cosine: start + (peak - start) * (1 - cos(pi * t / w)) / 2
    exp:    start * (peak / start) ** (t / w)
    """
    frac = t.astype(np.float64) / float(warmup_steps)
    if kind == "linear":
        return start + (peak - start) * frac
    if kind == "cosine":
        return start + (peak - start) * 0.5 * (1.0 - np.cos(math.pi * frac))
    return start * (peak / start) ** frac


def with_warmup(
    decay: Curve, peak: float, warmup_steps: int, warmup_start_lr: float, warmup: str
) -> Curve:
    """Warmup over ``[0, warmup_steps)``, then ``decay`` seeing ``t - warmup_steps``.

    The decay is built by the caller over ``total_steps - warmup_steps`` (HF's and optax's
    convention), so at ``t = warmup_steps`` it starts at its own step 0.
    """
    if warmup_steps == 0:
        return decay

    def curve(t: np.ndarray) -> np.ndarray:
        out = np.empty(t.shape, dtype=np.float64)
        ramp = t < warmup_steps
        if ramp.any():
            out[ramp] = warmup_ramp(t[ramp], warmup_steps, warmup_start_lr, peak, warmup)
        if (~ramp).any():
            out[~ramp] = decay(t[~ramp] - warmup_steps)
        return out

    return curve


# ---- registration and build -------------------------------------------------------------


def _spec_value(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.spec
    if isinstance(value, list | tuple):
        return [_spec_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fast_binder(
    signature: inspect.Signature,
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any] | None]:
    """``signature.bind(*args, **kwargs)`` with its defaults applied, as a dict in the
    signature's order, for a signature of plain parameters (neither positional-only nor
    variadic); None for a call it cannot bind, or for another signature, so that the caller
    falls back to ``inspect`` (and its error message). A schedule is built at every segment
    a controller hands out, and ``inspect``'s binding was most of that cost."""
    params = list(signature.parameters.values())
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind not in plain for p in params):
        return lambda args, kwargs: None
    names = [p.name for p in params]
    positional = sum(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
    empty = inspect.Parameter.empty
    defaults = {p.name: p.default for p in params if p.default is not empty}

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        if len(args) > positional:
            return None
        given = dict(zip(names, args, strict=False))  # args may be fewer
        for key, value in kwargs.items():
            if key in given or key not in signature.parameters:
                return None
            given[key] = value
        out = {}
        for key in names:
            if key in given:
                out[key] = given[key]
            elif key in defaults:
                out[key] = defaults[key]
            else:
                return None
        return out

    return bind


def family(name: str) -> Callable[[Callable[..., Schedule]], Callable[..., Schedule]]:
    """Register a schedule family; its Schedule's spec records every bound argument."""

    def decorator(fn: Callable[..., Schedule]) -> Callable[..., Schedule]:
        signature = inspect.signature(fn)
        bind = _fast_binder(signature)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Schedule:
            arguments = bind(args, kwargs)
            if arguments is not None:
                sched = fn(**arguments)
            else:  # inspect's binding, and its error message
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError as err:
                    raise ValueError(f"schedule {name!r}: {err}") from None
                bound.apply_defaults()
                arguments = bound.arguments
                sched = fn(*bound.args, **bound.kwargs)
            sched.spec = {"name": name, **{k: _spec_value(v) for k, v in arguments.items()}}
            return sched

        SCHEDULES.add(name, wrapper)
        return wrapper

    return decorator


def parse_spec(spec: Any) -> dict[str, Any]:
    """A schedule spec as a dict: from a mapping, or from inline YAML text."""
    if isinstance(spec, str):
        try:
            loaded = yamlio.load(spec)
        except yaml.YAMLError as err:
            raise ValueError(f"schedule spec is not valid YAML: {err}") from None
        if isinstance(loaded, str):  # a bare family name
            loaded = {"name": loaded}
        spec = loaded
    if not isinstance(spec, Mapping):
        raise ValueError(f"schedule spec must be a mapping with a 'name', got {spec!r}")
    if "name" not in spec:
        raise ValueError(f"schedule spec needs a 'name' key, got keys {sorted(spec)}")
    return dict(spec)


def build(spec: Mapping[str, Any] | str | Schedule) -> Schedule:
    """Build a schedule from ``{"name": family, **params}`` (or inline YAML, or a Schedule)."""
    if isinstance(spec, Schedule):
        return spec
    params = parse_spec(spec)
    name = params.pop("name")
    factory = family_factory(name)
    accepted = inspect.signature(factory).parameters
    check_known(f"schedule {name!r}", params, accepted)
    missing = [
        k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in params
    ]
    if missing:
        raise ValueError(f"schedule {name!r} is missing required parameter {missing[0]!r}")
    return factory(**params)


def family_factory(name: str) -> Callable[..., Schedule]:
    """The registered function of a family (every family module is loaded first)."""
    _ensure_families_loaded()
    return SCHEDULES.get(name)


def as_schedule(value: Any, name: str) -> Schedule:
    """Accept a Schedule or a spec for the argument ``name`` of a combinator."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, Mapping | str):
        return build(value)
    raise bad(name, value, "a Schedule or a schedule spec")


def _ensure_families_loaded() -> None:
    import autolr.schedules  # noqa: F401  (registers every family)

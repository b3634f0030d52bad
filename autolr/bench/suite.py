"""Suites: a grid of tasks × methods × seeds, and the cells it expands to.

A suite file::

    name: quickstart
    seeds: [0, 1]              # evaluation seeds
    tuning_seeds: [100]        # separate seeds for tuning the baselines' peak LR
    target_seeds: [1001, 1002] # optional: confirmation seeds for the targets (default none)
    interval: 50
    threads: 1                 # torch threads per run (tiny models run best on one)
    grid: {points: 7, span: 8} # peak = task lr * span ** linspace(-1, 1, points)
    tasks:                     # task specs; budget_steps/eval_every/interval/device are run keys
      - {name: digits-cnn, budget_steps: 600}
    baselines:                 # external-tuning track: schedule specs, peak LR tuned on the grid
      - {name: cosine, warmup_steps_frac: 0.05}    # *_frac keys are fractions of the budget
      - {name: inverse_sqrt, warmup_steps_frac: 0.05, kinds: [language]}
      - {name: cosine, warmup_steps_frac: 0.05, tuned: false, label: cosine-default}
      - {name: wsm, window_frac: 0.2, weights: sqrt}  # warmup-stable + checkpoint merging
    controllers:               # self-tuning track: no per-task tuning
      - {name: plateau}
    optimizers:                # self-tuning track too: optimizer peers (autolr.peers)
      - {name: prodigy}
    populations:               # self-tuning track too: PBT/PB2 on Ray Tune (autolr.population)
      - {name: pbt, population: 4, perturbation_interval: 100}
    replay: true               # open-loop replay of each adaptive controller's LR trace
    rescue: false              # on divergence, roll back and cap the LR (default: end the run)

Every entry may carry a ``label`` (default: its name) and ``kinds`` (task kinds it runs on).
A baseline may carry ``merge`` (the run key: checkpoint merging, ``autolr.loop.merge``),
which its runs get as it is. ``wsm`` (Tian et al. 2025) is the warmup-stable schedule with
merging: its merge keys (``window_frac``, ``weights``, ``every``, ...) may sit at its top
level, default to ``WSM_MERGE``, and move to the run key; its warmup defaults to
``warmup_steps_frac: 0.05``.
A baseline with ``tuned: false`` gets no grid: it runs at the task's default LR as its peak
(what a user gets for free), in the first phase, as track ``"default"``.

``target_seeds`` (disjoint from ``seeds`` and ``tuning_seeds``; empty by default) are
confirmation seeds for the targets (``autolr.bench.targets``): once tuning is over, each
task's best tuned baseline runs at its tuned peak on each of them (``target_cells``), and the
target becomes the worst final validation metric over its tuning and target seeds there.
Without them a suite makes exactly the cells, keys and targets it made before.

A ``populations`` entry (``pbt`` or ``pb2``; its keys: ``autolr.population.config``) is one
cell per task and seed: a whole population run, charged every member's steps, whose final
metric is its selected member's; its ``perturbation_interval`` (or
``perturbation_interval_frac``, a fraction of each task's budget) must be below each task's
budget.

Cell tracks: ``"tune"`` and ``"eval"`` (tuned baselines), ``"target"`` (the best tuned
baseline on the target seeds), ``"default"`` (untuned ones), ``"self"`` (controllers and
populations),
``"peer"`` (a controller class marked ``peer = True``, such as ``lr_finder``: no replay is
made of it) and ``"replay"``.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from autolr.bench.cells import Cell, Method, TaskEntry, controller_track, trace_schedule
from autolr.bench.checking import check_run_keys, check_suite, check_task_params, reworded
from autolr.checks import CheckError, Int, Range, check_range
from autolr.controllers.base import CONTROLLERS
from autolr.loop.merge import MergeConfig
from autolr.loop.trainee import TASKS, task_info
from autolr.peers.base import PEERS
from autolr.population.config import check_against_budget, parse_population
from autolr.running.config import ConfigError, key_path, parse_model
from autolr.schedules.base import family_factory

RUN_KEYS = ("budget_steps", "eval_every", "interval", "device", "threads")
DEFAULT_BASELINES: list[dict[str, Any]] = [
    {"name": "constant"},
    {"name": "step", "step_size_frac": 0.34, "gamma": 0.1},
    {"name": "cosine", "label": "cosine-warmup", "warmup_steps_frac": 0.05},
    {"name": "wsd", "warmup_steps_frac": 0.05, "decay_steps_frac": 0.2},
    {"name": "one_cycle"},
    {"name": "inverse_sqrt", "warmup_steps_frac": 0.05, "kinds": ["language"]},
]
PEAK_KEYS = ("lr", "max_lr")
WSM_MERGE: dict[str, Any] = {"window_frac": 0.2, "weights": "sqrt"}  # the baseline
WSM_WARMUP: dict[str, Any] = {"warmup_steps_frac": 0.05}  # as the other baselines' warmups


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: Int(1) = 7
    span: Range(1.0, math.inf, high_open=True) = 8.0

    def multipliers(self) -> np.ndarray:
        if self.points == 1:
            return np.ones(1)
        return self.span ** np.linspace(-1.0, 1.0, self.points)


class SuiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tasks: list[dict[str, Any]] = Field(min_length=1)
    # autolr.checks' field types: True and "3" are not integers (pydantic's own int is lax)
    seeds: list[Int(0)] = Field(default=[0, 1, 2], min_length=1)
    tuning_seeds: list[Int(0)] = Field(default=[1000], min_length=1)
    # confirmation seeds of the targets: the best tuned baseline's runs at its tuned peak
    target_seeds: list[Int(0)] = Field(default_factory=list)
    interval: Int(1) = 50
    device: str = "cpu"
    threads: Int(1) = 1
    grid: Grid = Grid()
    baselines: list[dict[str, Any]] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_BASELINES)
    )
    controllers: list[dict[str, Any]] = Field(default_factory=list)
    # optimizer peers: self-tuning optimizers that replace each task's optimizer
    optimizers: list[dict[str, Any]] = Field(default_factory=list)
    # population methods: PBT and PB2 on Ray Tune, one cell = one whole population
    populations: list[dict[str, Any]] = Field(default_factory=list)
    replay: bool = True
    # passed to every run; strict, so that "yes" or 1 is refused rather than read as true
    rescue: StrictBool = False


class Suite:
    """A validated suite: its tasks, methods and the cells of each phase.

    Construction checks the whole suite (``autolr.bench.checking``: every method built on
    every task it runs on), so a suite that constructs has no cell doomed by its config;
    ``check=False`` skips the builds (the key checks stay).
    """

    def __init__(self, raw: Any, *, check: bool = True) -> None:
        self.cfg = parse_model(SuiteConfig, raw, "suite")
        self.name = self.cfg.name
        if len(set(self.cfg.seeds) & set(self.cfg.tuning_seeds)):
            raise ConfigError(
                f"suite: tuning_seeds {self.cfg.tuning_seeds} must not overlap seeds "
                f"{self.cfg.seeds}: baselines are tuned on separate seeds"
            )
        for name, other in (("seeds", self.cfg.seeds), ("tuning_seeds", self.cfg.tuning_seeds)):
            if set(self.cfg.target_seeds) & set(other):
                raise ConfigError(
                    f"suite: target_seeds {self.cfg.target_seeds} must not overlap {name} "
                    f"{other}: targets are confirmed on seeds of their own"
                )
        self.tasks = [self._task(i, t) for i, t in enumerate(self.cfg.tasks)]
        self.baselines = [self._method(i, b, "baseline") for i, b in enumerate(self.cfg.baselines)]
        self.controllers = [
            self._method(i, c, "controller") for i, c in enumerate(self.cfg.controllers)
        ]
        self.optimizers = [self._peer(i, o) for i, o in enumerate(self.cfg.optimizers)]
        self.populations = [self._population(i, p) for i, p in enumerate(self.cfg.populations)]
        labels = [m.label for m in self.methods]
        dupes = {x for x in labels if labels.count(x) > 1}
        if dupes:
            raise ValueError(f"suite methods need distinct labels; repeated: {sorted(dupes)}")
        if check:
            check_suite(self)

    @property
    def methods(self) -> list[Method]:
        """Every method of the suite: baselines, controllers, optimizer peers, populations."""
        return self.baselines + self.controllers + self.optimizers + self.populations

    # ---- validation -------------------------------------------------------------------

    def _task(self, i: int, entry: dict[str, Any]) -> TaskEntry:
        spec = dict(entry)
        label = spec.pop("label", None)
        run = {k: spec.pop(k) for k in RUN_KEYS if k in spec}
        run.setdefault("interval", self.cfg.interval)
        run.setdefault("device", self.cfg.device)
        run.setdefault("threads", self.cfg.threads)
        if not isinstance(spec.get("name"), str):
            raise ConfigError(f"suite: tasks[{i}] needs a 'name', got {entry!r}")
        check_run_keys(i, spec, run)
        try:
            check_task_params(i, TASKS.get(spec["name"]), spec)
            info = task_info(spec)
        except ValueError as err:
            raise reworded(f"tasks[{i}]", err, spec) from None
        run.setdefault("budget_steps", info.budget_steps)
        return TaskEntry(label or spec["name"], spec, run, info)

    def _method(self, i: int, entry: dict[str, Any], track: str) -> Method:
        where = f"suite: {track}s[{i}]"
        spec = dict(entry)
        if not isinstance(spec.get("name"), str):
            raise ValueError(f"{where} needs a 'name', got {entry!r}")
        label = spec.pop("label", spec["name"])
        kinds = spec.pop("kinds", None)
        tuned = spec.pop("tuned", True) if track == "baseline" else True
        if not isinstance(tuned, bool):
            raise ConfigError(f"{where}.tuned must be true or false, got {tuned!r}")
        merge = self._merge(i, spec) if track == "baseline" else None
        try:
            if track == "baseline":
                params = inspect.signature(family_factory(spec["name"])).parameters
                if not any(k in params for k in PEAK_KEYS):
                    raise ValueError(f"schedule {spec['name']!r} has no lr or max_lr to tune")
            else:
                CONTROLLERS.get(spec["name"])
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        return Method(label, track, spec, tuple(kinds) if kinds else None, tuned, merge)

    def _merge(self, i: int, spec: dict[str, Any]) -> dict[str, Any] | None:
        """A baseline's ``merge`` (popped from ``spec``); for ``wsm``, its top-level merge
        keys (or ``WSM_MERGE``), and its default warmup put into ``spec``."""
        merge = spec.pop("merge", None)
        root: tuple[str | int, ...] = ("baselines", i, "merge")
        if spec["name"] == "wsm":
            own = {k: spec.pop(k) for k in MergeConfig.model_fields if k in spec}
            if merge is not None and own:
                raise ConfigError(
                    f"suite: baselines[{i}]: give wsm's merge keys ({', '.join(own)}) at its "
                    "top level or under merge, not both"
                )
            if merge is None:
                merge, root = {**WSM_MERGE, **own}, ("baselines", i)
            if "warmup_steps" not in spec and "warmup_steps_frac" not in spec:
                spec.update(WSM_WARMUP)
        if merge is not None:
            parse_model(MergeConfig, merge, "suite", root=root)
        return merge

    def _peer(self, i: int, entry: dict[str, Any]) -> Method:
        """An ``optimizers`` entry: a registered peer's name and its parameters."""
        spec = dict(entry)
        if not isinstance(spec.get("name"), str):
            raise ValueError(f"suite: optimizers[{i}] needs a 'name', got {entry!r}")
        label = spec.pop("label", spec["name"])
        kinds = spec.pop("kinds", None)
        try:
            PEERS.get(spec["name"])
        except ValueError as err:
            raise ValueError(f"suite: optimizers[{i}]: {err}") from None
        return Method(label, "peer", spec, tuple(kinds) if kinds else None)

    def _population(self, i: int, entry: dict[str, Any]) -> Method:
        """A ``populations`` entry: its keys checked (``autolr.population.config``) as each
        task it runs on resolves them, its perturbation interval against that task's
        budget."""
        spec = dict(entry)
        label = spec.pop("label", spec.get("name"))
        kinds = spec.pop("kinds", None)
        root: tuple[str | int, ...] = ("populations", i)
        if "perturbation_interval_frac" in spec:
            if "perturbation_interval" in spec:
                raise ConfigError(
                    f"suite: populations[{i}]: give perturbation_interval or "
                    "perturbation_interval_frac, not both"
                )
            frac = spec["perturbation_interval_frac"]
            try:
                check_range("perturbation_interval_frac", frac, 0, 1, low_open=True)
            except CheckError as err:
                raise ConfigError(f"suite: {err.message(key_path((*root, err.name)))}") from None
        method = Method(str(label), "population", spec, tuple(kinds) if kinds else None)
        tasks = [t for t in self.tasks if method.applies(t)] or self.tasks[:1]
        for task in tasks:
            cfg = parse_population(self.population_spec(task, method), "suite", root=root)
            budget = task.run["budget_steps"]
            check_against_budget(cfg, budget, "suite", root, task.label)
        return method

    def population_spec(self, task: TaskEntry, method: Method) -> dict[str, Any]:
        """A population's keys on a task: ``perturbation_interval_frac`` (a fraction of the
        task's budget, as the baselines' ``*_frac`` keys) resolved to
        ``perturbation_interval``."""
        spec = dict(method.spec)
        frac = spec.pop("perturbation_interval_frac", None)
        if frac is not None:
            spec["perturbation_interval"] = max(1, round(float(frac) * task.run["budget_steps"]))
        return spec

    # ---- cells ------------------------------------------------------------------------

    def _run_config(
        self,
        task: TaskEntry,
        controller: dict[str, Any],
        seed: int,
        budget: int | None = None,
        merge: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        run = dict(task.run)
        if budget is not None:
            run["budget_steps"] = budget
        if self.cfg.rescue:  # only when set: the cell keys of suites without it stay as they were
            run["rescue"] = True
        if merge is not None:  # likewise
            run["merge"] = dict(merge)
        return {"task": task.spec, "controller": controller, "seed": seed, **run}

    def baseline_schedule(self, task: TaskEntry, method: Method, peak: float) -> dict[str, Any]:
        """The schedule spec of a baseline at a peak LR, with ``*_frac`` keys resolved."""
        budget = task.run["budget_steps"]
        spec: dict[str, Any] = {}
        for key, value in method.spec.items():
            if key.endswith("_frac"):
                spec[key.removesuffix("_frac")] = max(1, round(float(value) * budget))
            else:
                spec[key] = value
        params = inspect.signature(family_factory(spec["name"])).parameters
        peak_key = next(k for k in PEAK_KEYS if k in params)
        spec[peak_key] = float(peak)
        if "total_steps" in params:
            spec.setdefault("total_steps", budget)
        return spec

    def tune_cells(self) -> list[Cell]:
        cells = []
        for task in self.tasks:
            for method in self.baselines:
                if not (method.tuned and method.applies(task)):
                    continue
                for mult in self.cfg.grid.multipliers():
                    peak = float(task.info.lr * mult)
                    ctrl = {"name": "fixed", "schedule": self.baseline_schedule(task, method, peak)}
                    for seed in self.cfg.tuning_seeds:
                        cells.append(
                            Cell(
                                self.name,
                                task.label,
                                method.label,
                                "tune",
                                seed,
                                self._run_config(task, ctrl, seed, merge=method.merge),
                                peak,
                            )
                        )
        return cells

    def eval_cells(self, peaks: Mapping[tuple[str, str], float]) -> list[Cell]:
        """Baselines on the evaluation seeds at their tuned peak (``peaks[(task, method)]``)."""
        cells = []
        for task in self.tasks:
            for method in self.baselines:
                if not method.tuned or (task.label, method.label) not in peaks:
                    continue
                peak = peaks[(task.label, method.label)]
                cells += self._at_peak(task, method, peak, "eval", self.cfg.seeds)
        return cells

    def target_cells(self, best: Mapping[str, tuple[str, float]]) -> list[Cell]:
        """Each task's best tuned baseline (``best[task] = (method, tuned peak)``, as
        ``autolr.bench.targets.best_baselines`` chooses it) at that peak on the target
        seeds: track "target". No cell without ``target_seeds``."""
        cells = []
        for task in self.tasks:
            if task.label not in best:
                continue
            label, peak = best[task.label]
            method = next((m for m in self.baselines if m.label == label and m.tuned), None)
            if method is None:  # a store's tuning runs of a baseline the suite no longer has
                continue
            cells += self._at_peak(task, method, peak, "target", self.cfg.target_seeds)
        return cells

    def _at_peak(
        self, task: TaskEntry, method: Method, peak: float, track: str, seeds: list[int]
    ) -> list[Cell]:
        """A tuned baseline at one peak on ``seeds``: the cells of track ``track``."""
        ctrl = {"name": "fixed", "schedule": self.baseline_schedule(task, method, peak)}
        return [
            Cell(
                self.name,
                task.label,
                method.label,
                track,
                seed,
                self._run_config(task, ctrl, seed, merge=method.merge),
                peak,
            )
            for seed in seeds
        ]

    def default_cells(self) -> list[Cell]:
        """Untuned baselines (``tuned: false``) on the evaluation seeds at the task's default
        LR: no tuning runs, so they belong to the first phase."""
        cells = []
        for task in self.tasks:
            for method in self.baselines:
                if method.tuned or not method.applies(task):
                    continue
                peak = float(task.info.lr)
                ctrl = {"name": "fixed", "schedule": self.baseline_schedule(task, method, peak)}
                for seed in self.cfg.seeds:
                    config = self._run_config(task, ctrl, seed, merge=method.merge)
                    cells.append(
                        Cell(self.name, task.label, method.label, "default", seed, config, peak)
                    )
        return cells

    def self_cells(self) -> list[Cell]:
        """Controllers on the evaluation seeds: track "self", or "peer" for a peer."""
        return [
            Cell(
                self.name,
                task.label,
                method.label,
                controller_track(method.spec["name"]),
                seed,
                self._run_config(task, method.spec, seed),
            )
            for task in self.tasks
            for method in self.controllers
            if method.applies(task)
            for seed in self.cfg.seeds
        ]

    def peer_cells(self) -> list[Cell]:
        """The optimizer peers on the evaluation seeds, each at its documented settings and
        under its own schedule (the run key ``optimizer``; no ``controller`` key)."""
        cells = []
        for task in self.tasks:
            for method in self.optimizers:
                if not method.applies(task):
                    continue
                for seed in self.cfg.seeds:
                    config = self._run_config(task, {}, seed)
                    del config["controller"]
                    config["optimizer"] = dict(method.spec)
                    cells.append(Cell(self.name, task.label, method.label, "peer", seed, config))
        return cells

    def population_cells(self) -> list[Cell]:
        """The populations on the evaluation seeds (track "self"): the run key
        ``population`` in place of ``controller``; every member starts from the seed."""
        cells = []
        for task in self.tasks:
            for method in self.populations:
                if not method.applies(task):
                    continue
                for seed in self.cfg.seeds:
                    config = self._run_config(task, {}, seed)
                    del config["controller"]
                    config["population"] = self.population_spec(task, method)
                    cells.append(Cell(self.name, task.label, method.label, "self", seed, config))
        return cells

    def replay_cell(self, source: Mapping[str, Any], lrs: np.ndarray) -> Cell | None:
        """Open-loop replay of a controller run's kept-step LR trace on the NEXT eval seed.

        Replaying on the same seed would reproduce the run bit for bit (batches and probes are
        deterministic), so the trace of seed s_i is replayed on seed s_{i+1} (cyclically) and
        compared there with the closed-loop run: only reactions to the run's own state can
        make a difference. None with a single evaluation seed.
        """
        seeds = self.cfg.seeds
        if len(seeds) < 2:
            return None
        task = next(t for t in self.tasks if t.label == source["task"])
        seed = seeds[(seeds.index(int(source["seed"])) + 1) % len(seeds)]
        ctrl = {"name": "fixed", "schedule": trace_schedule(lrs)}
        return Cell(
            self.name,
            task.label,
            f"{source['method']}-replay",
            "replay",
            seed,
            self._run_config(task, ctrl, seed, budget=max(1, len(lrs))),
        )

"""Executors: where jobs run, chosen by name (``local``, ``pool``, ``ray``; a package may
add more through the ``autolr.executors`` entry-point group).

An executor pulls jobs from a ``JobSource`` as its workers free up: ``pull(fn, source)``
applies a picklable ``fn`` to each job that ``source.take()`` hands out and yields ``(job,
result)`` as each finishes, in any order, with at most ``workers`` jobs in flight. The
source decides at each ``take`` what runs next, so a job can be claimed (in a results store
that other processes share, say) only when it really starts. ``run(fn, args, on_start)`` is
the same over a fixed list: it calls ``on_start(index)`` just before job ``index`` is
handed out and yields ``(index, result)``. An exception raised by ``fn`` propagates; wrap
``fn`` to turn failures into results. A job may say how many CPUs it uses (its ``cpus``
attribute, default 1; a bench cell: its run's torch threads), which an executor that
reserves CPUs per job (``ray``) reserves. An executor holds what it started (a local Ray)
until ``close``; it is a context manager that closes on exit.
"""

from __future__ import annotations

import abc
import functools
import inspect
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, Protocol, TypeVar

from autolr.registry import Registry, check_known, load_plugins

A = TypeVar("A")
J = TypeVar("J")
R = TypeVar("R")
OnStart = Callable[[int], None]


class JobSource(Protocol[J]):
    """Hands out jobs one at a time, deciding at each ``take`` what runs next."""

    poll_s: float  # after a non-blocking None while ``waiting``: ask again this much later

    @property
    def waiting(self) -> bool:
        """Whether jobs may still appear (run by others, say) though none is ready now."""

    def take(self, block: bool = True) -> J | None:
        """The next job, or None: none is left (with ``block``), or none is ready now."""


class _ListSource(Generic[A]):
    """A fixed list as a JobSource of ``(index, arg)``, calling ``on_start`` on each."""

    poll_s = 0.0
    waiting = False

    def __init__(self, args: Sequence[A], on_start: OnStart | None) -> None:
        self._args, self._on_start, self._next = args, on_start, 0

    def take(self, block: bool = True) -> tuple[int, A] | None:
        if self._next >= len(self._args):
            return None
        i, self._next = self._next, self._next + 1
        if self._on_start is not None:
            self._on_start(i)
        return i, self._args[i]


def _on_arg(fn: Callable[[A], R], job: tuple[int, A]) -> R:
    return fn(job[1])


class Executor(abc.ABC):
    """Runs jobs; see the module docstring for the contract of ``run``.

    Args:
        workers: the most jobs in flight at once (>= 1).
    """

    name: str = "executor"

    def __init__(self, workers: int = 1) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers

    @abc.abstractmethod
    def pull(self, fn: Callable[[J], R], source: JobSource[J]) -> Iterator[tuple[J, R]]:
        """Yield ``(job, fn(job))`` for every job ``source`` hands out, as each finishes."""

    def close(self) -> None:  # noqa: B027 (optional: most executors hold nothing)
        """Release what the executor started for its jobs (nothing, by default)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self, fn: Callable[[A], R], args: Sequence[A], on_start: OnStart | None = None
    ) -> Iterator[tuple[int, R]]:
        """Yield ``(i, fn(args[i]))`` for every ``i``, as each finishes."""
        for (i, _), result in self.pull(
            functools.partial(_on_arg, fn), _ListSource(args, on_start)
        ):
            yield i, result


def job_cpus(job: object) -> int:
    """The CPUs ``job`` says it uses (its ``cpus`` attribute), 1 when it says nothing."""
    cpus = getattr(job, "cpus", 1)
    if not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 1:
        raise ValueError(f"a job's cpus must be an integer >= 1, got {cpus!r}")
    return cpus


EXECUTORS: Registry[type[Executor]] = Registry("executor", group="autolr.executors")
# imported on first use; the module imports ray only when a RayExecutor is made
EXECUTORS.add("ray", "autolr.ray_executor:RayExecutor")


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """In this process, one job after another, in order (``workers`` must be 1)."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(workers)
        if workers != 1:
            raise ValueError(
                f"executor 'local' runs one job at a time, got workers={workers}; "
                "use executor 'pool' for parallel workers"
            )

    def pull(self, fn: Callable[[J], R], source: JobSource[J]) -> Iterator[tuple[J, R]]:
        while (job := source.take()) is not None:
            yield job, fn(job)


def pool_worker_init() -> None:
    """Runs once in each pool worker process, before its first job: per-worker setup.

    It makes the worker die with its parent (a killed ``autolr bench`` leaves no orphans)
    and imports the ``$AUTOLR_PLUGINS`` modules, so that their names resolve in the worker
    as in the parent.
    """
    from autolr.orphans import die_with_parent

    die_with_parent()
    load_plugins()


class WorkerLost(ValueError):
    """A pool worker died mid-job (``kill -9``, the OOM killer): the pool is broken. A
    ValueError, so ``autolr`` prints it as one line instead of a traceback."""


@EXECUTORS.register("pool")
class PoolExecutor(Executor):
    """In ``workers`` local processes (spawned, so no state leaks in from the parent); each
    worker runs ``pool_worker_init`` first."""

    name = "pool"

    def pull(self, fn: Callable[[J], R], source: JobSource[J]) -> Iterator[tuple[J, R]]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=pool_worker_init
        ) as pool:
            running: dict[Future[Any], J] = {}
            try:
                while True:
                    while len(running) < self.workers and (
                        (job := source.take(block=not running)) is not None
                    ):
                        running[pool.submit(fn, job)] = job
                    if not running:
                        break
                    timeout = source.poll_s if source.waiting else None  # look again then
                    done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                    for fut in done:
                        result = fut.result()
                        yield running.pop(fut), result
            # a dead worker breaks the pool: its futures raise this, and so does a submit
            # that comes after the break but before wait() has returned the failed future
            except BrokenProcessPool:
                raise WorkerLost(
                    "a worker process died while it ran a job (killed, or out of "
                    "memory); the jobs in flight were not recorded. Run the same "
                    "command again: it keeps every finished run and runs the rest"
                ) from None


def make_executor(name: str | None = None, workers: int = 1, **options: Any) -> Executor:
    """The executor ``name`` with ``workers`` and its own ``options`` (``ray``: ``address``);
    with no name, ``local`` for one worker and ``pool`` for more. An unknown name is an
    error with a did-you-mean suggestion."""
    if name is None:
        name = "local" if workers <= 1 else "pool"
    cls = EXECUTORS.get(name)
    accepted = [p for p in inspect.signature(cls).parameters if p != "workers"]
    check_known(f"executor {name!r}", options, accepted)
    return cls(workers, **options)

"""Executors: where jobs run, chosen by name (``local``, ``pool``; a package may add more
through the ``autolr.executors`` entry-point group, e.g. ``ray``).

An executor has one method: ``run(fn, args, on_start)`` applies a picklable ``fn`` to each
of ``args`` and yields ``(index, result)`` as each job finishes, in any order. It calls
``on_start(index)`` in the calling process just before job ``index`` is handed out, and
keeps at most ``workers`` jobs in flight, so the caller can claim a job (in a results
store, say) only when it really starts. An exception raised by ``fn`` propagates; wrap
``fn`` to turn failures into results.
"""

from __future__ import annotations

import abc
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from autolr.registry import Registry, load_plugins

A = TypeVar("A")
R = TypeVar("R")
OnStart = Callable[[int], None]


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
    def run(
        self, fn: Callable[[A], R], args: Sequence[A], on_start: OnStart | None = None
    ) -> Iterator[tuple[int, R]]:
        """Yield ``(i, fn(args[i]))`` for every ``i``, as each finishes."""


EXECUTORS: Registry[type[Executor]] = Registry("executor", group="autolr.executors")


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

    def run(
        self, fn: Callable[[A], R], args: Sequence[A], on_start: OnStart | None = None
    ) -> Iterator[tuple[int, R]]:
        for i, arg in enumerate(args):
            if on_start is not None:
                on_start(i)
            yield i, fn(arg)


def pool_worker_init() -> None:
    """Runs once in each pool worker process, before its first job: per-worker setup.

    It imports the ``$AUTOLR_PLUGINS`` modules, so that their names resolve in the worker as
    in the parent. This is the hook for any other per-worker setup (a watchdog that ends
    the worker when its parent dies, say).
    """
    load_plugins()


@EXECUTORS.register("pool")
class PoolExecutor(Executor):
    """In ``workers`` local processes (spawned, so no state leaks in from the parent); each
    worker runs ``pool_worker_init`` first."""

    name = "pool"

    def run(
        self, fn: Callable[[A], R], args: Sequence[A], on_start: OnStart | None = None
    ) -> Iterator[tuple[int, R]]:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=pool_worker_init
        ) as pool:
            queue = list(range(len(args)))
            running: dict[Future[Any], int] = {}
            while queue or running:
                while queue and len(running) < self.workers:
                    i = queue.pop(0)
                    if on_start is not None:
                        on_start(i)
                    running[pool.submit(fn, args[i])] = i
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    yield i, fut.result()


def make_executor(name: str | None = None, workers: int = 1) -> Executor:
    """The executor ``name`` with ``workers``; with no name, ``local`` for one worker and
    ``pool`` for more. An unknown name is an error with a did-you-mean suggestion."""
    if name is None:
        name = "local" if workers <= 1 else "pool"
    return EXECUTORS.get(name)(workers)

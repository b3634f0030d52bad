"""The ``ray`` executor: each job is a Ray task, on a local Ray or on a Ray cluster.

Ray schedules the tasks; this module only hands them over, as ``PoolExecutor`` hands jobs to
a process pool: at most ``workers`` tasks in flight, each taken from the ``JobSource`` (and so
claimed in the results store) just before it is submitted, and each result handed back to
the driver, which alone writes to the store. A killed driver therefore loses only the jobs in
flight, as with the pool, and a rerun runs them again. Each task reserves the CPUs its job
says it uses (``job_cpus``: a bench cell's torch threads), so Ray never runs more threads
on a node than it has CPUs.

Ray is an optional extra (``pip install -e ".[ray]"``), imported when a RayExecutor is made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from autolr.executor import Executor, JobSource, WorkerLost, job_cpus
from autolr.registry import PLUGINS_ENV, load_plugins

J = TypeVar("J")
R = TypeVar("R")
RAY_HINT = 'pip install -e ".[ray]"'
CONNECT_TIMEOUT_S = 5.0


def import_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError as err:
        raise ValueError(
            f"executor 'ray' needs Ray, which is not installed ({err}); install the extra: "
            f"{RAY_HINT}"
        ) from None
    return ray


def run_job(fn: Callable[[J], R], job: J, plugins: str) -> R:
    """A Ray task: the pool worker's setup (the driver's ``$AUTOLR_PLUGINS``, imported so
    that their names resolve here), then ``fn(job)``. The run sets its own torch threads
    (``threads``); Ray sets ``OMP_NUM_THREADS`` to the CPUs the task reserved."""
    if plugins:
        os.environ[PLUGINS_ENV] = plugins
    load_plugins()
    return fn(job)


class RayExecutor(Executor):
    """As Ray tasks, ``workers`` at a time: on a local Ray of ``workers`` CPUs that it starts
    (and stops on ``close``), or, with ``address``, on the Ray cluster there
    (``ray start --head`` prints it; ``auto``: the one started on this machine).

    A Ray this process is already connected to (``ray.init`` called by the program) is used
    as it is, and left running.
    """

    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None) -> None:
        super().__init__(workers)
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"--ray-address must be a Ray address (HOST:PORT), got {address!r}")
        self.address = address
        self._ray = import_ray()
        self._started = False  # this executor called ray.init, so close() shuts Ray down
        self._connect()  # now, so that a cluster that cannot be joined stops nothing midway

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            # "local": a new Ray of our own, even where $RAY_ADDRESS names a cluster
            ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **quiet)
        else:
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, **quiet)
            except ConnectionError as err:
                raise ValueError(_join_error(self.address, err)) from None
        self._started = True

    def _node_cpus(self) -> int:
        """The most CPUs of one live node: a job that needs more could never start."""
        nodes = self._ray.nodes()
        return max((int(n["Resources"].get("CPU", 0)) for n in nodes if n["Alive"]), default=0)

    def pull(self, fn: Callable[[J], R], source: JobSource[J]) -> Iterator[tuple[J, R]]:
        self._connect()  # again after a close
        ray = self._ray
        node_cpus = self._node_cpus()
        task = ray.remote(run_job)
        plugins = os.environ.get(PLUGINS_ENV, "")
        running: dict[Any, J] = {}
        try:
            while True:
                while len(running) < self.workers and (
                    (job := source.take(block=not running)) is not None
                ):
                    cpus = self._cpus(job, node_cpus)
                    running[task.options(num_cpus=cpus).remote(fn, job, plugins)] = job
                if not running:
                    break
                timeout = source.poll_s if source.waiting else None  # look again then
                done, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
                for ref in done:
                    job = running.pop(ref)
                    yield job, self._result(ref)
        finally:
            # the driver stops early (an error, a lost store): its tasks must not run on
            for ref in running:
                # cleanup must not hide the error that stopped the driver
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _cpus(self, job: object, node_cpus: int) -> int:
        cpus = job_cpus(job)
        if cpus > node_cpus:
            where = "the local Ray" if self.address is None else f"Ray at {self.address}"
            raise ValueError(
                f"a job needs {cpus} CPUs (its threads) but no node of {where} has more than "
                f"{node_cpus}" + (": raise --workers" if self.address is None else "")
            )
        return cpus

    def _result(self, ref: Any) -> Any:
        errors = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except errors.RayTaskError as err:  # raised by the job itself: propagate it as is
            cause = err.cause
            if isinstance(cause, Exception):
                raise cause from err
            raise
        except errors.RayError as err:  # the worker or its node died; Ray retried the task
            raise WorkerLost(
                f"a Ray worker died while it ran a job ({type(err).__name__}: killed, out of "
                "memory, or its node was lost); the jobs in flight were not recorded. Run "
                "the same command again: it keeps every finished run and runs the rest"
            ) from None

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def _check_reachable(address: str) -> None:
    """Refuse at once a ``HOST:PORT`` where nothing listens: ``ray.init`` would retry for
    minutes. Other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ValueError(
            f"--ray-address {address}: no Ray cluster answers there ({err}); start one with "
            "`ray start --head` and give the address it prints"
        ) from None


def _join_error(address: str, err: BaseException) -> str:
    """Why the cluster at ``address`` could not be joined, with Ray's reason (which is in
    the chain of causes) and, for an authentication failure, what to set."""
    reasons = []
    cause: BaseException | None = err
    while cause is not None:
        reasons.append(str(cause).strip().splitlines()[-1] if str(cause).strip() else "")
        cause = cause.__cause__
    text = "; ".join(r for r in reasons if r)
    hint = ""
    if "auth" in text.lower():
        hint = (
            "; the cluster uses token authentication: set RAY_AUTH_MODE=token here, with its "
            "token in ~/.ray/auth_token or $RAY_AUTH_TOKEN (`ray get-auth-token` on the head)"
        )
    return f"--ray-address {address}: cannot join the Ray cluster there ({text}){hint}"

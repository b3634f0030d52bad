"""Optuna storages by URL, and recovery of trials whose worker died.

A URL's scheme picks the storage from the ``STORAGES`` registry, as Optuna does: a journal
file (the default) is safe across processes on one machine; an RDB URL (``sqlite:///``,
``postgresql://``) lets workers on many machines share one study (both are readable by
``optuna-dashboard``); ``memory:`` keeps a study in this process only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from autolr.dburl import POSTGRES_HINT, engine_url, is_postgres, mask_url, scrub
from autolr.liveness import alive
from autolr.registry import Registry

StorageFactory = Callable[[str, int], Any]

# Keyed by URL scheme (the SQLAlchemy dialect before any "+driver"), as Optuna chooses.
STORAGES: Registry[StorageFactory] = Registry("storage scheme")
_MEMORY: dict[str, Any] = {}


def storage_scheme(url: str) -> str:
    """The registry key of a storage URL: ``sqlite:///x.db`` -> sqlite,
    ``postgresql+psycopg2://...`` -> postgresql, ``memory:`` -> memory, and ``journal:PATH``
    or a plain path -> journal."""
    if "://" in url:
        return url.partition("://")[0].partition("+")[0].lower()
    if url.startswith("memory:"):
        return "memory"
    return "journal"


def open_storage(url: str, max_retry: int = 3) -> Any:
    """An Optuna storage from a URL, by its scheme (``storage_scheme``): an RDB URL
    (``sqlite:///``, ``postgresql://``, ``mysql://``) gives an RDBStorage with a heartbeat (a
    dead worker's trial is failed and retried); a plain path or ``journal:PATH`` gives a
    JournalStorage on a file (safe across local processes); ``memory:NAME`` gives an
    in-memory storage shared within this process only. An unknown scheme is an error with
    a did-you-mean suggestion."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"storage must be a non-empty URL or path, got {url!r}")
    scheme = storage_scheme(url)
    try:
        factory = STORAGES.get(scheme)
    except ValueError as err:
        raise ValueError(f"storage {mask_url(url)!r}: {err}") from None
    return factory(url, max_retry)


def _rdb(url: str, max_retry: int) -> Any:
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    # Optuna 4.9 deprecated RetryFailedTrialCallback / failed_trial_callback for these; the
    # heartbeat itself and this callback are still marked experimental, with no stable
    # equivalent, and only a heartbeat can tell that a worker on another machine died. We
    # use them knowingly, so their notices are silenced here (and only here), where they
    # used to print on every storage opened (12 warnings per `autolr tune`).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(
                engine_url(url),
                heartbeat_interval=10,
                grace_period=30,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=max_retry
                ),
            )
    except Exception as err:  # the URL carries a password: never let it reach a message
        raise ValueError(_storage_error(url, err)) from None


def _journal(url: str, max_retry: int) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(url.removeprefix("journal:"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _memory(url: str, max_retry: int) -> Any:
    from optuna.storages import InMemoryStorage

    return _MEMORY.setdefault(url, InMemoryStorage())


for _scheme in ("sqlite", "postgresql", "mysql"):
    STORAGES.add(_scheme, _rdb)
STORAGES.add("journal", _journal)
STORAGES.add("memory", _memory)


def _storage_error(url: str, err: Exception) -> str:
    if isinstance(err, ImportError) and is_postgres(url):
        return (
            f"Optuna storage {mask_url(url)} needs the PostgreSQL driver psycopg; {POSTGRES_HINT}"
        )
    return f"cannot open Optuna storage {mask_url(url)}: {scrub(str(err), url)}"


def recover_stale(study: Any, max_retry: int = 3) -> list[int]:
    """Fail RUNNING trials whose local worker process is gone; re-queue their params.

    Returns the numbers of the failed trials. A retry carries ``retry_of`` (the failed
    trial's number) and ``retries``; after ``max_retry`` retries a trial is not re-queued.
    """
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("worker")
        if owner is None or alive(owner):
            continue
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        failed.append(t.number)
        retries = int(t.user_attrs.get("retries", 0))
        if retries < max_retry:
            attrs = {"retry_of": t.number, "retries": retries + 1}
            study.enqueue_trial(t.params, user_attrs=attrs, skip_if_exists=False)
    return failed

"""Optuna storages by URL, and recovery of trials whose worker died.

A journal file (the default) is safe across processes on one machine; an RDB URL
(``sqlite:///``, ``postgresql://``) lets workers on many machines share one study. Both are
readable by ``optuna-dashboard``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from autolr.dburl import POSTGRES_HINT, engine_url, is_postgres, mask_url, scrub


def open_storage(url: str, max_retry: int = 3) -> Any:
    """An Optuna storage from a URL: ``sqlite:///``, ``postgresql://``, ... give an
    RDBStorage with a heartbeat (a dead worker's trial is failed and retried); a plain path
    or ``journal:PATH`` gives a JournalStorage on a file (safe across local processes)."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage, RetryFailedTrialCallback
    from optuna.storages.journal import JournalFileBackend

    if "://" in url:
        try:
            return RDBStorage(
                engine_url(url),
                heartbeat_interval=10,
                grace_period=30,
                failed_trial_callback=RetryFailedTrialCallback(max_retry=max_retry),
            )
        except Exception as err:  # the URL carries a password: never let it reach a message
            raise ValueError(_storage_error(url, err)) from None
    path = Path(url.removeprefix("journal:"))
    path.parent.mkdir(parents=True, exist_ok=True)
    del optuna
    return JournalStorage(JournalFileBackend(str(path)))


def _storage_error(url: str, err: Exception) -> str:
    if isinstance(err, ImportError) and is_postgres(url):
        return (
            f"Optuna storage {mask_url(url)} needs the PostgreSQL driver psycopg; {POSTGRES_HINT}"
        )
    return f"cannot open Optuna storage {mask_url(url)}: {scrub(str(err), url)}"


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # cannot tell: another machine's heartbeat must decide
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def recover_stale(study: Any, max_retry: int = 3) -> list[int]:
    """Fail RUNNING trials whose local worker process is gone; re-queue their params.

    Returns the numbers of the failed trials. A retry carries ``retry_of`` (the failed
    trial's number) and ``retries``; after ``max_retry`` retries a trial is not re-queued.
    """
    from optuna.trial import TrialState

    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("worker")
        if owner is None or _alive(owner):
            continue
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        failed.append(t.number)
        retries = int(t.user_attrs.get("retries", 0))
        if retries < max_retry:
            attrs = {"retry_of": t.number, "retries": retries + 1}
            study.enqueue_trial(t.params, user_attrs=attrs, skip_if_exists=False)
    return failed

"""Where a results store lives: the ``--store`` value checked and turned into a URL, and a
SQLite file inspected read-only (refused untouched if it is not ours) before the engine's
first connection, whose pragmas switch it to WAL mode."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from autolr.dburl import mask_url

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


def store_url(store: str | None, out_dir: Path) -> str:
    """The SQLAlchemy URL of ``--store`` (default ``out_dir/results.db``).

    A value that looks like a typo is refused before anything is created: a bare path must
    be an existing file or end in a SQLite suffix, and a new SQLite file's folder must exist
    already or be ``out_dir`` (which the bench creates anyway)."""
    if store is None:
        return f"sqlite:///{out_dir / 'results.db'}"
    if "://" in store:
        try:
            url = make_url(store)
        except ArgumentError:
            raise ValueError(f"--store {mask_url(store)!r} is not a database URL") from None
        if url.get_backend_name() == "sqlite" and url.database and not _special_sqlite(url):
            _check_store_path(store, Path(url.database), out_dir)
        return store
    path = Path(store)  # a bare path means a SQLite file
    if not path.exists() and path.suffix.lower() not in SQLITE_SUFFIXES:
        # FileNotFoundError: also what a reader (``autolr report``) of a missing file gets
        raise FileNotFoundError(
            f"--store {store!r}: no results database at {path}; a new store must be a "
            f"database URL (dialect://...) or a SQLite file ending in {', '.join(SQLITE_SUFFIXES)}"
        )
    _check_store_path(store, path, out_dir)
    return f"sqlite:///{path}"


def _special_sqlite(url: URL) -> bool:
    """In-memory databases and ``file:`` URIs are SQLite's business, not a path to check."""
    db = url.database or ""
    return db == ":memory:" or db.startswith("file:") or "uri" in url.query


def _check_store_path(store: str, path: Path, out_dir: Path) -> None:
    if path.is_dir():
        raise ValueError(f"--store {store!r} is a folder, not a SQLite file")
    if path.exists():
        return
    folder = path.parent.resolve()
    if not folder.is_dir() and folder != out_dir.resolve():
        raise FileNotFoundError(
            f"--store {store!r}: the folder {path.parent} does not exist (create it first, "
            "or give a path in an existing folder or in --out)"
        )


def check_sqlite_file(path: Path, create: bool) -> None:
    """Refuse a file that is not an autolr store by reading it read-only, before the
    engine's first connection switches it to WAL mode (which writes to the file)."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no results database at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    query = "select name from sqlite_master where type='table'"
    try:
        # closing(): sqlite3's own context manager ends a transaction but does not close
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            names = {n for (n,) in con.execute(query)}
    except sqlite3.DatabaseError as err:
        raise ValueError(
            f"{path} is not a SQLite database ({err}); it was left untouched"
        ) from None
    refuse_foreign(str(path), names)


def refuse_foreign(shown: str, names: set[str]) -> None:
    if names and "autolr_meta" not in names:
        raise ValueError(
            f"{shown} holds tables {sorted(names)} but is not an autolr results store; "
            "it was left untouched"
        )


def sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    # the timeout first: switching to WAL takes a lock, and a concurrent writer holding
    # one must make this connection wait, not fail with "database is locked"
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()

"""The results store: one schema on SQLite (default) or PostgreSQL, chosen by URL.

Tables:
    autolr_meta  (key, value)         marks the database as ours, with the schema version
    cells        one row per run      key, suite, task, method, track, seed, peak_lr, status,
                                      owner, config, summary (JSON), timings
    curves       one row per run      the run's curves as float64 blobs (LR and loss per step,
                                      evaluations)

A cell is claimed (status "running", owner host:pid) before it runs and written "done" with
its curves in one transaction, so a killed process loses only the cells in flight, and a
rerun finds them stale (owner dead) and runs them again.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from autolr.liveness import alive

SCHEMA_VERSION = "1"
CURVE_FIELDS = (
    "lr",
    "train_loss",
    "step_charged",
    "eval_step",
    "eval_charged",
    "eval_metric",
    "eval_loss",
    "eval_wall",
)

metadata = MetaData()
meta_table = Table(
    "autolr_meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text)
)
cells_table = Table(
    "cells",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("suite", String(200), index=True),
    Column("task", String(200)),
    Column("method", String(200)),
    Column("track", String(16)),
    Column("seed", Integer),
    Column("peak_lr", Float, nullable=True),
    Column("status", String(16)),
    Column("owner", String(200)),
    Column("config", Text),
    Column("summary", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started", Float),
    Column("finished", Float, nullable=True),
)
curves_table = Table(
    "curves",
    metadata,
    Column("key", String(64), primary_key=True),
    *(Column(name, LargeBinary) for name in CURVE_FIELDS),
)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def store_url(store: str | None, out_dir: Path) -> str:
    if store is None:
        return f"sqlite:///{out_dir / 'results.db'}"
    if "://" not in store:  # a bare path means a SQLite file
        return f"sqlite:///{Path(store)}"
    return store


class ResultsStore:
    """Cells and curves of benchmark runs, in a SQLAlchemy database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self._check_sqlite_file(Path(url.removeprefix("sqlite:///")), create)
        try:
            self.engine: Engine = create_engine(url, future=True)
        except Exception as err:
            raise ValueError(f"cannot open results store {url!r}: {err}") from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._init_schema(create)

    @staticmethod
    def _check_sqlite_file(path: Path, create: bool) -> None:
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"no results database at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            return
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                con.execute("select name from sqlite_master").fetchall()
        except sqlite3.DatabaseError as err:
            raise ValueError(
                f"{path} is not a SQLite database ({err}); it was left untouched"
            ) from None

    def _init_schema(self, create: bool) -> None:
        try:
            names = set(inspect(self.engine).get_table_names())
        except (OperationalError, DatabaseError) as err:
            raise ValueError(f"cannot read results store {self.url!r}: {err}") from None
        if names and "autolr_meta" not in names:
            raise ValueError(
                f"{self.url} holds tables {sorted(names)} but is not an autolr results store; "
                "it was left untouched"
            )
        if not names:
            if not create:
                raise ValueError(f"{self.url} is an empty database, not an autolr store")
            metadata.create_all(self.engine)
            with self.engine.begin() as con:
                con.execute(insert(meta_table).values(key="schema", value=SCHEMA_VERSION))
            return
        with self.engine.connect() as con:
            version = con.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema")
            ).scalar()
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"{self.url} has autolr schema {version!r}, this version reads {SCHEMA_VERSION!r}"
            )

    # ---- cells ------------------------------------------------------------------------

    def status(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``{key: (status, owner)}`` for the keys that have a row."""
        keys = list(keys)
        out: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as con:
            for i in range(0, len(keys), 500):
                rows = con.execute(
                    select(cells_table.c.key, cells_table.c.status, cells_table.c.owner).where(
                        cells_table.c.key.in_(keys[i : i + 500])
                    )
                )
                out.update({k: (s, o) for k, s, o in rows})
        return out

    def pending(self, keys: Iterable[str]) -> list[str]:
        """Keys not done, and not running under a live owner."""
        known = self.status(keys)
        return [
            k
            for k in keys
            if k not in known
            or known[k][0] == "failed"
            or (known[k][0] == "running" and not alive(known[k][1]))
        ]

    def claim(self, cell: dict[str, Any]) -> None:
        row = {
            **cell,
            "status": "running",
            "owner": owner_id(),
            "started": time.time(),
            "summary": None,
            "error": None,
            "finished": None,
        }
        row["config"] = json.dumps(cell["config"], sort_keys=True)
        with self.engine.begin() as con:
            exists = con.execute(
                select(cells_table.c.key).where(cells_table.c.key == cell["key"])
            ).first()
            if exists:
                con.execute(
                    update(cells_table).where(cells_table.c.key == cell["key"]).values(**row)
                )
            else:
                con.execute(insert(cells_table).values(**row))

    def finish(self, key: str, summary: dict[str, Any], curves: dict[str, np.ndarray]) -> None:
        """Write a run's summary and curves, and mark it done, in one transaction."""
        blobs = {f: np.asarray(curves[f], dtype=np.float64).tobytes() for f in CURVE_FIELDS}
        with self.engine.begin() as con:
            con.execute(curves_table.delete().where(curves_table.c.key == key))
            con.execute(insert(curves_table).values(key=key, **blobs))
            con.execute(
                update(cells_table)
                .where(cells_table.c.key == key)
                .values(status="done", summary=json.dumps(summary), finished=time.time())
            )

    def fail(self, key: str, error: str) -> None:
        with self.engine.begin() as con:
            con.execute(
                update(cells_table)
                .where(cells_table.c.key == key)
                .values(status="failed", error=error[-4000:], finished=time.time())
            )

    def forget(self, suite: str, methods: Iterable[str]) -> int:
        """Delete the cells (and curves) of these method labels and of their open-loop
        replays, in one transaction, so that the next run recomputes them; returns how many
        cells went."""
        names = list(methods)
        labels = names + [f"{m}-replay" for m in names]
        chosen = select(cells_table.c.key).where(
            cells_table.c.suite == suite, cells_table.c.method.in_(labels)
        )
        with self.engine.begin() as con:
            keys = [k for (k,) in con.execute(chosen)]
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                con.execute(curves_table.delete().where(curves_table.c.key.in_(part)))
                con.execute(cells_table.delete().where(cells_table.c.key.in_(part)))
        return len(keys)

    def done_cells(self, suite: str | None = None) -> list[dict[str, Any]]:
        query = select(cells_table).where(cells_table.c.status == "done")
        if suite is not None:
            query = query.where(cells_table.c.suite == suite)
        with self.engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(query)]
        for r in rows:
            r["config"] = json.loads(r["config"])
            r["summary"] = json.loads(r["summary"])
        return rows

    def error(self, key: str) -> str | None:
        """The stored traceback of a failed cell (None if it has none)."""
        with self.engine.connect() as con:
            return con.execute(select(cells_table.c.error).where(cells_table.c.key == key)).scalar()

    def failed_cells(self, suite: str | None = None) -> list[dict[str, Any]]:
        """The cells whose run raised, with ``error`` (the traceback) and ``reason`` (its
        last line: the exception and its message)."""
        query = select(cells_table).where(cells_table.c.status == "failed")
        if suite is not None:
            query = query.where(cells_table.c.suite == suite)
        with self.engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(query)]
        for r in rows:
            r["config"] = json.loads(r["config"])
            r["reason"] = error_reason(r["error"] or "")
        return sorted(rows, key=lambda r: (r["task"], r["method"], r["track"], r["seed"]))

    def curves(self, key: str) -> dict[str, np.ndarray]:
        with self.engine.connect() as con:
            row = con.execute(select(curves_table).where(curves_table.c.key == key)).first()
        if row is None:
            raise KeyError(f"no curves for cell {key}")
        return {f: np.frombuffer(row._mapping[f], dtype=np.float64) for f in CURVE_FIELDS}

    def suites(self) -> list[str]:
        with self.engine.connect() as con:
            return sorted({r[0] for r in con.execute(select(cells_table.c.suite))})

    def close(self) -> None:
        self.engine.dispose()


def error_reason(error: str, limit: int = 300) -> str:
    """One line from a stored traceback: the exception type and message (which follow the
    last indented line of a Python traceback), shortened to ``limit`` characters."""
    lines = error.strip().splitlines()
    last_indented = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=-1)
    reason = " ".join(line.strip() for line in lines[last_indented + 1 :]) or "unknown error"
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()

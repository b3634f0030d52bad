"""The results store: one schema on SQLite (default) or PostgreSQL, chosen by URL.

Tables:
    autolr_meta  (key, value)         marks the database as ours, with the schema version
    cells        one row per run      key, suite, task, method, track, seed, peak_lr, status,
                                      owner, config, summary (JSON), timings,
                                      provenance (JSON: versions, commit, CPU, threads)
    curves       one row per run      the run's curves as float64 blobs (LR and loss per step,
                                      evaluations)

A cell is claimed (status "running", owner host:pid) before it runs and written "done" with
its curves in one transaction, so a killed process loses only the cells in flight, and a
rerun finds them stale (owner dead) and runs them again. Claims are atomic (see ``claim``),
so many processes and machines can run one suite into one store, each cell once.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, InterfaceError, OperationalError

from autolr.bench.store_location import check_sqlite_file, refuse_foreign, sqlite_pragmas
from autolr.dburl import POSTGRES_HINT, engine_url, is_postgres, mask_url, scrub
from autolr.liveness import alive

SCHEMA_VERSION = "1"
# columns of ``cells`` added after schema 1 was released: nullable TEXT, added on open
ADDED = ("provenance",)
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
    # where the run's numbers came from (autolr.provenance, JSON): versions, commit, CPU,
    # threads. Added after schema 1 was released: ``_add_columns`` adds it to older stores
    Column("provenance", Text, nullable=True),
)
curves_table = Table(
    "curves",
    metadata,
    Column("key", String(64), primary_key=True),
    *(Column(name, LargeBinary) for name in CURVE_FIELDS),
)


class StoreUnavailable(ValueError):
    """The store's database stopped answering mid-run (a server stopped or restarted, a
    dropped connection): raised in place of the driver's error, naming the store by its
    URL without the password. A ValueError, so ``autolr`` prints it as one line."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ResultsStore:
    """Cells and curves of benchmark runs, in a SQLAlchemy database."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.shown = mask_url(url)  # what messages print: never the password
        # failed cells from before this moment are retried; newer failures are a peer's
        # verdict on this run, not to be repeated
        self.opened = time.time()
        if url.startswith("sqlite:///"):
            check_sqlite_file(Path(url.removeprefix("sqlite:///")), create)
        # a server restart between two statements costs a pooled connection, not the run:
        # each checkout tests its connection first (SQLite has no server to lose)
        options = {} if url.startswith("sqlite") else {"pool_pre_ping": True}
        try:
            self.engine: Engine = create_engine(engine_url(url), future=True, **options)
        except ImportError as err:
            raise ValueError(self._driver_missing(err)) from None
        except Exception as err:
            raise ValueError(
                f"cannot open results store {self.shown}: {scrub(str(err), url)}"
            ) from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", sqlite_pragmas)
        self._init_schema(create)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a lost database (``OperationalError``, ``InterfaceError``) inside the block
        into a ``StoreUnavailable`` that names the store (password masked) and says what a
        rerun does. Nothing half-written is left behind: every write is one transaction,
        and the cells in flight stay claimed by this process, stale once it has exited."""
        try:
            yield
        except (OperationalError, InterfaceError) as err:
            raise StoreUnavailable(
                f"lost the results store {self.shown}: {self._reason(err)}; the runs in "
                "flight were not recorded. Run the same command again once the database "
                "answers: it keeps every finished run and runs the rest"
            ) from None

    def _reason(self, err: Exception, limit: int = 400) -> str:
        """The driver's message, on one line, without the password."""
        orig = getattr(err, "orig", None) or err
        reason = " ".join(scrub(str(orig), self.url).split()) or type(orig).__name__
        return reason if len(reason) <= limit else reason[: limit - 1] + "…"

    def _driver_missing(self, err: ImportError) -> str:
        if is_postgres(self.url):
            return (
                f"results store {self.shown} needs the PostgreSQL driver psycopg, which is not "
                f"installed ({err}); {POSTGRES_HINT}"
            )
        return f"cannot open results store {self.shown}: its database driver is missing ({err})"

    def _init_schema(self, create: bool) -> None:
        names = self._table_names()
        refuse_foreign(self.shown, names)
        if not names:
            if not create:
                raise ValueError(f"{self.shown} is an empty database, not an autolr store")
            if self._create_schema():
                return
        # A store whose tables exist without its schema row may be another process's,
        # mid-creation (SQLite's driver runs CREATE TABLE outside the transaction that
        # writes the row): wait for the row before judging the version.
        version = self._schema_version(wait_s=10.0)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"{self.shown} has autolr schema {version!r}, this version reads {SCHEMA_VERSION!r}"
            )
        self._add_columns()

    def _add_columns(self) -> None:
        """Add the nullable columns that schema 1 gained after its release (``ADDED``) to a
        store made before them; their rows stay NULL (not recorded). The schema version stays
        1: older autolr selects its own columns by name and ignores these, so both read and
        write the store. Safe when several processes open an old store at once."""
        have = self._columns("cells")
        for name in ADDED:
            if name in have:
                continue
            try:
                with self.engine.begin() as con:
                    con.execute(text(f"ALTER TABLE cells ADD COLUMN {name} TEXT"))
            except DatabaseError as err:
                if name not in self._columns("cells"):  # not a concurrent opener's doing
                    raise ValueError(
                        f"cannot add column {name!r} to results store {self.shown} "
                        f"(written by an older autolr): {scrub(str(err), self.url)}"
                    ) from None

    def _columns(self, table: str) -> set[str]:
        """The table's column names, as the database has them (an empty SELECT's keys)."""
        with self.engine.connect() as con:
            return set(con.execute(text(f"SELECT * FROM {table} WHERE 1 = 0")).keys())

    def _table_names(self) -> set[str]:
        try:
            return set(inspect(self.engine).get_table_names())
        except (OperationalError, DatabaseError) as err:
            raise ValueError(
                f"cannot read results store {self.shown}: {scrub(str(err), self.url)}"
            ) from None
        except ImportError as err:  # some dialects import their driver on first connect
            raise ValueError(self._driver_missing(err)) from None

    def _create_schema(self) -> bool:
        """Create the tables and mark them ours; False if another writer, starting on the
        same empty database at the same moment, created them first."""
        try:
            with self.engine.begin() as con:
                metadata.create_all(con)
                con.execute(insert(meta_table).values(key="schema", value=SCHEMA_VERSION))
        except DatabaseError as err:  # "already exists", or a duplicate schema row
            if "autolr_meta" not in self._table_names():
                raise ValueError(
                    f"cannot create results store {self.shown}: {scrub(str(err), self.url)}"
                ) from None
            return False
        return True

    def _schema_version(self, wait_s: float) -> str | None:
        """The stored schema version; after losing the creation race, wait (up to
        ``wait_s``) for the winner to commit its schema row."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.engine.connect() as con:
                version = con.execute(
                    select(meta_table.c.value).where(meta_table.c.key == "schema")
                ).scalar()
            if version is not None or time.monotonic() >= deadline:
                return version
            time.sleep(0.1)

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
        """Keys this process may claim: no row, or a row that ``claim`` would take over."""
        keys = list(keys)
        rows = self._rows(keys)
        return [k for k in keys if k not in rows or self._free(*rows[k])]

    def _rows(self, keys: list[str]) -> dict[str, tuple[str, str, float | None, float | None]]:
        """``{key: (status, owner, started, finished)}`` for the keys that have a row."""
        c = cells_table.c
        out = {}
        with self.engine.connect() as con:
            for i in range(0, len(keys), 500):
                query = select(c.key, c.status, c.owner, c.started, c.finished).where(
                    c.key.in_(keys[i : i + 500])
                )
                out.update({k: (s, o, st, f) for k, s, o, st, f in con.execute(query)})
        return out

    def _free(
        self, status: str, owner: str, _started: float | None, finished: float | None
    ) -> bool:
        """Whether a cell's row may be taken over: a run whose owner is dead (stale), or a
        failure from before this store was opened (a rerun retries it; a failure during this
        run is a concurrent peer's, and running the cell again would duplicate it). A done
        cell never is."""
        if status == "running":
            return not alive(owner)
        if status == "failed":
            return finished is None or finished < self.opened
        return False

    def claim(self, cell: dict[str, Any]) -> bool:
        """Take the cell for this process (status "running", owner host:pid); True if taken.

        Safe with many writers (processes, machines) on one store: a new cell is an INSERT
        on the primary key, and a free or stale row is taken by a conditional UPDATE that
        matches only the row version that was judged free (its status, owner and start
        time). Whoever writes first wins; every other claimer's statement fails on the key
        or matches no row (rowcount 0), so a cell runs once, and a done cell is never
        taken. Staleness cannot be decided in SQL (it needs the pid check of ``alive``),
        hence read, judge, then compare-and-set.
        """
        key = cell["key"]
        row = {
            **cell,
            "status": "running",
            "owner": owner_id(),
            "started": time.time(),
            "summary": None,
            "error": None,
            "finished": None,
            "config": json.dumps(cell["config"], sort_keys=True),
        }
        seen = self._rows([key]).get(key)
        if seen is None:
            try:
                with self.engine.begin() as con:
                    con.execute(insert(cells_table).values(**row))
            except IntegrityError:
                return False  # another writer inserted it after our read
            return True
        if not self._free(*seen):
            return False
        status, owner, started, _ = seen
        c = cells_table.c
        same_started = c.started.is_(None) if started is None else c.started == started
        with self.engine.begin() as con:
            taken = con.execute(
                update(cells_table)
                .where(c.key == key, c.status == status, c.owner == owner, same_started)
                .values(**row)
            )
        return taken.rowcount == 1

    def finish(
        self,
        key: str,
        summary: dict[str, Any],
        curves: dict[str, np.ndarray],
        owner: str | None = None,
    ) -> bool:
        """Write a run's summary and curves, and mark it done, in one transaction; only if
        the cell is still this owner's run (default: this process). False if it was not
        (taken over meanwhile): then nothing is written."""
        blobs = {f: np.asarray(curves[f], dtype=np.float64).tobytes() for f in CURVE_FIELDS}
        c = cells_table.c
        with self.engine.begin() as con:
            mine = con.execute(
                update(cells_table)
                .where(c.key == key, c.status == "running", c.owner == (owner or owner_id()))
                .values(
                    status="done",
                    summary=json.dumps(summary),
                    finished=time.time(),
                    provenance=_provenance_json(summary),
                )
            )
            if mine.rowcount != 1:
                return False
            con.execute(curves_table.delete().where(curves_table.c.key == key))
            con.execute(insert(curves_table).values(key=key, **blobs))
        return True

    def fail(self, key: str, error: str, owner: str | None = None) -> bool:
        """Mark this owner's run of the cell failed; False if it was not this owner's."""
        c = cells_table.c
        with self.engine.begin() as con:
            mine = con.execute(
                update(cells_table)
                .where(c.key == key, c.status == "running", c.owner == (owner or owner_id()))
                .values(status="failed", error=error[-4000:], finished=time.time())
            )
        return mine.rowcount == 1

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

    def _cells(self, status: str, suite: str | None) -> list[dict[str, Any]]:
        """The rows of cells with ``status`` (in ``suite``), their config decoded."""
        query = select(cells_table).where(cells_table.c.status == status)
        if suite is not None:
            query = query.where(cells_table.c.suite == suite)
        with self.engine.connect() as con:
            rows = [dict(r._mapping) for r in con.execute(query)]
        for r in rows:
            r["config"] = json.loads(r["config"])
        return rows

    def done_cells(self, suite: str | None = None) -> list[dict[str, Any]]:
        rows = self._cells("done", suite)
        for r in rows:
            r["summary"] = json.loads(r["summary"])
            r["provenance"] = json.loads(r["provenance"]) if r["provenance"] else None
        return rows

    def error(self, key: str) -> str | None:
        """The stored traceback of a failed cell (None if it has none)."""
        with self.engine.connect() as con:
            return con.execute(select(cells_table.c.error).where(cells_table.c.key == key)).scalar()

    def failed_cells(self, suite: str | None = None) -> list[dict[str, Any]]:
        """The cells whose run raised, with ``error`` (the traceback) and ``reason`` (its
        last line: the exception and its message)."""
        rows = self._cells("failed", suite)
        for r in rows:
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


def _provenance_json(summary: dict[str, Any]) -> str | None:
    """The run's provenance (``summary["provenance"]``), also in a column of its own so that
    a query can select runs by version, commit or machine without parsing summaries."""
    prov = summary.get("provenance")
    return None if prov is None else json.dumps(prov, sort_keys=True)


def error_reason(error: str, limit: int = 300) -> str:
    """One line from a stored traceback: the exception type and message (which follow the
    last indented line of a Python traceback), shortened to ``limit`` characters."""
    lines = error.strip().splitlines()
    last_indented = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=-1)
    reason = " ".join(line.strip() for line in lines[last_indented + 1 :]) or "unknown error"
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"

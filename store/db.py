"""Database access: one engine per process, short sessions, SQLite tuned for one machine.

SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE` for writing transactions, so two
workers never interleave one patient's conversation or book the same slot. PostgreSQL:
the same code, with `SELECT ... FOR UPDATE` on the patient row (which serialises a
patient's turns), an exclusion constraint against overlapping bookings (store.constraints)
and an advisory lock to elect the one scheduler leader.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from store import (
    constraints,  # noqa: F401  (PostgreSQL-only DDL on create_all)
    models,  # noqa: F401  (registers the tables)
)

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_WAIT_MS = 2_000
VERSION_TABLE = "alembic_version"


class Database:
    """An engine and the two kinds of session the application uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        if self.is_sqlite:
            self._ensure_dir()
            self.engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            )
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
        self._writer = self.engine.execution_options(creneau_immediate=True)

    def _ensure_dir(self) -> None:
        db = self.url.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)

    def create_all(self) -> None:
        """Create missing tables (development and tests); a migrated database is left alone."""
        if self.migrated():
            return
        SQLModel.metadata.create_all(self.engine)

    def migrated(self) -> bool:
        """Whether Alembic manages this schema (then only `creneau db upgrade` changes it)."""
        with self.engine.connect() as conn:
            return inspect(conn).has_table(VERSION_TABLE)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A writing transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def leader_lock(self, name: str) -> Iterator[bool]:
        """Whether this process leads `name` (e.g. the scheduler) for the block's duration.

        PostgreSQL: a session advisory lock on a dedicated connection, held while leading
        and released when the block ends or the process dies. SQLite: always True, since
        SQLite means one machine.
        """
        if not self.is_postgres:
            yield True
            return
        key, leading = lock_key(name), False
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            leading = _try_advisory_lock(conn, key)
            yield leading
        finally:
            _release(conn, key if leading else None)

    def checkpoint(self) -> bool:
        """SQLite: copy the WAL into the database and truncate it, so deleted values (zeroed
        in place by secure_delete) leave no old page version behind; False when a reader
        kept it busy (the next erasure or purge tries again). PostgreSQL: nothing to do."""
        if not self.is_sqlite:
            return True
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()
        except sqlite3.OperationalError:
            busy = 1
        finally:
            conn.close()
        if busy:
            log.warning("WAL checkpoint postponed: the database was busy")
        return not busy

    def ping(self) -> bool:
        """Whether the database answers."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()


def table(name: str) -> Table:
    """A table by name, for Core statements on the hot path (no ORM bookkeeping per row)."""
    return SQLModel.metadata.tables[name]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name (same in every process)."""
    digest = hashlib.blake2b(f"creneau:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _try_advisory_lock(conn: Connection, key: int) -> bool:
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def _release(conn: Connection, key: int | None) -> None:
    """Unlock and close; a connection that cannot unlock is discarded (the server frees it)."""
    try:
        if key is not None:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.close()
    except SQLAlchemyError:
        log.warning("leader lock: connection lost while releasing; discarding it")
        conn.invalidate()
        conn.close()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")  # deleted or overwritten cells are zeroed
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("creneau_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

"""Database access: one engine per process, short sessions, SQLite tuned for one machine.

SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE` for writing transactions, so two
workers never interleave one patient's conversation or book the same slot. PostgreSQL:
the same code, with `SELECT ... FOR UPDATE` on the conversation row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

from store import models  # noqa: F401  (registers the tables)

BUSY_TIMEOUT_MS = 10_000


class Database:
    """An engine and the two kinds of session the application uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self._ensure_dir()
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False,
                                              "timeout": BUSY_TIMEOUT_MS / 1000})
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
        self._writer = self.engine.execution_options(creneau_immediate=True)

    def _ensure_dir(self) -> None:
        db = self.url.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)

    def create_all(self) -> None:
        """Create missing tables (development and tests; production runs migrations)."""
        SQLModel.metadata.create_all(self.engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A writing transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with Session(self._writer, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> bool:
        """Whether the database answers."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("creneau_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

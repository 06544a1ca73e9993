"""Database access: one engine per process, short sessions, SQLite tuned for one machine.

SQLite: WAL, a busy timeout and `BEGIN IMMEDIATE` for writing transactions, so two
workers never interleave one patient's conversation or book the same slot. PostgreSQL:
the same code, with `SELECT ... FOR UPDATE` on the patient row (which serialises a
patient's turns), an exclusion constraint against overlapping bookings (store.constraints)
and an advisory lock to elect the one scheduler leader.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, inspect, pool, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from store import (
    constraints,  # noqa: F401  (PostgreSQL-only DDL on create_all)
    models,  # noqa: F401  (registers the tables)
)
from store.checkpoint import BACKSTOP_PAGES, SQLITE_BACKSTOP_PAGES, Checkpointer
from store.gate import WriteGate
from store.raw import SQL, Raw

log = logging.getLogger(__name__)
CHECKPOINT_WAIT_MS = 2_000
VERSION_TABLE = "alembic_version"
POSTGRES_DRIVER = "postgresql+psycopg"
SECURE_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
HEALTH_TIMEOUT_MS = 500
IDLE_PING_SECONDS = 5.0  # PostgreSQL: a pooled connection idle this long is checked first
WAL_SWITCH_POLL = 0.005  # seconds between two looks while another process makes a new file WAL


@dataclass(frozen=True)
class Timeouts:
    """How long one statement may wait. `lock_ms`: PostgreSQL `lock_timeout`, the SQLite busy
    timeout and the wait for a pooled connection; `statement_ms`: PostgreSQL
    `statement_timeout` (0: none)."""

    lock_ms: int
    statement_ms: int


# The service (webhooks, worker, clock): a lock or a slow statement fails in seconds, and the
# webhook answers as its channel expects (Telegram: 503, retried; SMS: an apology).
SERVICE = Timeouts(lock_ms=3_000, statement_ms=5_000)
# An operator's command (export, rotation, purge): may wait longer, never cut short.
BATCH = Timeouts(lock_ms=15_000, statement_ms=0)


def normalise_url(url: str) -> str:
    """`postgres://` and `postgresql://` (what hosting platforms set) as the psycopg 3 URL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return POSTGRES_DRIVER + "://" + url[len(prefix) :]
    return url


def parse_url(url: str) -> URL:
    """The URL parsed; ValueError naming the setting when it cannot be read or names a
    database other than SQLite or PostgreSQL."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise ValueError(
            "DATABASE_URL cannot be read: use sqlite:///path or postgresql://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"DATABASE_URL names {backend!r}, which is not supported: use sqlite:///path "
            "or postgresql://user@host/db"
        )
    return parsed


def tls_problem(url: str) -> str | None:
    """Why a PostgreSQL URL would travel in clear to another machine, or None if it is safe:
    a loopback host or a Unix socket needs no TLS, any other host `sslmode=require` or
    stronger."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    hosts = _hosts(parsed)
    remote = [h for h in hosts if not _local_host(h)]
    if not remote:
        return None
    mode = str(parsed.query.get("sslmode", "")).lower()
    if mode in SECURE_SSLMODES:
        return None
    shown = f"sslmode={mode}" if mode else "no sslmode"
    return (
        f"DATABASE_URL reaches PostgreSQL at {remote[0]} with {shown}: add ?sslmode=require "
        "(or verify-full) so the data is encrypted on the network"
    )


def _hosts(url: URL) -> list[str]:
    """Every host a PostgreSQL URL may connect to ("" is the default Unix socket)."""
    hosts = [url.host or ""]
    extra = url.query.get("host")
    if extra:
        values = extra if isinstance(extra, tuple) else (extra,)
        hosts = [h for v in values for h in str(v).split(",")]
    return [h.rsplit(":", 1)[0] if h.count(":") == 1 else h for h in hosts]


def _local_host(host: str) -> bool:
    """A Unix socket directory, localhost or a loopback address."""
    if not host or host.startswith("/") or host.startswith("@") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Database:
    """An engine and the two kinds of session the application uses."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        timeouts: Timeouts = SERVICE,
        idle_ping_seconds: float = IDLE_PING_SECONDS,
    ) -> None:
        url = normalise_url(url)
        self.url = make_url(url)
        self.timeouts = timeouts
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self._health: Engine | None = None
        self._checkpointer: Checkpointer | None = None
        if self.is_sqlite:
            self._ensure_dir()
            self.engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": timeouts.lock_ms / 1000},
                pool_timeout=max(1.0, timeouts.lock_ms / 1000),
                # the connection used last, whose page cache is still valid (SQLite drops a
                # connection's whole cache when another one has written since)
                pool_use_lifo=True,
            )
            _tune_sqlite(self.engine, timeouts.lock_ms, self._backstop)
        else:
            self.engine = create_engine(
                url,
                echo=echo,
                pool_size=10,
                max_overflow=10,
                pool_timeout=max(1.0, timeouts.lock_ms / 1000),
                connect_args={"connect_timeout": 10},
            )
            _tune_postgres(self.engine, timeouts)
            _ping_when_idle(self.engine, idle_ping_seconds)
        self._writer = self.engine.execution_options(creneau_immediate=True)
        file = self.url.database if self.url.database not in (None, "", ":memory:") else None
        self._gate = WriteGate(file) if self.is_sqlite and file else None

    def _ensure_dir(self) -> None:
        db = self.url.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)

    def create_all(self) -> None:
        """Create missing tables (development and tests); a migrated database is left alone."""
        with self.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
        if VERSION_TABLE in present or present >= set(SQLModel.metadata.tables):
            return  # nothing to create: no write lock to wait for (a worker starting while
            # a long write runs still starts)
        # one writing transaction (BEGIN IMMEDIATE on SQLite): processes starting together
        # on a new file take turns instead of one failing with "database is locked"
        with self._writer.begin() as conn:
            SQLModel.metadata.create_all(conn)

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
    def turn(self) -> Iterator[TurnTransaction]:
        """A writing transaction for one inbound message: plain driver statements on the
        hot path (`turn.raw`), an ORM session only if a rarer path asks for one
        (`turn.session`, flushed before the commit). Committed on success. On SQLite, the
        turns of every process take the write gate first (store.gate)."""
        if self._gate is None:
            with self._turn() as turn:
                yield turn
            return
        if self._checkpointer is not None:
            self._checkpointer.ensure_running()
        with self._on_driver(False, self._gate) as turn:
            yield turn

    @contextmanager
    def _turn(self) -> Iterator[TurnTransaction]:
        with (
            self._writer.connect() as conn,
            _begun_by_the_turn(conn) as begin,
            conn.begin() as transaction,
        ):
            turn = TurnTransaction(conn)
            if begin:
                turn.raw.begin_with_first()
            try:
                yield turn
                if turn.discarded:
                    transaction.rollback()
                    return
                turn.flush()
                turn.commit_with_last_writes()
            finally:
                turn.close()

    @property
    def gated(self) -> bool:
        """Whether turns wait for the write gate (a SQLite file): then a turn is worth
        working out on a snapshot first, so that the gate is held only for its writes."""
        return self._gate is not None

    @contextmanager
    def snapshot(self) -> Iterator[TurnTransaction]:
        """A read-only transaction shaped like a turn's (`raw`, `session` on demand), on a
        SQLite file: it sees what was committed when it began, never waits for a writer,
        and is rolled back. Its session never flushes (`TurnTransaction.wrote` tells what it
        was given); a statement that changed a row is a bug, raised as SnapshotWrite (the
        rollback undoes it). No PRAGMA query_only: switching it re-prepares every statement."""
        with self._on_driver(True) as turn:
            changes = turn.driver.total_changes
            yield turn
            if turn.driver.total_changes != changes:
                raise SnapshotWrite()

    @contextmanager
    def _on_driver(self, read_only: bool, gate: WriteGate | None = None) -> Iterator[DriverTurn]:
        """A SQLite turn's transaction on the driver's own connection: BEGIN IMMEDIATE and
        COMMIT (BEGIN and ROLLBACK for a snapshot) without SQLAlchemy's connection and
        transaction objects around them, which cost a turn more than the two statements;
        they are made only if the turn asks for its ORM session. With the write `gate`,
        the connection is taken from the pool before it and given back after it: every
        other process's turn waits for the transaction only (what is not committed is
        rolled back before the gate opens)."""
        turn = DriverTurn(self.engine, self.engine.raw_connection(), read_only)
        try:
            with gate.held(self.timeouts.lock_ms / 1000) if gate else nullcontext():
                try:
                    turn.begin()
                    yield turn
                    turn.commit()
                finally:
                    turn.settle()
        finally:
            turn.end()

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
            cur.execute(f"PRAGMA busy_timeout={self.timeouts.lock_ms}")
            cur.close()
        except sqlite3.OperationalError:
            busy = 1
        finally:
            conn.close()
        if busy:
            log.warning("WAL checkpoint postponed: the database was busy")
        return not busy

    def ping(self) -> bool:
        """Whether the database answers, on a connection of its own with a short timeout
        (never behind the service's pool or a lock the service waits for)."""
        with self._health_engine().connect() as conn:
            return conn.execute(text(_PING[self.is_sqlite])).scalar() == 1

    def _health_engine(self) -> Engine:
        if self._health is None:
            quick = Timeouts(lock_ms=HEALTH_TIMEOUT_MS, statement_ms=HEALTH_TIMEOUT_MS)
            args: dict[str, Any] = (
                {"check_same_thread": False, "timeout": quick.lock_ms / 1000}
                if self.is_sqlite
                else {"connect_timeout": 2}
            )
            self._health = create_engine(self.url, poolclass=pool.NullPool, connect_args=args)
            if self.is_postgres:
                _tune_postgres(self._health, quick)
        return self._health

    def checkpoint_in_background(self) -> None:
        """SQLite file: from the next turn on, a thread of this process keeps the WAL short
        (store.checkpoint), so no turn pays a checkpoint. For web processes, which take
        turns all day; elsewhere SQLite's own checkpoint is enough."""
        file = self.url.database
        if self.is_sqlite and self._gate is not None and file and self._checkpointer is None:
            self._checkpointer = Checkpointer(file)
            self.engine.dispose()  # connections made before get the later backstop

    def _backstop(self) -> int:
        """Pages in the WAL at which a commit checkpoints on its own: SQLite's 1,000, or
        later where the background checkpoint runs. Under load a web process writes 1,000
        pages within one of its intervals; the commit that then copied them held the
        write gate meanwhile, and so every turn waiting behind it."""
        return BACKSTOP_PAGES if self._checkpointer is not None else SQLITE_BACKSTOP_PAGES

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        if self._health is not None:
            self._health.dispose()


class SnapshotWrite(RuntimeError):
    """A statement changed a row inside a snapshot (rolled back): the caller's bug."""

    def __init__(self) -> None:
        super().__init__("a snapshot is read-only: a statement in it changed a row")


class TurnTransaction:
    """One turn's transaction: its connection, the driver's cursor, a session on demand.
    Read-only for a snapshot (`Database.snapshot`), writing otherwise."""

    def __init__(self, conn: Connection, read_only: bool = False) -> None:
        self.conn = conn
        self._start(Raw(conn), read_only)

    def _start(self, raw: Raw, read_only: bool) -> None:
        """What every turn's transaction starts with: its cursor, no session yet."""
        self.raw = raw
        self.read_only = read_only
        self._session: Session | None = None
        self._last: list[tuple[SQL, dict[str, Any]]] = []
        self.discarded = False
        # PostgreSQL: whether a booking may go with the last writes, its refusal failing
        # the commit (store.service.with_refusal); set by the turn's caller
        self.book_at_commit = False

    def discard(self) -> None:
        """End the transaction without keeping anything of it (rolled back)."""
        self.discarded = True

    def last(self, sql: SQL, params: dict[str, Any]) -> None:
        """A write whose result nobody reads, run just before the commit: on PostgreSQL
        the turn's last writes and its COMMIT then go to the server together (psycopg's
        pipeline: one round trip instead of one each)."""
        self._last.append((sql, params))

    def commit_with_last_writes(self) -> None:
        """Run the last writes; on PostgreSQL, commit with them (the commit SQLAlchemy
        then issues finds nothing left to commit)."""
        writes, self._last = self._last, []
        if not writes:
            return
        if self.raw.sqlite:
            for sql, params in writes:
                self.raw.run(sql, params)
            return
        driver = self.conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.pipeline():
                self.raw.send_begin(driver)  # a turn that wrote nothing before these
                for sql, params in writes:
                    self.raw.run(sql, params)
                # the turn's own BEGIN (Database._turn, autocommit mode): its COMMIT goes
                # with the writes, one round trip (psycopg's commit() would first wait for
                # the writes' answers)
                driver.execute("COMMIT")
        except self.raw.error as exc:  # reported at the pipeline's end, not by its statement
            raise DBAPIError.instance("(last writes)", {}, exc, self.raw.error) from exc

    @property
    def session(self) -> Session:
        """An ORM session in this transaction (made on first use: most turns need none).
        A snapshot's never flushes on its own."""
        if self._session is None:
            self.raw.start()  # the session's statements run in the turn's transaction
            self._session = Session(
                bind=self.conn,
                expire_on_commit=False,
                join_transaction_mode="rollback_only",
                autoflush=not self.read_only,
            )
        return self._session

    @property
    def opened_session(self) -> Session | None:
        """The session whose pending changes queries must see (after a flush), if one was
        made; none in a snapshot, which keeps changes pending until it is discarded."""
        return None if self.read_only else self._session

    @property
    def wrote(self) -> bool:
        """Whether something was given to the session to write (an audit event, say): in a
        snapshot, a sign that the work must be done again in a writing transaction."""
        session = self._session
        return session is not None and bool(session.new or session.dirty or session.deleted)

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class DriverTurn(TurnTransaction):
    """A turn's transaction begun on a pooled SQLite connection itself (`Database._on_driver`):
    the statements go to its cursor; a SQLAlchemy connection joins the open transaction
    only when the session is asked for (then it commits or rolls back through it)."""

    def __init__(self, engine: Engine, proxied: Any, read_only: bool) -> None:
        self.engine = engine
        self.proxied = proxied
        self.driver: sqlite3.Connection = proxied.driver_connection
        self._conn: Connection | None = None
        self._start(Raw(self.driver), read_only)

    @property
    def conn(self) -> Connection:  # type: ignore[override]
        """A SQLAlchemy connection on this transaction (made on first use)."""
        if self._conn is None:
            self._conn = Connection(self.engine, connection=self.proxied)
            self._conn.begin()  # joins: the driver is already in its transaction
        return self._conn

    def begin(self) -> None:
        _on_sqlite(self.driver, "BEGIN" if self.read_only else "BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Flush the session if any, run the last writes, then COMMIT (a snapshot: ROLLBACK)."""
        if self.read_only or self.discarded:
            return  # `end` rolls it back
        self.flush()
        self.commit_with_last_writes()
        if self._conn is not None:
            self._conn.commit()
        else:
            _on_sqlite(self.driver, "COMMIT")

    def settle(self) -> None:
        """Roll back what was not committed (on the hot path: no ORM session was asked for;
        `end` rolls a session's transaction back through it)."""
        if self._conn is None and self.driver.in_transaction:
            self.driver.rollback()

    def end(self) -> None:
        """Roll back what was not committed; give the connection back to the pool."""
        try:
            self.close()
            if self.driver.in_transaction:
                self.driver.rollback()
        finally:
            if self._conn is not None:
                self._conn.close()
            else:
                self.proxied.close()


@contextmanager
def _begun_by_the_turn(conn: Connection) -> Iterator[bool]:
    """PostgreSQL: the connection in autocommit mode for the block, so that the turn sends
    its own BEGIN with its first statements and its COMMIT with its last writes (`Raw`,
    `TurnTransaction.commit_with_last_writes`): psycopg, left to it, waits for each
    answer alone, two round trips more per turn. Whether it is so (SQLite: never). The
    mode is set back before the connection returns to the pool; a connection that cannot
    be set back (lost) is discarded rather than pooled."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name != "postgresql" or driver.autocommit:
        yield False
        return
    driver.autocommit = True
    try:
        yield True
    finally:
        try:
            if driver.info.transaction_status.name != "IDLE":
                driver.rollback()
            driver.autocommit = False
        except Exception:  # lost, or left in a state it cannot leave: never pooled again
            log.warning("turn connection could not be reset; discarded")
            conn.invalidate()


def _on_sqlite(driver: sqlite3.Connection, statement: str) -> None:
    """A transaction statement on the driver, failing as SQLAlchemy fails ("locked")."""
    try:
        driver.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, {}, exc, sqlite3.Error) from exc


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


# SQLite's health query reads the schema (a locked or unreadable file fails); PostgreSQL's
# only needs the server to answer.
_PING = {True: "SELECT 1 FROM sqlite_master UNION ALL SELECT 1 LIMIT 1", False: "SELECT 1"}


def _tune_postgres(engine: Engine, timeouts: Timeouts) -> None:
    """Each new connection gets the timeouts as session settings (SET, rather than startup
    options, which connection poolers such as PgBouncer refuse)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = {int(timeouts.lock_ms)}")
            cur.execute(f"SET statement_timeout = {int(timeouts.statement_ms)}")
        dbapi_conn.commit()


def _wal(cur: sqlite3.Cursor, patience: float) -> None:
    """Put the file in WAL mode (it stays so). SQLite's busy handler does not cover the
    switch: processes opening a new file together find it locked while one of them
    switches it, so they wait for that one (a few milliseconds) and find WAL done."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_SWITCH_POLL)


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it sat idle a while (the server may
    have restarted or dropped it meanwhile); a dead one is replaced before the caller sees
    it. SQLAlchemy's pool_pre_ping does this on every checkout, a round trip more for each
    turn of a busy service, whose connections never sit idle; a connection lost while in
    use fails its statement and the pool replaces it and the others as old."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or back in the pool moments ago
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:  # any failure: this connection is gone
            raise DisconnectionError("pooled connection did not answer") from exc


def _tune_sqlite(engine: Engine, busy_timeout_ms: int, backstop: Callable[[], int]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        _wal(cur, busy_timeout_ms / 1000)
        cur.execute(f"PRAGMA wal_autocheckpoint={int(backstop())}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")  # deleted or overwritten cells are zeroed
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        statement = (
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("creneau_immediate") else "BEGIN"
        )
        driver = conn.connection.driver_connection
        if not driver.in_transaction:  # else a turn's own transaction, joined (DriverTurn)
            _on_sqlite(driver, statement)

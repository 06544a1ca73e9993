"""The background checkpoint of a web process: the WAL reaches the database file without
any turn paying for it, and the thread ends with the database."""

from __future__ import annotations

import os
import threading
import time

from sqlalchemy import text

from store.checkpoint import BACKSTOP_PAGES, SQLITE_BACKSTOP_PAGES
from store.db import Database
from store.raw import SQL

SCRATCH = "CREATE TABLE IF NOT EXISTS scratch (id INTEGER PRIMARY KEY, b BLOB)"
INSERT = SQL("INSERT INTO scratch (b) VALUES (:b)")
ROWS = 60  # about 120 pages: far below SQLite's own 1,000-page checkpoint


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "creneau-checkpoint"]


def _wait(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _write(db: Database) -> None:
    with db.turn() as tx:
        for _ in range(ROWS):
            tx.raw.run(INSERT, {"b": os.urandom(8000)})


def _database(tmp_path) -> tuple[Database, str]:  # type: ignore[no-untyped-def]
    file = str(tmp_path / "db.sqlite3")
    db = Database(f"sqlite:///{file}")
    with db.engine.begin() as conn:
        conn.execute(text(SCRATCH))
    assert db.checkpoint()  # the table in the file, the WAL empty
    return db, file


def test_a_web_process_copies_the_wal_into_the_file_in_the_background(tmp_path) -> None:
    db, file = _database(tmp_path)
    before = os.path.getsize(file)
    db.checkpoint_in_background()
    try:
        _write(db)  # the first turn starts the thread
        assert len(_checkpointers()) >= 1
        # the rows reach the database file although no commit crossed 1,000 pages
        assert _wait(lambda: os.path.getsize(file) >= before + ROWS * 8000)
    finally:
        db.dispose()
    assert _wait(lambda: not any(t.is_alive() for t in _checkpointers()))


def test_elsewhere_the_wal_waits_for_sqlites_own_checkpoint(tmp_path) -> None:
    db, file = _database(tmp_path)
    before, threads = os.path.getsize(file), set(_checkpointers())
    try:
        _write(db)
        assert set(_checkpointers()) <= threads  # no thread of its own
        with db.engine.connect() as conn:  # the rows are there, in the WAL only
            assert conn.execute(text("SELECT count(*) FROM scratch")).scalar() == ROWS
        assert os.path.getsize(file) == before
        assert os.path.getsize(file + "-wal") >= ROWS * 8000
    finally:
        db.dispose()


def _backstop(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_sqlites_own_checkpoint_comes_later_where_the_thread_runs(tmp_path) -> None:
    """A web process writes 1,000 pages within one background interval under load: its
    own checkpoint then waits for 4,000, so it seldom falls on a turn; elsewhere SQLite's
    1,000 stays (nothing else keeps the WAL short there)."""
    db, _ = _database(tmp_path)
    try:
        assert _backstop(db) == SQLITE_BACKSTOP_PAGES == 1_000
        db.checkpoint_in_background()
        assert _backstop(db) == BACKSTOP_PAGES == 4_000  # connections made before too
        with db.turn() as tx:
            raw = tx.raw.cursor.connection
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
    finally:
        db.dispose()

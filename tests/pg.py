"""PostgreSQL for the test suite: one throwaway database per session, emptied between tests.

`CRENEAU_TEST_DATABASE_URL` names a server and a database we may connect to (e.g.
`postgresql+psycopg://postgres@127.0.0.1:5432/test`); unset, everything runs on SQLite.
Emptying tables with DELETE is much faster than recreating them, and the session database
is dropped (WITH FORCE) at the end so a crashed run leaves nothing behind for long.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlmodel import SQLModel

from store.db import Database

ENV = "CRENEAU_TEST_DATABASE_URL"
_state: dict[str, object] = {"url": None, "engine": None, "used": False}


def enabled() -> bool:
    """Whether this run uses PostgreSQL."""
    return bool(os.environ.get(ENV))


def server_url() -> URL:
    """The maintenance connection given in the environment."""
    return make_url(os.environ[ENV])


def create_database(prefix: str = "creneau_t") -> str:
    """A new empty database on the test server; returns its URL (password kept)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return server_url().set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by create_database, closing whatever still uses it."""
    name = make_url(url).database
    with _admin() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin() -> Iterator:  # type: ignore[type-arg]
    engine = create_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def session_url() -> str:
    """The session database (created with every table on first use); marks it used."""
    if _state["url"] is None:
        url = create_database()
        db = Database(url)
        db.create_all()
        db.dispose()
        _state["url"] = url
        _state["engine"] = create_engine(url)
    _state["used"] = True
    return str(_state["url"])


def empty_if_used() -> None:
    """Delete every row of the session database if a test wrote to it since the last call."""
    if not _state["used"]:
        return
    engine = _state["engine"]
    assert isinstance(engine, Engine)
    with engine.begin() as conn:  # DELETE, not TRUNCATE: no exclusive lock to wait for
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    _state["used"] = False


def drop_session_database() -> None:
    """End of the session: drop the session database."""
    engine, url = _state["engine"], _state["url"]
    if isinstance(engine, Engine):
        engine.dispose()
    if url is not None:
        drop_database(str(url))
    _state.update(url=None, engine=None, used=False)

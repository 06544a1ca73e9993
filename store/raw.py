"""Plain DB-API statements on the connection of an open session: the turn's hot path.

A turn runs a dozen small statements. Through SQLAlchemy each one costs tens of
microseconds of Python before the database sees it; through the driver's own cursor, a
few. The statements stay in the session's transaction (the same connection), so the ORM
is still there for what is not on the hot path. Values are written as SQLAlchemy writes
them (naive UTC datetimes; on SQLite as text), so both ways read each other's rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class SQL:
    """One statement written with `:name` parameters, in each driver's own style."""

    __slots__ = ("pg", "sqlite")

    def __init__(self, text: str, pg: str | None = None) -> None:
        self.sqlite = text
        self.pg = _NAMED.sub(r"%(\1)s", pg or text)


class Raw:
    """The driver's cursor on a session's connection, inside its open transaction.

    On PostgreSQL a turn's transaction may be begun with its first statements
    (`begin_with_first`): psycopg, left to begin it, sends its BEGIN and waits for the
    answer before the first statement, a round trip of its own per turn."""

    __slots__ = ("begin", "cursor", "error", "sqlite")

    def __init__(self, on: Session | Connection | sqlite3.Connection) -> None:
        """On a session's or a connection's driver connection, or on a SQLite connection
        itself (a turn begun on the driver: store.db.DriverTurn)."""
        self.error: type[Exception]
        self.begin = False  # PostgreSQL: BEGIN still to send, with the next statements
        if isinstance(on, sqlite3.Connection):
            self.sqlite, self.error, self.cursor = True, sqlite3.Error, on.cursor()
            return
        connection = on.connection() if isinstance(on, Session) else on
        self.sqlite = connection.dialect.name == "sqlite"
        self.error = connection.dialect.loaded_dbapi.Error
        driver = connection.connection.driver_connection
        assert driver is not None
        self.cursor = driver.cursor()

    def _execute(self, sql: SQL, params: Mapping[str, Any]) -> Any:
        return self._text(sql.sqlite if self.sqlite else sql.pg, params)

    def begin_with_first(self) -> None:
        """PostgreSQL, on a connection in autocommit mode with no transaction open: send
        BEGIN together with the next statements (store.db.Database._turn)."""
        self.begin = True

    def start(self) -> None:
        """Send the pending BEGIN now, alone (before statements that do not go through
        this cursor: an ORM session's)."""
        if self.begin:
            self.begin = False
            self._text("BEGIN", {})

    def _text(self, text: str, params: Mapping[str, Any]) -> Any:
        try:
            if self.begin:
                return self._begun(text, params)
            return self.cursor.execute(text, params)
        except self.error as exc:  # as SQLAlchemy raises it, so callers catch one family;
            # the parameters (sealed values, hashes) never go into the exception
            raise DBAPIError.instance(text, {}, exc, self.error, hide_parameters=True) from exc

    def one(self, sql: SQL, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row, or None."""
        self._execute(sql, params)
        return self.cursor.fetchone()  # type: ignore[no-any-return]

    def ones(self, *queries: tuple[SQL, Mapping[str, Any]]) -> list[Sequence[Any] | None]:
        """The first row of each query; on PostgreSQL sent together (psycopg's pipeline:
        one round trip for all of them)."""
        if self.sqlite:
            return [self.one(sql, params) for sql, params in queries]
        driver: Any = self.cursor.connection  # psycopg
        cursors = [driver.cursor() for _ in queries]
        try:
            with driver.pipeline():
                self.send_begin(driver)
                for cursor, (sql, params) in zip(cursors, queries, strict=True):
                    cursor.execute(sql.pg, params)
            return [cursor.fetchone() for cursor in cursors]
        except self.error as exc:  # the parameters never go into the exception
            text = "; ".join(sql.pg for sql, _ in queries)
            raise DBAPIError.instance(text, {}, exc, self.error, hide_parameters=True) from exc
        finally:
            for cursor in cursors:
                cursor.close()

    def _begun(self, text: str, params: Mapping[str, Any]) -> Any:
        """The pending BEGIN and one statement, in one round trip (psycopg's pipeline)."""
        driver: Any = self.cursor.connection
        with driver.pipeline():
            self.send_begin(driver)
            return self.cursor.execute(text, params)

    def send_begin(self, driver: Any) -> None:
        """Queue the pending BEGIN in the pipeline under way (nothing if none is pending)."""
        if self.begin:
            self.begin = False
            driver.execute("BEGIN")

    def all(self, sql: SQL, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Every row."""
        self._execute(sql, params)
        return list(self.cursor.fetchall())

    def run(self, sql: SQL, params: Mapping[str, Any]) -> int:
        """A statement without rows; how many rows it changed."""
        self._execute(sql, params)
        return int(self.cursor.rowcount)

    def ts(self, value: datetime) -> Any:
        """An aware datetime as stored (naive UTC; text on SQLite, as SQLAlchemy does)."""
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def dt(self, value: Any) -> datetime:
        """A stored datetime back as an aware UTC datetime."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]

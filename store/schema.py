"""A database's schema as plain data, and whether a SQLite file made by `create_all` is
still what `create_all` makes: comparisons that need no Alembic (service processes check
at start without loading it: a web worker stays the smaller for it)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, pool
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from store import models  # noqa: F401  (registers the tables)
from store.db import VERSION_TABLE


def schema_of(url: str) -> dict[str, Any]:
    """The application's tables as plain data, to compare two databases of one kind: per
    table its columns (name, type, nullable), primary key, indexes and unique constraints."""
    with connect(url) as conn:
        found = inspect(conn)
        names = sorted(set(found.get_table_names()) - {VERSION_TABLE})
        return {name: _table_shape(found, name) for name in names}


def unversioned_tables(url: str) -> bool:
    """Whether the database has application tables but no migration history."""
    with connect(url) as conn:
        names = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in names and bool(names & set(SQLModel.metadata.tables))


def stale_sqlite(url: str) -> str | None:
    """For a SQLite database made by `create_all` (tables, no migration history) whose
    schema is not what `create_all` makes now (an earlier version made it, and it was never
    migrated): the tables that differ, in a few words. None otherwise, and for any other
    database (Alembic compares those: `creneau db upgrade`, `creneau doctor`)."""
    if make_url(url).get_backend_name() != "sqlite" or not unversioned_tables(url):
        return None
    found = schema_of(url)
    with tempfile.TemporaryDirectory(prefix="creneau-schema-") as scratch:
        built = f"sqlite:///{Path(scratch) / 'models.sqlite3'}"
        engine = create_engine(built, poolclass=pool.NullPool)
        try:
            SQLModel.metadata.create_all(engine)
        finally:
            engine.dispose()
        wanted = schema_of(built)
    differing = sorted(t for t in set(found) | set(wanted) if found.get(t) != wanted.get(t))
    return f"tables that differ from this version's: {', '.join(differing)}" if differing else None


def _table_shape(found: Any, name: str) -> dict[str, Any]:
    columns = sorted(
        (c["name"], str(c["type"]), bool(c["nullable"])) for c in found.get_columns(name)
    )
    indexes = sorted(
        (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
        for i in found.get_indexes(name)
    )
    uniques = sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(name))
    primary = tuple(found.get_pk_constraint(name)["constrained_columns"])
    return {"columns": columns, "primary": primary, "indexes": indexes, "uniques": uniques}


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A short-lived connection on its own engine (no pool left behind)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()

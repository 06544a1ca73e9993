"""Schema migrations (Alembic): upgrade, inspect, compare with the models.

`creneau db upgrade` is the production path (the Procfile's release step); `create_all`
stays for development and tests. A database created by `create_all` whose schema equals
the models is adopted (stamped at head) by the first upgrade instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, pool
from sqlmodel import SQLModel

from store import (
    constraints,  # noqa: F401  (PostgreSQL-only DDL)
    models,  # noqa: F401  (registers the tables)
)

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


class MigrationError(Exception):
    """The database cannot be migrated as it is; the message says what to do."""


def config(url: str) -> Config:
    """An Alembic configuration for this package's scripts and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision in the scripts."""
    rev = ScriptDirectory.from_config(config("sqlite://")).get_current_head()
    assert rev is not None
    return rev


def current(url: str) -> str | None:
    """The database's revision (None: never migrated)."""
    with _connect(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_diff(url: str) -> list[Any]:
    """What differs between the database's schema and the models (empty: identical)."""
    with _connect(url) as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, SQLModel.metadata) if not _ignored(d)]


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the database to `revision`; returns the revision it is at afterwards."""
    if _unversioned_tables(url):
        _adopt(url)
    command.upgrade(config(url), revision)
    rev = current(url)
    assert rev is not None
    return rev


def _adopt(url: str) -> None:
    """Stamp at head a database made by `create_all`, if and only if it equals the models."""
    diff = schema_diff(url)
    if diff:
        raise MigrationError(
            f"the database has tables but no migration history, and differs from the models "
            f"({len(diff)} difference(s), first: {diff[0]!r}); migrate it by hand, or back it "
            "up, recreate it empty and run `creneau db upgrade`"
        )
    command.stamp(config(url), "head")


def _unversioned_tables(url: str) -> bool:
    """Whether the database has application tables but no Alembic version table."""
    with _connect(url) as conn:
        names = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in names and bool(names & set(SQLModel.metadata.tables))


def _ignored(diff: Any) -> bool:
    """Alembic's own version table is not a model."""
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == VERSION_TABLE


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """A short-lived connection on its own engine (no pool left behind)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()

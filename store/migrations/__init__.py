"""Schema migrations (Alembic): upgrade, inspect, compare with the models.

`creneau db upgrade` is the production path (the Procfile's release step); `create_all`
stays for development and tests. A database created by `create_all` has no migration
history: the first upgrade adopts it, stamped at the newest revision whose schema it has
(the head when it equals the models; on SQLite an older one, for a development file made
by an earlier version), then migrated from there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from store import (
    constraints,  # noqa: F401  (PostgreSQL-only DDL)
    models,  # noqa: F401  (registers the tables)
)
from store.schema import VERSION_TABLE, connect, schema_of, unversioned_tables

HERE = Path(__file__).resolve().parent


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
    with connect(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_diff(url: str) -> list[Any]:
    """What differs between the database's schema and the models (empty: identical)."""
    with connect(url) as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, SQLModel.metadata) if not _ignored(d)]


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the database to `revision`; returns the revision it is at afterwards."""
    if unversioned_tables(url):
        _adopt(url)
    command.upgrade(config(url), revision)
    rev = current(url)
    assert rev is not None
    return rev


def differences(diff: list[Any]) -> str:
    """Alembic's differences in a few words: how many, and the first three by kind and
    name (`remove_column rate_limit.id`)."""
    shown = ", ".join(_brief(d) for d in diff[:3]) + (", ..." if len(diff) > 3 else "")
    return f"{len(diff)} difference(s) from the models: {shown}"


def _brief(change: Any) -> str:
    first = change[0] if isinstance(change, list) else change  # modify_*: a list of them
    names = [getattr(x, "name", None) if not isinstance(x, str) else x for x in first[1:]]
    return f"{first[0]} {'.'.join(n for n in names if isinstance(n, str))}".strip()


def _adopt(url: str) -> None:
    """Stamp a database made by `create_all` at the newest revision whose schema it has
    (the head when it equals the models); MigrationError when it has none's."""
    diff = schema_diff(url)
    if not diff:
        command.stamp(config(url), "head")
        return
    matched = _matching_revision(url)
    if matched is None:
        raise MigrationError(
            f"the database has tables but no migration history, and its schema is neither "
            f"the models' nor an earlier revision's ({differences(diff)}); migrate it by "
            "hand, or back it up, recreate it empty and run `creneau db upgrade`"
        )
    command.stamp(config(url), matched)


def _matching_revision(url: str) -> str | None:
    """SQLite: the newest revision whose schema, built afresh in a scratch file, is the
    database's (None: no revision's, or not SQLite)."""
    if make_url(url).get_backend_name() != "sqlite":
        return None
    wanted = schema_of(url)
    scripts = ScriptDirectory.from_config(config("sqlite://"))
    with tempfile.TemporaryDirectory(prefix="creneau-adopt-") as scratch:
        for script in scripts.walk_revisions():  # newest first
            built = f"sqlite:///{Path(scratch) / f'{script.revision}.sqlite3'}"
            command.upgrade(config(built), script.revision)
            if schema_of(built) == wanted:
                return script.revision
    return None


def _ignored(diff: Any) -> bool:
    """Alembic's own version table is not a model."""
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == VERSION_TABLE

"""Migrations: the migrated schema equals the models', on SQLite and (second pass) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from channels.cli.db import db as db_command
from store import migrations
from store.db import Database
from tests import pg
from tests.conftest import env_for


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the pass's kind (a new PostgreSQL database on the second pass)."""
    if not pg.enabled():
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    url = pg.create_database("creneau_mig")
    yield url
    pg.drop_database(url)


def test_upgrade_builds_exactly_the_models_schema(fresh_url: str) -> None:
    assert migrations.current(fresh_url) is None
    assert migrations.upgrade(fresh_url) == migrations.head()
    assert migrations.schema_diff(fresh_url) == []


def test_upgrade_twice_is_harmless_and_downgrade_empties(fresh_url: str) -> None:
    migrations.upgrade(fresh_url)
    migrations.upgrade(fresh_url)
    from alembic import command

    command.downgrade(migrations.config(fresh_url), "base")
    db = Database(fresh_url)
    with db.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    db.dispose()
    assert migrations.upgrade(fresh_url) == migrations.head()


def test_a_create_all_database_is_adopted(fresh_url: str) -> None:
    db = Database(fresh_url)
    db.create_all()
    db.dispose()
    assert migrations.upgrade(fresh_url) == migrations.head()
    assert migrations.schema_diff(fresh_url) == []


def test_a_database_that_differs_is_refused(fresh_url: str) -> None:
    db = Database(fresh_url)
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_audit_event_at"))
    db.dispose()
    with pytest.raises(migrations.MigrationError, match="no migration history"):
        migrations.upgrade(fresh_url)


def test_runtime_leaves_a_migrated_database_alone(fresh_url: str) -> None:
    migrations.upgrade(fresh_url)
    db = Database(fresh_url)
    assert db.migrated()
    db.create_all()  # no-op: only migrations change a migrated schema
    db.dispose()
    assert migrations.schema_diff(fresh_url) == []


def test_cli_upgrade_then_current(tmp_path: Path, fresh_url: str) -> None:
    env = env_for(tmp_path, DATABASE_URL=fresh_url)
    runner = CliRunner()
    before = runner.invoke(db_command, ["current"], env=env)
    assert before.exit_code == 0 and "not migrated" in before.output
    done = runner.invoke(db_command, ["upgrade"], env=env)
    assert done.exit_code == 0, done.output
    assert f"at revision {migrations.head()}" in done.output
    after = runner.invoke(db_command, ["current"], env=env)
    assert "up to date" in after.output

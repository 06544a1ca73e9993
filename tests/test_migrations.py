"""Migrations: the migrated schema equals the models', on SQLite and (second pass) PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import Engine, event, inspect, text

from channels.cli.db import db as db_command
from store import migrations
from store.db import Database
from store.schema import stale_sqlite
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


def _unmigrated_at(url: str, revision: str) -> None:
    """A database as `create_all` made it under the version whose newest migration was
    `revision` (that version's models equal its migrations), never migrated since."""
    migrations.upgrade(url, revision)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    db.dispose()


@pytest.mark.sqlite_only
def test_an_earlier_versions_database_is_adopted_where_it_stands(fresh_url: str) -> None:
    """A development file made before the turn records were rekeyed (0005) and never
    migrated: stamped at 0004, its schema, then migrated with its rows."""
    _unmigrated_at(fresh_url, "0004")
    _seed_turn_records(fresh_url)
    before = _rows(fresh_url)
    assert stale_sqlite(fresh_url) is not None

    assert migrations.upgrade(fresh_url) == migrations.head()
    assert migrations.schema_diff(fresh_url) == []
    assert stale_sqlite(fresh_url) is None
    assert _rows(fresh_url) == before
    assert _storage(fresh_url) == _expected(fresh_url)


@pytest.mark.sqlite_only
def test_a_service_refuses_to_start_on_an_earlier_versions_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rather than answer every turn with an apology: one line naming the fix; after
    `creneau db upgrade`, it starts."""
    from channels.preflight import migrations_finding, startup_runtime
    from channels.settings import SettingsError

    env = env_for(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _unmigrated_at(env["DATABASE_URL"], "0005")
    with pytest.raises(SettingsError, match=r"never migrated .*run `creneau db upgrade`"):
        startup_runtime()
    result = CliRunner().invoke(db_command, ["upgrade"], env=env)
    assert result.exit_code == 0, result.output
    rt = startup_runtime()
    assert migrations_finding(rt).ok
    rt.db.dispose()


def test_a_web_worker_checks_its_schema_without_loading_alembic(tmp_path: Path) -> None:
    """The start check compares schemas with SQLAlchemy alone: Alembic would add megabytes
    to every web worker for a check that finds something only on a development file."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; from channels.web import wsgi; wsgi(); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'alembic'})))"
    )
    env = env_for(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.sqlite_only
def test_a_fresh_or_current_database_is_not_stale(fresh_url: str) -> None:
    assert stale_sqlite(fresh_url) is None  # no tables yet
    db = Database(fresh_url)
    db.create_all()
    db.dispose()
    assert stale_sqlite(fresh_url) is None


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


# The two records every turn writes are keyed by what a turn looks them up by.
KEYED = {
    "processed_message": ["practice_id", "channel", "external_id"],
    "rate_limit": ["practice_id", "key"],
}
T0 = "2026-12-01 09:00:00.000000"
MESSAGE = (
    "INSERT INTO processed_message (id, practice_id, channel, external_id, patient_id, "
    f"reply_enc, created_at) VALUES ('m1', 'default', 'sms', 'k1', NULL, :reply, '{T0}')"
)
COUNTER = (
    "INSERT INTO rate_limit (id, practice_id, key, window_start, count, notified) "
    f"VALUES ('r1', 'default', 's1', '{T0}', 7, TRUE)"
)
KEPT = {
    "processed_message": (
        "SELECT id, practice_id, channel, external_id, reply_enc FROM processed_message"
    ),
    "rate_limit": "SELECT practice_id, key, window_start, count, notified FROM rate_limit",
}


def _seed_turn_records(url: str) -> None:
    """A provider-id record and a rate-limit counter, as the 0004 schema keeps them."""
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text(MESSAGE), {"reply": b"\x03"})
        conn.execute(text(COUNTER))
    db.dispose()


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    db = Database(url)
    with db.engine.connect() as conn:
        got = {t: [tuple(r) for r in conn.execute(text(q))] for t, q in KEPT.items()}
    db.dispose()
    return got


def _storage(url: str) -> dict[str, tuple[list[str], dict[str, object], list[str]]]:
    """Each table's primary key, SQLite storage options and unique constraints."""
    db = Database(url)
    with db.engine.connect() as conn:
        found = inspect(conn)
        got = {
            t: (
                found.get_pk_constraint(t)["constrained_columns"],
                found.get_table_options(t),
                [str(u["column_names"]) for u in found.get_unique_constraints(t)],
            )
            for t in KEYED
        }
    db.dispose()
    return got


def _expected(url: str) -> dict[str, tuple[list[str], dict[str, object], list[str]]]:
    """The provider-id records stay in a rowid table (their replies are too large for a
    WITHOUT ROWID one); the rate-limit counters, small, live in their key's B-tree."""
    rowless = {"sqlite_with_rowid": False} if url.startswith("sqlite") else {}
    return {
        "processed_message": (KEYED["processed_message"], {}, []),
        "rate_limit": (KEYED["rate_limit"], rowless, []),
    }


def test_turn_records_are_keyed_by_their_look_up_migrated_or_created(fresh_url: str) -> None:
    migrations.upgrade(fresh_url)
    assert _storage(fresh_url) == _expected(fresh_url)
    command.downgrade(migrations.config(fresh_url), "base")
    db = Database(fresh_url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    db.create_all()  # what development and the tests run on
    db.dispose()
    assert _storage(fresh_url) == _expected(fresh_url)


def test_rekeying_the_turn_records_keeps_every_row(fresh_url: str) -> None:
    migrations.upgrade(fresh_url, "0004")
    _seed_turn_records(fresh_url)
    before = _rows(fresh_url)
    assert all(len(rows) == 1 for rows in before.values())

    assert migrations.upgrade(fresh_url) == migrations.head()
    assert migrations.schema_diff(fresh_url) == []
    assert _rows(fresh_url) == before  # the counter too: its window goes on

    command.downgrade(migrations.config(fresh_url), "0004")
    assert _rows(fresh_url) == before | {"rate_limit": []}  # counters restart (minutes long)
    assert _storage(fresh_url)["processed_message"][0] == ["id"]
    assert migrations.upgrade(fresh_url) == migrations.head()
    assert _storage(fresh_url) == _expected(fresh_url)


def test_the_sqlite_rebuild_leaves_no_copy_of_a_record_behind(tmp_path: Path) -> None:
    """The old tables' pages are zeroed as they are freed: a reply erased afterwards is
    nowhere in the file (as secure_delete promises for every deletion), even where SQLite
    was built with secure_delete off by default (Debian's has it on: the migration runs
    as on another)."""
    url = f"sqlite:///{tmp_path / 'creneau.sqlite3'}"
    mark = bytes.fromhex("5eC12e7c0ffee0ddba11") * 4
    migrations.upgrade(url, "0004")
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text(MESSAGE), {"reply": mark})
    db.checkpoint()
    db.dispose()
    event.listen(Engine, "connect", _insecure)
    try:
        migrations.upgrade(url)
    finally:
        event.remove(Engine, "connect", _insecure)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE processed_message SET reply_enc = NULL"))
    assert db.checkpoint()
    db.dispose()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("creneau.sqlite3*"))
    assert mark not in stored


def _insecure(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

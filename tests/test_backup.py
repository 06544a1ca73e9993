"""The backup drill: a backup taken while patients book, restored into a fresh directory,
every row compared; and on PostgreSQL the README's pg_dump / pg_restore commands."""

from __future__ import annotations

import base64
import shutil
import sqlite3
import subprocess
import threading

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from store.crypto import aad, generate_key
from store.db import Database
from store.rotation import sealed_cells
from tests import pg
from tests.conftest import Patient, env_for
from tests.procs import CRENEAU, base_env, run

NAMES = ["Paul Martin", "Jeanne Roux", "Ali Benali", "Chloé Dupuis", "Marc Leroy"]


def rows(url: str) -> dict[str, set[tuple]]:  # type: ignore[type-arg]
    """Every row of every table, as tuples."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: {tuple(r) for r in conn.execute(select(t))}
                for t in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def traffic(runtime, stop: threading.Event, done: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Patients book one after another until told to stop."""
    n = 0
    while not stop.is_set():
        p = Patient(runtime.assistant, f"+3361234{n:04d}", channel="sms")
        for text in ("RDV", "1", str(1 + n % 5), NAMES[n % len(NAMES)], "1"):
            p.send(text)
        done.append(p.sender)
        n += 1


def assert_all_readable(url: str, vault) -> int:  # type: ignore[no-untyped-def]
    """Every sealed cell opens with the keys; how many there are."""
    n = 0
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for cell in sealed_cells():
                pk = cell.table.c.id
                for row_id, token in conn.execute(select(pk, cell.column)):
                    if token:
                        vault.ring.decrypt(bytes(token), aad(cell.table.name, cell.name, row_id))
                        n += 1
    finally:
        engine.dispose()
    return n


@pytest.mark.sqlite_only
def test_backup_under_traffic_restores_every_row(runtime, tmp_path):
    env = base_env(
        **env_for(
            tmp_path,
            CRENEAU_DATA_KEYS=runtime.settings.data_keys,
            CRENEAU_INDEX_KEY=runtime.settings.index_key,
        )
    )
    stop, done = threading.Event(), []
    writer = threading.Thread(target=traffic, args=(runtime, stop, done))
    writer.start()
    try:
        while len(done) < 3:
            stop.wait(0.05)
        before = rows(runtime.settings.database_url)
        target = tmp_path / "backups" / "creneau-backup.sqlite3"
        proc = run([CRENEAU, "--operator", "drill", "backup", str(target)], env, tmp_path)
        during = len(done)
        while len(done) < during + 2:  # traffic went on after the backup too
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join(60)
    assert proc.returncode == 0, proc.stderr
    assert "backup written to" in proc.stdout and "Traceback" not in proc.stderr
    assert oct(target.stat().st_mode & 0o777) == "0o600"

    saved = rows(f"sqlite:///{target}")
    for table, committed in before.items():  # everything committed before is in it
        ids = {r[0] for r in saved[table]}
        assert {r[0] for r in committed} <= ids, table
    assert len(saved["appointment"]) >= 3

    # the keys are not in the backup, in any form
    raw = target.read_bytes()
    settings = runtime.settings
    for key in [settings.data_keys.partition(":")[2], settings.index_key]:
        assert key.encode() not in raw and base64.b64decode(key) not in raw

    # restore into a fresh directory, with the same keys
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env2 = base_env(
        **env_for(fresh, CRENEAU_DATA_KEYS=settings.data_keys, CRENEAU_INDEX_KEY=settings.index_key)
    )
    proc = run([CRENEAU, "--operator", "drill", "restore", str(target), "--yes"], env2, fresh)
    assert proc.returncode == 0, proc.stderr
    restored = rows(env2["DATABASE_URL"])
    restore_events = {r for r in restored["audit_event"] if "restore" in r}
    assert len(restore_events) == 1  # the restore is audited, after the copy
    restored["audit_event"] -= restore_events
    assert restored == saved  # every row of every table
    assert assert_all_readable(env2["DATABASE_URL"], runtime.vault) > 0
    conn = sqlite3.connect(env2["DATABASE_URL"].removeprefix("sqlite:///"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()

    # the restored service finds its patients again (blind index) and reads their names
    proc = run([CRENEAU, "patient", "export", "--phone", done[0]], env2, fresh)
    assert proc.returncode == 0 and any(n in proc.stdout for n in NAMES), proc.stderr


@pytest.mark.sqlite_only
def test_backup_and_restore_refuse_in_one_line(runtime, tmp_path):
    env = base_env(
        **env_for(
            tmp_path,
            CRENEAU_DATA_KEYS=runtime.settings.data_keys,
            CRENEAU_INDEX_KEY=runtime.settings.index_key,
        )
    )
    Patient(runtime.assistant, "+33612345678", channel="sms").send("Bonjour")
    target = tmp_path / "b.sqlite3"
    assert run([CRENEAU, "backup", str(target)], env, tmp_path).returncode == 0
    again = run([CRENEAU, "backup", str(target)], env, tmp_path)
    assert again.returncode == 1 and again.stderr.strip().count("\n") == 0
    assert "exists: choose another name, or pass --force" in again.stderr
    assert run([CRENEAU, "backup", str(target), "--force"], env, tmp_path).returncode == 0

    other = tmp_path / "other"
    other.mkdir()
    env3 = base_env(**env_for(other, CRENEAU_DATA_KEYS=f"x:{generate_key()}"))
    proc = run([CRENEAU, "restore", str(target), "--yes"], env3, other)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the keys cannot read this backup" in proc.stderr and "nothing restored" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0

    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    proc = run([CRENEAU, "restore", str(junk), "--yes"], env, tmp_path)
    assert proc.returncode == 1 and "is not a SQLite database" in proc.stderr


@pytest.mark.postgres
def test_backup_on_postgres_points_to_pg_dump(tmp_path):
    env = base_env(**env_for(tmp_path))
    proc = run([CRENEAU, "backup", str(tmp_path / "x")], env, tmp_path)
    assert proc.returncode == 1 and "pg_dump" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_postgres_drill_with_pg_dump_and_pg_restore(runtime, tmp_path):
    """The README's commands, under traffic: pg_dump, pg_restore into a new database."""
    stop, done = threading.Event(), []
    writer = threading.Thread(target=traffic, args=(runtime, stop, done))
    writer.start()
    dump = tmp_path / "creneau.dump"
    source = make_url(runtime.settings.database_url)
    try:
        while len(done) < 3:
            stop.wait(0.05)
        before = rows(runtime.settings.database_url)
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), _libpq(source)],
            check=True,
            timeout=120,
        )
    finally:
        stop.set()
        writer.join(60)
    target = pg.create_database("creneau_restore")
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(make_url(target)),
             str(dump)],
            check=True,
            timeout=120,
        )  # fmt: skip
        restored = rows(target)
        for table, committed in before.items():
            assert {r[0] for r in committed} <= {r[0] for r in restored[table]}, table
        assert assert_all_readable(target, runtime.vault) > 0
        db = Database(target)
        assert db.ping()
        db.dispose()
    finally:
        pg.drop_database(target)


def _libpq(url) -> str:  # type: ignore[no-untyped-def]
    """A SQLAlchemy URL as the libpq URI pg_dump takes."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)

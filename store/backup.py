"""Online backup and restore of the SQLite database (one machine).

`backup` writes a consistent copy while the service runs: `VACUUM INTO` reads one snapshot
(in WAL mode writers are not blocked) and writes a compact file without free pages, so no
erased value survives in it. Values stay encrypted as stored; the keys are never in it
(they live in the environment). `restore` copies a checked backup into the configured
database through SQLite's backup API, page by page under its lock, so open connections see
the restored content rather than a file swapped under them. PostgreSQL uses its own tools
(`pg_dump` / `pg_restore`, see the README).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from store.crypto import CryptoError, aad
from store.db import VERSION_TABLE, Database
from store.rotation import sealed_cells
from store.vault import Vault


class BackupError(Exception):
    """A backup or restore cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    """What a backup file holds: its tables' row counts and its schema revision."""

    tables: dict[str, int]
    revision: str | None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def sqlite_path(db: Database) -> Path:
    """The SQLite file of a database; BackupError for PostgreSQL or an in-memory one."""
    if not db.is_sqlite:
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump and restore it with "
            "pg_restore (see the README's Backup section)"
        )
    name = db.url.database
    if not name or name == ":memory:":
        raise BackupError("the database is in memory: there is nothing to back up")
    return Path(name)


def backup(db: Database, target: Path, *, overwrite: bool = False) -> Summary:
    """Write a consistent, compact copy of the live database to `target` (mode 0600)."""
    source = sqlite_path(db)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists: choose another name, or pass --force to replace it")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the live database itself: choose another file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(source, timeout=db.timeouts.lock_ms / 1000)
    try:
        conn.execute("VACUUM INTO ?", (str(partial),))
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the backup could not be written: {exc}") from None
    finally:
        conn.close()
    os.chmod(partial, 0o600)
    summary = inspect_file(partial)
    os.replace(partial, target)
    return summary


def inspect_file(path: Path) -> Summary:
    """Check a backup file (a SQLite database that passes its integrity check) and count
    its rows; BackupError if it is not one."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            tables = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
            revision = None
            if VERSION_TABLE in tables:
                row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
                revision = row[0] if row else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database ({exc})") from None
    if check != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: it cannot be restored")
    tables.pop(VERSION_TABLE, None)
    if "patient" not in tables:
        raise BackupError(f"{path} is not a Créneau database (no patient table)")
    return Summary(tables, revision)


def unreadable_samples(path: Path, vault: Vault) -> list[str]:
    """`table.column row ID` of the sampled ciphertexts (oldest and newest of each sealed
    column) the keys cannot open: a backup restored with other keys would be unreadable."""
    bad: list[str] = []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        for cell in sealed_cells():
            table, column = cell.table.name, cell.column.name
            if table not in present:
                continue
            for order in ("ASC", "DESC"):
                query = (
                    f'SELECT id, "{column}" FROM "{table}" WHERE length("{column}") > 0 '
                    f"ORDER BY id {order} LIMIT 1"
                )
                for row_id, token in conn.execute(query):
                    try:
                        vault.ring.decrypt(bytes(token), aad(table, cell.name, row_id))
                    except CryptoError as exc:
                        bad.append(f"{cell.label} row {row_id} ({exc})")
    finally:
        conn.close()
    return bad


def restore(db: Database, source: Path, vault: Vault | None = None) -> Summary:
    """Replace every row of the configured database with the backup's, once checked: a
    sound SQLite file, a Créneau schema, and (given the vault) values the keys can open."""
    target = sqlite_path(db)
    summary = inspect_file(source)
    if vault is not None:
        bad = unreadable_samples(source, vault)
        if bad:
            raise BackupError(
                f"the keys cannot read this backup ({len(bad)} sampled value(s), first: "
                f"{bad[0]}): set the CRENEAU_DATA_KEYS it was written with; nothing restored"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=db.timeouts.lock_ms / 1000)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
        dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise BackupError(f"the restore could not be written: {exc}") from None
    finally:
        src.close()
        dst.close()
    os.chmod(target, 0o600)
    return summary

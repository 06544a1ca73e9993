"""Key rotation: re-seal every ciphertext under the primary key, batch by batch.

Each batch is its own short writing transaction, so the service keeps running; rows already
under the primary key are skipped, so an interrupted run resumes by running again. A
ciphertext that does not authenticate is reported by (table, column, row id) and left as is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, LargeBinary, Table, func, select, tuple_, update
from sqlmodel import SQLModel

from store import audit
from store.crypto import CryptoError, aad
from store.db import Database
from store.vault import Vault

ENC = "_enc"
FIRST_FAILURES = 5  # row ids a summary names; the rest are counted
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Cell:
    """A sealed column of a table; `name` is the column named in the associated data."""

    table: Table
    column: Column[Any]

    @property
    def name(self) -> str:
        return self.column.name.removesuffix(ENC)

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.name}"


@dataclass
class Report:
    """What a rotation did: counts per cell kind and the cells that failed (no values)."""

    rotated: dict[str, int] = field(default_factory=dict)
    current: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rotated": sum(self.rotated.values()),
            "current": self.current,
            "failed": len(self.failures),
            "by_column": dict(self.rotated),
            "failed_by_column": self.failed_by_column(),
            "first_failures": self.failures[:FIRST_FAILURES],
            "failures": list(self.failures),
        }

    def failed_by_column(self) -> dict[str, int]:
        """How many cells of each column could not be opened (a summary, not 7,500 lines)."""
        counts: dict[str, int] = {}
        for f in self.failures:
            label = f"{f['table']}.{f['column']}"
            counts[label] = counts.get(label, 0) + 1
        return counts


def sealed_cells() -> list[Cell]:
    """Every `*_enc` binary column of every table, from the SQLModel metadata."""
    return [
        Cell(t, c)
        for t in SQLModel.metadata.sorted_tables
        for c in t.c
        if c.name.endswith(ENC) and isinstance(c.type, LargeBinary)
    ]


def count_sealed(db: Database) -> int:
    """How many ciphertexts the database holds (the length of a progress bar)."""
    with db.read() as session:
        return sum(
            int(
                session.execute(
                    select(func.count()).select_from(c.table).where(c.column.is_not(None))
                ).scalar_one()
            )
            for c in sealed_cells()
        )


def _reseal(vault: Vault, cell: Cell, row_id: str, token: bytes) -> bytes:
    """Open under any key of the ring, seal under the primary (CryptoError if it fails)."""
    associated = aad(cell.table.name, cell.name, row_id)
    return vault.ring.encrypt(vault.ring.decrypt(token, associated), associated)


def _batch(
    db: Database,
    vault: Vault,
    cell: Cell,
    after: tuple[Any, ...] | None,
    size: int,
    verify: bool,
    report: Report,
) -> tuple[tuple[Any, ...] | None, int]:
    """Rotate one batch of rows after the primary key `after` (None: from the first);
    return the last key seen and the rows read. Rows are paged by their primary key (a
    provider-id record's is its message key); the associated data names the row's id."""
    key = list(cell.table.primary_key.columns)
    query = select(*key, cell.table.c.id, cell.column).where(cell.column.is_not(None))
    if after is not None:
        query = query.where(tuple_(*key) > tuple_(*after))
    query = query.order_by(*key).limit(size)
    with db.write() as session:
        rows = session.execute(query if db.is_sqlite else query.with_for_update()).all()
        for row in rows:
            found = dict(zip(key, row[: len(key)], strict=True))
            row_id, token = row[len(key) :]
            _one(session, vault, cell, found, row_id, token, verify, report)
    return (tuple(rows[-1][: len(key)]) if rows else None), len(rows)


def _one(
    session: Any,
    vault: Vault,
    cell: Cell,
    key: dict[Column[Any], Any],
    row_id: str,
    token: bytes,
    verify: bool,
    report: Report,
) -> None:
    """Rotate one cell (its row found by `key`), or count it as current, or report it."""
    try:
        if vault.ring.is_current(token):
            if verify:
                vault.ring.decrypt(token, aad(cell.table.name, cell.name, row_id))
            report.current += 1
            return
        fresh = _reseal(vault, cell, row_id, token)
    except CryptoError as exc:
        report.failures.append(
            {"table": cell.table.name, "column": cell.name, "row_id": row_id, "reason": str(exc)}
        )
        return
    done = session.execute(
        update(cell.table)
        .where(*(column == value for column, value in key.items()), cell.column == token)
        .values({cell.column.name: fresh})
    )
    if done.rowcount:  # else written meanwhile by the service: already under the primary key
        report.rotated[cell.label] = report.rotated.get(cell.label, 0) + 1


def rotate(
    db: Database,
    vault: Vault,
    batch_size: int = 200,
    progress: Progress | None = None,
    *,
    verify: bool = False,
    practice_id: str = "default",
    actor: str = "system",
) -> dict[str, Any]:
    """Re-seal every ciphertext not under the primary key; with verify, authenticate all."""
    report = Report()
    for cell in sealed_cells():
        after: tuple[Any, ...] | None = None
        while True:
            last, n = _batch(db, vault, cell, after, batch_size, verify, report)
            if progress is not None and n:
                progress(n)
            if last is None or n < batch_size:
                break
            after = last
    result = report.as_dict()
    detail = (
        f"key={vault.ring.primary_id} rotated={result['rotated']} "
        f"current={result['current']} failed={result['failed']}"
    )
    with db.write() as session:
        audit.record(session, practice_id, actor, "key_rotation", None, detail[:200])
    return result

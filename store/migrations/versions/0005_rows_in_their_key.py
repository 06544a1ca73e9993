"""Fewer B-trees per turn: the two records every turn writes keyed by what finds them.

Every turn inserts a provider-id record and counts its sender's rate limit. Each was
keyed by an id of its own, with a unique index on what a turn looks it up by: on SQLite
three B-trees per row (rowid table, id index, unique index), each one more page in the
write-ahead log per turn; on PostgreSQL a heap and two indexes. Now:
- the provider-id record's primary key is (practice, channel, message key); its id stays
  as a plain column, named in the sealed reply's associated data;
- the rate-limit counter's primary key is (practice, sender key), and it has no id
  (nothing refers to it); on SQLite it is a WITHOUT ROWID table (its rows are small).
Rows are kept as they are, counters included. SQLite rebuilds both tables (copy, drop,
rename) with secure_delete on, so the old tables' pages are zeroed as they are freed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_KEY = ["practice_id", "channel", "external_id"]
SENDER_KEY = ["practice_id", "key"]
MESSAGE_COLUMNS = "id, practice_id, channel, external_id, patient_id, reply_enc, created_at"
COUNTER_COLUMNS = "practice_id, key, window_start, count, notified"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    """Key both tables by their look-up."""
    if _sqlite():
        op.execute("PRAGMA secure_delete=ON")  # freed pages of the old tables are zeroed
        _copy("processed_message", _messages(sa.PrimaryKeyConstraint(*MESSAGE_KEY)))
        counters = _counters(
            "rate_limit_new", sa.PrimaryKeyConstraint(*SENDER_KEY), sqlite_with_rowid=False
        )
        _copy("rate_limit", counters, COUNTER_COLUMNS)
        return
    _rekey("processed_message", MESSAGE_KEY)
    _rekey("rate_limit", SENDER_KEY)
    op.drop_column("rate_limit", "id")


def downgrade() -> None:
    """Keyed by ids again; the rate-limit counters restart (they last minutes)."""
    if _sqlite():
        op.execute("PRAGMA secure_delete=ON")
        unique = sa.UniqueConstraint(*MESSAGE_KEY)
        _copy("processed_message", _messages(sa.PrimaryKeyConstraint("id"), unique))
        op.drop_table("rate_limit")
        _counters(
            "rate_limit",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(*SENDER_KEY),
        ).create(op.get_bind())
        return
    op.execute("DELETE FROM rate_limit")
    op.add_column("rate_limit", sa.Column("id", sa.String(length=32), nullable=False))
    for table, key in (("processed_message", MESSAGE_KEY), ("rate_limit", SENDER_KEY)):
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, ["id"])
        op.create_unique_constraint(f"{table}_{'_'.join(key)}_key", table, key)


def _copy(table: str, new: sa.Table, columns: str = MESSAGE_COLUMNS) -> None:
    """SQLite: move the rows of `table` into `new` (made under a temporary name), then
    put `new` in its place."""
    new.create(op.get_bind())
    op.execute(f"INSERT INTO {new.name} ({columns}) SELECT {columns} FROM {table}")
    op.drop_table(table)
    op.rename_table(new.name, table)


def _messages(*constraints: sa.Constraint) -> sa.Table:
    return sa.Table(
        "processed_message_new",
        sa.MetaData(),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=True),
        sa.Column("reply_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *constraints,
    )


def _counters(name: str, *extra: SchemaItem, **options: Any) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        *extra,
        **options,
    )


def _rekey(table: str, key: list[str]) -> None:
    """PostgreSQL: `key` becomes the primary key, in place of the id and the unique
    constraint on the same columns (whose name is the server's)."""
    for unique in sa.inspect(op.get_bind()).get_unique_constraints(table):
        name = unique["name"]
        assert name is not None  # PostgreSQL names every constraint
        op.drop_constraint(name, table, type_="unique")
    op.drop_constraint(f"{table}_pkey", table, type_="primary")
    op.create_primary_key(f"{table}_pkey", table, key)

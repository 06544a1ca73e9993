"""Fewer indexes on the tables every turn writes: the timestamps only the daily purge reads.

Each index is one more page a turn writes to the WAL; the daily purge scans these tables
instead (once a day, in its own transaction).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = (
    ("ix_patient_last_contact_at", "patient", "last_contact_at"),
    ("ix_conversation_updated_at", "conversation", "updated_at"),
    ("ix_processed_message_created_at", "processed_message", "created_at"),
    ("ix_rate_limit_window_start", "rate_limit", "window_start"),
)


def upgrade() -> None:
    """Drop the purge-only indexes."""
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    """Create them again."""
    for name, table, column in DROPPED:
        op.create_index(name, table, [column], unique=False)

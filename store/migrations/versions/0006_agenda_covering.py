"""The agenda indexes answer the overlap look-ups alone: they carry the end (and status).

Whether a slot is free is asked twice per booking (when the step is worked out and in the
booking statement) and once per day in a slot search: which appointments and blocks of a
practitioner overlap an interval. The agenda index found the candidates by start, then
each candidate's row was read for its end and status: on a busy day, dozens of page reads
per look-up. With the end and the status in the index, SQLite answers from the index
alone (a covering index). PostgreSQL answers overlaps with its no-overlap guard's index
and keeps these for the agenda lists.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGENDA = ["practice_id", "practitioner_id", "start"]
INDEXES = {
    "ix_appointment_agenda": ("appointment", ["end", "status"]),
    "ix_block_agenda": ("block", ["end"]),
}


def upgrade() -> None:
    """Each agenda index again, with the columns an overlap test reads."""
    for name, (table, carried) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*AGENDA, *carried], unique=False)


def downgrade() -> None:
    """The agenda indexes by start only."""
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, AGENDA, unique=False)

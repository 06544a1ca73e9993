"""One index fewer written per turn: provider-id records are no longer indexed by patient.

Every message a turn handles inserts its provider-id record; the index on its patient
column was one more page per turn. Only erasure and the export of a patient's data look
records up by patient, and the records are kept 48 hours: those rare paths scan them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = ("ix_processed_message_patient_id", "processed_message", "patient_id")


def upgrade() -> None:
    """Drop the index."""
    op.drop_index(INDEX[0], table_name=INDEX[1])


def downgrade() -> None:
    """The index again."""
    op.create_index(INDEX[0], INDEX[1], [INDEX[2]], unique=False)

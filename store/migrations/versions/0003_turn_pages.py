"""A turn writes fewer pages: the conversation kept on the patient's row, and no index on
the timestamps only the daily purge reads.

Every index and every row a turn writes is one more page in the write-ahead log; the daily
purge scans these tables instead (once a day, in its own transaction). Conversations in
progress are not carried over (their ciphertexts are bound to their old rows): a patient
in the middle of a dialog starts again at the menu, as after 24 h of silence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = (
    ("ix_patient_last_contact_at", "patient", "last_contact_at"),
    ("ix_processed_message_created_at", "processed_message", "created_at"),
    ("ix_rate_limit_window_start", "rate_limit", "window_start"),
)


def upgrade() -> None:
    """Conversation columns on the patient, the conversation table and the indexes gone."""
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("conversation_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("conversation_at", sa.DateTime(), nullable=True))
    op.drop_index("ix_conversation_updated_at", table_name="conversation")
    op.drop_table("conversation")
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    """The conversation table (empty) and the indexes again."""
    for name, table, column in DROPPED:
        op.create_index(name, table, [column], unique=False)
    op.create_table(
        "conversation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=False),
        sa.Column("state_enc", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id"),
    )
    op.create_index("ix_conversation_updated_at", "conversation", ["updated_at"], unique=False)
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("conversation_at")
        batch.drop_column("conversation_enc")

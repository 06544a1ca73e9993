"""Initial schema: every table of store.models, and on PostgreSQL the no-overlap guard
on booked appointments (an exclusion constraint, see store.constraints).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# frozen copies of store.constraints at this revision (migrations never import live code)
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS btree_gist"
ADD_NO_OVERLAP = (
    "ALTER TABLE appointment ADD CONSTRAINT appointment_no_overlap "
    "EXCLUDE USING gist (practice_id WITH =, practitioner_id WITH =, "
    "tsrange(start, \"end\") WITH &&) WHERE (status = 'booked')"
)

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table; on PostgreSQL, the no-overlap exclusion constraint too."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(CREATE_EXTENSION)
    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_event_at"), "audit_event", ["at"], unique=False)
    op.create_table(
        "block",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_block_agenda", "block", ["practice_id", "practitioner_id", "start"], unique=False
    )
    op.create_table(
        "job_claim",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_id", "kind", "key"),
    )
    op.create_index(op.f("ix_job_claim_claimed_at"), "job_claim", ["claimed_at"], unique=False)
    op.create_table(
        "link_code",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=True),
        sa.Column("address_enc", sa.LargeBinary(), nullable=False),
        sa.Column("payload_enc", sa.LargeBinary(), nullable=False),
        sa.Column("respect_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_outbox_patient_id"), "outbox", ["patient_id"], unique=False)
    op.create_table(
        "patient",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=False),
        sa.Column("address_enc", sa.LargeBinary(), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("notice_version", sa.String(length=32), nullable=True),
        sa.Column("notice_at", sa.DateTime(), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_id", "address_index"),
    )
    op.create_index(
        op.f("ix_patient_last_contact_at"), "patient", ["last_contact_at"], unique=False
    )
    op.create_table(
        "practitioner_link",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=32), nullable=False),
        sa.Column("chat_enc", sa.LargeBinary(), nullable=False),
        sa.Column("chat_index", sa.String(length=64), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("last_list_enc", sa.LargeBinary(), nullable=True),
        sa.Column("last_list_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_id", "chat_index"),
        sa.UniqueConstraint("practice_id", "practitioner_id"),
    )
    op.create_table(
        "processed_message",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=True),
        sa.Column("reply_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_id", "channel", "external_id"),
    )
    op.create_index(
        op.f("ix_processed_message_created_at"), "processed_message", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_processed_message_patient_id"), "processed_message", ["patient_id"], unique=False
    )
    op.create_table(
        "rate_limit",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practice_id", "key"),
    )
    op.create_index(
        op.f("ix_rate_limit_window_start"), "rate_limit", ["window_start"], unique=False
    )
    op.create_table(
        "appointment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=True),
        sa.Column("practitioner_id", sa.String(length=32), nullable=False),
        sa.Column("type_id", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("prep_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=16), nullable=True),
        sa.Column("reminder_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_appointment_agenda",
        "appointment",
        ["practice_id", "practitioner_id", "start"],
        unique=False,
    )
    op.create_index("ix_appointment_patient", "appointment", ["patient_id", "start"], unique=False)
    op.create_table(
        "conversation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("practice_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.String(length=32), nullable=False),
        sa.Column("state_enc", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id"),
    )
    op.create_index(
        op.f("ix_conversation_updated_at"), "conversation", ["updated_at"], unique=False
    )
    if postgres:
        op.execute(ADD_NO_OVERLAP)


def downgrade() -> None:
    """Drop every table (the constraint goes with its table; the extension stays)."""
    op.drop_index(op.f("ix_conversation_updated_at"), table_name="conversation")
    op.drop_table("conversation")
    op.drop_index("ix_appointment_patient", table_name="appointment")
    op.drop_index("ix_appointment_agenda", table_name="appointment")
    op.drop_table("appointment")
    op.drop_index(op.f("ix_rate_limit_window_start"), table_name="rate_limit")
    op.drop_table("rate_limit")
    op.drop_index(op.f("ix_processed_message_patient_id"), table_name="processed_message")
    op.drop_index(op.f("ix_processed_message_created_at"), table_name="processed_message")
    op.drop_table("processed_message")
    op.drop_table("practitioner_link")
    op.drop_index(op.f("ix_patient_last_contact_at"), table_name="patient")
    op.drop_table("patient")
    op.drop_index(op.f("ix_outbox_patient_id"), table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("link_code")
    op.drop_index(op.f("ix_job_claim_claimed_at"), table_name="job_claim")
    op.drop_table("job_claim")
    op.drop_index("ix_block_agenda", table_name="block")
    op.drop_table("block")
    op.drop_index(op.f("ix_audit_event_at"), table_name="audit_event")
    op.drop_table("audit_event")

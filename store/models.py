"""Tables. Personal values live only in `*_enc` columns (AES-GCM, see store.crypto);
rows carry the practice id and application-generated ids (UUID4 hex), so a ciphertext's
associated data can name its row before the insert."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def new_id() -> str:
    """A random UUID version 4, as 32 hex digits (what `uuid.uuid4().hex` gives, without
    building the UUID object: a turn makes three)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


# On SQLite a table keyed by text is two B-trees, the rows (under a hidden rowid) and the
# index on the key; stored WITHOUT ROWID, small rows live in their key's B-tree, one page
# fewer to write per row. (PostgreSQL has no such option.)
ROWLESS = {"sqlite_with_rowid": False}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def ts(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def blob(nullable: bool = True) -> Column:
    return Column(LargeBinary, nullable=nullable)


class Patient(SQLModel, table=True):
    """A sender: encrypted address and name, blind index for look-up, preferences."""

    __tablename__ = "patient"
    __table_args__ = (UniqueConstraint("practice_id", "address_index"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    address_index: str = Field(max_length=64)
    address_enc: bytes = Field(sa_column=blob(nullable=False))
    name_enc: bytes | None = Field(default=None, sa_column=blob())
    lang: str = Field(max_length=8)
    notice_version: str | None = Field(default=None, max_length=32)
    notice_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    opted_out: bool = False
    unreachable: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    # not indexed, like the other timestamps only the daily purge reads: every turn writes
    # it, and an index is one more page to write per turn (the purge scans instead)
    last_contact_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    # the dialog's position and offered choices (encrypted JSON), kept with the patient so
    # a turn writes one row; dropped after 24 h without a message
    conversation_enc: bytes | None = Field(default=None, sa_column=blob())
    conversation_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class Appointment(SQLModel, table=True):
    """A booking: plain times and pseudonymous ids; the preparation answer encrypted."""

    __tablename__ = "appointment"
    __table_args__ = (
        # overlap look-ups (is a slot free?) read the start, end and status: all in the
        # index, so a busy day costs a few index pages, not one row read per appointment
        Index("ix_appointment_agenda", "practice_id", "practitioner_id", "start", "end", "status"),
        Index("ix_appointment_patient", "patient_id", "start"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    patient_id: str | None = Field(default=None, foreign_key="patient.id", max_length=32)
    practitioner_id: str = Field(max_length=32)
    type_id: str = Field(max_length=32)
    start: datetime = Field(sa_column=ts())
    end: datetime = Field(sa_column=ts())
    status: str = Field(default="booked", max_length=16)  # booked | cancelled
    prep_enc: bytes | None = Field(default=None, sa_column=blob())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    cancelled_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    cancelled_by: str | None = Field(default=None, max_length=16)  # patient|practitioner|erasure
    reminder_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class ProcessedMessage(SQLModel, table=True):
    """A provider message id already handled, with the reply given (to repeat it, 48 h).

    Keyed by what a turn looks it up by; its `id` only names it in the sealed reply's
    associated data. Every turn inserts one: an index on the id would be one more page in
    the write-ahead log for each (on SQLite the rows stay in a rowid table, appended, with
    the key as the one index: the replies are too large for a WITHOUT ROWID table)."""

    __tablename__ = "processed_message"

    practice_id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(primary_key=True, max_length=16)
    external_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(default_factory=new_id, max_length=32)
    # not indexed: only erasure and export look records up by patient (kept 48 h, they
    # scan), while every turn would write one more index page
    patient_id: str | None = Field(default=None, max_length=32)
    reply_enc: bytes | None = Field(default=None, sa_column=blob())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())


class Outbox(SQLModel, table=True):
    """A message to send later (Telegram replies, reminders, summaries); deleted once sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=24)  # reply | reminder | summary | notice
    patient_id: str | None = Field(default=None, max_length=32, index=True)
    address_enc: bytes = Field(sa_column=blob(nullable=False))
    payload_enc: bytes = Field(sa_column=blob(nullable=False))
    respect_quiet_hours: bool = False
    status: str = Field(default="pending", max_length=16)  # pending | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    claimed_until: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=200)  # codes only, never content
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())


class AuditEvent(SQLModel, table=True):
    """Who did what, when: pseudonymous ids only, never personal data."""

    __tablename__ = "audit_event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=ts(index=True))
    actor: str = Field(max_length=64)  # cli:<user> | practitioner:<id> | patient:<id> | system
    action: str = Field(max_length=48)
    subject: str | None = Field(default=None, max_length=64)  # pseudonymous id
    detail: str | None = Field(default=None, max_length=200)  # counts, categories; no PII


class RateLimit(SQLModel, table=True):
    """Inbound messages of one sender in the current window (blind index only, short-lived);
    keyed by the sender itself, the one way it is looked up (no id: nothing is sealed)."""

    __tablename__ = "rate_limit"
    __table_args__ = (ROWLESS,)

    practice_id: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=64)  # the sender's blind index, never the address
    window_start: datetime = Field(default_factory=utcnow, sa_column=ts())
    count: int = 0
    notified: bool = False


class JobClaim(SQLModel, table=True):
    """A scheduled job done once (summary of a practitioner's day, daily purge): the unique
    key is the claim, so two clocks never both do it."""

    __tablename__ = "job_claim"
    __table_args__ = (UniqueConstraint("practice_id", "kind", "key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    kind: str = Field(max_length=24)  # summary | purge
    key: str = Field(max_length=96)  # e.g. "<practitioner id>:<local date>"
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=ts(index=True))


class PractitionerLink(SQLModel, table=True):
    """A practitioner's Telegram chat (sealed, blind index for look-up) and the last list shown
    to it (sealed appointment ids, for `/annuler N`)."""

    __tablename__ = "practitioner_link"
    __table_args__ = (
        UniqueConstraint("practice_id", "practitioner_id"),
        UniqueConstraint("practice_id", "chat_index"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    practitioner_id: str = Field(max_length=32)
    chat_enc: bytes = Field(sa_column=blob(nullable=False))
    chat_index: str = Field(max_length=64)
    linked_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    last_list_enc: bytes | None = Field(default=None, sa_column=blob())
    last_list_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class LinkCode(SQLModel, table=True):
    """A one-time code linking a Telegram chat to a practitioner; only its SHA-256 is kept."""

    __tablename__ = "link_code"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    practitioner_id: str = Field(max_length=32)
    code_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_column=ts())
    used_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())


class Block(SQLModel, table=True):
    """A period a practitioner blocked (`/absent`): no slot is offered inside it."""

    __tablename__ = "block"
    # with the end, an overlap look-up reads the index alone (as the appointments' agenda)
    __table_args__ = (Index("ix_block_agenda", "practice_id", "practitioner_id", "start", "end"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    practitioner_id: str = Field(max_length=32)
    start: datetime = Field(sa_column=ts())
    end: datetime = Field(sa_column=ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())


class DeskUser(SQLModel, table=True):
    """A person of the practice who logs in to the desk: an Argon2 password hash and a
    TOTP secret (sealed); `session_version` grows to end every open session at once."""

    __tablename__ = "desk_user"
    __table_args__ = (UniqueConstraint("practice_id", "email"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    email: str = Field(max_length=254)  # staff login, lowercased; never a patient's
    role: str = Field(max_length=16)  # admin | secretary | practitioner
    practitioner_id: str | None = Field(default=None, max_length=32)
    password_hash: str = Field(max_length=200)  # Argon2id, PHC string
    totp_enc: bytes = Field(sa_column=blob(nullable=False))
    totp_last_step: int = 0  # the last accepted TOTP time step: a code works once
    session_version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    last_login_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class DeskSession(SQLModel, table=True):
    """An open desk session: the cookie carries its id, signed; idle and age checked here."""

    __tablename__ = "desk_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 of the cookie's token
    user_id: str = Field(foreign_key="desk_user.id", max_length=32, index=True)
    user_version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=ts(index=True))


class LoginAttempt(SQLModel, table=True):
    """A failed desk login or a lock, per e-mail key (a keyed hash, never the address typed):
    five failures in 15 minutes lock the account for 15 minutes."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_key", "practice_id", "key", "at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    key: str = Field(max_length=64)
    kind: str = Field(default="failure", max_length=16)  # failure | lock
    at: datetime = Field(default_factory=utcnow, sa_column=ts())


class CalendarFeed(SQLModel, table=True):
    """A practitioner's private calendar feed: only the SHA-256 of its secret token is kept."""

    __tablename__ = "calendar_feed"
    __table_args__ = (UniqueConstraint("practice_id", "practitioner_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    practice_id: str = Field(max_length=32)
    practitioner_id: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    with_initials: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts())
    last_fetched_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))

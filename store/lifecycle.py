"""The data lifecycle (retention, rights, end of contract): find, export and erase a patient,
apply the retention rules, hand back and wipe a practice's data.

Nothing here logs or raises with a personal value; audit events carry counts and
pseudonymous ids only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Row
from sqlmodel import Session, SQLModel, col, delete, select

from bot.practice import Practice
from store import audit, desk
from store.address import normalise
from store.context import held_counts
from store.crypto import CryptoError
from store.db import Database
from store.erasure import erase
from store.models import (
    Appointment,
    AuditEvent,
    Block,
    JobClaim,
    LinkCode,
    Outbox,
    Patient,
    ProcessedMessage,
    RateLimit,
)
from store.vault import Vault

__all__ = ["erase", "export_all", "export_patient", "find_patient", "purge", "wipe"]

CONVERSATION_IDLE = timedelta(hours=24)
REPLY_KEEP = timedelta(hours=48)  # a processed message's stored reply, for provider retries
PENDING_KEEP = timedelta(hours=48)  # a message not sent within this is past its use
CLAIM_KEEP = timedelta(days=7)  # scheduler claims: today's guard, and the last summary's date
RATE_LIMIT_KEEP = timedelta(days=1)  # windows last minutes; a counter left by a quiet sender
FAILED_OUTBOX_KEEP = timedelta(hours=48)
JSON_CELLS = {
    ("patient", "conversation"),
    ("processed_message", "reply"),
    ("outbox", "payload"),
    ("practitioner_link", "last_list"),
}
CHUNK = 500
ENC = "_enc"

Progress = Callable[[int], None]


# ------------------------------------------------------------------ helpers


def iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 (UTC), for JSON."""
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    """A column value made JSON-serialisable."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def practice_tables() -> list[Table]:
    """Every table that carries a practice id, parents before children."""
    return [t for t in SQLModel.metadata.sorted_tables if "practice_id" in t.c]


def enc_columns(table: Table) -> list[str]:
    """The sealed columns of a table (`*_enc`)."""
    return [c.name for c in table.c if c.name.endswith(ENC)]


def open_cell(vault: Vault, table: str, column: str, row_id: str, token: bytes | None) -> Any:
    """Decrypt one cell (column without `_enc`); raise CryptoError if it does not authenticate."""
    if token is None:
        return None
    if (table, column) in JSON_CELLS:
        return vault.open_json(table, column, row_id, token)
    return vault.open(table, column, row_id, token)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def processed_keep(practice: Practice) -> timedelta:
    """How long a processed message id (a keyed hash) is kept: as long as the data of the
    patient who sent it may live (booked up to the horizon, kept `retention_days` after)."""
    return timedelta(days=practice.horizon_days + practice.retention_days)


def compact(db: Database, vacuum: bool = True) -> bool:
    """On SQLite, rebuild the file (VACUUM) and truncate the WAL so no old copy of an erased
    value stays in free pages or old page versions; False if busy (run it again later).
    PostgreSQL relies on (auto)vacuum."""
    if not db.is_sqlite:
        return True
    if vacuum:
        conn = db.engine.raw_connection()
        try:
            conn.cursor().execute("VACUUM")
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    return db.checkpoint()


# ------------------------------------------------------------------ one patient


def find_patient(
    session: Session, vault: Vault, practice: Practice, channel: str, raw_address: str
) -> Patient | None:
    """The patient with that address, through the blind index (AddressError if malformed)."""
    address = normalise(channel, raw_address, practice.phone_region)
    index = vault.address_index(practice.id, channel, address)
    return session.exec(
        select(Patient).where(Patient.practice_id == practice.id, Patient.address_index == index)
    ).first()


Cell = tuple[str, str, str]  # table, column, row id of a ciphertext that did not open


def _patient_cells(vault: Vault, patient: Patient) -> tuple[dict[str, Any], list[Cell]]:
    """Decrypted address, name and conversation; the cells that failed to authenticate."""
    out: dict[str, Any] = {}
    bad: list[Cell] = []
    for column in ("address", "name", "conversation"):
        try:
            out[column] = open_cell(
                vault, "patient", column, patient.id, getattr(patient, column + ENC)
            )
        except CryptoError:
            out[column] = None
            bad.append(("patient", column, patient.id))
    return out, bad


def _appointment(
    vault: Vault, practice: Practice, appt: Appointment, lang: str, bad: list[Cell]
) -> dict[str, Any]:
    """One appointment as exported: every column, the preparation answer decrypted."""
    try:
        prep = open_cell(vault, "appointment", "prep", appt.id, appt.prep_enc)
    except CryptoError:
        prep = None
        bad.append(("appointment", "prep", appt.id))
    names = {p.id: p.name for p in practice.practitioners}
    labels = {t.id: t.label_for(lang) for t in practice.consultation_types}
    return {
        "id": appt.id,
        "practice_id": appt.practice_id,
        "patient_id": appt.patient_id,
        "practitioner_id": appt.practitioner_id,
        "practitioner": names.get(appt.practitioner_id, appt.practitioner_id),
        "type_id": appt.type_id,
        "type": labels.get(appt.type_id, appt.type_id),
        "start": iso(appt.start),
        "end": iso(appt.end),
        "status": appt.status,
        "prep": prep,
        "prep_held_until": iso(appt.end) if appt.prep_enc is not None else None,
        "created_at": iso(appt.created_at),
        "cancelled_at": iso(appt.cancelled_at),
        "cancelled_by": appt.cancelled_by,
        "reminder_at": iso(appt.reminder_at),
    }


def export_patient(
    session: Session, vault: Vault, practice: Practice, patient: Patient
) -> dict[str, Any]:
    """Everything held about one patient, decrypted and JSON-serialisable (access, portability).
    A cell that does not open is exported as null, listed under "unreadable" and audited."""
    cells, bad = _patient_cells(vault, patient)
    appts = session.exec(
        select(Appointment)
        .where(Appointment.patient_id == patient.id)
        .order_by(col(Appointment.start))
    ).all()
    held = held_counts(session, patient.id)
    appointments = [_appointment(vault, practice, a, patient.lang, bad) for a in appts]
    for table_name, column, row_id in bad:
        audit.unreadable(session, practice.id, table_name, column, row_id)
    return {
        "practice": {
            "id": practice.id,
            "name": practice.name,
            "controller": practice.controller,
            "contact": practice.contact,
        },
        "patient": {
            "id": patient.id,
            "practice_id": patient.practice_id,
            "channel": patient.channel,
            "address": cells["address"],
            "address_index": patient.address_index,
            "name": cells["name"],
            "lang": patient.lang,
            "notice_version": patient.notice_version,
            "notice_at": iso(patient.notice_at),
            "opted_out": patient.opted_out,
            "unreachable": patient.unreachable,
            "created_at": iso(patient.created_at),
            "last_contact_at": iso(patient.last_contact_at),
            "conversation": cells["conversation"],
            "conversation_at": iso(patient.conversation_at),
        },
        "appointments": appointments,
        "conversation": {
            "present": patient.conversation_enc is not None,
            "updated_at": iso(patient.conversation_at),
        },
        "queued_messages": held["queued"],
        "processed_message_ids": held["messages"],
        "audit_events": held["events"],
        "unreadable": [f"{t}.{c}:{r}" for t, c, r in bad],
    }


# ------------------------------------------------------------------ retention purge


def _count(session: Session, model: type[SQLModel], *where: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def _delete(session: Session, model: type[SQLModel], *where: Any) -> int:
    statement = delete(model).where(*where).execution_options(synchronize_session=False)
    return int(session.exec(statement).rowcount or 0)  # type: ignore[call-overload]


def _purgeable_patients(session: Session, practice: Practice, cutoff: datetime) -> list[str]:
    """Patients with no appointment kept after the purge and no contact since cutoff."""
    kept = select(Appointment.patient_id).where(
        col(Appointment.patient_id).is_not(None), col(Appointment.end) >= cutoff
    )
    query = select(Patient.id).where(
        Patient.practice_id == practice.id,
        col(Patient.last_contact_at) < cutoff,
        col(Patient.id).not_in(kept),
    )
    return list(session.exec(query))


def _rules(practice: Practice, now: datetime) -> list[tuple[str, type[SQLModel], list[Any]]]:
    """The row deletions of the retention policy, in a foreign-key-safe order."""
    pid = practice.id
    kept = now - timedelta(days=practice.retention_days)
    return [
        (
            "appointments",
            Appointment,
            [col(Appointment.practice_id) == pid, col(Appointment.end) < kept],
        ),
        (
            "processed_messages",
            ProcessedMessage,
            [
                col(ProcessedMessage.practice_id) == pid,
                col(ProcessedMessage.created_at) < now - processed_keep(practice),
            ],
        ),
        (
            "failed_messages",
            Outbox,
            [
                col(Outbox.practice_id) == pid,
                col(Outbox.status) == "failed",
                col(Outbox.created_at) < now - FAILED_OUTBOX_KEEP,
            ],
        ),
        (
            "unsent_messages",  # replies, summaries, reminders, notices past their use
            Outbox,
            [
                col(Outbox.practice_id) == pid,
                col(Outbox.status) == "pending",
                col(Outbox.created_at) < now - PENDING_KEEP,
            ],
        ),
        (
            "audit_events",
            AuditEvent,
            [
                col(AuditEvent.practice_id) == pid,
                col(AuditEvent.at) < now - timedelta(days=practice.audit_retention_days),
            ],
        ),
        (
            "job_claims",
            JobClaim,
            [col(JobClaim.practice_id) == pid, col(JobClaim.claimed_at) < now - CLAIM_KEEP],
        ),
        (
            "link_codes",
            LinkCode,
            [col(LinkCode.practice_id) == pid, col(LinkCode.expires_at) < now],
        ),
        ("blocks", Block, [col(Block.practice_id) == pid, col(Block.end) < kept]),
        (
            "rate_limits",
            RateLimit,
            [
                col(RateLimit.practice_id) == pid,
                col(RateLimit.window_start) < now - RATE_LIMIT_KEEP,
            ],
        ),
    ]


def _unlink_processed(session: Session, *where: Any) -> int:
    """Keep processed message ids (replays stay recognised) without patient or reply."""
    statement = (
        update(ProcessedMessage)
        .where(*where)
        .values(patient_id=None, reply_enc=None)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], session.exec(statement)).rowcount or 0)  # type: ignore[call-overload]


def _purge_patients(session: Session, ids: list[str]) -> None:
    """Delete patients and whatever still points at them."""
    for chunk in _chunks(ids):
        _delete(session, Outbox, col(Outbox.patient_id).in_(chunk))
        _unlink_processed(session, col(ProcessedMessage.patient_id).in_(chunk))
        _delete(session, Appointment, col(Appointment.patient_id).in_(chunk))
        _delete(session, Patient, col(Patient.id).in_(chunk))


def purge(
    session: Session,
    practice: Practice,
    now: datetime,
    dry_run: bool = False,
    actor: str = "system",
) -> dict[str, int]:
    """Apply the retention rules (README, "Data kept") now; with dry_run, only count."""
    cutoff = now - timedelta(days=practice.retention_days)
    prep = [  # answers of appointments that have ended or were cancelled
        col(Appointment.practice_id) == practice.id,
        col(Appointment.prep_enc).is_not(None),
        or_(col(Appointment.end) <= now, col(Appointment.status) != "booked"),
        col(Appointment.end) >= cutoff,
    ]
    old_replies = [
        col(ProcessedMessage.practice_id) == practice.id,
        col(ProcessedMessage.created_at) < now - REPLY_KEEP,
        col(ProcessedMessage.patient_id).is_not(None)
        | col(ProcessedMessage.reply_enc).is_not(None),
    ]
    idle = [
        col(Patient.practice_id) == practice.id,
        col(Patient.conversation_at) < now - CONVERSATION_IDLE,
    ]
    counts = {
        "preparation_answers": _count(session, Appointment, *prep),
        "stored_replies": _count(session, ProcessedMessage, *old_replies),
        "conversations": _count(session, Patient, *idle),
    }
    patients = _purgeable_patients(session, practice, cutoff)
    for name, model, where in _rules(practice, now):
        counts[name] = (
            _count(session, model, *where) if dry_run else _delete(session, model, *where)
        )
    counts["patients"] = len(patients)
    if not dry_run:
        session.exec(
            update(Appointment)
            .where(*prep)
            .values(prep_enc=None)
            .execution_options(synchronize_session=False)
        )
        _unlink_processed(session, *old_replies)
        session.exec(
            update(Patient)
            .where(*idle)
            .values(conversation_enc=None, conversation_at=None)
            .execution_options(synchronize_session=False)
        )
        _purge_patients(session, patients)
        desk.housekeeping(session, practice, now)  # idle sessions, old failures, old users
        detail = " ".join(f"{k}={v}" for k, v in counts.items())
        audit.record(session, practice.id, actor, "purge", None, detail[:200])
    return counts


# ------------------------------------------------------------------ end of contract


# Access credentials of the service, not the practice's data: never handed out in clear.
WITHHELD_COLUMNS = {
    "desk_user": {"password_hash", "totp_enc"},
    "calendar_feed": {"token_hash"},
    "desk_session": {"token_hash"},
}


def _decrypted_row(
    vault: Vault, table: Table, row: Row[Any], bad: list[dict[str, str]]
) -> dict[str, Any]:
    """A table row as JSON: sealed cells opened under their plain name; credentials
    (password hashes, second-factor secrets, feed and session tokens) withheld."""
    out: dict[str, Any] = {}
    withheld = WITHHELD_COLUMNS.get(table.name, set())
    for name, value in row._mapping.items():
        if name in withheld:
            out[name.removesuffix(ENC)] = "withheld"
            continue
        if not name.endswith(ENC):
            out[name] = _plain(value)
            continue
        column = name.removesuffix(ENC)
        try:
            out[column] = open_cell(vault, table.name, column, row.id, value)
        except CryptoError:
            out[column] = None
            bad.append({"table": table.name, "column": column, "row_id": row.id})
    return out


def count_rows(session: Session, practice: Practice) -> dict[str, int]:
    """Rows of the practice in every table."""
    return {
        t.name: int(
            session.execute(
                select(func.count()).select_from(t).where(t.c.practice_id == practice.id)
            ).scalar_one()
        )
        for t in practice_tables()
    }


def _write_table(
    zf: zipfile.ZipFile,
    session: Session,
    vault: Vault,
    practice: Practice,
    table: Table,
    bad: list[dict[str, str]],
    progress: Progress | None,
) -> int:
    """Stream one table into `<table>.json` in the archive."""
    query = core_select(table).where(table.c.practice_id == practice.id)
    query = query.order_by(*table.primary_key.columns)
    n = 0
    with zf.open(f"{table.name}.json", "w") as fh:
        fh.write(b"[")
        for row in session.execute(query.execution_options(yield_per=CHUNK)):
            item = json.dumps(_decrypted_row(vault, table, row, bad), ensure_ascii=False)
            fh.write((",\n" if n else "\n").encode() + item.encode())
            n += 1
            if progress is not None:
                progress(1)
        fh.write(b"\n]\n")
    return n


def export_all(
    session: Session,
    vault: Vault,
    practice: Practice,
    path: str | Path,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write every row of the practice, decrypted, to a zip (one JSON per table, a manifest)."""
    target = Path(path)
    bad: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for table in practice_tables():
                counts[table.name] = _write_table(
                    zf, session, vault, practice, table, bad, progress
                )
            manifest = {
                "format": "creneau-export/1",
                "practice_id": practice.id,
                "practice": practice.name,
                "controller": practice.controller,
                "exported_at": iso(now),
                "tables": counts,
                "unreadable": bad,
                "notes": "datetimes are UTC ISO 8601; *_enc columns appear decrypted "
                "under their name without _enc; null where not readable; desk password "
                "hashes, second-factor secrets and feed or session tokens are withheld",
            }
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"tables": counts, "unreadable": bad}


def wipe(session: Session, practice: Practice, actor: str = "system") -> dict[str, int]:
    """Delete every row of the practice in every table; keep one audit event "wipe" (counts)."""
    counts: dict[str, int] = {}
    for table in reversed(practice_tables()):
        statement = table.delete().where(table.c.practice_id == practice.id)
        result = cast(CursorResult[Any], session.execute(statement))
        counts[table.name] = int(result.rowcount or 0)
    detail = " ".join(f"{k}={v}" for k, v in counts.items() if v)
    audit.record(session, practice.id, actor, "wipe", None, detail[:200] or "empty")
    return counts

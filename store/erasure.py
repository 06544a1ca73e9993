"""Erasing one patient (their SUPPRIMER, a desk or CLI request): one transaction, nothing left.

Future appointments are cancelled and unlinked (the practitioner keeps a free slot, not a
name), past ones deleted; the patient row (with the conversation), queued messages and the
rate-limit counter go;
the processed message ids stay as keyed hashes without the patient or the reply, so a
replayed request never acts again. The caller checkpoints the SQLite WAL once committed
(`Database.checkpoint`), so no old page version keeps an erased value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, delete, select

from bot.practice import Practice
from store import audit
from store.crypto import CryptoError
from store.models import Appointment, Outbox, Patient, ProcessedMessage, RateLimit
from store.ratelimit import sender_key
from store.vault import Vault


def erase(
    session: Session, vault: Vault, practice: Practice, patient: Patient, now: datetime, actor: str
) -> dict[str, int]:
    """Erase everything held about a patient in the open transaction; counts per kind."""
    counts = {"cancelled": 0, "deleted_appointments": 0, "rate_limit": 0}
    counts["rate_limit"] = _forget_rate_limit(session, vault, practice, patient)
    appointments = list(
        session.exec(select(Appointment).where(Appointment.patient_id == patient.id))
    )
    days = {(a.practitioner_id, a.start.astimezone(practice.tz).date()) for a in appointments}
    counts["withdrawn_summaries"] = withdraw_summaries(session, vault, practice, days)
    for appt in appointments:
        if appt.start > now and appt.status == "booked":
            appt.status, appt.cancelled_at, appt.cancelled_by = "cancelled", now, "erasure"
            appt.patient_id, appt.prep_enc = None, None
            session.add(appt)
            counts["cancelled"] += 1
        else:
            session.delete(appt)
            counts["deleted_appointments"] += 1
    session.exec(delete(Outbox).where(col(Outbox.patient_id) == patient.id))
    session.exec(
        update(ProcessedMessage)
        .where(col(ProcessedMessage.patient_id) == patient.id)
        .values(patient_id=None, reply_enc=None)
    )
    session.flush()
    session.delete(patient)
    detail = (
        f"cancelled={counts['cancelled']} deleted={counts['deleted_appointments']} "
        f"withdrawn_summaries={counts['withdrawn_summaries']}"
    )
    audit.record(session, practice.id, actor, "erasure", None, detail)
    session.flush()
    return counts


def _forget_rate_limit(session: Session, vault: Vault, practice: Practice, patient: Patient) -> int:
    """Delete the sender's rate-limit counter (found through its address, if readable)."""
    try:
        address = vault.open("patient", "address", patient.id, patient.address_enc)
    except CryptoError:
        return 0  # an unreadable address: its counter expires within a day anyway
    key = sender_key(vault, practice.id, patient.channel, address)
    statement: Any = (
        delete(RateLimit)
        .where(col(RateLimit.practice_id) == practice.id, col(RateLimit.key) == key)
        .execution_options(synchronize_session=False)
    )
    return int(session.exec(statement).rowcount or 0)


def withdraw_summaries(
    session: Session, vault: Vault, practice: Practice, days: set[tuple[str, date]]
) -> int:
    """Delete the practitioners' summaries not yet sent that cover one of these
    (practitioner, day) pairs: they may carry the erased patient's time and initials.
    `creneau summary` sends a fresh one."""
    if not days:
        return 0
    wanted = {(pid, day.isoformat()) for pid, day in days}
    pending = session.exec(
        select(Outbox).where(
            Outbox.practice_id == practice.id,
            Outbox.kind == "summary",
            Outbox.status == "pending",
        )
    )
    withdrawn = 0
    for row in pending:
        try:
            about = vault.open_json("outbox", "payload", row.id, row.payload_enc).get("about")
        except CryptoError:
            about = None  # unreadable: it cannot be sent either; the purge removes it
        if about is None or (about.get("practitioner"), about.get("day")) in wanted:
            session.delete(row)
            withdrawn += 1
    return withdrawn

"""The outbox: messages written in the same transaction as the change that caused them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from store import audit
from store.crypto import CryptoError
from store.models import Outbox, Patient, new_id, utcnow
from store.vault import Vault


def enqueue(
    session: Session,
    vault: Vault,
    *,
    practice_id: str,
    channel: str,
    address: str,
    payload: dict[str, Any],
    kind: str = "reply",
    patient_id: str | None = None,
    not_before: datetime | None = None,
    respect_quiet_hours: bool = False,
) -> Outbox:
    """Queue one message; address and payload are sealed to the new row."""
    row_id = new_id()
    row = Outbox(
        id=row_id,
        practice_id=practice_id,
        channel=channel,
        kind=kind,
        patient_id=patient_id,
        address_enc=vault.seal("outbox", "address", row_id, address),
        payload_enc=vault.seal_json("outbox", "payload", row_id, payload),
        respect_quiet_hours=respect_quiet_hours,
        next_attempt_at=not_before or utcnow(),
        created_at=not_before or utcnow(),  # the purge drops it 48 h after, unsent
    )
    session.add(row)
    return row


def open_row(vault: Vault, row: Outbox) -> tuple[str, dict[str, Any]]:
    """The address and payload of a queued row."""
    address = vault.open("outbox", "address", row.id, row.address_enc)
    return address, vault.open_json("outbox", "payload", row.id, row.payload_enc)


def notify_patient(
    session: Session,
    vault: Vault,
    patient: Patient,
    text: str,
    *,
    kind: str,
    now: datetime,
) -> Outbox | None:
    """Queue a text to a patient on their own channel, held outside quiet hours
    (reminders, notices): the patient's sealed address is opened only to be resealed.
    None (and an audit event) when that address does not open: one bad cell never stops
    the reminders or the cancellations of everyone else."""
    try:
        address = vault.open("patient", "address", patient.id, patient.address_enc)
    except CryptoError:
        audit.unreadable(session, patient.practice_id, "patient", "address", patient.id)
        return None
    return enqueue(
        session,
        vault,
        practice_id=patient.practice_id,
        channel=patient.channel,
        address=address,
        payload={"op": "send", "text": text},
        kind=kind,
        patient_id=patient.id,
        not_before=now,
        respect_quiet_hours=True,
    )

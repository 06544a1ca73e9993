"""Sizing a personal-data breach (GDPR Art. 33-34): the categories of data the deployment
holds and how many people and records a period concerns; no value, counts only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, SQLModel, col, select

from bot.practice import Practice
from store.lifecycle import CONVERSATION_IDLE, REPLY_KEEP, count_rows, iso
from store.models import (
    Appointment,
    AuditEvent,
    Outbox,
    Patient,
    ProcessedMessage,
)


def _count(session: Session, model: type[SQLModel], *where: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def data_categories(practice: Practice) -> list[str]:
    """The categories of personal data the practice's deployment holds (no values)."""
    cats = [
        "patient address (phone number or Telegram chat id), encrypted",
        "patient name, encrypted",
        "appointments: date, time, practitioner, consultation type (may reveal health "
        "information), status",
        f"conversation state and offered choices ({_hours(CONVERSATION_IDLE)} h), encrypted",
        f"replies given to received messages, kept to answer a repeat "
        f"({_hours(REPLY_KEEP)} h), encrypted",
        "outbound messages waiting to be sent, encrypted",
        "practitioners' linked Telegram chat ids, encrypted",
        "audit log: who did what and when (pseudonymous ids, operators' names; no patient value)",
    ]
    prep = [t.id for t in practice.consultation_types if t.requires_preparation]
    if prep:
        cats.insert(3, "preparation answers (health data) for types: " + ", ".join(prep))
    return cats


def _hours(delta: timedelta) -> int:
    return int(delta.total_seconds() // 3600)


def _local(value: datetime, practice: Practice) -> str:
    """An instant as the practice's local date and time, e.g. '2026-12-01 09:00'."""
    return value.astimezone(practice.tz).strftime("%Y-%m-%d %H:%M")


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return (col(column) >= start) & (col(column) < end)


def breach_report(
    session: Session, practice: Practice, start: datetime, end: datetime
) -> dict[str, Any]:
    """Categories and numbers of patients and appointments a period [start, end) concerns."""
    pid = practice.id
    appt_where = [
        col(Appointment.practice_id) == pid,
        or_(_in(Appointment.start, start, end), _in(Appointment.created_at, start, end)),
    ]
    appt_patients = select(Appointment.patient_id).where(*appt_where)
    touched = select(ProcessedMessage.patient_id).where(
        col(ProcessedMessage.practice_id) == pid, _in(ProcessedMessage.created_at, start, end)
    )
    patient_where = [
        col(Patient.practice_id) == pid,
        or_(
            col(Patient.id).in_(appt_patients),
            col(Patient.id).in_(touched),
            _in(Patient.last_contact_at, start, end),
            _in(Patient.created_at, start, end),
        ),
    ]
    by_channel = dict(
        session.exec(
            select(Patient.channel, func.count())
            .where(*patient_where)
            .group_by(col(Patient.channel))
        ).all()
    )
    return {
        "practice": {
            "id": pid,
            "name": practice.name,
            "controller": practice.controller,
            "contact": practice.contact,
            "dpo": practice.dpo or None,
        },
        "period": {
            "from": iso(start),
            "to": iso(end),
            "from_local": _local(start, practice),
            "to_local": _local(end, practice),
        },
        "data_categories": data_categories(practice),
        "patients": sum(by_channel.values()),
        "patients_by_channel": by_channel,
        "patients_with_name": _count(
            session, Patient, *patient_where, col(Patient.name_enc).is_not(None)
        ),
        "appointments": _count(session, Appointment, *appt_where),
        "appointments_with_preparation_answer": _count(
            session, Appointment, *appt_where, col(Appointment.prep_enc).is_not(None)
        ),
        "queued_messages": _count(
            session, Outbox, col(Outbox.practice_id) == pid, _in(Outbox.created_at, start, end)
        ),
        "conversations": _count(
            session,
            Patient,
            col(Patient.practice_id) == pid,
            col(Patient.conversation_enc).is_not(None),
            _in(Patient.conversation_at, start, end),
        ),
        "stored_replies": _count(
            session,
            ProcessedMessage,
            col(ProcessedMessage.practice_id) == pid,
            col(ProcessedMessage.reply_enc).is_not(None),
            _in(ProcessedMessage.created_at, start, end),
        ),
        "audit_events": _count(
            session,
            AuditEvent,
            col(AuditEvent.practice_id) == pid,
            _in(AuditEvent.at, start, end),
        ),
        "held_now": count_rows(session, practice),
        "note": "patients contacted in the period are counted from the last contact, the "
        f"processed message ids still linked to them ({_hours(REPLY_KEEP)} h) and the "
        "appointments still held; rows already purged or erased are not counted",
    }

"""Scheduled jobs: daily summaries, patient reminders, the daily purge.

Each job is a function of (db, vault, catalogs, practice, now) and claims its work in the
database before queueing anything (a JobClaim row with a unique key, or a conditional
UPDATE of `reminder_at`), in the same transaction as the outbox rows it writes; so two
clocks running at once never send anything twice, and a failed job leaves no claim behind.
Logs carry counts and pseudonymous ids only.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.i18n import Catalogs
from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from store.agenda import day_agenda, summary_text
from store.db import Database
from store.models import Appointment, JobClaim, Patient, PractitionerLink
from store.outbox import enqueue
from store.vault import Vault

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096  # characters in one Telegram message
SMS_LIMIT = 1600  # characters Twilio accepts in one (concatenated) SMS
SUMMARY_LOOKBACK = timedelta(hours=24)  # cancellations listed when no summary was sent before


# ---------------------------------------------------------------- claims


def claim(session: Session, practice_id: str, kind: str, key: str, now: datetime) -> bool:
    """Insert the claim in a savepoint; False when another clock (or run) already has it."""
    try:
        with session.begin_nested():
            session.add(JobClaim(practice_id=practice_id, kind=kind, key=key, claimed_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def summary_key(practitioner_id: str, day: date) -> str:
    """The claim key of one practitioner's summary sent on one local day."""
    return f"{practitioner_id}:{day.isoformat()}"


def local_today(practice: Practice, now: datetime) -> date:
    return now.astimezone(practice.tz).date()


# ---------------------------------------------------------------- summaries


def summary_due(practice: Practice, practitioner: Practitioner, now: datetime) -> bool:
    """Whether today's summary time (local wall clock, DST aware) has passed."""
    today = local_today(practice, now)
    return now >= datetime.combine(today, practitioner.summary_time, practice.tz)


def covered_day(practice: Practice, practitioner: Practitioner, now: datetime) -> date:
    """The day a summary sent now describes: today or tomorrow, as the practitioner chose."""
    today = local_today(practice, now)
    return today + timedelta(days=1) if practitioner.summary_day == "tomorrow" else today


def summary_destination(
    session: Session, vault: Vault, practice: Practice, practitioner: Practitioner
) -> tuple[str, str] | None:
    """(channel, address): the linked Telegram chat, the file's chat id, else the SMS phone."""
    link = session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice.id,
            PractitionerLink.practitioner_id == practitioner.id,
        )
    ).first()
    if link is not None:
        return "telegram", vault.open("practitioner_link", "chat", link.id, link.chat_enc)
    if practitioner.summary_telegram_chat_id:
        return "telegram", str(practitioner.summary_telegram_chat_id)
    if practitioner.summary_phone:
        return "sms", practitioner.summary_phone
    return None


def chunks(text: str, limit: int) -> list[str]:
    """Split a long text at line breaks into pieces of at most `limit` characters."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            candidate = line
        current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def _previous_summary_at(
    session: Session, practice: Practice, practitioner_id: str, before: datetime
) -> datetime | None:
    """When the last summary before `before` was claimed for this practitioner."""
    query = (
        select(JobClaim.claimed_at)
        .where(
            JobClaim.practice_id == practice.id,
            JobClaim.kind == "summary",
            col(JobClaim.key).startswith(f"{practitioner_id}:"),
            col(JobClaim.claimed_at) < before,
        )
        .order_by(col(JobClaim.claimed_at).desc())
    )
    return session.exec(query).first()


def queue_summary(
    session: Session,
    vault: Vault,
    catalogs: Catalogs,
    practice: Practice,
    practitioner: Practitioner,
    now: datetime,
    day: date | None = None,
) -> bool:
    """Queue one practitioner's summary of `day` (default: the day they chose); False if it
    has nowhere to go."""
    destination = summary_destination(session, vault, practice, practitioner)
    if destination is None:
        log.warning("summary not queued: no destination for practitioner %s", practitioner.id)
        return False
    day = day or covered_day(practice, practitioner, now)
    lang = practice.locale
    entries = day_agenda(session, vault, practice, practitioner.id, day, lang)
    since = _previous_summary_at(session, practice, practitioner.id, now) or (
        now - SUMMARY_LOOKBACK
    )
    text = summary_text(catalogs, practice, practitioner, day, entries, lang, since=since)
    channel, address = destination
    limit = TELEGRAM_LIMIT if channel == "telegram" else SMS_LIMIT
    for piece in chunks(text, limit):
        enqueue(
            session,
            vault,
            practice_id=practice.id,
            channel=channel,
            address=address,
            payload={"op": "send", "text": piece},
            kind="summary",
            not_before=now,
        )
    log.info(
        "summary queued: practitioner=%s channel=%s entries=%d",
        practitioner.id,
        channel,
        len(entries),
    )
    return True


def run_due_summaries(
    db: Database, vault: Vault, catalogs: Catalogs, practice: Practice, now: datetime
) -> int:
    """Queue today's summaries whose local time has passed and that nobody claimed yet.

    Only today's key is ever considered: a clock that was down catches up on today's
    summaries, never on a previous day's.
    """
    queued = 0
    today = local_today(practice, now)
    for practitioner in practice.practitioners:
        if not summary_due(practice, practitioner, now):
            continue
        with db.write() as session:
            if not claim(session, practice.id, "summary", summary_key(practitioner.id, today), now):
                continue
            queued += queue_summary(session, vault, catalogs, practice, practitioner, now)
    return queued


# ---------------------------------------------------------------- reminders


def reminder_text(catalogs: Catalogs, practice: Practice, start: datetime, lang: str) -> str:
    """The discreet reminder: date, time, practice, how to move or cancel; never the type."""
    return catalogs.text(
        Text("reminder.text", {"when": Moment(start, "long"), "practice": practice.name}),
        lang,
        practice.tz,
    )


def _reminder_candidates(
    session: Session, practice: Practice, now: datetime
) -> list[tuple[Appointment, Patient]]:
    """Booked, not yet reminded appointments starting within the reminder window."""
    ahead = timedelta(hours=practice.reminder_hours_before)
    query = (
        select(Appointment, Patient)
        .join(Patient, col(Appointment.patient_id) == col(Patient.id))
        .where(
            Appointment.practice_id == practice.id,
            Appointment.status == "booked",
            col(Appointment.reminder_at).is_(None),
            col(Appointment.start) > now,
            col(Appointment.start) <= now + ahead,
        )
        .order_by(col(Appointment.start))
    )
    return list(session.exec(query))


def _wants_reminder(appt: Appointment, patient: Patient, ahead: timedelta) -> bool:
    """Booked before its reminder moment, to a patient who can and wants to be reached."""
    if appt.created_at > appt.start - ahead:
        return False  # booked inside the window: the confirmation was reminder enough
    if patient.opted_out or patient.unreachable:
        return False
    return patient.channel in ("sms", "telegram")


def _claim_reminder(session: Session, appointment_id: str, now: datetime) -> bool:
    """Set reminder_at only if still unset: the database decides which clock reminds."""
    result = session.exec(  # type: ignore[call-overload]
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.reminder_at).is_(None))
        .values(reminder_at=now)
    )
    return bool(result.rowcount == 1)


def queue_reminders(
    db: Database, vault: Vault, catalogs: Catalogs, practice: Practice, now: datetime
) -> int:
    """Queue a discreet reminder for each appointment entering its reminder window."""
    if practice.reminder_hours_before <= 0:
        return 0
    ahead = timedelta(hours=practice.reminder_hours_before)
    queued = 0
    with db.write() as session:
        for appt, patient in _reminder_candidates(session, practice, now):
            if not _wants_reminder(appt, patient, ahead):
                continue
            if not _claim_reminder(session, appt.id, now):
                continue
            address = vault.open("patient", "address", patient.id, patient.address_enc)
            text = reminder_text(catalogs, practice, appt.start, patient.lang)
            enqueue(
                session,
                vault,
                practice_id=practice.id,
                channel=patient.channel,
                address=address,
                payload={"op": "send", "text": text},
                kind="reminder",
                patient_id=patient.id,
                not_before=now,
                respect_quiet_hours=True,
            )
            queued += 1
    if queued:
        log.info("reminders queued: %d", queued)
    return queued


# ---------------------------------------------------------------- purge


def run_daily_purge(
    db: Database, vault: Vault, catalogs: Catalogs, practice: Practice, now: datetime
) -> bool:
    """Apply the retention rules once per local day, if store.lifecycle provides `purge`."""
    try:
        lifecycle = importlib.import_module("store.lifecycle")
    except ImportError:
        return False
    purge = getattr(lifecycle, "purge", None)
    if purge is None:
        return False
    with db.write() as session:
        if not claim(session, practice.id, "purge", local_today(practice, now).isoformat(), now):
            return False
        purge(session, practice, now)
    log.info("daily purge done")
    return True


JOBS = (run_due_summaries, queue_reminders, run_daily_purge)


def run_jobs(
    db: Database, vault: Vault, catalogs: Catalogs, practice: Practice, now: datetime
) -> None:
    """Run every job once; one failing job does not stop the others."""
    for job in JOBS:
        try:
            job(db, vault, catalogs, practice, now)
        except Exception as exc:  # a scheduler must keep ticking; log the type, not data
            log.error("job %s failed: %s", job.__name__, type(exc).__name__)

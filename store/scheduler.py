"""Scheduled jobs: daily summaries, patient reminders, the daily purge.

Each job is a function of (db, vault, catalogs, practice, now) and claims its work in the
database before queueing anything (a JobClaim row with a unique key, or a conditional
UPDATE of `reminder_at`), in the same transaction as the outbox rows it writes; so two
clocks running at once never send anything twice, and a failed job leaves no claim behind.
Logs carry counts and pseudonymous ids only.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.i18n import Catalogs
from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from store import audit
from store.agenda import audit_unreadable, day_agendas, desk_day_url, summary_text
from store.crypto import CryptoError
from store.db import Database
from store.lifecycle import purge
from store.models import Appointment, JobClaim, Patient, PractitionerLink, new_id
from store.outbox import enqueue, notify_patient
from store.vault import Vault

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096  # characters in one Telegram message
SMS_LIMIT = 1600  # characters Twilio accepts in one (concatenated) SMS
SUMMARY_LOOKBACK = timedelta(hours=24)  # cancellations listed when no summary was sent before

SUMMARY_BATCH = 50  # practitioners claimed and queued per transaction


# ---------------------------------------------------------------- claims


def claim_many(
    session: Session, practice_id: str, kind: str, keys: list[str], now: datetime
) -> set[str]:
    """Insert the claims; return the keys this call got (the others belong to another clock
    or run). One statement, INSERT ... ON CONFLICT DO NOTHING RETURNING, so a lost race
    costs neither a savepoint nor an error."""
    if not keys:
        return set()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [
        {"id": new_id(), "practice_id": practice_id, "kind": kind, "key": k, "claimed_at": now}
        for k in keys
    ]
    statement = insert(JobClaim).values(rows).on_conflict_do_nothing().returning(col(JobClaim.key))
    return {key for (key,) in session.execute(statement)}


def claim(session: Session, practice_id: str, kind: str, key: str, now: datetime) -> bool:
    """Claim one job; False when another clock (or run) already has it."""
    return bool(claim_many(session, practice_id, kind, [key], now))


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


def summary_destinations(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioners: list[Practitioner],
    actor: str = "system",
) -> dict[str, tuple[str, str]]:
    """(channel, address) per practitioner: the Telegram chat linked by the one-time code,
    else the SMS phone; practitioners with none are left out. One query for the links. A
    chat id typed in the practice file is never used (only a linked chat proves it is the
    practitioner's); a link whose cell does not open is audited and skipped."""
    ids = [p.id for p in practitioners]
    links = session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice.id,
            col(PractitionerLink.practitioner_id).in_(ids),
        )
    )
    found: dict[str, tuple[str, str]] = {}
    for link in links:
        try:
            chat = vault.open("practitioner_link", "chat", link.id, link.chat_enc)
        except CryptoError:
            audit.record(
                session,
                practice.id,
                actor,
                "unreadable_cell",
                link.id,
                "table=practitioner_link column=chat",
            )
            log.warning("summary destination unreadable: practitioner %s", link.practitioner_id)
            continue
        found[link.practitioner_id] = ("telegram", chat)
    for p in practitioners:
        if p.id not in found and p.summary_phone:
            found[p.id] = ("sms", p.summary_phone)
    return found


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


def _previous_summaries(
    session: Session, practice: Practice, practitioner_ids: list[str], before: datetime
) -> dict[str, datetime]:
    """When each practitioner's last summary before `before` was claimed, looked up by the
    exact claim keys of the last days (the unique index answers; claims are kept 7 days)."""
    today = local_today(practice, before)
    keys = {
        summary_key(pid, today - timedelta(days=d)): pid
        for pid in practitioner_ids
        for d in range(8)
    }
    query = select(JobClaim.key, JobClaim.claimed_at).where(
        JobClaim.practice_id == practice.id,
        JobClaim.kind == "summary",
        col(JobClaim.key).in_(list(keys)),
        col(JobClaim.claimed_at) < before,
    )
    latest: dict[str, datetime] = {}
    for key, at in session.exec(query):
        pid = keys[key]
        latest[pid] = max(at, latest.get(pid, at))
    return latest


def queue_summaries(
    session: Session,
    vault: Vault,
    catalogs: Catalogs,
    practice: Practice,
    practitioners: list[Practitioner],
    now: datetime,
    day: date | None = None,
    base_url: str = "",
    actor: str = "system",
) -> int:
    """Queue the summaries of these practitioners, each of `day` (default: the day each
    chose); a handful of queries for the whole batch. At `full` detail each links to its
    day on the desk at `base_url` (the public origin). Each summary queued is audited
    (practitioner id, counts), so is each unreadable cell met. Returns how many were queued."""
    destinations = summary_destinations(session, vault, practice, practitioners, actor)
    previous = _previous_summaries(session, practice, [p.id for p in practitioners], now)
    lang = practice.locale
    by_day: dict[date, list[Practitioner]] = {}
    for p in practitioners:
        if p.id not in destinations:
            log.warning("summary not queued: no destination for practitioner %s", p.id)
            continue
        by_day.setdefault(day or covered_day(practice, p, now), []).append(p)
    queued = 0
    for covered, group in by_day.items():
        agendas = day_agendas(session, vault, practice, [p.id for p in group], covered, lang)
        for p in group:
            entries = agendas[p.id]
            since = previous.get(p.id) or now - SUMMARY_LOOKBACK
            link = desk_day_url(base_url, covered, p.id)
            text = summary_text(
                catalogs, practice, p, covered, entries, lang, since=since, desk_url=link
            )
            channel = destinations[p.id][0]
            about = {"practitioner": p.id, "day": covered.isoformat()}
            _queue_text(session, vault, practice, destinations[p.id], text, now, about)
            audit_unreadable(session, practice.id, actor, entries)
            booked = sum(1 for e in entries if not e.cancelled)
            audit.record(
                session,
                practice.id,
                actor,
                "summary_sent",
                p.id,
                f"day={covered.isoformat()} channel={channel} detail={p.summary_detail} "
                f"booked={booked} cancelled={len(entries) - booked}",
            )
            log.info("summary queued: practitioner=%s entries=%d", p.id, len(entries))
            queued += 1
    return queued


def queue_summary(
    session: Session,
    vault: Vault,
    catalogs: Catalogs,
    practice: Practice,
    practitioner: Practitioner,
    now: datetime,
    day: date | None = None,
    base_url: str = "",
    actor: str = "system",
) -> bool:
    """Queue one practitioner's summary; False if it has nowhere to go."""
    queued = queue_summaries(
        session, vault, catalogs, practice, [practitioner], now, day, base_url, actor
    )
    return queued == 1


def _queue_text(
    session: Session,
    vault: Vault,
    practice: Practice,
    destination: tuple[str, str],
    text: str,
    now: datetime,
    about: dict[str, str],
) -> None:
    """Queue a practitioner-facing text, cut to the channel's message size; `about` (which
    practitioner and day) lets an erasure withdraw a summary not yet sent."""
    channel, address = destination
    limit = TELEGRAM_LIMIT if channel == "telegram" else SMS_LIMIT
    for piece in chunks(text, limit):
        enqueue(
            session,
            vault,
            practice_id=practice.id,
            channel=channel,
            address=address,
            payload={"op": "send", "text": piece, "about": about},
            kind="summary",
            not_before=now,
        )


def run_due_summaries(
    db: Database,
    vault: Vault,
    catalogs: Catalogs,
    practice: Practice,
    now: datetime,
    base_url: str = "",
) -> int:
    """Queue today's summaries whose local time has passed and that nobody claimed yet.

    Only today's key is ever considered: a clock that was down catches up on today's
    summaries, never on a previous day's.
    """
    queued = 0
    today = local_today(practice, now)
    due = [p for p in practice.practitioners if summary_due(practice, p, now)]
    for start in range(0, len(due), SUMMARY_BATCH):  # short transactions, few statements
        batch = {summary_key(p.id, today): p for p in due[start : start + SUMMARY_BATCH]}
        with db.write() as session:
            mine = claim_many(session, practice.id, "summary", list(batch), now)
            chosen = [p for key, p in batch.items() if key in mine]
            queued += queue_summaries(
                session, vault, catalogs, practice, chosen, now, base_url=base_url
            )
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
            text = reminder_text(catalogs, practice, appt.start, patient.lang)
            if notify_patient(session, vault, patient, text, kind="reminder", now=now):
                queued += 1
    if queued:
        log.info("reminders queued: %d", queued)
    return queued


# ---------------------------------------------------------------- purge


def run_daily_purge(
    db: Database, vault: Vault, catalogs: Catalogs, practice: Practice, now: datetime
) -> bool:
    """Apply the retention rules once per local day, then checkpoint the WAL."""
    with db.write() as session:
        if not claim(session, practice.id, "purge", local_today(practice, now).isoformat(), now):
            return False
        purge(session, practice, now)
    db.checkpoint()
    log.info("daily purge done")
    return True


JOBS = (run_due_summaries, queue_reminders, run_daily_purge)


def run_jobs(
    db: Database,
    vault: Vault,
    catalogs: Catalogs,
    practice: Practice,
    now: datetime,
    base_url: str = "",
) -> None:
    """Run every job once; one failing job does not stop the others. `base_url` (the public
    origin) lets a summary link to the desk."""
    for job in JOBS:
        try:
            if job is run_due_summaries:
                run_due_summaries(db, vault, catalogs, practice, now, base_url)
            else:
                job(db, vault, catalogs, practice, now)
        except Exception as exc:  # a scheduler must keep ticking; log the type, not data
            log.error("job %s failed: %s", job.__name__, type(exc).__name__)

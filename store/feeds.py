"""Practitioners' private calendar feeds: a secret URL per practitioner that their own
calendar application subscribes to.

Only the SHA-256 of the token is kept (the URL is shown once, at creation); revoking
deletes the row, so the old URL answers 404. A feed carries busy times and "RDV" only:
calendar providers are not health-data hosts. With the practitioner's opt-in it adds the
patient's initials, never a name, a type or an answer.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from bot.practice import Practice
from store.agenda import agendas_between, audit_unreadable
from store.models import Appointment, CalendarFeed
from store.vault import Vault

PAST = timedelta(days=30)  # appointments this far back stay in the calendar


@dataclass(frozen=True)
class FeedEvent:
    """One busy period of the feed."""

    uid: str
    start: datetime
    end: datetime
    initials: str | None  # only with the practitioner's opt-in


def token_hash(token: str) -> str:
    """What is stored of a feed token: its SHA-256 (the token has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def feed_of(session: Session, practice_id: str, practitioner_id: str) -> CalendarFeed | None:
    """The practitioner's feed, if one exists."""
    return session.exec(
        select(CalendarFeed).where(
            CalendarFeed.practice_id == practice_id,
            CalendarFeed.practitioner_id == practitioner_id,
        )
    ).first()


def create_feed(
    session: Session, practice: Practice, practitioner_id: str, with_initials: bool, now: datetime
) -> str:
    """A new secret token for the practitioner's feed (an earlier one stops working)."""
    practice.practitioner(practitioner_id)  # KeyError for an unknown id
    revoke_feed(session, practice.id, practitioner_id)
    session.flush()
    token = secrets.token_urlsafe(32)
    session.add(
        CalendarFeed(
            practice_id=practice.id,
            practitioner_id=practitioner_id,
            token_hash=token_hash(token),
            with_initials=with_initials,
            created_at=now,
        )
    )
    return token


def revoke_feed(session: Session, practice_id: str, practitioner_id: str) -> bool:
    """Delete the practitioner's feed; True if there was one."""
    result = session.exec(
        delete(CalendarFeed).where(
            col(CalendarFeed.practice_id) == practice_id,
            col(CalendarFeed.practitioner_id) == practitioner_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def feed_by_token(session: Session, practice_id: str, token: str) -> CalendarFeed | None:
    """The live feed this token opens, or None (unknown or revoked)."""
    if not token or len(token) > 128:
        return None
    return session.exec(
        select(CalendarFeed).where(
            CalendarFeed.practice_id == practice_id,
            CalendarFeed.token_hash == token_hash(token),
        )
    ).first()


def _busy_times(
    session: Session, practice_id: str, practitioner_id: str, start: datetime, end: datetime
) -> list[FeedEvent]:
    """Booked appointments as bare busy periods (no patient cell is opened)."""
    rows = session.exec(
        select(Appointment.id, Appointment.start, Appointment.end)
        .where(
            Appointment.practice_id == practice_id,
            Appointment.practitioner_id == practitioner_id,
            Appointment.status == "booked",
            col(Appointment.start) >= start,
            col(Appointment.start) < end,
        )
        .order_by(col(Appointment.start))
    )
    return [FeedEvent(uid, s, e, None) for uid, s, e in rows]


def feed_events(
    session: Session, vault: Vault, practice: Practice, feed: CalendarFeed, now: datetime
) -> list[FeedEvent]:
    """The booked appointments the feed shows, from PAST ago to the booking horizon. Names
    are read only when initials were opted into (an unreadable one is audited, shown '?')."""
    start, end = now - PAST, now + timedelta(days=practice.horizon_days + 1)
    pid = feed.practitioner_id
    if not feed.with_initials:
        return _busy_times(session, practice.id, pid, start, end)
    entries = agendas_between(session, vault, practice, [pid], start, end)[pid]
    booked = [e for e in entries if not e.cancelled]
    audit_unreadable(session, practice.id, f"feed:{pid}", booked)
    return [FeedEvent(e.appointment_id, e.start, e.end, e.initials) for e in booked]

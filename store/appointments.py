"""Appointments handled by the practice (the desk, a practitioner's Telegram commands):
book for a caller, cancel, move, and tell the patient discreetly.

The same store operations as the patient dialog (`Assistant.book` / `Assistant.cancel`, the
busy look-up the slot search uses), so a change made here shows at once in the bot's
offers and in every agenda. Each function works inside the caller's transaction; an
exception rolls the whole change back. No personal value is logged or put in an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlmodel import Session, select

from bot.engine import Book, SlotTaken
from bot.practice import Practice
from bot.sanitize import clean_field
from bot.slots import BusyLookup, Interval, is_free
from store.address import AddressError, normalise
from store.context import busy_intervals
from store.crypto import CryptoError
from store.models import Appointment, Patient
from store.outbox import notify_patient
from store.service import Assistant
from store.vault import Vault

MAX_NAME = 80


class BookingError(ValueError):
    """A practice-side booking that cannot be made; `reason` is a short code, no data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Moved:
    """A move: the cancelled appointment and its replacement."""

    old: Appointment
    new: Appointment


# ---------------------------------------------------------------- callers


def clean_name(raw: str) -> str:
    """A caller's name cleaned of control and bidi characters; BookingError('name') when
    nothing usable is left (no letter, or too long)."""
    name = clean_field(raw or "")
    if not name or len(name) > MAX_NAME or not any(c.isalpha() for c in name):
        raise BookingError("name")
    return name


def phone_address(practice: Practice, raw: str) -> str:
    """A phone number typed at the desk (national or international form) as E.164;
    BookingError('phone') unless it is a valid number."""
    try:
        address = normalise("sms", raw or "", practice.phone_region)
    except AddressError:
        raise BookingError("phone") from None
    if not phonenumbers.is_valid_number(phonenumbers.parse(address)):
        raise BookingError("phone")
    return address


def find_by_address(
    session: Session, vault: Vault, practice: Practice, channel: str, address: str
) -> Patient | None:
    """The patient with this normalised address, through the blind index."""
    index = vault.address_index(practice.id, channel, address)
    return session.exec(
        select(Patient).where(Patient.practice_id == practice.id, Patient.address_index == index)
    ).first()


def caller(
    session: Session,
    vault: Vault,
    practice: Practice,
    phone: str,
    name: str,
    lang: str,
    now: datetime,
) -> tuple[Patient, bool]:
    """The patient with this phone number, created when unknown (True), with the name the
    caller gave (an earlier one is corrected)."""
    address = phone_address(practice, phone)
    clean = clean_name(name)
    patient = find_by_address(session, vault, practice, "sms", address)
    created = patient is None
    if patient is None:
        index = vault.address_index(practice.id, "sms", address)
        patient = Patient(
            practice_id=practice.id,
            channel="sms",
            address_index=index,
            address_enc=b"",
            lang=lang if lang in ("fr", "en") else practice.locale,
            created_at=now,
            last_contact_at=now,
        )
        patient.address_enc = vault.seal("patient", "address", patient.id, address)
    patient.name_enc = vault.seal("patient", "name", patient.id, clean)
    session.add(patient)
    session.flush()
    return patient, created


# ---------------------------------------------------------------- free slots


def _busy(session: Session, practice: Practice, practitioner_id: str) -> BusyLookup:
    def lookup(start: datetime, end: datetime) -> Iterable[Interval]:
        return busy_intervals(session, practice.id, practitioner_id, start, end)

    return lookup


def bookable(
    session: Session,
    practice: Practice,
    practitioner_id: str,
    type_id: str,
    start: datetime,
    now: datetime,
) -> bool:
    """Whether this slot is open and free now, by the rules of the slot search (hours,
    absences, closures, notice, horizon, appointments and blocks)."""
    duration = practice.ctype(type_id).duration_minutes
    lookup = _busy(session, practice, practitioner_id)
    return is_free(practice, practitioner_id, start, duration, now=now, busy=lookup)


def _check_type(practice: Practice, practitioner_id: str, type_id: str) -> int:
    """The type's duration; BookingError('type') if the practitioner does not do it."""
    try:
        ctype = practice.ctype(type_id)
        practice.practitioner(practitioner_id)
    except KeyError:
        raise BookingError("type") from None
    if practitioner_id not in ctype.practitioners:
        raise BookingError("type")
    return ctype.duration_minutes


# ---------------------------------------------------------------- book, cancel, move


def book_for(
    session: Session,
    assistant: Assistant,
    practice: Practice,
    patient: Patient,
    practitioner_id: str,
    type_id: str,
    start: datetime,
    now: datetime,
    prep_answer: str | None = None,
) -> Appointment:
    """Book a slot for a patient at the practice's request; BookingError('slot') when it is
    not bookable (any more)."""
    minutes = _check_type(practice, practitioner_id, type_id)
    if not bookable(session, practice, practitioner_id, type_id, start, now):
        raise BookingError("slot")
    effect = Book(practitioner_id, type_id, start, start + timedelta(minutes=minutes), prep_answer)
    try:
        appt_id = assistant.book(session, patient, effect, now)
    except SlotTaken:
        raise BookingError("slot") from None
    appt = session.get(Appointment, appt_id)
    assert appt is not None  # inserted in this transaction
    return appt


def _upcoming(
    session: Session,
    practice: Practice,
    appointment_id: str,
    now: datetime,
    practitioner_id: str | None,
) -> Appointment | None:
    """The appointment if it is booked, still to come, and that practitioner's if given."""
    appt = session.get(Appointment, appointment_id)
    if appt is None or appt.practice_id != practice.id or appt.status != "booked":
        return None
    if practitioner_id is not None and appt.practitioner_id != practitioner_id:
        return None
    return appt if appt.start > now else None


def cancel_by_practice(
    session: Session,
    assistant: Assistant,
    practice: Practice,
    appointment_id: str,
    now: datetime,
    by: str,
    practitioner_id: str | None = None,
) -> Appointment | None:
    """Cancel an upcoming booked appointment (of that practitioner when given); its
    preparation answer goes at once. None when it is gone, past or someone else's."""
    appt = _upcoming(session, practice, appointment_id, now, practitioner_id)
    if appt is None:
        return None
    done = assistant.cancel(session, None, appt.id, now, by=by)
    if done is not None:
        done.prep_enc = None
        session.add(done)
    return done


def move_by_practice(
    session: Session,
    assistant: Assistant,
    vault: Vault,
    practice: Practice,
    appointment_id: str,
    start: datetime,
    now: datetime,
    by: str,
    practitioner_id: str | None = None,
) -> Moved:
    """Move an upcoming appointment to another slot of the same practitioner and type;
    BookingError('gone') or ('slot'); nothing changes unless both steps succeed."""
    old = _upcoming(session, practice, appointment_id, now, practitioner_id)
    if old is None or old.patient_id is None:
        raise BookingError("gone")
    patient = session.get(Patient, old.patient_id)
    if patient is None:
        raise BookingError("gone")
    prep = None
    if old.prep_enc is not None:
        try:
            prep = vault.open("appointment", "prep", old.id, old.prep_enc)
        except CryptoError:
            prep = None  # an unreadable answer is not carried over
    assistant.cancel(session, None, old.id, now, by=by)
    old.prep_enc = None
    session.add(old)
    new = book_for(
        session, assistant, practice, patient, old.practitioner_id, old.type_id, start, now, prep
    )
    return Moved(old, new)


# ---------------------------------------------------------------- telling the patient


def reachable(session: Session, patient_id: str | None) -> Patient | None:
    """The patient, if messages of the service may reach them (SMS or Telegram, not opted
    out, not known unreachable)."""
    patient = session.get(Patient, patient_id) if patient_id else None
    if patient is None or patient.opted_out or patient.unreachable:
        return None
    return patient if patient.channel in ("sms", "telegram") else None


def tell(session: Session, vault: Vault, patient: Patient, text: str, now: datetime) -> bool:
    """Queue a discreet notice to the patient, held outside quiet hours; False when their
    address cell does not open (the change itself stands)."""
    return notify_patient(session, vault, patient, text, kind="notice", now=now) is not None

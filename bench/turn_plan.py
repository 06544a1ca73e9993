"""What the turn-cost benchmark sends: its practice, its patients and their signed messages.

The practice has one consultation type per practitioner and is open every day from 07:00
to 21:00 in 10-minute slots, so over a hundred thousand distinct slots exist within its
horizon (a machine running 2,000 turns a second books tens of thousands in one run).
Each patient asks in words for one precise free slot ("le 14/12 à partir de 9h20"),
which the dialog then offers first: patients who confirm book distinct slots, and every
confirmation really books.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator

from bench import wrk
from bench.sms_webhook import ACCOUNT_SID, AUTH_TOKEN, PATH, PUBLIC

PRACTICE_NUMBER = "+33700000099"
TIMEZONE = ZoneInfo("Europe/Paris")
OPEN, CLOSE, STEP = time(7, 0), time(21, 0), 10  # every day, minutes per slot
HORIZON_DAYS = 120
NAMES = (
    "Roux",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
)
PATIENT_NAME = "Camille Banc"

HEADER = f"""
[practice]
name = "Cabinet du Banc d'Essai"
timezone = "{TIMEZONE.key}"
locale = "fr"
controller = "Dr Anne Roux, 3 rue des Lilas, 69003 Lyon"
contact = "cabinet@example.org"
privacy_notice_url = "https://example.org/confidentialite"
notice_version = "bench-1"
legal_basis = "public_interest"
retention_days = 30
min_notice_hours = 1
horizon_days = {HORIZON_DAYS}
cancel_cutoff_hours = 1
reminder_hours_before = 0
quiet_hours = "21:00-07:00"
"""
PRACTITIONER = """
[[practitioners]]
id = "{id}"
name = "Dr {name}"
summary_time = "07:30"
{hours}
"""
TYPE = """
[[consultation_types]]
id = "c{id}"
label = {{ fr = "{name}", en = "{name}" }}
duration_minutes = {step}
practitioners = ["{id}"]
requires_preparation = false
"""


def practice_toml() -> str:
    """The bench practice: one type per practitioner, each open every day."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours = "\n".join(f'hours.{d} = ["{OPEN:%H:%M}-{CLOSE:%H:%M}"]' for d in days)
    parts = [HEADER]
    for name in NAMES:
        parts.append(PRACTITIONER.format(id=name.lower(), name=name, hours=hours))
    for name in NAMES:
        parts.append(TYPE.format(id=name.lower(), name=name, step=STEP))
    return "".join(parts)


def bench_environment(base: dict[str, str], tmp: Path) -> dict[str, str]:
    """Créneau's settings from `bench.sms_webhook.environment`, on the bench practice."""
    practice = tmp / "turn-practice.toml"
    practice.write_text(practice_toml(), encoding="utf-8")
    return {**base, "CRENEAU_PRACTICE": str(practice)}


@dataclass(frozen=True)
class Patient:
    """One patient and the slot they will ask for (practice-local date and time)."""

    number: str
    type_no: int  # the type's number in the dialog's list (1-based, file order)
    practitioner: str
    day: date
    at: time

    @property
    def first_message(self) -> str:
        """How the patient opens: a precise day and time, in words."""
        when = f"{self.at.hour}h{self.at.minute:02d}"
        return f"Bonjour, je voudrais un rdv le {self.day.day}/{self.day.month} à partir de {when}"

    @property
    def start_utc(self) -> datetime:
        """The asked slot as a naive UTC datetime, as the store keeps it."""
        local = datetime.combine(self.day, self.at, TIMEZONE)
        return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def slots(now: datetime | None = None) -> Iterator[tuple[int, str, date, time]]:
    """Every bookable slot from tomorrow until three days before the horizon, as
    (type number, practitioner id, day, time), one day and time across all practitioners
    before the next, so neighbouring patients spread over every practitioner."""
    today = (now or datetime.now(TIMEZONE)).astimezone(TIMEZONE).date()
    per_day = (CLOSE.hour * 60 + CLOSE.minute - OPEN.hour * 60 - OPEN.minute) // STEP
    for offset in range(1, HORIZON_DAYS - 2):
        day = today + timedelta(days=offset)
        for n in range(per_day):
            minutes = OPEN.hour * 60 + OPEN.minute + n * STEP
            at = time(minutes // 60, minutes % 60)
            for type_no, name in enumerate(NAMES, start=1):
                yield type_no, name.lower(), day, at


class Patients:
    """Distinct numbers and distinct slots, handed out in order."""

    def __init__(self, first_number: int = 1) -> None:
        self._slots = slots()
        self._number = first_number

    def take(self, count: int) -> list[Patient]:
        """`count` new patients, each with a slot no other patient has."""
        out = []
        for _ in range(count):
            try:
                type_no, practitioner, day, at = next(self._slots)
            except StopIteration:
                raise SystemExit(
                    "the bench practice ran out of distinct slots: use fewer --seconds"
                ) from None
            out.append(Patient(f"+336{self._number:08d}", type_no, practitioner, day, at))
            self._number += 1
        return out


def form(number: str, body: str) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS (a fresh MessageSid)."""
    sid = "SM" + secrets.token_hex(16)
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "To": PRACTICE_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


class Signer:
    """Signs webhook requests as Twilio does for the bench's public URL."""

    def __init__(self) -> None:
        self.validator = RequestValidator(AUTH_TOKEN)

    def __call__(self, number: str, body: str) -> tuple[str, str]:
        return wrk.signed(self.validator, PUBLIC + PATH, form(number, body))

    def headers(self, fields: dict[str, str]) -> dict[str, str]:
        """The signature header of a form, for in-process clients."""
        return {"X-Twilio-Signature": self.validator.compute_signature(PUBLIC + PATH, fields)}


def strangers(count: int, start: int) -> list[tuple[str, str]]:
    """`count` signed "Bonjour" from numbers never seen (first contacts); `start` above
    the patients' numbers (50,000,000 and up: theirs count from 1)."""
    sign = Signer()
    return [sign(f"+336{n:08d}", "Bonjour") for n in range(start, start + count)]

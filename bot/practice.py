"""The practice description (the practice file, see practice.example.toml) as frozen value objects.

Loaded and validated from TOML by `bot.practice_file`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("fr", "en")
DETAIL_LEVELS = ("full", "initials", "count")
SUMMARY_DAYS = ("today", "tomorrow")
# The one Art. 6 basis the notices state (always with Art. 9(2)(h) for health data).
LEGAL_BASES = {
    "contract": "6(1)(b)",
    "public_interest": "6(1)(e)",
    "legitimate_interest": "6(1)(f)",
}
# How every text (short notice, INFO, register, kit) names the basis: one wording each.
LEGAL_BASIS_TEXT = {
    "fr": {
        "contract": "contrat de soins, RGPD 6.1.b, 9.2.h",
        "public_interest": "intérêt public, RGPD 6.1.e, 9.2.h",
        "legitimate_interest": "intérêt légitime, RGPD 6.1.f, 9.2.h",
        "": "à préciser par le cabinet, RGPD 9.2.h",
    },
    "en": {
        "contract": "care contract, GDPR 6(1)(b), 9(2)(h)",
        "public_interest": "public interest, GDPR 6(1)(e), 9(2)(h)",
        "legitimate_interest": "legitimate interest, GDPR 6(1)(f), 9(2)(h)",
        "": "to be stated by the practice, GDPR 9(2)(h)",
    },
}
MAX_RETENTION_DAYS = 365  # booking data is not the patient record: a year at most


@dataclass(frozen=True)
class Period:
    """A daily opening period [start, end) in local time."""

    start: time
    end: time


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of whole local days (a closure or an absence)."""

    start: date
    end: date

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Practitioner:
    id: str
    name: str
    hours: dict[int, tuple[Period, ...]]  # weekday (0 = Monday) -> sorted, non-overlapping periods
    absences: tuple[DateRange, ...] = ()
    summary_time: time = time(7, 30)
    summary_day: str = "today"
    summary_detail: str = "initials"
    summary_telegram_chat_id: int = 0
    summary_phone: str = ""


@dataclass(frozen=True)
class ConsultationType:
    id: str
    label: dict[str, str]  # language -> label
    duration_minutes: int
    practitioners: tuple[str, ...]
    requires_preparation: bool = False
    preparation_question: dict[str, str] | None = None
    preparation: dict[str, str] | None = None

    def label_for(self, lang: str) -> str:
        """The label in lang, else in any language the file gives."""
        return self.label.get(lang) or next(iter(self.label.values()))


@dataclass(frozen=True)
class Operator:
    """Who runs the service for the practice (the processor, Art. 28): named in the register."""

    name: str = ""
    address: str = ""
    contact: str = ""
    dpo: str = ""
    host: str = ""  # the certified health-data host (HDS) running it, and where


@dataclass(frozen=True)
class Practice:
    name: str
    timezone: str
    locale: str
    controller: str
    contact: str
    privacy_notice_url: str
    practitioners: tuple[Practitioner, ...]
    consultation_types: tuple[ConsultationType, ...]
    id: str = "default"
    dpo: str = ""
    address: str = ""
    notice_version: str = "1"
    retention_days: int = 30
    min_notice_hours: int = 2
    horizon_days: int = 60
    cancel_cutoff_hours: int = 2
    reminder_hours_before: int = 24
    quiet_hours: Period | None = None
    closed: tuple[DateRange, ...] = ()
    phone_region: str = "FR"
    audit_retention_days: int = 365
    phone: str = ""  # E.164; offered to patients after two misunderstandings
    legal_basis: str = ""  # a key of LEGAL_BASES; "" only in development
    operator: Operator = field(default_factory=Operator)
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _by_id(self) -> tuple[dict[str, Practitioner], dict[str, ConsultationType]]:
        """Practitioners and types by id (a turn looks them up a dozen times)."""
        return (
            {p.id: p for p in self.practitioners},
            {t.id: t for t in self.consultation_types},
        )

    def practitioner(self, pid: str) -> Practitioner:
        """The practitioner with this id (KeyError for an unknown one)."""
        return self._by_id[0][pid]

    def ctype(self, tid: str) -> ConsultationType:
        """The consultation type with this id (KeyError for an unknown one)."""
        return self._by_id[1][tid]

    def is_closed(self, day: date) -> bool:
        return any(day in r for r in self.closed)

    @property
    def legal_article(self) -> str:
        """'6(1)(e)' for the chosen basis, '' when the file does not choose one."""
        return LEGAL_BASES.get(self.legal_basis, "")

    def legal_basis_text(self, lang: str) -> str:
        """The basis as every notice prints it, in lang (the same words everywhere)."""
        texts = LEGAL_BASIS_TEXT.get(lang, LEGAL_BASIS_TEXT["en"])
        return texts.get(self.legal_basis, texts[""])

"""Parse the free text a patient types when asked which day (and time) would suit them.

Pure: no I/O, stdlib only. French and English are both understood whatever ``lang`` is,
except where a word is ambiguous (``mon`` is "my" in French, so it is a Monday only outside
French). Numeric dates are always read day first (``7/12`` is 7 December).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Literal

Part = Literal["morning", "afternoon", "evening"]

__all__ = ["Part", "When", "parse_when"]


@dataclass(frozen=True)
class When:
    """What the patient asked for; ``day`` None means the earliest day."""

    day: date | None
    at: time | None
    part: Part | None


_MONTHS: dict[str, int] = {
    # French (accents are stripped before matching).
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4,
    "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9,
    "octobre": 10, "novembre": 11, "decembre": 12,
    # English.
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip

_WEEKDAYS: dict[str, int] = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5,
    "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip

_NUMBER_WORDS: dict[str, int] = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "dix": 10, "quinze": 15,
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7,
    "eight": 8, "ten": 10,
}  # fmt: skip


def _alt(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first so prefixes never win."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_F = re.ASCII
_MONTH = _alt(_MONTHS)
_WEEKDAY = _alt(_WEEKDAYS)
_NUMWORD = _alt(_NUMBER_WORDS)
_ORD = r"(?:st|nd|rd|th|er|eme|e)"
_NOT_BEFORE = r"(?<![\d/:\-.])"

_RX_AMPM = re.compile(_NOT_BEFORE + r"(\d{1,2})(?:[:.h](\d{2}))?\s*([ap])\.?\s?m\b\.?", _F)
_RX_HOUR_H = re.compile(_NOT_BEFORE + r"(\d{1,2})\s*h(?:eures?)?(?:\s*(\d{2}))?(?![a-z\d/\-])", _F)
_RX_COLON = re.compile(_NOT_BEFORE + r"(\d{1,2}):(\d{2})(?![\d:/])", _F)
_RX_AT_HOUR = re.compile(
    r"(?:\b(?:a|at|vers|around)\s+|@\s*)(\d{1,2})\b(?![/:\-]|\s*(?:" + _ORD + r"|jours?|days?)\b)",
    _F,
)
_RX_NOON = re.compile(r"\b(?:midi|noon)\b", _F)
_RX_DURATION_BEFORE = re.compile(r"\b(?:dans|in|sous|within)\s*$", _F)

_RX_PART = re.compile(
    r"(?:\b(?P<this>ce|cet|cette|this)\s+)?\b(?:"
    r"(?P<morning>matinee|matin|morning)"
    r"|(?P<afternoon>apres[\s\-]*midi|aprem|aprm|afternoon)"
    r"|(?P<evening>soiree|soir|evening)"
    r"|(?P<tonight>tonight|tonite)"
    r")\b",
    _F,
)

_RX_ISO = re.compile(r"(?<![\d/:\-.])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/:\-])", _F)
_RX_NUMERIC = re.compile(
    _NOT_BEFORE + r"(\d{1,2})[/\-](\d{1,2})(?:[/\-](\d{4}|\d{2}))?(?![\d/:\-])", _F
)
_RX_DAY_MONTH = re.compile(
    _NOT_BEFORE
    + r"(\d{1,2})\s*"
    + _ORD
    + r"?\s*(?:(?:de|of)\s+)?("
    + _MONTH
    + r")(?![a-z])\.?(?:\s+(\d{4})\b)?",
    _F,
)
_RX_MONTH_DAY = re.compile(
    r"\b("
    + _MONTH
    + r")\.?\s*(?:the\s+)?(\d{1,2})"
    + _ORD
    + r"?(?![a-z\d/:\-])(?:,?\s+(\d{4})\b)?",
    _F,
)
_RX_ORDINAL = re.compile(
    r"(?:\b(?:le|the)\s+|\b(?:" + _WEEKDAY + r")\s+)(\d{1,2})" + _ORD + r"?(?![a-z\d/:\-])"
    r"|" + _NOT_BEFORE + r"\b(\d{1,2})(?:st|nd|rd|th|er|eme)(?![a-z\d])",
    _F,
)

_RX_RELATIVE = re.compile(
    r"\b(?:"
    r"(?P<d2>apres[\s\-]*demain|apres[\s\-]*dem|day\s+after\s+tomorrow)"
    r"|(?P<d1>demain|dmain|2main|tomorrow|tomorow|tommorow|tommorrow|tmrw|tmr|2moro|2morrow)"
    r"|(?P<d0>aujourd\s*'?\s*hui|auj|ajd|today|tonight|tonite)"
    r"|(?:dans|in)\s+(?P<n>\d{1,3}|" + _NUMWORD + r")\s*"
    r"(?:(?P<days>jours?|j|days?)|(?P<weeks>semaines?|sem|weeks?|wks?))"
    r")\b",
    _F,
)
_RX_NEXT_WEEK = re.compile(
    r"\b(?:(?:semaine|sem)\s+pro(?:chaine)?|next\s+week|(?:semaine|sem)\s+d\s*'?\s*apres)\b", _F
)
_RX_WEEKDAY = re.compile(r"\b(" + _WEEKDAY + r")\b", _F)


class _Text:
    """Normalised text whose matched spans are blanked so later patterns cannot reuse them."""

    def __init__(self, raw: str) -> None:
        self.s = _normalise(raw)

    def take(self, rx: re.Pattern[str]) -> list[re.Match[str]]:
        """All matches of ``rx``, in text order; their spans are then blanked."""
        found = list(rx.finditer(self.s))
        for m in found:
            self.blank(m.start(), m.end())
        return found

    def blank(self, start: int, end: int) -> None:
        """Replace ``[start, end)`` by spaces, keeping offsets stable."""
        self.s = self.s[:start] + " " * (end - start) + self.s[end:]


def _normalise(raw: str) -> str:
    """Lowercase, strip accents, unify apostrophes."""
    for quote in "’‘`´ʼ":
        raw = raw.replace(quote, "'")
    decomposed = unicodedata.normalize("NFKD", raw)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.lower()


# --- times -----------------------------------------------------------------------------------


def _clock(hour: int, minute: int) -> time | None:
    """A valid time of day, or None."""
    return time(hour, minute) if 0 <= hour <= 23 and 0 <= minute <= 59 else None


def _ampm(m: re.Match[str]) -> time | None:
    """``2pm``, ``2:30 pm``, ``12am``."""
    hour, minute = int(m[1]), int(m[2] or 0)
    if not 0 <= hour <= 12:
        return None
    hour %= 12
    if m[3] == "p":
        hour += 12
    return _clock(hour, minute)


def _is_duration(text: _Text, m: re.Match[str]) -> bool:
    """True for ``dans 2h`` / ``in 2 h``: a delay, not a time of day."""
    return _RX_DURATION_BEFORE.search(text.s, 0, m.start()) is not None


def _find_time(text: _Text) -> time | None:
    """The first requested time of day; unreadable times are consumed and ignored."""
    found: list[tuple[int, time | None]] = []
    found += [(m.start(), _ampm(m)) for m in text.take(_RX_AMPM)]
    for m in text.take(_RX_HOUR_H):
        if not _is_duration(text, m):
            found.append((m.start(), _clock(int(m[1]), int(m[2] or 0))))
    found += [(m.start(), _clock(int(m[1]), int(m[2]))) for m in text.take(_RX_COLON)]
    return next((t for _, t in sorted(found, key=lambda f: f[0]) if t is not None), None)


def _find_loose_time(text: _Text) -> time | None:
    """``at 9`` / ``à 9`` / ``midi``: read after dates so ``at 7 december`` stays a date."""
    for m in text.take(_RX_AT_HOUR):
        if (t := _clock(int(m[1]), 0)) is not None:
            return t
    return time(12, 0) if text.take(_RX_NOON) else None


# --- parts of day ----------------------------------------------------------------------------


def _find_part(text: _Text) -> tuple[Part | None, bool]:
    """The first part of day, and whether it was said of today (``ce soir``, ``tonight``)."""
    for m in text.take(_RX_PART):
        if m["tonight"]:
            return "evening", True
        part: Part = "morning" if m["morning"] else "afternoon" if m["afternoon"] else "evening"
        return part, m["this"] is not None
    return None, False


# --- days ------------------------------------------------------------------------------------


class _Invalid(Exception):
    """An explicit date that does not exist (``31/02``)."""


def _make_date(year: int, month: int, day: int) -> date:
    """``date(...)``, raising ``_Invalid`` instead of ``ValueError``."""
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise _Invalid from exc


def _yearless(month: int, day: int, today: date) -> date:
    """This year's ``day/month``, or next year's when it has passed."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _Invalid


def _with_year(month: int, day: int, year: str | None, today: date) -> date:
    """A date from its parts; a two-digit year is in this century."""
    if year is None:
        return _yearless(month, day, today)
    y = int(year)
    return _make_date(y + 2000 if y < 100 else y, month, day)


def _day_of_month(day: int, today: date) -> date:
    """``le 7``: this month's 7th, or the next month that has one if it has passed."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise _Invalid


def _explicit_date(text: _Text, today: date) -> date | None:
    """A date naming its month (numeric or in words); raises ``_Invalid`` if it cannot exist."""
    hits: list[tuple[int, date | None]] = []
    for m in text.take(_RX_ISO):
        hits.append((m.start(), _safe(_make_date, int(m[1]), int(m[2]), int(m[3]))))
    for m in text.take(_RX_DAY_MONTH):
        hits.append((m.start(), _safe(_with_year, _MONTHS[m[2]], int(m[1]), m[3], today)))
    for m in text.take(_RX_MONTH_DAY):
        hits.append((m.start(), _safe(_with_year, _MONTHS[m[1]], int(m[2]), m[3], today)))
    for m in text.take(_RX_NUMERIC):
        hits.append((m.start(), _safe(_with_year, int(m[2]), int(m[1]), m[3], today)))
    return _first_or_invalid(hits)


def _ordinal_date(text: _Text, today: date) -> date | None:
    """``le 7``, ``the 7th``, ``mardi 8``: a day of this month or the next."""
    hits: list[tuple[int, date | None]] = []
    for m in _RX_ORDINAL.finditer(text.s):
        group = 1 if m[1] else 2
        text.blank(*m.span(group))
        hits.append((m.start(group), _safe(_day_of_month, int(m[group]), today)))
    return _first_or_invalid(hits)


def _safe(build: Callable[..., date], *args: object) -> date | None:
    """``build(*args)``, or None when that date does not exist."""
    try:
        return build(*args)
    except _Invalid:
        return None


def _first_or_invalid(hits: list[tuple[int, date | None]]) -> date | None:
    """The first hit in text order; ``_Invalid`` if that one could not be built."""
    if not hits:
        return None
    first = min(hits, key=lambda h: h[0])[1]
    if first is None:
        raise _Invalid
    return first


def _next_weekday(weekday: int, today: date) -> date:
    """The next such weekday, today excluded."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _relative_date(text: _Text, today: date) -> date | None:
    """``demain``, ``today``, ``dans 3 jours``, ``in 2 weeks``."""
    for m in text.take(_RX_RELATIVE):
        if m["d2"]:
            return today + timedelta(days=2)
        if m["d1"]:
            return today + timedelta(days=1)
        if m["d0"]:
            return today
        n = int(m["n"]) if m["n"].isdigit() else _NUMBER_WORDS[m["n"]]
        return today + timedelta(days=n * (7 if m["weeks"] else 1))
    return None


def _weekday_date(text: _Text, today: date, lang: str) -> date | None:
    """``mardi``, ``next tue``; with ``semaine prochaine`` alone, next Monday."""
    next_week = bool(text.take(_RX_NEXT_WEEK))
    monday = _next_weekday(0, today)
    for m in text.take(_RX_WEEKDAY):
        if m[1] == "mon" and lang.lower().startswith("fr"):
            continue  # "mon rendez-vous": a possessive, not Monday.
        weekday = _WEEKDAYS[m[1]]
        return monday + timedelta(days=weekday) if next_week else _next_weekday(weekday, today)
    return monday if next_week else None


def _find_day(text: _Text, today: date, lang: str) -> date | None:
    """The requested day, most explicit form first; None if absent or invalid."""
    try:
        return (
            _explicit_date(text, today)
            or _ordinal_date(text, today)
            or _relative_date(text, today)
            or _weekday_date(text, today, lang)
        )
    except (_Invalid, OverflowError):  # OverflowError: near date.max
        return None


# --- entry point -----------------------------------------------------------------------------


def parse_when(text: str, lang: str, today: date) -> When | None:
    """What the patient asked for; None when the text holds no day, time or part of day."""
    t = _Text(text)
    at = _find_time(t)
    part, said_of_today = _find_part(t)
    day = _find_day(t, today, lang)
    if at is None:
        at = _find_loose_time(t)
    if day is None and said_of_today:
        day = today
    if day is None and at is None and part is None:
        return None
    return When(day=day, at=at, part=part)

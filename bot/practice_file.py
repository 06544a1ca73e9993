"""Loading and validating the practice TOML file: every problem names the field and the fix."""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from bot.practice import (
    DETAIL_LEVELS,
    LANGUAGES,
    LEGAL_BASES,
    MAX_RETENTION_DAYS,
    SUMMARY_DAYS,
    WEEKDAYS,
    ConsultationType,
    DateRange,
    Operator,
    Period,
    Practice,
    Practitioner,
)

ID_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
HHMM_RE = re.compile(r"^(\d{2}):(\d{2})$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REGION_RE = re.compile(r"^[A-Z]{2}$")
REGION_ALIASES = {"UK": "GB", "EN": "GB", "FX": "FR"}  # common mistakes, with the right code
MIN_DURATION, MAX_DURATION = 5, 480

TOP_KEYS = ("practice", "practitioners", "consultation_types", "operator")
OPERATOR_KEYS = ("name", "address", "contact", "dpo", "host")
PRACTICE_REQUIRED = (
    "name",
    "timezone",
    "locale",
    "controller",
    "contact",
    "privacy_notice_url",
)
PRACTICE_OPTIONAL = (
    "id",
    "dpo",
    "address",
    "notice_version",
    "retention_days",
    "min_notice_hours",
    "horizon_days",
    "cancel_cutoff_hours",
    "reminder_hours_before",
    "quiet_hours",
    "closed",
    "phone_region",
    "audit_retention_days",
    "phone",
    "legal_basis",
)
# key -> smallest accepted value
PRACTICE_INTS = {
    "retention_days": 1,
    "min_notice_hours": 0,
    "horizon_days": 1,
    "cancel_cutoff_hours": 0,
    "reminder_hours_before": 0,
    "audit_retention_days": 1,
}
PRACTITIONER_KEYS = (
    "id",
    "name",
    "hours",
    "absences",
    "summary_time",
    "summary_day",
    "summary_detail",
    "summary_telegram_chat_id",
    "summary_phone",
)
TYPE_KEYS = (
    "id",
    "label",
    "duration_minutes",
    "practitioners",
    "requires_preparation",
    "preparation_question",
    "preparation",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a practice file: where, what, and how to fix it."""

    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} -> {self.fix}"


class PracticeError(Exception):
    """Every problem found in a practice file, reported at once so it can be fixed in one go."""

    def __init__(self, problems: list[Problem], source: str = "<practice>") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class _Problems:
    """Collects problems while the whole file is checked."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: str, message: str, fix: str) -> None:
        self.items.append(Problem(where, message, fix))


def bundled_example() -> Path:
    """Path of the commented example practice file shipped at the project root."""
    return Path(__file__).resolve().parent.parent / "practice.example.toml"


def load_practice(path: str | os.PathLike[str]) -> Practice:
    """Read, parse and validate a practice TOML file; raise PracticeError on any problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem("file", f"cannot read {source}: {exc}", "check the path and permissions")
        raise PracticeError([problem], source) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PracticeError([_syntax_problem(exc, source)], source) from exc
    return parse_practice(data, source)


def _syntax_problem(exc: tomllib.TOMLDecodeError, source: str) -> Problem:
    """Turn a TOML syntax error into a Problem naming the line."""
    found = re.search(r"at line (\d+)", str(exc))
    line = found.group(1) if found else "?"
    return Problem(
        f"line {line}",
        f"TOML syntax error: {exc}",
        f"fix the TOML syntax on line {line} of {source} (quote strings, one key = value a line)",
    )


def parse_practice(data: dict[str, Any], source: str = "<practice>") -> Practice:
    """Validate parsed TOML data and build a Practice.

    Every problem is collected first, then raised together as one PracticeError.
    """
    out = _Problems()
    if not isinstance(data, dict):
        out.add("<root>", "the practice data is not a table", "give [practice] and array tables")
        raise PracticeError(out.items, source)
    _unknown_keys(out, "", data, TOP_KEYS)
    section = _table(out, "practice", data.get("practice"), required=True)
    fields = _practice_fields(out, section)
    fields["operator"] = _operator(out, data.get("operator"))
    locale = fields.get("locale") if fields.get("locale") in LANGUAGES else None
    practitioners = _practitioners(out, data.get("practitioners"))
    types = _consultation_types(out, data.get("consultation_types"), practitioners, locale)
    if out.items:
        raise PracticeError(out.items, source)
    return Practice(
        practitioners=tuple(practitioners.values()),
        consultation_types=tuple(types),
        **fields,
    )


# ---- generic checks --------------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _unknown_keys(out: _Problems, prefix: str, table: dict[str, Any], known: Sequence[str]) -> None:
    """Report keys that are not in known, suggesting the closest known name."""
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"remove it (known: {', '.join(known)})"
        out.add(_join(prefix, str(key)), "unknown key", fix)


def _table(out: _Problems, where: str, value: Any, required: bool) -> dict[str, Any]:
    """The value as a table, or an empty one after reporting why."""
    if value is None:
        if required:
            out.add(where, "missing", f"add a [{where}] table")
        return {}
    if not isinstance(value, dict):
        header = f"[[{where.split('[')[0]}]]" if "[" in where else f"[{where}]"
        out.add(where, f"must be a table, got {_kind(value)}", f"write it as a {header} table")
        return {}
    return value


def _kind(value: Any) -> str:
    """A user-facing name for a TOML value's type."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _string(
    out: _Problems, where: str, value: Any, required: bool = False, default: str = ""
) -> str:
    """A string value; required ones must be non-empty."""
    if value is None:
        if required:
            out.add(where, "missing", f'add {where.rsplit(".", 1)[-1]} = "..."')
        return default
    if not isinstance(value, str):
        out.add(where, f"must be a string, got {_kind(value)}", 'put the value in quotes: "..."')
        return default
    if required and not value.strip():
        out.add(where, "must not be empty", "fill it in")
    return value


def _int(out: _Problems, where: str, value: Any, minimum: int, default: int) -> int:
    """An integer at least minimum (booleans are not integers here)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        out.add(
            where, f"must be an integer, got {_kind(value)}", f"write a whole number >= {minimum}"
        )
        return default
    if value < minimum:
        out.add(where, f"must be >= {minimum}, got {value}", f"use a value of at least {minimum}")
        return default
    return value


def _id(out: _Problems, where: str, value: Any, default: str = "") -> str:
    """An identifier matching ID_RE."""
    if value is None:
        out.add(where, "missing", 'add id = "..." (lowercase letters, digits, _ or -)')
        return default
    if not isinstance(value, str) or not ID_RE.match(value):
        out.add(
            where,
            f"invalid id {value!r}",
            "use 1 to 32 lowercase letters, digits, '_' or '-' (e.g. \"roux\")",
        )
        return default
    return value


def _choice(out: _Problems, where: str, value: Any, options: Sequence[str], default: str) -> str:
    """A string from a closed list."""
    if value is None:
        return default
    if value not in options:
        wanted = " or ".join(f'"{o}"' for o in options)
        out.add(where, f"must be one of {', '.join(options)}, got {value!r}", f"use {wanted}")
        return default
    return str(value)


# ---- times and dates -------------------------------------------------------------------


def _parse_hhmm(text: str) -> time | None:
    """'HH:MM' (24-hour clock) as a time, or None."""
    found = HHMM_RE.match(text.strip())
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _time(out: _Problems, where: str, value: Any, default: time) -> time:
    """A local time written "HH:MM" (a TOML local time is accepted too)."""
    if value is None:
        return default
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    parsed = _parse_hhmm(value) if isinstance(value, str) else None
    if parsed is None:
        out.add(
            where, f"invalid time {value!r}", 'write it "HH:MM" on a 24-hour clock, e.g. "07:30"'
        )
        return default
    return parsed


def _period_text(out: _Problems, where: str, value: Any, example: str) -> tuple[time, time] | None:
    """Parse "HH:MM-HH:MM" into (start, end) without ordering checks."""
    parts = value.split("-") if isinstance(value, str) else []
    times = [_parse_hhmm(p) for p in parts]
    if len(times) != 2 or times[0] is None or times[1] is None:
        out.add(where, f"invalid period {value!r}", f'write it "HH:MM-HH:MM", e.g. "{example}"')
        return None
    return times[0], times[1]


def _quiet_hours(out: _Problems, where: str, value: Any) -> Period | None:
    """The quiet window; it may cross midnight (start > end) and is stored as given."""
    if value is None or value == "":
        return None
    parsed = _period_text(out, where, value, "20:00-08:00")
    if parsed is None:
        return None
    if parsed[0] == parsed[1]:
        out.add(
            where, "start and end are equal", 'give a real window, e.g. "20:00-08:00", or remove it'
        )
        return None
    return Period(*parsed)


def _date(value: Any) -> date | None:
    """'YYYY-MM-DD' (or a TOML date) as a date, or None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not DATE_RE.match(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _date_range(out: _Problems, where: str, value: Any) -> DateRange | None:
    """A day "YYYY-MM-DD" or an inclusive range "YYYY-MM-DD..YYYY-MM-DD"."""
    fix = 'write "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD", e.g. "2026-12-24..2026-12-31"'
    if isinstance(value, str) and ".." in value:
        start_text, _, end_text = value.partition("..")
        start, end = _date(start_text), _date(end_text)
    else:
        start = end = _date(value)
    if start is None or end is None:
        out.add(where, f"invalid date or date range {value!r}", fix)
        return None
    if start > end:
        out.add(where, f"range starts after it ends ({value!r})", "put the earlier date first")
        return None
    return DateRange(start, end)


def _date_ranges(out: _Problems, where: str, value: Any) -> tuple[DateRange, ...]:
    """An array of days or day ranges."""
    if value is None:
        return ()
    if not isinstance(value, list):
        out.add(where, f"must be an array, got {_kind(value)}", 'write ["2026-12-25", ...]')
        return ()
    ranges = (_date_range(out, f"{where}[{i}]", item) for i, item in enumerate(value))
    return tuple(r for r in ranges if r is not None)


# ---- [practice] ------------------------------------------------------------------------


def _practice_fields(out: _Problems, section: dict[str, Any]) -> dict[str, Any]:
    """Check the [practice] table; return the Practice keyword arguments it gives."""
    _unknown_keys(out, "practice", section, PRACTICE_REQUIRED + PRACTICE_OPTIONAL)
    where = functools.partial(_join, "practice")
    fields: dict[str, Any] = {
        key: _string(out, where(key), section.get(key), required=True) for key in PRACTICE_REQUIRED
    }
    _check_timezone(out, where("timezone"), fields["timezone"])
    if fields["locale"] and fields["locale"] not in LANGUAGES:
        out.add(where("locale"), f"unsupported locale {fields['locale']!r}", 'use "fr" or "en"')
    _check_notice_url(out, where("privacy_notice_url"), fields["privacy_notice_url"])
    fields["id"] = _id(out, where("id"), section.get("id", "default"), "default")
    for key in ("dpo", "address"):
        fields[key] = _string(out, where(key), section.get(key))
    fields["notice_version"] = _notice_version(out, where("notice_version"), section)
    for key, minimum in PRACTICE_INTS.items():
        default = Practice.__dataclass_fields__[key].default
        fields[key] = _int(out, where(key), section.get(key), minimum, default)  # type: ignore[arg-type]
    fields["quiet_hours"] = _quiet_hours(out, where("quiet_hours"), section.get("quiet_hours"))
    fields["closed"] = _date_ranges(out, where("closed"), section.get("closed"))
    fields["phone_region"] = _phone_region(out, where("phone_region"), section.get("phone_region"))
    _check_retention(out, where("retention_days"), fields["retention_days"])
    fields["phone"] = _phone(
        out, where("phone"), section.get("phone"), fields["phone_region"], "the practice's number"
    )
    fields["legal_basis"] = _legal_basis(out, where("legal_basis"), section.get("legal_basis"))
    return fields


def _check_retention(out: _Problems, where: str, days: int) -> None:
    """Booking data is deleted when no longer needed: at most MAX_RETENTION_DAYS."""
    if days > MAX_RETENTION_DAYS:
        out.add(
            where,
            f"{days} days is more than the maximum of {MAX_RETENTION_DAYS}",
            f"keep booking data {MAX_RETENTION_DAYS} days at most (the dates are in the "
            "patient record anyway); 30 is usual",
        )


def _legal_basis(out: _Problems, where: str, value: Any) -> str:
    """The one Art. 6 basis the notices state; "" (not chosen) is refused in production."""
    if value is None or value == "":
        return ""
    if value not in LEGAL_BASES:
        options = " or ".join(f'"{k}" (Art. {v})' for k, v in LEGAL_BASES.items())
        out.add(where, f"unknown legal basis {value!r}", f"use {options}")
        return ""
    return str(value)


def _operator(out: _Problems, value: Any) -> Operator:
    """The optional [operator] table: who runs the service for the practice (processor)."""
    table = _table(out, "operator", value, required=False)
    if not table:
        return Operator()
    _unknown_keys(out, "operator", table, OPERATOR_KEYS)
    texts = {k: _string(out, f"operator.{k}", table.get(k)) for k in OPERATOR_KEYS}
    if not texts["name"].strip():
        out.add("operator.name", "missing", 'add name = "..." (the company or person running it)')
    return Operator(**texts)


def _check_timezone(out: _Problems, where: str, name: str) -> None:
    """The time zone must be a known IANA name."""
    if not name:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        out.add(where, f"unknown time zone {name!r}", 'use an IANA name such as "Europe/Paris"')


def _check_notice_url(out: _Problems, where: str, url: str) -> None:
    """The privacy notice must be served over HTTPS (plain HTTP only for local tests)."""
    if not url:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    local = host in ("localhost", "127.0.0.1") or host.endswith(".example") or host == "example"
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host and local:
        return
    out.add(
        where,
        f"not an https:// address: {url!r}",
        'publish the notice over HTTPS, e.g. "https://example.org/confidentialite"',
    )


def _notice_version(out: _Problems, where: str, section: dict[str, Any]) -> str:
    """The notice version as a string; integers are accepted and converted."""
    value = section.get("notice_version")
    if value is None:
        return "1"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        out.add(where, f"must be a non-empty string, got {value!r}", 'write e.g. "2026-11"')
        return "1"
    return value


def _phone_region(out: _Problems, where: str, value: Any) -> str:
    """Default region for national phone numbers: a region libphonenumber knows (ISO 3166)."""
    if value is None:
        return "FR"
    known = phonenumbers.SUPPORTED_REGIONS
    if not isinstance(value, str) or not REGION_RE.match(value) or value not in known:
        alias = REGION_ALIASES.get(str(value).upper()) if isinstance(value, str) else None
        if alias is None and isinstance(value, str) and value.upper() in known:
            alias = value.upper()
        hint = f'did you mean "{alias}"? ' if alias else ""
        out.add(
            where,
            f"invalid region {value!r}",
            f'{hint}use a two-letter uppercase ISO 3166 country code, e.g. "FR"',
        )
        return "FR"
    return value


def _phone(out: _Problems, where: str, value: Any, region: str, what: str) -> str:
    """Empty, or a valid phone number (libphonenumber), returned in E.164 form."""
    if value is None or value == "":
        return ""
    fix = f'write {what} in E.164 form ("+" and the country code, e.g. "+33612345678") or ""'
    if not isinstance(value, str):
        out.add(where, f"must be a string, got {_kind(value)}", fix)
        return ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        out.add(where, f"invalid phone number {value!r}", fix)
        return ""
    if not value.strip().startswith("+"):
        out.add(where, f"{value!r} is not in international form", fix)
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ---- [[practitioners]] -----------------------------------------------------------------


def _array_of_tables(out: _Problems, where: str, value: Any, example: str) -> list[Any]:
    """A non-empty array of tables."""
    if value is None or value == []:
        out.add(where, "at least one is required", f"add a [[{where}]] table, e.g. {example}")
        return []
    if not isinstance(value, list):
        out.add(where, f"must be an array of tables, got {_kind(value)}", f"write [[{where}]]")
        return []
    return value


def _practitioners(out: _Problems, value: Any) -> dict[str, Practitioner]:
    """Check every practitioner; return them by id (first one wins on duplicates)."""
    items = _array_of_tables(out, "practitioners", value, 'id = "roux"')
    found: dict[str, Practitioner] = {}
    seen: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"practitioners[{index}]"
        table = _table(out, where, item, required=True)
        if not table:
            continue
        practitioner = _practitioner(out, where, table)
        pid = practitioner.id
        if pid and pid in seen:
            out.add(
                f"{where}.id",
                f"duplicate id {pid!r} (also {seen[pid]})",
                "give each practitioner its own id",
            )
        elif pid:
            seen[pid] = where
            found[pid] = practitioner
    return found


def _practitioner(out: _Problems, where: str, table: dict[str, Any]) -> Practitioner:
    """Check one [[practitioners]] table."""
    _unknown_keys(out, where, table, PRACTITIONER_KEYS)
    at = functools.partial(_join, where)
    chat_id = table.get("summary_telegram_chat_id", 0)
    if chat_id != 0 or isinstance(chat_id, bool):
        out.add(
            at("summary_telegram_chat_id"),
            f"a chat id typed by hand ({chat_id!r}) is refused: a summary goes only to a "
            "chat linked by the practitioner's one-time code",
            f"write 0 and run `creneau practitioner link {table.get('id') or 'ID'}`",
        )
        chat_id = 0
    return Practitioner(
        id=_id(out, at("id"), table.get("id")),
        name=_string(out, at("name"), table.get("name"), required=True),
        hours=_hours(out, at("hours"), table.get("hours")),
        absences=_date_ranges(out, at("absences"), table.get("absences")),
        summary_time=_time(out, at("summary_time"), table.get("summary_time"), time(7, 30)),
        summary_day=_choice(
            out, at("summary_day"), table.get("summary_day"), SUMMARY_DAYS, "today"
        ),
        summary_detail=_choice(
            out, at("summary_detail"), table.get("summary_detail"), DETAIL_LEVELS, "initials"
        ),
        summary_telegram_chat_id=chat_id,
        summary_phone=_phone(
            out, at("summary_phone"), table.get("summary_phone"), "FR", "the SMS summary number"
        ),
    )


def _hours(out: _Problems, where: str, value: Any) -> dict[int, tuple[Period, ...]]:
    """Weekly opening hours: hours.mon = ["08:30-12:00", ...]; at least one period overall."""
    fix_none = f'add opening hours, e.g. {where}.mon = ["08:30-12:00", "14:00-18:30"]'
    if value is None:
        out.add(where, "no opening hours", fix_none)
        return {}
    if not isinstance(value, dict):
        out.add(where, f"must be a table of weekdays, got {_kind(value)}", fix_none)
        return {}
    _unknown_keys(out, where, value, WEEKDAYS)
    hours: dict[int, tuple[Period, ...]] = {}
    valid_keys = 0
    for day_index, day in enumerate(WEEKDAYS):
        if day in value:
            valid_keys += 1
            periods = _day_periods(out, f"{where}.{day}", value[day])
            if periods:
                hours[day_index] = periods
    if not hours and valid_keys == len(value) and not _has_problem_under(out, where):
        out.add(where, "no opening hours", fix_none)
    return hours


def _has_problem_under(out: _Problems, where: str) -> bool:
    return any(p.field.startswith(where) for p in out.items)


def _day_periods(out: _Problems, where: str, value: Any) -> tuple[Period, ...]:
    """The opening periods of one weekday: each start < end, in order, not overlapping."""
    if not isinstance(value, list):
        out.add(
            where, f"must be an array, got {_kind(value)}", 'write ["08:30-12:00", "14:00-18:30"]'
        )
        return ()
    periods: list[tuple[int, Period]] = []
    for index, text in enumerate(value):
        at = f"{where}[{index}]"
        parsed = _period_text(out, at, text, "08:30-12:00")
        if parsed is None:
            continue
        if parsed[0] >= parsed[1]:
            out.add(
                at,
                f"period {text!r} does not end after it starts",
                'write the start before the end, within one day, e.g. "14:00-18:30"',
            )
            continue
        periods.append((index, Period(*parsed)))
    ok = _check_order(out, where, value, periods)
    return tuple(p for _, p in sorted(periods, key=lambda ip: ip[1].start)) if ok else ()


def _check_order(
    out: _Problems, where: str, texts: list[Any], periods: list[tuple[int, Period]]
) -> bool:
    """Report overlapping periods and periods listed out of order; True when all is well."""
    ok = True
    ordered = sorted(periods, key=lambda ip: (ip[1].start, ip[0]))
    for (i, a), (j, b) in itertools.pairwise(ordered):
        if b.start < a.end:
            first, second = sorted((i, j))
            out.add(
                f"{where}[{second}]",
                f"{texts[first]!r} ({where}[{first}]) and {texts[second]!r} "
                f"({where}[{second}]) overlap",
                "make the periods not overlap, or merge them into one",
            )
            ok = False
    if ok and [i for i, _ in ordered] != [i for i, _ in periods]:
        order = ", ".join(f'"{texts[i]}"' for i, _ in ordered)
        out.add(where, "periods are not in chronological order", f"list them in order: [{order}]")
        ok = False
    return ok


# ---- [[consultation_types]] ------------------------------------------------------------


def _consultation_types(
    out: _Problems, value: Any, practitioners: dict[str, Practitioner], locale: str | None
) -> list[ConsultationType]:
    """Check every consultation type against the practitioners it names."""
    items = _array_of_tables(out, "consultation_types", value, 'id = "consultation"')
    types: list[ConsultationType] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        named = isinstance(raw_id, str) and ID_RE.match(raw_id) and raw_id not in seen
        where = f"consultation_types[{raw_id if named else index}]"
        table = _table(out, where, item, required=True)
        if not table:
            continue
        ctype = _consultation_type(out, where, table, practitioners, locale)
        if ctype.id and ctype.id in seen:
            out.add(
                f"{where}.id",
                f"duplicate id {ctype.id!r} (also {seen[ctype.id]})",
                "give each consultation type its own id",
            )
        elif ctype.id:
            seen[ctype.id] = where
        types.append(ctype)
    return types


def _consultation_type(
    out: _Problems,
    where: str,
    table: dict[str, Any],
    practitioners: dict[str, Practitioner],
    locale: str | None,
) -> ConsultationType:
    """Check one [[consultation_types]] table."""
    _unknown_keys(out, where, table, TYPE_KEYS)
    at = functools.partial(_join, where)
    pids = _type_practitioners(out, at("practitioners"), table.get("practitioners"), practitioners)
    duration = _duration(out, at("duration_minutes"), table.get("duration_minutes"))
    if duration:
        _check_duration_fits(
            out, at("duration_minutes"), duration, [practitioners[p] for p in pids]
        )
    needs = table.get("requires_preparation", False)
    if not isinstance(needs, bool):
        out.add(
            at("requires_preparation"),
            f"must be true or false, got {needs!r}",
            "write requires_preparation = true or false",
        )
        needs = False
    question, preparation = _preparation(out, where, table, needs, locale)
    return ConsultationType(
        id=_id(out, at("id"), table.get("id")),
        label=_texts(out, at("label"), table.get("label"), locale, required=True) or {},
        duration_minutes=duration,
        practitioners=tuple(pids),
        requires_preparation=needs,
        preparation_question=question,
        preparation=preparation,
    )


def _duration(out: _Problems, where: str, value: Any) -> int:
    """Duration in minutes, MIN_DURATION..MAX_DURATION."""
    fix = f"use a whole number of minutes between {MIN_DURATION} and {MAX_DURATION}"
    if value is None:
        out.add(where, "missing", f"add duration_minutes = 20 ({fix})")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        out.add(where, f"must be an integer, got {_kind(value)}", fix)
        return 0
    if not MIN_DURATION <= value <= MAX_DURATION:
        out.add(where, f"{value} is out of range", fix)
        return 0
    return value


def _type_practitioners(
    out: _Problems, where: str, value: Any, practitioners: dict[str, Practitioner]
) -> list[str]:
    """Ids of the practitioners offering a type; all must be known."""
    known = ", ".join(practitioners) or "none"
    if not isinstance(value, list) or not value:
        out.add(
            where,
            "must be a non-empty array of practitioner ids",
            f'write practitioners = ["..."] (known ids: {known})',
        )
        return []
    pids: list[str] = []
    for index, pid in enumerate(value):
        if not isinstance(pid, str):
            out.add(
                f"{where}[{index}]",
                f"must be a string id, got {_kind(pid)}",
                f"use one of: {known}",
            )
        elif pid in practitioners and pid not in pids:
            pids.append(pid)
        elif pid in pids:
            out.add(f"{where}[{index}]", f"{pid!r} is listed twice", "list each practitioner once")
        else:
            close = difflib.get_close_matches(str(pid), list(practitioners), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            out.add(
                f"{where}[{index}]",
                f"unknown practitioner id {pid!r}",
                f"{hint}use the id of a [[practitioners]] entry (known ids: {known})",
            )
    return pids


def _check_duration_fits(
    out: _Problems, where: str, duration: int, practitioners: list[Practitioner]
) -> None:
    """A type longer than every opening period could never be booked."""
    longest = max(
        (_minutes(p) for pr in practitioners for day in pr.hours.values() for p in day), default=0
    )
    if practitioners and longest and duration > longest:
        out.add(
            where,
            f"{duration} minutes fits no opening period of its practitioners "
            f"(the longest lasts {longest} minutes)",
            "shorten the consultation or lengthen an opening period",
        )


def _minutes(period: Period) -> int:
    return (period.end.hour * 60 + period.end.minute) - (
        period.start.hour * 60 + period.start.minute
    )


def _preparation(
    out: _Problems, where: str, table: dict[str, Any], needs: bool, locale: str | None
) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """Preparation texts: required with requires_preparation, forbidden without it."""
    at = functools.partial(_join, where)
    if not needs:
        for key in ("preparation_question", "preparation"):
            if key in table:
                out.add(
                    at(key),
                    "only allowed when requires_preparation = true",
                    "remove it: the reason for the visit is never asked unless the type "
                    "needs preparation (or set requires_preparation = true)",
                )
        return None, None
    preparation = _texts(out, at("preparation"), table.get("preparation"), locale, required=True)
    question = _texts(out, at("preparation_question"), table.get("preparation_question"), locale)
    return question, preparation


def _texts(
    out: _Problems, where: str, value: Any, locale: str | None, required: bool = False
) -> dict[str, str] | None:
    """A text per language ({ fr = "...", en = "..." }); must include the practice locale."""
    example = '{ fr = "...", en = "..." }'
    if value is None:
        if required:
            out.add(where, "missing", f"add {where.rsplit('.', 1)[-1]} = {example}")
        return None
    if not isinstance(value, dict):
        out.add(where, f"must be a table of languages, got {_kind(value)}", f"write {example}")
        return None
    ok = True
    for lang, text in value.items():
        if lang not in LANGUAGES:
            out.add(
                f"{where}.{lang}", f"unsupported language {lang!r}", 'use only "fr" and "en" keys'
            )
            ok = False
        elif not isinstance(text, str) or not text.strip():
            out.add(f"{where}.{lang}", "must be a non-empty string", "write the text in quotes")
            ok = False
    if locale and locale not in value:
        out.add(where, f"no text in the practice locale {locale!r}", f'add {locale} = "..."')
        ok = False
    return dict(value) if ok else None

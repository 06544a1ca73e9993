"""A practitioner's day: the agenda read from the store, and the texts built from it.

Two kinds of text. What goes over Telegram or SMS (the daily summary, `/agenda`) carries
times, counts and initials at most, never a name with a type or a preparation answer; at
`full` detail it adds a link to that day on the desk, where the detail can be read behind a
login. `agenda_text` (names, types, answers) is for the service's own host only (the
`creneau agenda` terminal). An unreadable cell (tampered or truncated ciphertext) stays one
bad cell: the entry says so, the caller audits it, the rest of the day is read as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.i18n import Catalogs
from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from store import audit
from store.crypto import CryptoError
from store.models import Appointment, Patient
from store.vault import Vault

Interval = tuple[datetime, datetime]
BadCell = tuple[str, str, str]  # (table, column, row id): names a cell, never its value


@dataclass(frozen=True)
class AgendaEntry:
    """One appointment of the day as the practitioner sees it (decrypted, never logged)."""

    appointment_id: str
    start: datetime
    end: datetime
    type_id: str
    type_label: str
    patient_name: str | None
    initials: str
    preparation: str | None
    cancelled: bool = False
    cancelled_at: datetime | None = None
    patient_id: str | None = None
    practitioner_id: str = ""
    has_preparation: bool = False  # an answer is held (even if unreadable)
    unreadable: tuple[BadCell, ...] = ()

    @property
    def name_unreadable(self) -> bool:
        return any(table == "patient" for table, _, _ in self.unreadable)

    @property
    def preparation_unreadable(self) -> bool:
        return any(table == "appointment" for table, _, _ in self.unreadable)


def day_bounds(tz: ZoneInfo, day: date) -> Interval:
    """The local day [00:00, next 00:00) as aware instants (23 or 25 h on DST days)."""
    return datetime.combine(day, time(0), tz), datetime.combine(
        day + timedelta(days=1), time(0), tz
    )


def initials(name: str | None) -> str:
    """'Paul Martin' -> 'P.M.'; hyphenated first names keep their parts ('J-P.M.')."""
    if not name or not name.strip():
        return "?"
    words = name.replace("-", " - ").split()
    out = "".join("-" if w == "-" else f"{w[0].upper()}." for w in words)
    return out.replace(".-", "-")


def _open(
    vault: Vault, table: str, column: str, row_id: str, token: bytes | None, bad: list[BadCell]
) -> str | None:
    """One sealed cell, or None (and the cell named in `bad`) when it does not open."""
    if token is None:
        return None
    try:
        return vault.open(table, column, row_id, token)
    except CryptoError:
        bad.append((table, column, row_id))
        return None


def _entry(
    vault: Vault, practice: Practice, appt: Appointment, patient: Patient | None, lang: str
) -> AgendaEntry:
    """One appointment row as an agenda entry."""
    bad: list[BadCell] = []
    name = None
    if patient is not None:
        name = _open(vault, "patient", "name", patient.id, patient.name_enc, bad)
    prep = _open(vault, "appointment", "prep", appt.id, appt.prep_enc, bad)
    return AgendaEntry(
        appointment_id=appt.id,
        start=appt.start,
        end=appt.end,
        type_id=appt.type_id,
        type_label=type_label(practice, appt.type_id, lang),
        patient_name=name,
        initials=initials(name),
        preparation=prep,
        cancelled=appt.status != "booked",
        cancelled_at=appt.cancelled_at,
        patient_id=appt.patient_id,
        practitioner_id=appt.practitioner_id,
        has_preparation=appt.prep_enc is not None,
        unreadable=tuple(bad),
    )


def type_label(practice: Practice, type_id: str, lang: str) -> str:
    """The consultation type's label, or its id if the practice file no longer has it."""
    try:
        return practice.ctype(type_id).label_for(lang)
    except KeyError:
        return type_id


def _with_patients(
    practice: Practice, practitioner_ids: list[str], start: datetime, end: datetime
) -> Any:
    """Appointments starting in [start, end) of these practitioners, with their patients."""
    return (
        select(Appointment, Patient)
        .join(Patient, col(Appointment.patient_id) == col(Patient.id), isouter=True)
        .where(
            Appointment.practice_id == practice.id,
            col(Appointment.practitioner_id).in_(practitioner_ids),
            col(Appointment.start) >= start,
            col(Appointment.start) < end,
        )
        .order_by(col(Appointment.start))
    )


def appointments_between(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_id: str,
    start: datetime,
    end: datetime,
    lang: str | None = None,
) -> list[AgendaEntry]:
    """Appointments (booked and cancelled) of a practitioner starting in [start, end)."""
    rows = session.exec(_with_patients(practice, [practitioner_id], start, end))
    lang = lang or practice.locale
    return [_entry(vault, practice, a, p, lang) for a, p in rows]


def appointment_entry(
    session: Session, vault: Vault, practice: Practice, appointment_id: str, lang: str
) -> AgendaEntry | None:
    """One appointment of this practice as an agenda entry, or None."""
    appt = session.get(Appointment, appointment_id)
    if appt is None or appt.practice_id != practice.id:
        return None
    patient = session.get(Patient, appt.patient_id) if appt.patient_id else None
    return _entry(vault, practice, appt, patient, lang)


def day_agenda(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_id: str,
    day: date,
    lang: str | None = None,
) -> list[AgendaEntry]:
    """The practitioner's appointments of one local day, cancelled ones flagged."""
    return day_agendas(session, vault, practice, [practitioner_id], day, lang)[practitioner_id]


def day_agendas(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_ids: list[str],
    day: date,
    lang: str | None = None,
) -> dict[str, list[AgendaEntry]]:
    """Several practitioners' agendas of one local day, in one query."""
    start, end = day_bounds(practice.tz, day)
    return agendas_between(session, vault, practice, practitioner_ids, start, end, lang)


def agendas_between(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_ids: list[str],
    start: datetime,
    end: datetime,
    lang: str | None = None,
) -> dict[str, list[AgendaEntry]]:
    """Several practitioners' appointments starting in [start, end), in one query."""
    lang = lang or practice.locale
    agendas: dict[str, list[AgendaEntry]] = {pid: [] for pid in practitioner_ids}
    for appt, patient in session.exec(_with_patients(practice, practitioner_ids, start, end)):
        agendas[appt.practitioner_id].append(_entry(vault, practice, appt, patient, lang))
    return agendas


def audit_unreadable(
    session: Session, practice_id: str, actor: str, entries: Iterable[AgendaEntry]
) -> int:
    """One audit event per unreadable cell met in these entries (table, column and row id,
    never a value); returns how many."""
    n = 0
    for entry in entries:
        for table, column, row_id in entry.unreadable:
            audit.record(
                session,
                practice_id,
                actor,
                "unreadable_cell",
                row_id,
                f"table={table} column={column}",
            )
            n += 1
    return n


# ---------------------------------------------------------------- texts


def desk_day_url(base_url: str, day: date, practitioner_id: str) -> str:
    """The desk's page of that day for that practitioner ('' without a public URL)."""
    if not base_url:
        return ""
    query = urlencode({"date": day.isoformat(), "practitioner": practitioner_id})
    return f"{base_url.rstrip('/')}/desk/agenda?{query}"


def entry_line(catalogs: Catalogs, practice: Practice, entry: AgendaEntry, lang: str) -> str:
    """One appointment as a line for Telegram or SMS: its time and the patient's initials
    (never the type, a name or an answer)."""
    tz = practice.tz
    params = {"time": Moment(entry.start, "time"), "initials": entry.initials}
    line = catalogs.text(Text("summary.line_initials", params), lang, tz)
    if entry.cancelled:
        return catalogs.text(Text("summary.cancelled", {"line": line}), lang, tz)
    return line


def full_line(catalogs: Catalogs, practice: Practice, entry: AgendaEntry, lang: str) -> str:
    """One appointment with the patient's name, the type and the preparation answer: for
    the service's own host only (a terminal), never for Telegram or SMS."""
    tz = practice.tz
    if entry.name_unreadable:
        name = catalogs.gettext("summary.unreadable", lang)
    else:
        name = entry.patient_name or catalogs.gettext("summary.no_name", lang)
    params = {"time": Moment(entry.start, "time"), "type": entry.type_label, "name": name}
    line = catalogs.text(Text("summary.line_full", params), lang, tz)
    if entry.cancelled:
        return catalogs.text(Text("summary.cancelled", {"line": line}), lang, tz)
    answer = entry.preparation
    if entry.preparation_unreadable:
        answer = catalogs.gettext("summary.unreadable", lang)
    if answer:
        line += "\n" + catalogs.text(Text("summary.prep", {"answer": answer}), lang, tz)
    return line


def header(
    catalogs: Catalogs, practice: Practice, practitioner: Practitioner, day: date, lang: str
) -> str:
    """'Dr Anne Roux - agenda du lundi 7 décembre:'."""
    noon = datetime.combine(day, time(12), practice.tz)
    return catalogs.text(
        Text("summary.header", {"name": practitioner.name, "day": Moment(noon, "day")}),
        lang,
        practice.tz,
    )


def _recent_cancellations(
    entries: Sequence[AgendaEntry], since: datetime | None
) -> list[AgendaEntry]:
    """Cancelled entries, only those cancelled after `since` when given."""
    return [
        e
        for e in entries
        if e.cancelled
        and (since is None or (e.cancelled_at is not None and e.cancelled_at > since))
    ]


def count_line(
    catalogs: Catalogs, practice: Practice, booked: Sequence[AgendaEntry], lang: str
) -> str:
    """'2 RDV, de 08:30 à 09:10.'"""
    params = {
        "n": len(booked),
        "first": Moment(booked[0].start, "time"),
        "last": Moment(booked[-1].start, "time"),
    }
    return catalogs.text(Text("summary.count", params), lang, practice.tz)


def link_line(catalogs: Catalogs, practice: Practice, url: str, lang: str) -> str:
    """'Détail sur le bureau: URL'."""
    return catalogs.text(Text("summary.link", {"url": url}), lang, practice.tz)


def summary_text(
    catalogs: Catalogs,
    practice: Practice,
    practitioner: Practitioner,
    day: date,
    entries: Sequence[AgendaEntry],
    lang: str,
    since: datetime | None = None,
    detail: str | None = None,
    desk_url: str = "",
) -> str:
    """The daily summary for Telegram or SMS at the practitioner's detail level: `count`
    (number and range), `initials` (times and initials), `full` (both, and `desk_url`, the
    link to that day on the desk); cancellations since `since`."""
    detail = detail or practitioner.summary_detail
    tz = practice.tz
    booked = [e for e in entries if not e.cancelled]
    cancelled = _recent_cancellations(entries, since)
    lines = [header(catalogs, practice, practitioner, day, lang)]
    if not booked:
        lines.append(catalogs.text(Text("summary.empty"), lang, tz))
    elif detail == "count":
        lines.append(count_line(catalogs, practice, booked, lang))
    else:
        if detail == "full":
            lines.append(count_line(catalogs, practice, booked, lang))
        lines += [entry_line(catalogs, practice, e, lang) for e in booked]
    if cancelled and detail == "count":
        lines.append(
            catalogs.text(Text("summary.cancelled_count", {"n": len(cancelled)}), lang, tz)
        )
    elif cancelled:
        lines += [entry_line(catalogs, practice, e, lang) for e in cancelled]
    if detail == "full" and desk_url:
        lines.append(link_line(catalogs, practice, desk_url, lang))
    return "\n".join(lines)


def agenda_text(
    catalogs: Catalogs,
    practice: Practice,
    practitioner: Practitioner,
    day: date,
    entries: Sequence[AgendaEntry],
    lang: str,
) -> str:
    """The whole day with names, types and answers: for the service's own host only."""
    lines = [header(catalogs, practice, practitioner, day, lang)]
    lines += [full_line(catalogs, practice, e, lang) for e in entries]
    if not entries:
        lines.append(catalogs.text(Text("summary.empty"), lang, practice.tz))
    return "\n".join(lines)

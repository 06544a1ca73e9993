"""A practitioner's day: the agenda read from the store, and the summary text built from it.

Practitioner-facing only: these texts may name the consultation type (they go to the
practitioner, never to a patient). Blocked periods (`/absent`) are read here too, so the
slot search can skip them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.i18n import Catalogs
from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from store.models import Appointment, Patient
from store.vault import Vault

Interval = tuple[datetime, datetime]


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


def _name(vault: Vault, patient: Patient | None) -> str | None:
    """The patient's decrypted name, if any."""
    if patient is None or patient.name_enc is None:
        return None
    return vault.open("patient", "name", patient.id, patient.name_enc)


def _entry(
    vault: Vault, practice: Practice, appt: Appointment, patient: Patient | None, lang: str
) -> AgendaEntry:
    """One appointment row as an agenda entry."""
    name = _name(vault, patient)
    prep = vault.open("appointment", "prep", appt.id, appt.prep_enc) if appt.prep_enc else None
    return AgendaEntry(
        appointment_id=appt.id,
        start=appt.start,
        end=appt.end,
        type_id=appt.type_id,
        type_label=_type_label(practice, appt.type_id, lang),
        patient_name=name,
        initials=initials(name),
        preparation=prep,
        cancelled=appt.status != "booked",
        cancelled_at=appt.cancelled_at,
    )


def _type_label(practice: Practice, type_id: str, lang: str) -> str:
    """The consultation type's label, or its id if the practice file no longer has it."""
    try:
        return practice.ctype(type_id).label_for(lang)
    except StopIteration:
        return type_id


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
    lang = lang or practice.locale
    agendas: dict[str, list[AgendaEntry]] = {pid: [] for pid in practitioner_ids}
    for appt, patient in session.exec(_with_patients(practice, practitioner_ids, start, end)):
        agendas[appt.practitioner_id].append(_entry(vault, practice, appt, patient, lang))
    return agendas


# ---------------------------------------------------------------- summary text


def entry_line(
    catalogs: Catalogs, practice: Practice, entry: AgendaEntry, detail: str, lang: str
) -> str:
    """One appointment as a line at the given detail ('full' names, else initials)."""
    tz = practice.tz
    params = {
        "time": Moment(entry.start, "time"),
        "type": _type_label(practice, entry.type_id, lang),
    }
    if detail == "full":
        name = entry.patient_name or catalogs.gettext("summary.no_name", lang)
        line = catalogs.text(Text("summary.line_full", {**params, "name": name}), lang, tz)
    else:
        line = catalogs.text(
            Text("summary.line_initials", {**params, "initials": entry.initials}), lang, tz
        )
    if entry.cancelled:
        return catalogs.text(Text("summary.cancelled", {"line": line}), lang, tz)
    if detail == "full" and entry.preparation:
        line += "\n" + catalogs.text(Text("summary.prep", {"answer": entry.preparation}), lang, tz)
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


def summary_text(
    catalogs: Catalogs,
    practice: Practice,
    practitioner: Practitioner,
    day: date,
    entries: Sequence[AgendaEntry],
    lang: str,
    since: datetime | None = None,
    detail: str | None = None,
) -> str:
    """The daily summary at the practitioner's detail level; cancellations since `since`."""
    detail = detail or practitioner.summary_detail
    tz = practice.tz
    booked = [e for e in entries if not e.cancelled]
    cancelled = _recent_cancellations(entries, since)
    lines = [header(catalogs, practice, practitioner, day, lang)]
    if not booked:
        lines.append(catalogs.text(Text("summary.empty"), lang, tz))
    elif detail == "count":
        lines.append(
            catalogs.text(
                Text(
                    "summary.count",
                    {
                        "n": len(booked),
                        "first": Moment(booked[0].start, "time"),
                        "last": Moment(booked[-1].start, "time"),
                    },
                ),
                lang,
                tz,
            )
        )
    else:
        lines += [entry_line(catalogs, practice, e, detail, lang) for e in booked]
    if cancelled and detail == "count":
        lines.append(
            catalogs.text(Text("summary.cancelled_count", {"n": len(cancelled)}), lang, tz)
        )
    elif cancelled:
        lines += [entry_line(catalogs, practice, e, detail, lang) for e in cancelled]
    return "\n".join(lines)

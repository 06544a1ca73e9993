"""The practitioner's day: agenda rows, summary texts at each detail level, blocked periods."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.practice import Practice
from bot.slots import next_slots
from channels.runtime import Runtime
from store.agenda import (
    agenda_text,
    audit_unreadable,
    day_agenda,
    desk_day_url,
    initials,
    summary_text,
)
from store.context import busy_intervals
from store.models import Appointment, AuditEvent, Block, Outbox, Patient
from store.outbox import open_row

PARIS_DAY = date(2026, 12, 7)  # a Monday


# ---------------------------------------------------------------- helpers shared by the suite


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A Paris wall-clock time on `day`, aware."""
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo("Europe/Paris"))


def with_practitioner(rt: Runtime, **changes: Any) -> Practice:
    """Replace the runtime's practice by one whose practitioner has these settings."""
    practice = rt.practice
    doctor = dataclasses.replace(practice.practitioners[0], **changes)
    changed = dataclasses.replace(practice, practitioners=(doctor,))
    rt.__dict__["practice"] = changed
    rt.assistant.practice = changed
    return changed


def with_practice(rt: Runtime, **changes: Any) -> Practice:
    changed = dataclasses.replace(rt.practice, **changes)
    rt.__dict__["practice"] = changed
    rt.assistant.practice = changed
    return changed


def add_patient(
    rt: Runtime,
    name: str | None = "Paul Martin",
    channel: str = "sms",
    address: str = "+33612345678",
    lang: str = "fr",
    **fields: Any,
) -> Patient:
    """A patient row as the booking service would store it (sealed address and name)."""
    vault = rt.vault
    index = vault.address_index(rt.practice.id, channel, address)
    patient = Patient(
        practice_id=rt.practice.id, channel=channel, address_index=index, address_enc=b"", lang=lang
    )
    patient.address_enc = vault.seal("patient", "address", patient.id, address)
    if name:
        patient.name_enc = vault.seal("patient", "name", patient.id, name)
    for key, value in fields.items():
        setattr(patient, key, value)
    with rt.db.write() as session:
        session.add(patient)
    return patient


def add_appt(
    rt: Runtime,
    patient: Patient | None,
    start: datetime,
    type_id: str = "consultation",
    created_at: datetime | None = None,
    prep: str | None = None,
    **fields: Any,
) -> Appointment:
    """An appointment row; created a week before its start unless told otherwise."""
    minutes = rt.practice.ctype(type_id).duration_minutes
    appt = Appointment(
        practice_id=rt.practice.id,
        patient_id=patient.id if patient else None,
        practitioner_id="roux",
        type_id=type_id,
        start=start,
        end=start + timedelta(minutes=minutes),
        created_at=created_at or start - timedelta(days=7),
    )
    if prep:
        appt.prep_enc = rt.vault.seal("appointment", "prep", appt.id, prep)
    for key, value in fields.items():
        setattr(appt, key, value)
    with rt.db.write() as session:
        session.add(appt)
    return appt


def outbox(rt: Runtime) -> list[tuple[Outbox, str, dict[str, Any]]]:
    """Every queued row with its opened address and payload, oldest first."""
    with rt.db.read() as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.created_at)))
    return [(row, *open_row(rt.vault, row)) for row in rows]


def a_day(runtime: Runtime) -> list[Appointment]:
    """Paul (ECG with an answer) at 08:30, Zoé at 09:10, a cancelled one at 10:00."""
    paul = add_patient(runtime, "Paul Martin")
    zoe = add_patient(runtime, "Zoé Jean-Baptiste Roy", address="+33612345679")
    ann = add_patient(runtime, "Ann Lee", address="+33612345670")
    return [
        add_appt(runtime, paul, at(PARIS_DAY, 8, 30), "ecg", prep="Bêtabloquant"),
        add_appt(runtime, zoe, at(PARIS_DAY, 9, 10)),
        add_appt(
            runtime,
            ann,
            at(PARIS_DAY, 10),
            status="cancelled",
            cancelled_at=at(PARIS_DAY, 6),
            cancelled_by="patient",
        ),
    ]


def summary(
    runtime: Runtime,
    detail: str,
    lang: str = "fr",
    since: datetime | None = None,
    desk_url: str = "",
) -> str:
    practice = runtime.practice
    doctor = practice.practitioners[0]
    with runtime.db.read() as session:
        entries = day_agenda(session, runtime.vault, practice, "roux", PARIS_DAY, lang)
    return summary_text(
        runtime.catalogs, practice, doctor, PARIS_DAY, entries, lang, since, detail, desk_url
    )


SECRETS = (
    "Paul",
    "Martin",
    "Zoé",
    "Ann Lee",
    "Électrocardiogramme",
    "ECG",
    "Consultation",
    "Bêtabloquant",
)


# ---------------------------------------------------------------- agenda


def test_day_agenda_decrypts_and_flags_cancelled(runtime):
    a_day(runtime)
    add_appt(runtime, None, at(PARIS_DAY + timedelta(days=1), 8, 30))  # another day
    with runtime.db.read() as session:
        entries = day_agenda(session, runtime.vault, runtime.practice, "roux", PARIS_DAY)
    assert [e.patient_name for e in entries] == ["Paul Martin", "Zoé Jean-Baptiste Roy", "Ann Lee"]
    assert [e.cancelled for e in entries] == [False, False, True]
    assert (
        entries[0].preparation == "Bêtabloquant" and entries[0].type_label == "Électrocardiogramme"
    )
    assert entries[1].initials == "Z.J-B.R."


def test_day_bounds_follow_local_midnight_across_dst(runtime):
    day = date(2026, 10, 25)  # 25 hours long in Paris
    early, late = at(day, 0, 5), at(day, 23, 30)
    add_appt(runtime, None, early)
    add_appt(runtime, None, late)
    add_appt(runtime, None, at(day + timedelta(days=1), 0, 5))
    with runtime.db.read() as session:
        entries = day_agenda(session, runtime.vault, runtime.practice, "roux", day)
    assert [e.start for e in entries] == [early.astimezone(UTC), late.astimezone(UTC)]


def test_initials():
    assert initials("Paul Martin") == "P.M."
    assert initials("  ") == "?" and initials(None) == "?"


def test_summary_full_is_count_times_initials_and_a_link_to_the_desk(runtime):
    a_day(runtime)
    url = desk_day_url("https://cabinet.example/", PARIS_DAY, "roux")
    assert url == "https://cabinet.example/desk/agenda?date=2026-12-07&practitioner=roux"
    text = summary(runtime, "full", desk_url=url)
    assert text.startswith("Dr Anne Roux - agenda du lundi 7 décembre:")
    assert "2 RDV, de 08:30 à 09:10." in text
    assert "08:30 - P.M." in text and "09:10 - Z.J-B.R." in text
    assert "10:00 - A.L. - annulé" in text
    assert text.endswith("Détail sur le bureau: " + url)
    for secret in SECRETS:  # never a name with a type or an answer over Telegram or SMS
        assert secret not in text, secret
    assert "desk" not in summary(runtime, "full")  # no public URL: no link


def test_agenda_text_for_the_host_names_type_and_answer(runtime):
    a_day(runtime)
    practice = runtime.practice
    with runtime.db.read() as session:
        entries = day_agenda(session, runtime.vault, practice, "roux", PARIS_DAY)
    text = agenda_text(
        runtime.catalogs, practice, practice.practitioners[0], PARIS_DAY, entries, "fr"
    )
    assert "08:30 Électrocardiogramme - Paul Martin" in text
    assert "Réponse: Bêtabloquant" in text
    assert "09:10 Consultation - Zoé Jean-Baptiste Roy" in text
    assert "10:00 Consultation - Ann Lee - annulé" in text


def test_summary_initials_hides_names_types_and_answers(runtime):
    a_day(runtime)
    text = summary(runtime, "initials", lang="en")
    assert "08:30 - P.M." in text and "09:10 - Z.J-B.R." in text
    assert "10:00 - A.L. - cancelled" in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_one_bad_cell_stays_one_bad_cell(runtime):
    appts = a_day(runtime)
    with runtime.db.write() as session:
        paul = session.get(Patient, appts[0].patient_id)
        paul.name_enc = paul.name_enc[:-1] + bytes([paul.name_enc[-1] ^ 1])  # one flipped bit
        ecg = session.get(Appointment, appts[0].id)
        ecg.prep_enc = ecg.prep_enc[:5]  # truncated
    with runtime.db.write() as session:
        entries = day_agenda(session, runtime.vault, runtime.practice, "roux", PARIS_DAY)
        assert audit_unreadable(session, "default", "system", entries) == 2
    assert entries[0].name_unreadable and entries[0].preparation_unreadable
    assert entries[0].initials == "?" and entries[1].patient_name == "Zoé Jean-Baptiste Roy"
    text = summary(runtime, "initials")
    assert "08:30 - ?" in text and "09:10 - Z.J-B.R." in text
    host = agenda_text(
        runtime.catalogs,
        runtime.practice,
        runtime.practice.practitioners[0],
        PARIS_DAY,
        entries,
        "fr",
    )
    assert "08:30 Électrocardiogramme - (illisible)" in host and "Réponse: (illisible)" in host
    with runtime.db.read() as session:
        events = list(
            session.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell"))
        )
    assert sorted((e.subject, e.detail) for e in events) == sorted(
        [(paul.id, "table=patient column=name"), (ecg.id, "table=appointment column=prep")]
    )


def test_summary_count_gives_number_and_range_only(runtime):
    a_day(runtime)
    text = summary(runtime, "count")
    assert "2 RDV, de 08:30 à 09:10." in text
    assert "Annulés depuis le dernier résumé: 1" in text
    assert "P.M." not in text and "Consultation" not in text
    assert "Appointments: 2, from 08:30 to 09:10." in summary(runtime, "count", lang="en")


def test_summary_lists_only_cancellations_since_last_summary(runtime):
    a_day(runtime)
    assert "annulé" not in summary(runtime, "initials", since=at(PARIS_DAY, 7))


def test_summary_of_an_empty_day_says_so(runtime):
    assert summary(runtime, "full").endswith("Aucun RDV ce jour-là.")
    assert summary(runtime, "count", lang="en").endswith("No appointments that day.")


# ---------------------------------------------------------------- blocked periods


def test_block_intervals_and_next_slots_skip_them(runtime):
    practice = runtime.practice
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    start, end = at(date(2026, 12, 3), 0), at(date(2026, 12, 4), 0)  # all Thursday
    with runtime.db.write() as session:
        session.add(Block(practice_id=practice.id, practitioner_id="roux", start=start, end=end))
    with runtime.db.read() as session:
        assert busy_intervals(session, practice.id, "roux", at(date(2026, 12, 3), 9), end) == [
            (start.astimezone(UTC), end.astimezone(UTC))
        ]

        def busy(lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
            return busy_intervals(session, practice.id, "roux", lo, hi)

        slots = next_slots(
            practice, "roux", 20, now=now, busy=busy, limit=6, after=at(PARIS_DAY, 0)
        )
        slots_from_wed = next_slots(practice, "roux", 20, now=now, busy=busy, limit=10)
    assert all(s.date() != date(2026, 12, 3) for s in slots_from_wed)
    assert slots_from_wed[-1].date() == date(2026, 12, 4)
    assert slots[0] == at(PARIS_DAY, 8, 30)

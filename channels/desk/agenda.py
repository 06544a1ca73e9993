"""The agenda: a day and a week per practitioner, one appointment, booking for a caller,
cancelling and moving (each with a confirmation step and a discreet notice to the
patient), the patient's number on request, absences.

Every change goes through the store operations the bot and the Telegram commands use
(store.appointments, store.practitioners), so it shows at once in the slot search. Every
page that shows personal data writes an audit event naming the desk user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import abort, flash, redirect, request, url_for
from sqlmodel import Session

from bot.engine import notice_text
from bot.gsm import to_gsm7
from bot.messages import Moment, Text
from bot.practice import Practitioner
from bot.slots import next_slots
from channels.desk import i18n
from channels.desk.base import (
    access,
    actor,
    bp,
    lang,
    now,
    parse_day,
    practice,
    practitioner_or_404,
    render,
    runtime,
    t,
    today,
)
from channels.desk.forms import AbsenceForm, BookForm, MoveForm
from channels.metrics import APPOINTMENTS
from store import audit
from store.agenda import (
    AgendaEntry,
    agendas_between,
    appointment_entry,
    audit_unreadable,
    day_agenda,
    day_bounds,
)
from store.appointments import (
    BookingError,
    book_for,
    caller,
    cancel_by_practice,
    move_by_practice,
    reachable,
    tell,
)
from store.context import busy_intervals
from store.crypto import CryptoError
from store.models import Appointment, Patient
from store.practitioners import BlockError, add_block, blocks_between, remove_block

SLOT_LIMIT = 96  # slots looked for on one day


# ---------------------------------------------------------------- view models


@dataclass(frozen=True)
class Row:
    """One appointment as the desk shows it to this user."""

    id: str
    start: str
    end: str
    type: str
    name: str
    status: str
    cancelled: bool
    prep: str | None  # None: nothing to show this user
    unreadable: bool


def _name(entry: AgendaEntry) -> str:
    if entry.name_unreadable:
        return t("common.unreadable")
    return entry.patient_name or t("common.no_name")


def _prep(entry: AgendaEntry) -> str | None:
    """The preparation answer for its practitioner only; never for anyone else."""
    if not access().sees_answers_of(entry.practitioner_id) or not entry.has_preparation:
        return None
    return t("common.unreadable") if entry.preparation_unreadable else entry.preparation


def _row(entry: AgendaEntry) -> Row:
    tz = practice().tz
    return Row(
        id=entry.appointment_id,
        start=i18n.when(entry.start, "time", lang(), tz),
        end=i18n.when(entry.end, "time", lang(), tz),
        type=entry.type_label,
        name=_name(entry),
        status=t("agenda.cancelled" if entry.cancelled else "agenda.booked"),
        cancelled=entry.cancelled,
        prep=_prep(entry),
        unreadable=bool(entry.unreadable),
    )


@dataclass(frozen=True)
class Absence:
    """An absence shown on a day: a blocked period (removable) or the practice file's."""

    id: str | None
    label: str


def _absences(db_session: Session, doctor: Practitioner, day: date) -> list[Absence]:
    p = practice()
    tz = p.tz
    shown = [
        Absence(
            None,
            f"{i18n.short_day(r.start, lang())} – {i18n.short_day(r.end, lang())} {t('abs.file')}",
        )
        for r in doctor.absences
        if day in r
    ]
    start, end = day_bounds(tz, day)
    for block in blocks_between(db_session, p.id, doctor.id, start, end):
        label = (
            f"{i18n.when(block.start, 'short', lang(), tz)} "
            f"{i18n.when(block.start, 'time', lang(), tz)} – "
            f"{i18n.when(block.end, 'short', lang(), tz)} "
            f"{i18n.when(block.end, 'time', lang(), tz)}"
        )
        shown.append(Absence(block.id, label))
    return shown


def _audit_view(
    db_session: Session, action: str, subject: str, detail: str, entries: list[AgendaEntry]
) -> None:
    p = practice()
    audit.record(db_session, p.id, actor(), action, subject, detail)
    audit_unreadable(db_session, p.id, actor(), entries)


# ---------------------------------------------------------------- day and week


@bp.get("/")
def home() -> Any:
    """The desk opens on today's agenda."""
    return redirect(url_for("desk.agenda"))


@bp.get("/agenda")
def agenda() -> Any:
    """`/desk/agenda?date=YYYY-MM-DD&practitioner=ID`: one practitioner's day."""
    doctor = practitioner_or_404(request.args.get("practitioner"))
    day = parse_day(request.args.get("date"))
    rt = runtime()
    with rt.db.write() as db_session:
        entries = day_agenda(db_session, rt.vault, rt.practice, doctor.id, day, lang())
        absences = _absences(db_session, doctor, day)
        _audit_view(
            db_session,
            "desk_agenda_view",
            doctor.id,
            f"day={day.isoformat()} entries={len(entries)}",
            entries,
        )
    rows = [_row(e) for e in entries]
    booked = sum(1 for r in rows if not r.cancelled)
    return render(
        "desk/agenda.html",
        doctor=doctor,
        day=day,
        day_label=i18n.day_name(day, lang()),
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        today=today(),
        rows=rows,
        booked=booked,
        shows_prep=access().sees_answers_of(doctor.id),
        absences=absences,
        closed=practice().is_closed(day),
        practitioners=access().practitioners(),
    )


@bp.get("/week")
def week() -> Any:
    """`/desk/week?date=YYYY-MM-DD&practitioner=ID`: the week (Monday to Sunday) of date."""
    doctor = practitioner_or_404(request.args.get("practitioner"))
    day = parse_day(request.args.get("date"))
    monday = day - timedelta(days=day.weekday())
    tz = practice().tz
    start = day_bounds(tz, monday)[0]
    end = day_bounds(tz, monday + timedelta(days=6))[1]
    rt = runtime()
    with rt.db.write() as db_session:
        entries = agendas_between(
            db_session, rt.vault, rt.practice, [doctor.id], start, end, lang()
        )[doctor.id]
        _audit_view(
            db_session,
            "desk_week_view",
            doctor.id,
            f"week={monday.isoformat()} entries={len(entries)}",
            entries,
        )
    days = []
    for offset in range(7):
        current = monday + timedelta(days=offset)
        rows = [_row(e) for e in entries if e.start.astimezone(tz).date() == current]
        days.append((current, i18n.day_name(current, lang()), rows))
    return render(
        "desk/week.html",
        doctor=doctor,
        monday=monday,
        title=t("week.title", day=i18n.day_name(monday, lang())),
        days=days,
        prev_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7),
        today=today(),
        practitioners=access().practitioners(),
    )


# ---------------------------------------------------------------- one appointment


def _entry_or_404(db_session: Session, appointment_id: str) -> AgendaEntry:
    rt = runtime()
    entry = appointment_entry(db_session, rt.vault, rt.practice, appointment_id, lang())
    if entry is None or not access().may_see(entry.practitioner_id):
        abort(404)
    return entry


def _appointment_page(appointment_id: str, phone: str | None = None, status: int = 200) -> Any:
    rt = runtime()
    with rt.db.write() as db_session:
        entry = _entry_or_404(db_session, appointment_id)
        _audit_view(db_session, "desk_appointment_view", entry.appointment_id, "", [entry])
    doctor = practice().practitioner(entry.practitioner_id)
    upcoming = not entry.cancelled and entry.start > now()
    return render(
        "desk/appointment.html",
        status,
        row=_row(entry),
        doctor=doctor,
        when=i18n.when(entry.start, "long", lang(), practice().tz),
        day=entry.start.astimezone(practice().tz).date(),
        upcoming=upcoming,
        phone=phone,
    )


@bp.get("/appointments/<appointment_id>")
def appointment(appointment_id: str) -> Any:
    """One appointment: when, who, which type (and the answer for its practitioner)."""
    return _appointment_page(appointment_id)


@bp.post("/appointments/<appointment_id>/phone")
def appointment_phone(appointment_id: str) -> Any:
    """The patient's number, shown on request (an audited access)."""
    rt = runtime()
    with rt.db.write() as db_session:
        entry = _entry_or_404(db_session, appointment_id)
        patient = db_session.get(Patient, entry.patient_id) if entry.patient_id else None
        phone = t("appt.phone_none")
        if patient is not None and patient.channel == "sms":
            try:
                phone = rt.vault.open("patient", "address", patient.id, patient.address_enc)
            except CryptoError:
                phone = t("common.unreadable")
                audit.record(
                    db_session,
                    rt.practice.id,
                    actor(),
                    "unreadable_cell",
                    patient.id,
                    "table=patient column=address",
                )
        audit.record(
            db_session,
            rt.practice.id,
            actor(),
            "desk_phone_view",
            entry.patient_id,
            f"appointment={entry.appointment_id}",
        )
    return _appointment_page(appointment_id, phone=phone)


def _back_to_day(entry_start: datetime, practitioner_id: str) -> Any:
    day = entry_start.astimezone(practice().tz).date()
    return redirect(url_for("desk.agenda", date=day.isoformat(), practitioner=practitioner_id), 303)


@bp.route("/appointments/<appointment_id>/cancel", methods=["GET", "POST"])
def cancel(appointment_id: str) -> Any:
    """GET: the confirmation step. POST: cancel and tell the patient discreetly."""
    rt = runtime()
    if request.method == "GET":
        with rt.db.write() as db_session:
            entry = _entry_or_404(db_session, appointment_id)
            _audit_view(db_session, "desk_appointment_view", entry.appointment_id, "", [entry])
        when = i18n.when(entry.start, "long", lang(), practice().tz)
        return render(
            "desk/cancel.html",
            row=_row(entry),
            when=when,
            doctor=practice().practitioner(entry.practitioner_id),
        )
    moment = now()
    with rt.db.write() as db_session:
        entry = _entry_or_404(db_session, appointment_id)
        done = cancel_by_practice(
            db_session,
            rt.assistant,
            rt.practice,
            appointment_id,
            moment,
            by="desk",
            practitioner_id=entry.practitioner_id,
        )
        told = False
        if done is not None:
            APPOINTMENTS.labels("desk", "cancelled").inc()
            audit.record(db_session, rt.practice.id, actor(), "appointment_cancel", done.id)
            told = _notify_cancelled(db_session, done, moment)
    if done is None:
        flash(t("appt.gone"), "error")
    else:
        flash(t("appt.cancelled") + " " + t("appt.told" if told else "appt.not_told"), "ok")
    return _back_to_day(entry.start, entry.practitioner_id)


def _notify_cancelled(db_session: Session, appt: Appointment, moment: datetime) -> bool:
    """The discreet cancellation notice, the same the Telegram command sends."""
    rt = runtime()
    patient = reachable(db_session, appt.patient_id)
    if patient is None:
        return False
    p = rt.practice
    params = {"when": Moment(appt.start, "long"), "practice": p.name}
    text = rt.catalogs.text(Text("notice.cancelled_by_practice", params), patient.lang, p.tz)
    return tell(db_session, rt.vault, patient, _for_channel(patient, text), moment)


def _for_channel(patient: Patient, text: str) -> str:
    """SMS texts stay in GSM-7 (one accented capital would halve a segment)."""
    return to_gsm7(text) if patient.channel == "sms" else text


def _patient_text(patient: Patient, key: str, start: datetime, doctor: Practitioner) -> str:
    """A desk notice to the patient, in their language: date, time, practice, practitioner."""
    p = practice()
    text = i18n.t(
        key,
        patient.lang,
        practice=p.name,
        practitioner=doctor.name,
        when=i18n.when(start, "long", patient.lang, p.tz),
    )
    return _for_channel(patient, text)


# ---------------------------------------------------------------- free slots


def free_slots(db_session: Session, doctor_id: str, type_id: str, day: date) -> list[datetime]:
    """The free start times of that type with that practitioner on that local day."""
    p = practice()

    def busy(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        return busy_intervals(db_session, p.id, doctor_id, start, end)

    duration = p.ctype(type_id).duration_minutes
    first = datetime.combine(day, time(0), p.tz)
    found = next_slots(
        p, doctor_id, duration, now=now(), busy=busy, start_from=first, limit=SLOT_LIMIT
    )
    return [s for s in found if s.astimezone(p.tz).date() == day]


def _slot_choices(slots: list[datetime]) -> list[tuple[str, str]]:
    tz = practice().tz
    return [(s.isoformat(), i18n.when(s, "time", lang(), tz)) for s in slots]


def _parse_start(value: str | None) -> datetime | None:
    try:
        start = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


# ---------------------------------------------------------------- move


@bp.route("/appointments/<appointment_id>/move", methods=["GET", "POST"])
def move(appointment_id: str) -> Any:
    """GET: pick a day and a free slot. POST without `confirm`: the confirmation step.
    POST with `confirm=yes`: move, and tell the patient discreetly."""
    rt = runtime()
    form = MoveForm(request.form)
    start = _parse_start(form.start.data) if request.method == "POST" else None
    if request.method == "POST" and start is not None and form.confirm.data == "yes":
        return _do_move(appointment_id, start)
    tz = practice().tz
    with rt.db.write() as db_session:
        entry = _entry_or_404(db_session, appointment_id)
        _audit_view(db_session, "desk_appointment_view", entry.appointment_id, "", [entry])
        day = parse_day(request.args.get("date") or entry.start.astimezone(tz).date().isoformat())
        slots = free_slots(db_session, entry.practitioner_id, entry.type_id, day)
    doctor = practice().practitioner(entry.practitioner_id)
    old = i18n.when(entry.start, "long", lang(), tz)
    if request.method == "POST" and start is not None:
        question = t("appt.move_q", old=old, new=i18n.when(start, "long", lang(), tz))
        return render(
            "desk/move_confirm.html",
            row=_row(entry),
            start=start.isoformat(),
            question=question,
            doctor=doctor,
        )
    error = t("book.err.pick") if request.method == "POST" else None
    return render(
        "desk/move.html",
        400 if error else 200,
        row=_row(entry),
        doctor=doctor,
        when=old,
        day=day,
        slots=_slot_choices(slots),
        error=error,
    )


def _do_move(appointment_id: str, start: datetime) -> Any:
    """Move and tell the patient, all in one transaction (nothing changes on a failure)."""
    rt = runtime()
    moment = now()
    try:
        with rt.db.write() as db_session:
            entry = _entry_or_404(db_session, appointment_id)
            moved = move_by_practice(
                db_session,
                rt.assistant,
                rt.vault,
                rt.practice,
                entry.appointment_id,
                start,
                moment,
                by="desk",
                practitioner_id=entry.practitioner_id,
            )
            audit.record(
                db_session,
                rt.practice.id,
                actor(),
                "appointment_move",
                moved.new.id,
                f"from={moved.old.id}",
            )
            doctor = rt.practice.practitioner(entry.practitioner_id)
            patient = reachable(db_session, moved.new.patient_id)
            text = _patient_text(patient, "sms.moved", start, doctor) if patient else ""
            told = patient is not None and tell(db_session, rt.vault, patient, text, moment)
    except BookingError as exc:
        flash(t(f"book.err.{exc.reason}"), "error")
        return redirect(url_for("desk.move", appointment_id=appointment_id), 303)
    new_label = i18n.when(start, "long", lang(), rt.practice.tz)
    flash(t("appt.moved", new=new_label) + " " + t("appt.told" if told else "appt.not_told"), "ok")
    return _back_to_day(start, entry.practitioner_id)


# ---------------------------------------------------------------- booking for a caller


def _bookable_types(doctor: Practitioner) -> list[tuple[str, str]]:
    return [
        (c.id, c.label_for(lang()))
        for c in practice().consultation_types
        if doctor.id in c.practitioners
    ]


@bp.route("/book", methods=["GET", "POST"])
def book() -> Any:
    """GET `?practitioner=&type=&date=`: the free slots of that day and the caller's name
    and number. POST: book; the patient gets the notice (first contact) and a discreet
    confirmation by SMS when SMS is configured."""
    source = request.form if request.method == "POST" else request.args
    doctor = practitioner_or_404(source.get("practitioner"))
    types = _bookable_types(doctor)
    type_id = source.get("type") or (types[0][0] if types else "")
    if type_id not in {tid for tid, _ in types}:
        type_id = types[0][0] if types else ""
    day = parse_day(source.get("date"))
    if request.method == "POST":
        return _book_post(doctor, type_id, day, types)
    return _book_form(doctor, type_id, day, types)


def _book_form(
    doctor: Practitioner,
    type_id: str,
    day: date,
    types: list[tuple[str, str]],
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Any:
    rt = runtime()
    slots: list[datetime] = []
    if type_id:
        with rt.db.read() as db_session:
            slots = free_slots(db_session, doctor.id, type_id, day)
    return render(
        "desk/book.html",
        400 if error else 200,
        doctor=doctor,
        practitioners=access().practitioners(),
        types=types,
        type_id=type_id,
        day=day,
        day_label=i18n.day_name(day, lang()),
        slots=_slot_choices(slots),
        error=error,
        values=values or {"lang": practice().locale},
    )


def _book_post(doctor: Practitioner, type_id: str, day: date, types: list[tuple[str, str]]) -> Any:
    form = BookForm(request.form)
    values = {k: str(request.form.get(k, "")) for k in ("name", "phone", "lang", "start")}
    start = _parse_start(form.start.data)
    if start is None or not type_id:
        return _book_form(doctor, type_id, day, types, t("book.err.pick"), values)
    rt = runtime()
    moment = now()
    patient_lang = form.lang.data if form.lang.data in i18n.LANGS else practice().locale
    try:
        with rt.db.write() as db_session:
            patient, created = caller(
                db_session,
                rt.vault,
                rt.practice,
                form.phone.data or "",
                form.name.data or "",
                patient_lang,
                moment,
            )
            appt = book_for(
                db_session, rt.assistant, rt.practice, patient, doctor.id, type_id, start, moment
            )
            APPOINTMENTS.labels("desk", "booked").inc()
            audit.record(
                db_session,
                rt.practice.id,
                actor(),
                "desk_book",
                appt.id,
                f"patient={patient.id} new_patient={int(created)}",
            )
            sent = _confirm_booking(db_session, patient, appt, doctor, moment)
    except BookingError as exc:
        return _book_form(doctor, type_id, day, types, t(f"book.err.{exc.reason}"), values)
    ctype = practice().ctype(type_id)
    instructions = (ctype.preparation or {}).get(lang()) if ctype.requires_preparation else None
    return render(
        "desk/booked.html",
        done=t(
            "book.done",
            when=i18n.when(start, "long", lang(), practice().tz),
            practitioner=doctor.name,
        ),
        sent=sent,
        instructions=instructions,
        day=start.astimezone(practice().tz).date(),
        doctor=doctor,
        appointment_id=appt.id,
    )


def _confirm_booking(
    db_session: Session,
    patient: Patient,
    appt: Appointment,
    doctor: Practitioner,
    moment: datetime,
) -> list[str]:
    """Queue the notice (first contact) and the discreet confirmation; what the page says."""
    rt = runtime()
    p = rt.practice
    if patient.opted_out:
        return [t("book.sms_opted_out")]
    if not rt.settings.sms_enabled:
        return [t("book.sms_off")]
    said = []
    if patient.notice_version != p.notice_version:
        notice = rt.catalogs.text(notice_text(p, patient.channel), patient.lang, p.tz)
        if tell(db_session, rt.vault, patient, _for_channel(patient, notice), moment):
            patient.notice_version, patient.notice_at = p.notice_version, moment
            db_session.add(patient)
            said.append(t("book.sms_notice"))
    text = _patient_text(patient, "sms.booked", appt.start, doctor)
    if tell(db_session, rt.vault, patient, text, moment):
        said.append(t("book.sms_sent"))
    return said


# ---------------------------------------------------------------- absences


def _at(day_text: str, time_text: str | None, end: bool) -> datetime:
    """A local moment from the form; without a time, the start (or end) of the day."""
    day = date.fromisoformat(day_text)
    tz = practice().tz
    if time_text:
        return datetime.combine(day, time.fromisoformat(time_text), tz)
    return datetime.combine(day + timedelta(days=1) if end else day, time(0), tz)


@bp.post("/absences")
def absence_add() -> Any:
    """Block a period: no slot is offered in it from now on (appointments in it stay)."""
    form = AbsenceForm(request.form)
    doctor = practitioner_or_404(form.practitioner.data)
    day = parse_day(form.start_date.data)
    if not form.validate():
        flash(t("abs.bad"), "error")
        return redirect(url_for("desk.agenda", date=day.isoformat(), practitioner=doctor.id), 303)
    rt = runtime()
    start = _at(form.start_date.data or "", form.start_time.data, end=False)
    end = _at(form.end_date.data or "", form.end_time.data, end=True)
    try:
        with rt.db.write() as db_session:
            add_block(db_session, rt.practice, doctor.id, start, end, now())
            inside = [
                a
                for a in agendas_between(
                    db_session, rt.vault, rt.practice, [doctor.id], start - timedelta(days=1), end
                )[doctor.id]
                if not a.cancelled and a.end > start
            ]
            audit.record(
                db_session,
                rt.practice.id,
                actor(),
                "block_period",
                doctor.id,
                f"appointments={len(inside)}",
            )
    except BlockError:
        flash(t("abs.bad"), "error")
    else:
        flash(t("abs.added") + (" " + t("abs.inside", n=len(inside)) if inside else ""), "ok")
    return redirect(url_for("desk.agenda", date=day.isoformat(), practitioner=doctor.id), 303)


@bp.post("/absences/<block_id>/delete")
def absence_remove(block_id: str) -> Any:
    """Remove a blocked period: its slots are offered again at once."""
    rt = runtime()
    with rt.db.write() as db_session:
        allowed = [p.id for p in access().practitioners()]
        block = remove_block(db_session, rt.practice.id, block_id)
        if block is None or block.practitioner_id not in allowed:
            abort(404)  # the exception rolls the deletion back
        audit.record(db_session, rt.practice.id, actor(), "block_remove", block.practitioner_id)
        day = block.start.astimezone(rt.practice.tz).date()
        pid = block.practitioner_id
    flash(t("abs.removed"), "ok")
    return redirect(url_for("desk.agenda", date=day.isoformat(), practitioner=pid), 303)

"""The engine's read port, implemented on a session: slots' busy periods, a patient's
appointments, what is held about them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bot.engine import AppointmentView, PatientView
from bot.gsm import segments as count_segments
from bot.gsm import to_gsm7
from bot.i18n import Catalogs
from bot.messages import Moment, Reply, Text
from bot.practice import Practice
from bot.slots import BusyLookup, Interval
from store import audit
from store.crypto import CryptoError
from store.db import TurnTransaction, table
from store.models import Appointment
from store.raw import SQL, Raw
from store.vault import Vault

MAX_DURATION = timedelta(hours=24)  # no appointment is longer: bounds the busy look-up


# A practitioner's agenda over [:start, :end): what of one table overlaps it, per database
# (the slot search's look-up and the booking statement share them). Appointments, SQLite:
# an indexed range scan of the agenda index from :lowest (start - MAX_DURATION).
# PostgreSQL: the no-overlap guard's own expression, which its partial GiST index (WHERE
# status = 'booked') answers with all three conditions; written like SQLite's, a planner
# without statistics yet (custom plans of a new or fresh table) picked that index for the
# status alone and filtered every booked appointment of the practitioner (19 ms instead of
# 0.1 at 60,000 appointments).
_IN_AGENDA = "FROM {table} WHERE practice_id = :practice AND practitioner_id = :practitioner AND "
BOOKED_OVERLAPPING = _IN_AGENDA.format(table="appointment") + (
    'status = CAST(:booked AS VARCHAR) AND start >= :lowest AND start < :end AND "end" > :start'
)
BOOKED_OVERLAPPING_PG = _IN_AGENDA.format(table="appointment") + (
    "status = 'booked' AND "
    'tsrange(start, "end") && tsrange(CAST(:start AS TIMESTAMP), CAST(:end AS TIMESTAMP))'
)
BLOCKS_OVERLAPPING = _IN_AGENDA.format(table="block") + 'start < :end AND "end" > :start'
# Booked appointments and blocks of one practitioner overlapping [:start, :end).
_BUSY = 'SELECT start, "end" {booked} UNION ALL SELECT start, "end" ' + BLOCKS_OVERLAPPING
BUSY = SQL(_BUSY.format(booked=BOOKED_OVERLAPPING), pg=_BUSY.format(booked=BOOKED_OVERLAPPING_PG))
# A patient's booked appointments after :now, soonest first.
UPCOMING = SQL(
    'SELECT id, practitioner_id, type_id, start, "end" FROM appointment '
    "WHERE patient_id = :patient AND status = CAST(:booked AS VARCHAR) AND start > :now "
    "ORDER BY start"
)


def busy_intervals(
    session: Session | None,
    practice_id: str,
    practitioner_id: str,
    start: datetime,
    end: datetime,
    raw: Raw | None = None,
) -> list[Interval]:
    """Booked appointments and blocked periods of a practitioner overlapping [start, end),
    in one query; the appointment side is an indexed range scan bounded by MAX_DURATION.
    A session's own pending changes are flushed first, so they count."""
    if session is not None:
        session.flush()
    if raw is None:
        assert session is not None
        raw = Raw(session)
    params = {
        "practice": practice_id,
        "practitioner": practitioner_id,
        "booked": "booked",
        "start": raw.ts(start),
        "end": raw.ts(end),
        "lowest": raw.ts(start - MAX_DURATION),
    }
    return [(raw.dt(s), raw.dt(e)) for s, e in raw.all(BUSY, params)]


@dataclass(slots=True)
class PatientRow:
    """A patient as one turn reads and changes it (no ORM object on the hot path)."""

    id: str
    practice_id: str
    channel: str
    address_enc: bytes
    name_enc: bytes | None
    lang: str
    notice_version: str | None
    notice_at: datetime | None
    opted_out: bool
    unreachable: bool
    conversation_enc: bytes | None
    conversation_at: datetime | None


class StoreContext:
    """What one engine step may read, from the open transaction."""

    def __init__(
        self,
        tx: TurnTransaction | Session,
        practice: Practice,
        vault: Vault,
        now: datetime,
        patient: PatientRow,
        address: str,
        catalogs: Catalogs | None = None,
        channel: str = "console",
    ) -> None:
        self._tx = tx
        self.catalogs = catalogs
        self.channel = channel
        self.raw = tx.raw if isinstance(tx, TurnTransaction) else Raw(tx)
        self.practice = practice
        self.vault = vault
        self.now = now
        self.row = patient
        self.address = address
        self.name_unreadable = False

    def moved(self, tx: TurnTransaction, patient: PatientRow) -> StoreContext:
        """The same step's context on another transaction (a snapshot's step, applied in
        the writing transaction) for the patient as that transaction read them."""
        return StoreContext(
            tx,
            self.practice,
            self.vault,
            self.now,
            patient,
            self.address,
            self.catalogs,
            self.channel,
        )

    @property
    def session(self) -> Session:
        """An ORM session in the turn's transaction, for what is not on the hot path."""
        return self._tx.session if isinstance(self._tx, TurnTransaction) else self._tx

    def _pending(self) -> Session | None:
        """The session whose unflushed changes a query must see, if there is one."""
        return self._tx.opened_session if isinstance(self._tx, TurnTransaction) else self._tx

    @cached_property
    def patient(self) -> PatientView:
        return PatientView(
            self.row.id, self.row.lang, self.name, self.row.notice_version, self.row.opted_out
        )

    @cached_property
    def name(self) -> str | None:
        """The patient's name; None (and an audit event) when the cell does not open."""
        if self.row.name_enc is None:
            return None
        try:
            return self.vault.open("patient", "name", self.row.id, self.row.name_enc)
        except CryptoError:
            audit.unreadable(self.session, self.practice.id, "patient", "name", self.row.id)
            self.name_unreadable = True
            return None

    def busy(self, practitioner_id: str) -> BusyLookup:
        def lookup(start: datetime, end: datetime) -> Iterable[Interval]:
            return busy_intervals(
                self._pending(), self.practice.id, practitioner_id, start, end, self.raw
            )

        return lookup

    def upcoming(self) -> Sequence[AppointmentView]:
        return self._upcoming

    def fits(self, reply: Reply, segments: int) -> bool:
        """By SMS, whether the reply as the patient would receive it (folded to GSM-7, its
        choices as numbered lines) keeps within `segments`; elsewhere always."""
        if self.channel != "sms" or self.catalogs is None:
            return True
        rendered = self.catalogs.render(reply, self.row.lang, self.practice.tz)
        return count_segments(to_gsm7(rendered.as_lines())) <= segments

    @cached_property
    def _upcoming(self) -> list[AppointmentView]:
        raw = self.raw
        params = {"patient": self.row.id, "booked": "booked", "now": raw.ts(self.now)}
        rows = raw.all(UPCOMING, params)
        return [AppointmentView(i, p, t, raw.dt(s), raw.dt(e)) for i, p, t, s, e in rows]

    def data_summary(self) -> Sequence[Sequence[Text]]:
        """Everything held about the patient, for the chat (MES DONNEES): the same categories
        and items as `creneau patient export`, never a preparation answer itself (only
        whether one is held, and until when). Groups of lines, one message each: who they
        are, their appointments a few at a time, then the technical rows."""
        row = self.row
        name = self.name
        who = [Text("data.header", {"practice": self.practice.name})]
        if name:
            who.append(Text("data.name", {"name": name}))
        else:
            who.append(Text("data.name_unreadable" if self.name_unreadable else "data.no_name"))
        who += [Text("data.address", {"address": self.address}), Text("data.lang")]
        if row.notice_at:
            params = {"date": Moment(row.notice_at, "date"), "version": row.notice_version}
            who.append(Text("data.notice", params))
        if row.opted_out:
            who.append(Text("data.opted_out"))
        if row.unreachable:
            who.append(Text("data.unreachable"))
        appointments = self._appointment_lines() or [[Text("data.no_appt")]]
        held = held_counts(self.session, row.id)
        rest = [Text("data.technical", held), Text("data.footer")]
        return [who, *_batches(appointments, APPOINTMENTS_PER_MESSAGE), rest]

    def _appointment_lines(self) -> list[list[Text]]:
        """Each appointment's lines: when, with whom, which type, its status; a preparation
        answer held is said with its deletion time, never shown."""
        query = (
            select(Appointment)
            .where(Appointment.patient_id == self.row.id)
            .order_by(col(Appointment.start))
        )
        out: list[list[Text]] = []
        for appt in self.session.exec(query):
            params = {
                "when": Moment(appt.start, "slot"),
                "practitioner": practitioner_name(self.practice, appt.practitioner_id),
                "type": type_label(self.practice, appt.type_id, self.row.lang),
            }
            booked = appt.status == "booked"
            lines = [Text("data.appt" if booked else "data.appt_cancelled", params)]
            if appt.prep_enc is not None:
                lines.append(Text("data.prep", {"until": Moment(appt.end, "slot")}))
            out.append(lines)
        return out


APPOINTMENTS_PER_MESSAGE = 3  # with a preparation line each, still within two SMS segments


def _batches(items: list[list[Text]], size: int) -> list[list[Text]]:
    """Appointments' lines, `size` appointments per message."""
    return [
        [line for item in items[i : i + size] for line in item] for i in range(0, len(items), size)
    ]


def practitioner_name(practice: Practice, practitioner_id: str) -> str:
    """The practitioner's name, or the id when the practice file no longer has them."""
    try:
        return practice.practitioner(practitioner_id).name
    except KeyError:
        return practitioner_id


def type_label(practice: Practice, type_id: str, lang: str) -> str:
    """The consultation type's label, or its id when the practice file no longer has it."""
    try:
        return practice.ctype(type_id).label_for(lang)
    except KeyError:
        return type_id


def held_counts(session: Session, patient_id: str) -> dict[str, int]:
    """What is held about a patient beyond name, address and appointments, counted: the
    conversation in progress, queued messages, processed message ids still linked to them,
    audit events naming them."""
    patient = table("patient")
    in_progress = core_select(func.count()).where(
        patient.c.id == patient_id, patient.c.conversation_enc.is_not(None)
    )
    counts = {"conversation": int(session.execute(in_progress).scalar_one())}
    for key, table_name, column in (
        ("queued", "outbox", "patient_id"),
        ("messages", "processed_message", "patient_id"),
        ("events", "audit_event", "subject"),
    ):
        t = table(table_name)
        query = core_select(func.count()).select_from(t).where(t.c[column] == patient_id)
        counts[key] = int(session.execute(query).scalar_one())
    return counts

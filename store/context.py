"""The engine's read port, implemented on a session: slots' busy periods, a patient's
appointments, what is held about them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import union_all
from sqlmodel import Session, col, select

from bot.engine import AppointmentView, PatientView
from bot.messages import Moment, Text
from bot.practice import Practice
from bot.slots import BusyLookup, Interval
from store.models import Appointment, Block, Patient
from store.vault import Vault

MAX_DURATION = timedelta(hours=24)  # no appointment is longer: bounds the busy look-up


def busy_intervals(
    session: Session, practice_id: str, practitioner_id: str, start: datetime, end: datetime
) -> list[Interval]:
    """Booked appointments and blocked periods of a practitioner overlapping [start, end),
    in one query; the appointment side is an indexed range scan bounded by MAX_DURATION."""
    appointments = select(Appointment.start, Appointment.end).where(
        Appointment.practice_id == practice_id,
        Appointment.practitioner_id == practitioner_id,
        Appointment.status == "booked",
        col(Appointment.start) >= start - MAX_DURATION,
        col(Appointment.start) < end,
        col(Appointment.end) > start,
    )
    blocks = select(Block.start, Block.end).where(
        Block.practice_id == practice_id,
        Block.practitioner_id == practitioner_id,
        col(Block.start) < end,
        col(Block.end) > start,
    )
    return [(s, e) for s, e in session.execute(union_all(appointments, blocks))]


class StoreContext:
    """What one engine step may read, from the open transaction."""

    def __init__(
        self,
        session: Session,
        practice: Practice,
        vault: Vault,
        now: datetime,
        patient: Patient,
        address: str,
    ) -> None:
        self.session = session
        self.practice = practice
        self.vault = vault
        self.now = now
        self.row = patient
        self.address = address

    @cached_property
    def patient(self) -> PatientView:
        return PatientView(
            self.row.id, self.row.lang, self.name, self.row.notice_version, self.row.opted_out
        )

    @cached_property
    def name(self) -> str | None:
        if self.row.name_enc is None:
            return None
        return self.vault.open("patient", "name", self.row.id, self.row.name_enc)

    def busy(self, practitioner_id: str) -> BusyLookup:
        def lookup(start: datetime, end: datetime) -> Iterable[Interval]:
            return busy_intervals(self.session, self.practice.id, practitioner_id, start, end)

        return lookup

    def upcoming(self) -> Sequence[AppointmentView]:
        return self._upcoming

    @cached_property
    def _upcoming(self) -> list[AppointmentView]:
        query = (
            select(Appointment)
            .where(
                Appointment.patient_id == self.row.id,
                Appointment.status == "booked",
                col(Appointment.start) > self.now,
            )
            .order_by(col(Appointment.start))
        )
        return [
            AppointmentView(a.id, a.practitioner_id, a.type_id, a.start, a.end)
            for a in self.session.exec(query)
        ]

    def data_summary(self) -> Sequence[Text]:
        """Everything held about the patient, as lines for the chat (MES DONNEES)."""
        row = self.row
        lines = [
            Text("data.header", {"practice": self.practice.name}),
            Text("data.name", {"name": self.name}) if self.name else Text("data.no_name"),
            Text("data.address", {"address": self.address}),
            Text("data.lang"),
        ]
        if row.notice_at:
            lines.append(
                Text(
                    "data.notice",
                    {"date": Moment(row.notice_at, "date"), "version": row.notice_version},
                )
            )
        query = (
            select(Appointment)
            .where(Appointment.patient_id == row.id)
            .order_by(col(Appointment.start))
        )
        appts = list(self.session.exec(query))
        lines += [
            Text(
                "data.appt" if a.status == "booked" else "data.appt_cancelled",
                {"when": Moment(a.start, "slot")},
            )
            for a in appts
        ] or [Text("data.no_appt")]
        if row.opted_out:
            lines.append(Text("data.opted_out"))
        lines.append(Text("data.footer"))
        return lines

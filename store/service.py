"""The booking service: one inbound message, one transaction.

It finds (or creates) the sender, locks their conversation, runs one engine step,
applies the step's effects, saves the new state and records the provider message id,
all in the same transaction; then it returns the replies rendered in the patient's
language. Nothing personal is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, delete, select

from bot.engine import (
    Book,
    Cancel,
    Conversation,
    Effect,
    Engine,
    EraseMe,
    OptIn,
    OptOut,
    Outcome,
    RecordNotice,
    SetLanguage,
    SetName,
    SlotTaken,
    Step,
)
from bot.flows import build_engine, slot_taken
from bot.i18n import Catalogs
from bot.messages import Inbound, Rendered, Text
from bot.practice import Practice
from bot.sanitize import clean_field
from store import audit
from store.address import normalise
from store.context import StoreContext, busy_intervals
from store.crypto import CryptoError
from store.db import Database, table
from store.erasure import erase
from store.models import (
    Appointment,
    Outbox,
    Patient,
    UTCDateTime,
    new_id,
    utcnow,
)
from store.ratelimit import Decision, RateLimiter, sender_key
from store.vault import Vault

log = logging.getLogger(__name__)
IDLE_RESET = timedelta(hours=24)
RETRIES = 3

# The statements of every turn, built once; Core where no ORM object is needed.
PATIENT = table("patient")
PROCESSED = table("processed_message")
CONVERSATION = table("conversation")
FIND_PROCESSED = core_select(PROCESSED.c.id, PROCESSED.c.patient_id, PROCESSED.c.reply_enc).where(
    PROCESSED.c.practice_id == bindparam("practice_id"),
    PROCESSED.c.channel == bindparam("channel"),
    PROCESSED.c.external_id == bindparam("external_id"),
)
FIND_PATIENT = select(Patient).where(
    col(Patient.practice_id) == bindparam("practice_id"),
    col(Patient.address_index) == bindparam("address_index"),
)
LOCK_PATIENT = FIND_PATIENT.with_for_update()
TOUCH_PATIENT = (
    update(PATIENT)
    .where(PATIENT.c.id == bindparam("patient_id"))
    .values(last_contact_at=bindparam("now", type_=UTCDateTime()), unreachable=False)
)
FIND_CONVERSATION = core_select(
    CONVERSATION.c.id, CONVERSATION.c.state_enc, CONVERSATION.c.updated_at
).where(CONVERSATION.c.patient_id == bindparam("patient_id"))
UPDATE_CONVERSATION = update(CONVERSATION).where(CONVERSATION.c.id == bindparam("row_id"))


@dataclass
class Turn:
    """The result of one inbound message."""

    replies: list[Rendered]
    patient_id: str | None
    lang: str
    repeated: bool = False
    erased: bool = False
    limited: bool = False  # over the sender's rate limit: the dialog did not run
    effects: list[Effect] = field(default_factory=list)


Enqueue = Callable[[Session, "Turn", str], None]


class Assistant:
    """Runs the dialog engine over the store."""

    def __init__(
        self,
        db: Database,
        practice: Practice,
        vault: Vault,
        catalogs: Catalogs,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.practice = practice
        self.vault = vault
        self.catalogs = catalogs
        self.engine = engine or build_engine()
        self.clock = clock

    # ------------------------------------------------------------ entry point

    def handle(
        self, inbound: Inbound, enqueue: Enqueue | None = None, limiter: RateLimiter | None = None
    ) -> Turn:
        """Handle one message; `enqueue(session, turn, address)` may queue the replies
        in the same transaction (channels that answer later, like Telegram); a `limiter`
        counts the message against its sender's window in that transaction too."""
        for attempt in range(RETRIES):
            try:
                return self._handle_once(inbound, enqueue, limiter)
            except IntegrityError:
                # a concurrent first message from the same sender, or the same provider id
                # delivered twice at once: the retry sees the other's committed rows
                log.info("retrying a turn after a concurrent write (attempt %d)", attempt + 1)
        return self._handle_once(inbound, enqueue, limiter)

    def _handle_once(
        self, inbound: Inbound, enqueue: Enqueue | None, limiter: RateLimiter | None
    ) -> Turn:
        address = normalise(inbound.channel, inbound.sender, self.practice.phone_region)
        with self.db.write() as session:
            done = self._already_processed(session, inbound)
            if done is not None:
                return done
            turn = self._limited(session, inbound, address, limiter) if limiter else None
            if turn is None:
                patient = self._patient(session, inbound, address)
                turn = self._step(session, inbound, patient, address)
            self._record_processed(session, inbound, turn)
            if enqueue is not None:
                enqueue(session, turn, address)
        if turn.erased:
            self.db.checkpoint()  # no old page version keeps what was just erased
        return turn

    def _limited(
        self, session: Session, inbound: Inbound, address: str, limiter: RateLimiter
    ) -> Turn | None:
        """None when the sender is within the limit; else the one notice, then silence."""
        key = sender_key(self.vault, self.practice.id, inbound.channel, address)
        decision = limiter.hit(session, self.practice.id, key, self.clock())
        if decision is Decision.ALLOW:
            return None
        patient = self._known(session, inbound, address)
        lang = patient.lang if patient is not None else self._first_lang(inbound)
        pid = patient.id if patient is not None else None
        if decision is Decision.SILENT or (patient is not None and patient.opted_out):
            return Turn([], pid, lang, limited=True)
        log.info("sender over the rate limit; notice sent once")
        text = self.catalogs.text(Text("rate_limited"), lang, self.practice.tz)
        return Turn([Rendered(text)], pid, lang, limited=True)

    # ------------------------------------------------------------ idempotence

    def _already_processed(self, session: Session, inbound: Inbound) -> Turn | None:
        if not inbound.message_id:
            return None
        params = {
            "practice_id": self.practice.id,
            "channel": inbound.channel,
            "external_id": self._message_key(inbound),
        }
        row = session.execute(FIND_PROCESSED, params).first()
        if row is None:
            return None
        return Turn(self._stored_reply(row), row.patient_id, self.practice.locale, repeated=True)

    def _message_key(self, inbound: Inbound) -> str:
        """What is kept of a provider message id: a keyed hash, never the id itself."""
        return self.vault.message_index(self.practice.id, inbound.channel, inbound.message_id)

    def _stored_reply(self, row: Any) -> list[Rendered]:
        """The reply given the first time (kept 48 h); none if gone or unreadable."""
        if row.reply_enc is None:
            return []
        try:
            raw = self.vault.open_json("processed_message", "reply", row.id, row.reply_enc)
        except CryptoError:
            log.warning("unreadable stored reply: processed_message row %s", row.id)
            return []
        return [Rendered.from_dict(r) for r in raw]

    def _record_processed(self, session: Session, inbound: Inbound, turn: Turn) -> None:
        if not inbound.message_id:
            return
        row_id = new_id()
        reply_enc = None
        if turn.replies:
            reply_enc = self.vault.seal_json(
                "processed_message", "reply", row_id, [r.to_dict() for r in turn.replies]
            )
        values = {
            "id": row_id,
            "practice_id": self.practice.id,
            "channel": inbound.channel,
            "external_id": self._message_key(inbound),
            "patient_id": None if turn.erased else turn.patient_id,
            "reply_enc": reply_enc,
            "created_at": self.clock(),
        }
        session.execute(insert(PROCESSED), values)

    # ------------------------------------------------------------ patient and conversation

    def _known(self, session: Session, inbound: Inbound, address: str) -> Patient | None:
        """The sender's row, locked for this turn (FOR UPDATE on PostgreSQL), if known."""
        index = self.vault.address_index(self.practice.id, inbound.channel, address)
        query = FIND_PATIENT if self.db.is_sqlite else LOCK_PATIENT
        params = {"practice_id": self.practice.id, "address_index": index}
        return session.exec(query, params=params).first()

    def _patient(self, session: Session, inbound: Inbound, address: str) -> Patient:
        patient = self._known(session, inbound, address)
        if patient is not None:
            return patient
        index = self.vault.address_index(self.practice.id, inbound.channel, address)
        patient = Patient(
            practice_id=self.practice.id,
            channel=inbound.channel,
            address_index=index,
            address_enc=b"",
            lang=self._first_lang(inbound),
            created_at=self.clock(),
            last_contact_at=self.clock(),
        )
        patient.address_enc = self.vault.seal("patient", "address", patient.id, address)
        session.add(patient)
        session.flush()
        return patient

    def _first_lang(self, inbound: Inbound) -> str:
        hint = (inbound.lang_hint or "").lower()
        if hint:
            return "fr" if hint.startswith("fr") else "en"
        return self.practice.locale

    def _conversation(
        self, session: Session, patient: Patient, now: datetime
    ) -> tuple[str | None, Conversation]:
        """The id of the patient's conversation row (None if there is none) and its state."""
        row = session.execute(FIND_CONVERSATION, {"patient_id": patient.id}).first()
        if row is None:
            return None, Conversation()
        if now - row.updated_at > IDLE_RESET:
            return row.id, Conversation()
        try:
            raw = self.vault.open_json("conversation", "state", row.id, row.state_enc)
        except CryptoError:  # one bad cell: start over rather than fail the patient's turn
            audit.unreadable(session, self.practice.id, "conversation", "state", row.id)
            return row.id, Conversation()
        return row.id, Conversation.from_dict(raw)

    def _save_conversation(
        self,
        session: Session,
        patient: Patient,
        row_id: str | None,
        conv: Conversation,
        now: datetime,
    ) -> None:
        """Update the conversation row, or insert it on a first turn."""
        new = row_id is None
        row_id = row_id or new_id()
        state_enc = self.vault.seal_json("conversation", "state", row_id, conv.to_dict())
        values = {"state_enc": state_enc, "updated_at": now}
        if new:
            ids = {"id": row_id, "practice_id": self.practice.id, "patient_id": patient.id}
            session.execute(insert(CONVERSATION), {**ids, **values})
        else:
            session.execute(UPDATE_CONVERSATION, {"row_id": row_id, **values})

    # ------------------------------------------------------------ one step

    def _step(self, session: Session, inbound: Inbound, patient: Patient, address: str) -> Turn:
        now = self.clock()
        conv_id, conv = self._conversation(session, patient, now)
        before = Conversation.from_dict(conv.to_dict())
        ctx = StoreContext(session, self.practice, self.vault, now, patient, address)
        outcome = self.engine.handle(conv, inbound, ctx)
        outcome = self._apply(session, outcome, patient, ctx, before, inbound)
        erased = any(isinstance(e, EraseMe) for e in outcome.effects)
        if erased:
            replies = self._render(outcome, patient.lang)
            return Turn(replies, None, patient.lang, erased=True, effects=outcome.effects)
        if outcome.silent:
            # silence (an opted-out patient's message, thanks by SMS): not a contact, nothing
            # to save, so ignored messages never push the retention deadline back
            return Turn([], patient.id, patient.lang)
        self._touch(session, patient, now)
        self._save_conversation(session, patient, conv_id, outcome.conv, now)
        return Turn(
            self._render(outcome, patient.lang), patient.id, patient.lang, effects=outcome.effects
        )

    @staticmethod
    def _touch(session: Session, patient: Patient, now: datetime) -> None:
        """Record the contact; they wrote to us, so they are reachable again (one UPDATE,
        the loaded row kept in step without a unit-of-work flush)."""
        session.execute(TOUCH_PATIENT, {"patient_id": patient.id, "now": now})
        set_committed_value(patient, "last_contact_at", now)
        set_committed_value(patient, "unreachable", False)

    def _render(self, outcome: Outcome, lang: str) -> list[Rendered]:
        return [self.catalogs.render(r, lang, self.practice.tz) for r in outcome.replies]

    def _apply(
        self,
        session: Session,
        outcome: Outcome,
        patient: Patient,
        ctx: StoreContext,
        before: Conversation,
        inbound: Inbound,
    ) -> Outcome:
        """Apply the effects in order; a slot taken meanwhile turns into new offers."""
        for effect in outcome.effects:
            try:
                self._apply_one(session, effect, patient, ctx.now)
            except SlotTaken:
                log.info("slot taken during booking; offering others")
                step = Step(before, inbound, ctx, "", "", None)
                return slot_taken(step)  # effects before the booking stay applied
        return outcome

    def _apply_one(self, session: Session, effect: Effect, patient: Patient, now: datetime) -> None:
        pid = self.practice.id
        if isinstance(effect, RecordNotice):
            patient.notice_version, patient.notice_at = effect.version, now
        elif isinstance(effect, SetLanguage):
            patient.lang = effect.lang
        elif isinstance(effect, SetName):
            name = clean_field(effect.name)
            if name:
                patient.name_enc = self.vault.seal("patient", "name", patient.id, name)
        elif isinstance(effect, OptOut):
            patient.opted_out = True
            session.exec(delete(Outbox).where(col(Outbox.patient_id) == patient.id))
            audit.record(session, pid, f"patient:{patient.id}", "opt_out", patient.id)
        elif isinstance(effect, OptIn):
            patient.opted_out = False
            audit.record(session, pid, f"patient:{patient.id}", "opt_in", patient.id)
        elif isinstance(effect, Book):
            self.book(session, patient, effect, now)
        elif isinstance(effect, Cancel):
            self.cancel(session, patient, effect.appointment_id, now, by="patient")
        elif isinstance(effect, EraseMe):
            erase(session, self.vault, self.practice, patient, now, actor=f"patient:{patient.id}")
            return
        session.add(patient)

    # ------------------------------------------------------------ bookings

    def book(self, session: Session, patient: Patient, effect: Book, now: datetime) -> Appointment:
        """Insert the appointment after re-checking the slot in this transaction."""
        clash = busy_intervals(
            session, self.practice.id, effect.practitioner_id, effect.start, effect.end
        )
        if clash:
            raise SlotTaken()
        appt = Appointment(
            practice_id=self.practice.id,
            patient_id=patient.id,
            practitioner_id=effect.practitioner_id,
            type_id=effect.type_id,
            start=effect.start,
            end=effect.end,
            created_at=now,
        )
        answer = clean_field(effect.prep_answer or "")
        if answer:
            appt.prep_enc = self.vault.seal("appointment", "prep", appt.id, answer)
        try:
            with session.begin_nested():
                session.add(appt)
                session.flush()
        except IntegrityError as exc:  # the database's own no-overlap guard (PostgreSQL)
            raise SlotTaken() from exc
        if effect.replaces:
            self.cancel(session, patient, effect.replaces, now, by="patient")
        return appt

    def cancel(
        self, session: Session, patient: Patient | None, appointment_id: str, now: datetime, by: str
    ) -> Appointment | None:
        """Cancel one booked appointment (of this patient when one is given)."""
        appt = session.get(Appointment, appointment_id)
        if appt is None or appt.status != "booked" or appt.practice_id != self.practice.id:
            return None
        if patient is not None and appt.patient_id != patient.id:
            return None
        appt.status, appt.cancelled_at, appt.cancelled_by = "cancelled", now, by
        appt.prep_enc = None  # a cancelled appointment needs no preparation answer
        session.add(appt)
        return appt

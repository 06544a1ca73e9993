"""The booking service: one inbound message, one transaction.

It finds (or creates) the sender, locks their conversation, runs one engine step,
applies the step's effects, saves the new state and records the provider message id,
all in the same transaction; then it returns the replies rendered in the patient's
language. Nothing personal is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

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
from store.address import checked, presumed
from store.context import (
    BLOCKS_OVERLAPPING,
    BOOKED_OVERLAPPING,
    BOOKED_OVERLAPPING_PG,
    MAX_DURATION,
    PatientRow,
    StoreContext,
)
from store.crypto import CryptoError
from store.db import Database
from store.db import TurnTransaction as DbTurn
from store.erasure import erase
from store.models import Appointment, Patient, new_id, utcnow
from store.ratelimit import Decision, RateLimiter, sender_key
from store.raw import SQL, Raw
from store.vault import Vault

log = logging.getLogger(__name__)
IDLE_RESET = timedelta(hours=24)
RETRIES = 3

# The statements of every turn: plain driver calls on the turn's own connection (store.raw).
FIND_PROCESSED = SQL(
    "SELECT id, patient_id, reply_enc FROM processed_message "
    "WHERE practice_id = :practice AND channel = :channel AND external_id = :key"
)
RECORD_PROCESSED = SQL(
    "INSERT INTO processed_message (id, practice_id, channel, external_id, patient_id, "
    "reply_enc, created_at) VALUES (:id, :practice, :channel, :key, :patient, :reply, :now)"
)
PATIENT_COLUMNS = (
    "id, practice_id, channel, address_enc, name_enc, lang, notice_version, notice_at, "
    "opted_out, unreachable, conversation_enc, conversation_at"
)
FIND_PATIENT = SQL(
    f"SELECT {PATIENT_COLUMNS} FROM patient "
    "WHERE practice_id = :practice AND address_index = :index"
)
LOCK_PATIENT = SQL(FIND_PATIENT.sqlite + " FOR UPDATE")  # PostgreSQL: one turn at a time
INSERT_PATIENT = SQL(
    "INSERT INTO patient (id, practice_id, channel, address_index, address_enc, name_enc, "
    "lang, notice_version, notice_at, opted_out, unreachable, created_at, last_contact_at) "
    "VALUES (:id, :practice, :channel, :index, :address, NULL, :lang, NULL, NULL, FALSE, "
    "FALSE, :now, :now)"
)
# The contact, the conversation and whatever the turn changed of the patient, in one row:
# they wrote to us, so they are reachable again.
SAVE_PATIENT = SQL(
    "UPDATE patient SET last_contact_at = :now, unreachable = FALSE, name_enc = :name, "
    "lang = :lang, notice_version = :notice_version, notice_at = :notice_at, "
    "opted_out = :opted_out, conversation_enc = :conversation, conversation_at = :now "
    "WHERE id = :id"
)
# A newcomer whose first turn changes only their own row: inserted once, as the turn left it.
INSERT_SAVED_PATIENT = SQL(
    "INSERT INTO patient (id, practice_id, channel, address_index, address_enc, name_enc, "
    "lang, notice_version, notice_at, opted_out, unreachable, created_at, last_contact_at, "
    "conversation_enc, conversation_at) VALUES (:id, :practice, :channel, :index, :address, "
    ":name, :lang, :notice_version, :notice_at, :opted_out, FALSE, :now, :now, "
    ":conversation, :now)"
)
# effects that change nothing but the patient's own row
ROW_ONLY = (RecordNotice, SetLanguage, SetName)
DROP_QUEUED = SQL("DELETE FROM outbox WHERE patient_id = :patient")
# The slot re-checked and booked in one statement: the row is inserted only if nothing of
# the practitioner's agenda (a booked appointment, a block) overlaps it, the look-ups of
# the slot search (store.context). SQLite: BEGIN IMMEDIATE, nobody else writes between
# the check and the insert. PostgreSQL: a booking committed meanwhile, which the check
# cannot see, is refused by the no-overlap guard and simply not inserted (no savepoint);
# the values are cast where a NULL or a bare parameter would not tell PostgreSQL their type.
_BOOK = (
    "INSERT INTO appointment (id, practice_id, patient_id, practitioner_id, type_id, start, "
    '"end", status, prep_enc, created_at) SELECT {values} '
    "WHERE NOT EXISTS (SELECT 1 {booked}) AND NOT EXISTS (SELECT 1 " + BLOCKS_OVERLAPPING + ")"
)
BOOK_IF_FREE = SQL(
    _BOOK.format(
        values=":id, :practice, :patient, :practitioner, :type, :start, :end, :booked, :prep, :now",
        booked=BOOKED_OVERLAPPING,
    ),
    pg=_BOOK.format(
        values="CAST(:id AS VARCHAR), CAST(:practice AS VARCHAR), CAST(:patient AS VARCHAR), "
        "CAST(:practitioner AS VARCHAR), CAST(:type AS VARCHAR), CAST(:start AS TIMESTAMP), "
        "CAST(:end AS TIMESTAMP), CAST(:booked AS VARCHAR), CAST(:prep AS BYTEA), "
        "CAST(:now AS TIMESTAMP)",
        booked=BOOKED_OVERLAPPING_PG,
    )
    + " ON CONFLICT DO NOTHING",
)
# PostgreSQL: the booking sent with the turn's last writes and its COMMIT (one round trip
# less): a slot no longer free inserts nothing, and the division by that zero count then
# fails the whole pipeline, so nothing of the turn is kept and it runs again, booking on
# its own (`Assistant.handle`). COUNT(*) is not a constant: PostgreSQL cannot fold 1/0 away.
REFUSED_BOOKING = "22012"  # division_by_zero: the only division among a turn's statements


@cache
def with_refusal(book: SQL) -> SQL:
    """`book` (an INSERT without RETURNING) failing with REFUSED_BOOKING when it inserts
    nothing; PostgreSQL only."""
    return SQL(
        book.sqlite, pg=f"WITH booked AS ({book.pg} RETURNING 1) SELECT 1 / COUNT(*) FROM booked"
    )


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
    # the replies sealed for the provider-id record (its row id, the sealed cell), when the
    # step sealed them before the writing transaction
    stored: tuple[str, bytes | None] | None = field(default=None, repr=False, compare=False)


Enqueue = Callable[[Session, "Turn", str], None]


@dataclass
class Worked:
    """One engine step for a patient: where it started, what it decided, the replies as
    rendered in `lang` (the patient's language when it ran), and what the writes will
    need sealed: the new conversation, the replies for the provider-id record."""

    ctx: StoreContext
    conv: Conversation
    outcome: Outcome
    replies: list[Rendered]
    lang: str
    conversation: bytes
    stored: tuple[str, bytes | None]

    def on(self, tx: DbTurn, patient: PatientRow) -> Worked:
        """The same step, its effects to be applied in `tx` to `patient`."""
        return replace(self, ctx=self.ctx.moved(tx, patient))


@dataclass
class Plan:
    """A step worked out on a snapshot: `row` is the patient's row as it read it (None
    for a newcomer), `patient` the patient it ran for."""

    row: PatientRow | None
    patient: PatientRow
    step: Worked


class HasId(Protocol):
    """A patient as booking and cancelling need it: an ORM row or a turn's PatientRow."""

    @property
    def id(self) -> str: ...


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
        book_at_commit = True
        for attempt in range(RETRIES):
            try:
                return self._handle_once(inbound, enqueue, limiter, attempt > 0, book_at_commit)
            except IntegrityError:
                # the provider id recorded already (a message delivered again), or a
                # concurrent first message from the same sender: the retry looks for the
                # record and sees the other's committed rows
                log.info("retrying a turn after a concurrent write (attempt %d)", attempt + 1)
            except DBAPIError as exc:
                if not book_at_commit or _sqlstate(exc) != REFUSED_BOOKING:
                    raise
                # the slot was taken meanwhile: the turn again, its booking on its own,
                # to offer others (nothing of the refused attempt was kept)
                log.info("slot taken at the commit; the turn runs again")
                book_at_commit = False
        return self._handle_once(inbound, enqueue, limiter, True, False)

    def _handle_once(
        self,
        inbound: Inbound,
        enqueue: Enqueue | None,
        limiter: RateLimiter | None,
        look_up: bool,
        book_at_commit: bool,
    ) -> Turn:
        """One attempt. The first does not look for the provider id's record: its unique
        key refuses the record of a message handled already, which rolls the attempt back
        (nothing written, nothing counted), and the next attempt (`look_up`) finds it and
        repeats the reply given. Messages delivered again are rare; a look-up per turn
        was one more statement and index page for every message. With `book_at_commit`, a
        booking on PostgreSQL goes with the last writes (`with_refusal`)."""
        region = self.practice.phone_region
        address, verified = presumed(inbound.channel, inbound.sender, region)
        key = self._message_key(inbound)
        index = self.vault.address_index(self.practice.id, inbound.channel, address)
        plan = self._plan(inbound, address, index) if self.db.gated else None
        with self.db.turn() as tx:
            raw = tx.raw
            tx.book_at_commit = book_at_commit and not raw.sqlite
            processed, known, decision = self._first_reads(
                raw, inbound, address, index, key if look_up else None, limiter
            )
            if processed is not None:
                tx.discard()  # nothing to write; the message is not counted either
                return self._repeat(processed)
            if known is None and not verified:
                checked(address, region)  # a sender with no row: AddressError rolls back
            turn = self._limited(raw, inbound, known, decision)
            if turn is None:
                turn = self._dialog(tx, inbound, address, index, plan, known)
            self._record_processed(tx, inbound, key, turn)
            if enqueue is not None:
                enqueue(tx.session, turn, address)
        if turn.erased:
            self.db.checkpoint()  # no old page version keeps what was just erased
        return turn

    def _limited(
        self, raw: Raw, inbound: Inbound, patient: PatientRow | None, decision: Decision | None
    ) -> Turn | None:
        """None when the sender is within the limit (or none applies); else the one
        notice, then silence."""
        if decision is None or decision is Decision.ALLOW:
            return None
        lang = patient.lang if patient is not None else self._first_lang(inbound)
        pid = patient.id if patient is not None else None
        if decision is Decision.SILENT or (patient is not None and patient.opted_out):
            return Turn([], pid, lang, limited=True)
        log.info("sender over the rate limit; notice sent once")
        text = self.catalogs.text(Text("rate_limited"), lang, self.practice.tz)
        return Turn([Rendered(text)], pid, lang, limited=True)

    # ------------------------------------------------------------ idempotence

    def _message_key(self, inbound: Inbound) -> str | None:
        """What is kept of a provider message id: a keyed hash, never the id itself."""
        if not inbound.message_id:
            return None
        return self.vault.message_index(self.practice.id, inbound.channel, inbound.message_id)

    def _first_reads(
        self,
        raw: Raw,
        inbound: Inbound,
        address: str,
        index: str,
        key: str | None,
        limiter: RateLimiter | None = None,
    ) -> tuple[Sequence[Any] | None, PatientRow | None, Decision | None]:
        """The record of the provider message id `key` if it was handled already (when a
        key is given to look for), the sender's row (locked for the turn on PostgreSQL)
        and, with a limiter, the message counted against its sender's window: together,
        one round trip on PostgreSQL. (A message handled already is not counted: its
        transaction is discarded.) `index`: the address's blind index, computed once per
        turn."""
        queries: list[tuple[SQL, dict[str, Any]]] = [
            (
                FIND_PATIENT if raw.sqlite else LOCK_PATIENT,
                {"practice": self.practice.id, "index": index},
            )
        ]
        if key is not None:
            params = {"practice": self.practice.id, "channel": inbound.channel, "key": key}
            queries.append((FIND_PROCESSED, params))
        if limiter is not None:
            sender = sender_key(self.vault, self.practice.id, inbound.channel, address)
            queries.append(limiter.count(raw, self.practice.id, sender, self.clock()))
        rows = raw.ones(*queries)
        processed = rows[1] if key is not None else None
        decision = None
        if limiter is not None and processed is None:
            decision = limiter.decide(raw, queries[-1][1], rows[-1])
        return processed, self._patient_row(raw, rows[0]), decision

    def _repeat(self, processed: Sequence[Any]) -> Turn:
        """The reply given the first time to a message delivered again."""
        row_id, patient_id, reply_enc = processed
        replies = self._stored_reply(row_id, reply_enc)
        return Turn(replies, patient_id, self.practice.locale, repeated=True)

    def _stored_reply(self, row_id: str, reply_enc: bytes | None) -> list[Rendered]:
        """The reply given the first time (kept 48 h); none if gone or unreadable."""
        if reply_enc is None:
            return []
        try:
            raw = self.vault.open_json("processed_message", "reply", row_id, bytes(reply_enc))
        except CryptoError:
            log.warning("unreadable stored reply: processed_message row %s", row_id)
            return []
        return [Rendered.from_dict(r) for r in raw]

    def _record_processed(self, tx: DbTurn, inbound: Inbound, key: str | None, turn: Turn) -> None:
        if key is None:
            return
        row_id, reply_enc = turn.stored or self._sealed_reply(turn.replies)
        values = {
            "id": row_id,
            "practice": self.practice.id,
            "channel": inbound.channel,
            "key": key,
            "patient": None if turn.erased else turn.patient_id,
            "reply": reply_enc,
            "now": tx.raw.ts(self.clock()),
        }
        tx.last(RECORD_PROCESSED, values)

    def _sealed_reply(self, replies: list[Rendered]) -> tuple[str, bytes | None]:
        """A provider-id record's row id and its sealed replies (none: nothing sealed)."""
        row_id = new_id()
        if not replies:
            return row_id, None
        sealed = self.vault.seal_json(
            "processed_message", "reply", row_id, [r.to_dict() for r in replies]
        )
        return row_id, sealed

    # ------------------------------------------------------------ patient and conversation

    def _patient_row(self, raw: Raw, row: Sequence[Any] | None) -> PatientRow | None:
        """A patient row as read by FIND_PATIENT or LOCK_PATIENT."""
        if row is None:
            return None
        pid, practice_id, channel, address_enc, name_enc, lang, version, notice_at = row[:8]
        return PatientRow(
            pid,
            practice_id,
            channel,
            bytes(address_enc),
            bytes(name_enc) if name_enc is not None else None,
            lang,
            version,
            raw.dt(notice_at) if notice_at is not None else None,
            bool(row[8]),
            bool(row[9]),
            bytes(row[10]) if row[10] is not None else None,
            raw.dt(row[11]) if row[11] is not None else None,
        )

    def _newcomer(self, inbound: Inbound, address: str) -> PatientRow:
        """A sender never seen, as a row not written yet."""
        row_id = new_id()
        sealed = self.vault.seal("patient", "address", row_id, address)
        lang = self._first_lang(inbound)
        return PatientRow(
            row_id, self.practice.id, inbound.channel, sealed, None, lang, None, None,
            False, False, None, None,
        )  # fmt: skip

    def _insert(self, raw: Raw, patient: PatientRow, index: str) -> PatientRow:
        """Write a newcomer's row (`index`: its address's blind index)."""
        values = {
            "id": patient.id,
            "practice": self.practice.id,
            "channel": patient.channel,
            "index": index,
            "address": patient.address_enc,
            "lang": patient.lang,
            "now": raw.ts(self.clock()),
        }
        raw.run(INSERT_PATIENT, values)
        return patient

    def _first_lang(self, inbound: Inbound) -> str:
        hint = (inbound.lang_hint or "").lower()
        if hint:
            return "fr" if hint.startswith("fr") else "en"
        return self.practice.locale

    def _conversation(self, tx: DbTurn, patient: PatientRow, now: datetime) -> Conversation:
        """The patient's dialog position: afresh after 24 h of silence, or when the cell
        does not open (one bad cell: start over rather than fail the patient's turn)."""
        if patient.conversation_enc is None or patient.conversation_at is None:
            return Conversation()
        if now - patient.conversation_at > IDLE_RESET:
            return Conversation()
        try:
            state = self.vault.open_json(
                "patient", "conversation", patient.id, patient.conversation_enc
            )
        except CryptoError:
            audit.unreadable(tx.session, self.practice.id, "patient", "conversation", patient.id)
            return Conversation()
        return Conversation.from_dict(state)

    def _save(
        self,
        tx: DbTurn,
        patient: PatientRow,
        now: datetime,
        sealed: bytes,
        new_index: str | None = None,
    ) -> None:
        """Record the contact, the conversation (`sealed` by `_seal`) and what the turn
        changed of the patient (with the commit: nothing reads it back in the turn); a
        newcomer's row (`new_index`: its blind index) is inserted so."""
        raw = tx.raw
        values = {
            "id": patient.id,
            "now": raw.ts(now),
            "name": patient.name_enc,
            "lang": patient.lang,
            "notice_version": patient.notice_version,
            "notice_at": raw.ts(patient.notice_at) if patient.notice_at else None,
            "opted_out": patient.opted_out,
            "conversation": sealed,
        }
        if new_index is None:
            tx.last(SAVE_PATIENT, values)
            return
        values.update(
            practice=self.practice.id,
            channel=patient.channel,
            index=new_index,
            address=patient.address_enc,
        )
        tx.last(INSERT_SAVED_PATIENT, values)

    def _seal(self, patient: PatientRow, conv: Conversation) -> bytes:
        """The patient's conversation cell."""
        return self.vault.seal_json("patient", "conversation", patient.id, conv.to_dict())

    # ------------------------------------------------------------ one step

    def _plan(self, inbound: Inbound, address: str, index: str) -> Plan | None:
        """On a SQLite file: the step worked out on a snapshot, outside the write gate (which
        then waits only for the writes); None when the step had something to record on the
        way (an unreadable cell) or could not read. A message delivered again (rare) is
        recognised in the writing turn, which then drops the plan."""
        try:
            with self.db.snapshot() as tx:
                _, row, _ = self._first_reads(tx.raw, inbound, address, index, None)
                patient = replace(row) if row is not None else self._newcomer(inbound, address)
                step = self._work(tx, inbound, patient, address)
                if tx.wrote:
                    return None
        except SQLAlchemyError:
            log.info("snapshot unavailable; the turn runs in its transaction")
            return None
        return Plan(row, patient, step)

    def _dialog(
        self,
        tx: DbTurn,
        inbound: Inbound,
        address: str,
        index: str,
        plan: Plan | None,
        current: PatientRow | None,
    ) -> Turn:
        """The dialog's turn in the writing transaction, `current` the patient's row as it
        read it: the plan's step when the row is still the one the plan read (nobody else
        wrote to them meanwhile), else afresh. A newcomer's row is written once, with the
        turn's other writes, unless the step's effects need it in the table first."""
        if plan is not None and plan.row == current:
            patient = current if current is not None else plan.patient
            step = plan.step.on(tx, patient)
        else:
            patient = current if current is not None else self._newcomer(inbound, address)
            step = self._work(tx, inbound, patient, address)
        if current is not None:
            return self._conclude(tx, inbound, patient, step)
        outcome = step.outcome
        if outcome.silent or not all(isinstance(e, ROW_ONLY) for e in outcome.effects):
            self._insert(tx.raw, patient, index)
            return self._conclude(tx, inbound, patient, step)
        return self._conclude(tx, inbound, patient, step, new_index=index)

    def _work(self, tx: DbTurn, inbound: Inbound, patient: PatientRow, address: str) -> Worked:
        """One engine step for the patient, and its replies rendered (nothing written)."""
        now = self.clock()
        conv = self._conversation(tx, patient, now)
        ctx = StoreContext(
            tx, self.practice, self.vault, now, patient, address, self.catalogs, inbound.channel
        )
        outcome = self.engine.handle(conv, inbound, ctx)
        replies = self._render(outcome, patient.lang)
        sealed = self._seal(patient, outcome.conv)
        return Worked(
            ctx, conv, outcome, replies, patient.lang, sealed, self._sealed_reply(replies)
        )

    def _conclude(
        self,
        tx: DbTurn,
        inbound: Inbound,
        patient: PatientRow,
        step: Worked,
        new_index: str | None = None,
    ) -> Turn:
        """Apply the step's effects, save the conversation: the turn's replies. With
        `new_index` (a newcomer's blind index), the saved row is inserted."""
        outcome = self._apply(tx, step.outcome, patient, step.ctx, step.conv, inbound)
        same = outcome is step.outcome
        stored: tuple[str, bytes | None] | None = step.stored
        if same and patient.lang == step.lang:
            replies = step.replies
        else:  # a slot taken meanwhile, or the patient chose another language
            replies, stored = self._render(outcome, patient.lang), None
        if any(isinstance(e, EraseMe) for e in outcome.effects):
            return Turn(
                replies, None, patient.lang, erased=True, effects=outcome.effects, stored=stored
            )
        if outcome.silent:
            # silence (an opted-out patient's message, thanks by SMS): not a contact, nothing
            # to save, so ignored messages never push the retention deadline back
            return Turn([], patient.id, patient.lang)
        sealed = step.conversation if same else self._seal(patient, outcome.conv)
        self._save(tx, patient, step.ctx.now, sealed, new_index)
        return Turn(replies, patient.id, patient.lang, effects=outcome.effects, stored=stored)

    def _render(self, outcome: Outcome, lang: str) -> list[Rendered]:
        return [self.catalogs.render(r, lang, self.practice.tz) for r in outcome.replies]

    def _apply(
        self,
        tx: DbTurn,
        outcome: Outcome,
        patient: PatientRow,
        ctx: StoreContext,
        before: Conversation,
        inbound: Inbound,
    ) -> Outcome:
        """Apply the effects in order; a slot taken meanwhile turns into new offers."""
        for effect in outcome.effects:
            try:
                self._apply_one(tx, effect, patient, ctx.now)
            except SlotTaken:
                log.info("slot taken during booking; offering others")
                step = Step(before, inbound, ctx, "", "", None)
                return slot_taken(step)  # effects before the booking stay applied
        return outcome

    def _apply_one(self, tx: DbTurn, effect: Effect, patient: PatientRow, now: datetime) -> None:
        pid, raw = self.practice.id, tx.raw
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
            raw.run(DROP_QUEUED, {"patient": patient.id})
            audit.record(tx.session, pid, f"patient:{patient.id}", "opt_out", patient.id)
        elif isinstance(effect, OptIn):
            patient.opted_out = False
            audit.record(tx.session, pid, f"patient:{patient.id}", "opt_in", patient.id)
        elif isinstance(effect, Book):
            if tx.book_at_commit and not effect.replaces:
                tx.last(with_refusal(BOOK_IF_FREE), self._booking(raw, patient, effect, now))
                return
            self.book(tx.opened_session, patient, effect, now, raw)
            if effect.replaces:  # a move: the old one goes in the same transaction
                self.cancel(tx.session, patient, effect.replaces, now, by="patient")
        elif isinstance(effect, Cancel):
            self.cancel(tx.session, patient, effect.appointment_id, now, by="patient")
        elif isinstance(effect, EraseMe):
            row = tx.session.get(Patient, patient.id)
            assert row is not None  # locked for this turn
            erase(tx.session, self.vault, self.practice, row, now, actor=f"patient:{patient.id}")

    # ------------------------------------------------------------ bookings

    def book(
        self,
        session: Session | None,
        patient: HasId,
        effect: Book,
        now: datetime,
        raw: Raw | None = None,
    ) -> str:
        """Insert the appointment if its slot is still free in this transaction; its id.
        SlotTaken when someone was faster (the check, or PostgreSQL's no-overlap guard).
        `session`: the ORM session whose pending changes the check must see, if any."""
        if session is not None:
            session.flush()
        if raw is None:
            assert session is not None
            raw = Raw(session)
        values = self._booking(raw, patient, effect, now)
        if raw.run(BOOK_IF_FREE, values) == 0:
            raise SlotTaken()
        return str(values["id"])

    def _booking(self, raw: Raw, patient: HasId, effect: Book, now: datetime) -> dict[str, Any]:
        """The booking statement's values: a new appointment, its preparation answer sealed."""
        appt_id = new_id()
        answer = clean_field(effect.prep_answer or "")
        return {
            "id": appt_id,
            "practice": self.practice.id,
            "patient": patient.id,
            "practitioner": effect.practitioner_id,
            "type": effect.type_id,
            "start": raw.ts(effect.start),
            "end": raw.ts(effect.end),
            "lowest": raw.ts(effect.start - MAX_DURATION),
            "booked": "booked",
            "prep": self.vault.seal("appointment", "prep", appt_id, answer) if answer else None,
            "now": raw.ts(now),
        }

    def cancel(
        self, session: Session, patient: HasId | None, appointment_id: str, now: datetime, by: str
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


def _sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of the driver's error behind `exc` (PostgreSQL), if any."""
    return getattr(exc.orig, "sqlstate", None)

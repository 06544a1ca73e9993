"""On a SQLite file a turn is worked out on a snapshot before it takes the write gate, then
applied only if the patient's row is still the one it read. Another turn of the same
patient committing in between (Twilio delivering two messages at once) must win: the
later turn runs again on what is now stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from channels.runtime import Runtime
from store.db import Database, SnapshotWrite
from store.models import Appointment, AuditEvent, Block, Patient
from store.raw import SQL
from store.service import Assistant
from tests.conftest import Patient as Chat

pytestmark = pytest.mark.sqlite_only  # PostgreSQL turns lock the patient's row instead


class Interleaved(Assistant):
    """The real assistant; `meanwhile` runs once, between a turn's snapshot and its write."""

    meanwhile: Callable[[], object] | None = None

    def _plan(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        plan = super()._plan(*args, **kwargs)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return plan


@pytest.fixture
def assistant(runtime: Runtime, clock) -> Interleaved:
    rt = runtime
    rt.__dict__["assistant"] = Interleaved(rt.db, rt.practice, rt.vault, rt.catalogs, clock=clock)
    return rt.__dict__["assistant"]


def count(runtime: Runtime, model: type) -> int:
    with runtime.db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_message_answered_meanwhile_moves_the_turn_onto_the_stored_state(runtime, assistant):
    """At the slot list, "1" would choose the first slot; but "MENU" from the same phone
    was handled meanwhile, so "1" now means the menu's first choice: book, which asks the
    type. No slot is chosen on a state that is no longer the patient's."""
    alice = Chat(assistant, "+33612345678", "sms")
    assert "Pour quel type de RDV" in alice.send("Bonjour")
    slots = alice.send("1")
    assert "1. " in slots and "Pour quel type" not in slots
    assistant.meanwhile = lambda: alice.send("MENU")
    answer = alice.send("1")
    assert "Pour quel type de RDV" in answer and "A quel nom" not in answer
    assert [text for text, _ in alice.log] == ["Bonjour", "1", "MENU", "1"]
    assert "1. " in alice.send("1")  # the type: the slots, as from the menu
    assert count(runtime, Appointment) == 0


def test_a_newcomer_whose_first_message_landed_meanwhile_gets_one_row_and_one_notice(
    runtime, assistant
):
    bob = Chat(assistant, "+33698765432", "sms")
    first: list[str] = []
    assistant.meanwhile = lambda: first.append(bob.send("Bonjour"))
    second = bob.send("Bonjour")
    assert "confidentialite" in first[0]
    assert "confidentialite" not in second and "Pour quel type de RDV" in second
    assert count(runtime, Patient) == 1


def test_a_step_that_must_record_something_runs_in_the_writing_turn(runtime, assistant):
    """Reading an unreadable cell is audited: the snapshot cannot write, so the turn runs
    again where it can, and the event is recorded once."""
    alice = Chat(assistant, "+33612345678", "sms")
    alice.send("Bonjour")
    with runtime.db.write() as session:
        row = session.exec(select(Patient)).one()
        row.conversation_enc = b"\x00" * 40
        session.add(row)
    assert "Que souhaitez-vous faire" in alice.send("MENU")
    with runtime.db.read() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell"))
        assert [e.detail for e in events] == ["patient.conversation"]


def test_a_snapshot_that_writes_is_a_bug_raised_and_undone(runtime) -> None:
    db: Database = runtime.db
    insert = SQL(
        "INSERT INTO audit_event (id, practice_id, actor, action, subject, detail, at) "
        "VALUES ('x', 'p', 'a', 'b', 'c', 'd', '2026-12-01 00:00:00.000000')"
    )
    with pytest.raises(SnapshotWrite), db.snapshot() as tx:
        tx.raw.run(insert, {})
    assert count(runtime, AuditEvent) == 0


def at_confirmation(assistant: Interleaved, number: str, name: str) -> Chat:
    """A patient at the confirmation question for the first slot (Wed 2 Dec 11:10, Paris)."""
    chat = Chat(assistant, number, "sms")
    for text in ("RDV", "1", "1", name):
        chat.send(text)
    return chat


def test_a_booking_of_the_same_slot_meanwhile_ends_in_new_offers(runtime, assistant):
    """The snapshot saw the slot free; the writing turn's booking statement sees it taken."""
    alice = at_confirmation(assistant, "+33612345678", "Alice Durand")
    bob = at_confirmation(assistant, "+33698765432", "Bob Martin")
    confirmed: list[str] = []
    assistant.meanwhile = lambda: confirmed.append(bob.send("1"))
    answer = alice.send("1")
    assert "RDV confirmé" in confirmed[0]
    assert "vient d'être pris" in answer and "1. mer. 2 déc. 11:30" in answer
    assert count(runtime, Appointment) == 1


def test_a_period_blocked_meanwhile_is_not_booked(runtime, assistant):
    """A block over the slot committed between the snapshot and the write (`/absent`)."""
    alice = at_confirmation(assistant, "+33612345678", "Alice Durand")
    start = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # 11:00-12:00 in Paris

    def block() -> None:
        with runtime.db.write() as session:
            session.add(
                Block(
                    practice_id="default",
                    practitioner_id="roux",
                    start=start,
                    end=start + timedelta(hours=1),
                )
            )

    assistant.meanwhile = block
    assert "vient d'être pris" in alice.send("1")
    assert count(runtime, Appointment) == 0

"""A turn's transaction on PostgreSQL: begun with its first statements, committed with its
last writes, each a single round trip; atomic whatever runs first; the pooled connection
handed back as it was taken (second pass of `make test`).

Round trips are counted from libpq's own trace of the connection: every message the client
then waits on (a Sync, or a simple Query) is one."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.messages import Inbound
from store.db import Database
from store.models import Appointment
from store.ratelimit import RateLimiter
from store.raw import SQL

pytestmark = pytest.mark.postgres

START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
COUNT_APPOINTMENTS = SQL("SELECT count(*) FROM appointment")
INSERT_RATE = SQL(
    "INSERT INTO rate_limit (practice_id, key, window_start, count, notified) "
    "VALUES ('p1', :key, now(), 1, FALSE)"
)


@contextmanager
def waits(engine: Engine) -> Iterator[list[str]]:
    """The client's messages that wait for the server's answer (Sync, Query), as libpq
    traced them on every connection checked out in the block; filled when it ends."""
    from psycopg import pq

    traces: list[tuple[object, str]] = []

    def checkout(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        handle, path = tempfile.mkstemp(prefix="creneau-pq-trace-")
        dbapi_conn.pgconn.trace(handle)  # libpq's stream owns the descriptor from here
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append((dbapi_conn, path))

    found: list[str] = []
    event.listen(engine, "checkout", checkout)
    try:
        yield found
    finally:
        event.remove(engine, "checkout", checkout)
        for dbapi_conn, path in traces:
            dbapi_conn.pgconn.untrace()  # flushes and closes the stream
            with open(path, encoding="utf-8", errors="replace") as trace:
                for line in trace:
                    fields = line.split("\t")
                    if len(fields) > 2 and fields[0] == "F" and fields[2].strip() in WAITING:
                        found.append(fields[2].strip())
            os.unlink(path)


WAITING = {"Sync", "Query"}


def appointment(start: datetime = START) -> Appointment:
    return Appointment(
        practice_id="p1",
        practitioner_id="roux",
        type_id="consultation",
        start=start,
        end=start + timedelta(minutes=20),
    )


def test_a_newcomers_first_message_is_two_round_trips(runtime, patient) -> None:
    """The first reads go with the BEGIN, the row and the provider-id record with the
    COMMIT: two round trips (psycopg left to itself waits for its BEGIN and for the last
    writes' answers before its COMMIT: four)."""
    alice = patient("+33611111111", channel="sms")
    alice.send("Bonjour")  # a warm pool, prepared statements: as in a running service
    bob = patient("+33622222222", channel="sms")
    with waits(runtime.db.engine) as trips:
        out = bob.send("Bonjour")
    assert "confidentialite" in out
    assert trips == ["Sync", "Sync"]


def test_a_slot_choice_adds_only_its_agenda_look_up(runtime, patient) -> None:
    """A known patient choosing a slot: first reads, the slot's look-up, last writes."""
    alice = patient("+33611111111", channel="sms")
    for step in ("RDV", "1"):
        alice.send(step)
    with waits(runtime.db.engine) as trips:
        out = alice.send("1")
    assert "nom" in out.lower()
    assert len(trips) == 3, trips


def at_confirmation(patient, number: str, name: str):  # type: ignore[no-untyped-def]
    """A patient asked to confirm the first slot of the first type."""
    who = patient(number, channel="sms")
    for step in ("RDV", "1", "1", name):
        who.send(step)
    return who


def test_a_confirmation_books_with_its_commit_two_round_trips(runtime, patient) -> None:
    """The booking statement goes with the last writes and the COMMIT: the first reads,
    then everything else (booking on its own, in between: three)."""
    alice = at_confirmation(patient, "+33611111111", "Alice Durand")
    with waits(runtime.db.engine) as trips:
        out = alice.send("1")
    assert "RDV confirm" in out
    assert trips == ["Sync", "Sync"]
    with runtime.db.read() as session:
        assert len(session.exec(select(Appointment)).all()) == 1


TOTALS = SQL(
    "SELECT (SELECT count(*) FROM appointment), (SELECT coalesce(sum(count), 0) FROM "
    "rate_limit), "
    "(SELECT count(*) FROM processed_message), "
    "(SELECT count(*) FROM patient WHERE name_enc IS NOT NULL)"
)


def test_a_slot_taken_before_the_commit_fails_it_and_the_turn_offers_others(
    runtime, patient, caplog
) -> None:
    """Bob confirms a slot Alice booked since it was offered: his commit is refused
    whole (booking, name, reply record, message count), and the turn runs again to say
    so and offer other slots, counted and recorded once."""
    caplog.set_level(logging.INFO, logger="store.service")
    alice = at_confirmation(patient, "+33611111111", "Alice Durand")
    bob = at_confirmation(patient, "+33622222222", "Bob Martin")
    assert "RDV confirm" in alice.send("1")
    with runtime.db.turn() as turn:
        before = turn.raw.one(TOTALS, {})
    message = Inbound("sms", bob.sender, "1", runtime.assistant.clock(), message_id="SM-bob")
    turn = runtime.assistant.handle(message, limiter=RateLimiter())
    out = "\n".join(reply.as_lines() for reply in turn.replies)
    assert "vient d'être pris" in out and "1. " in out
    assert "slot taken at the commit" in caplog.text
    with runtime.db.turn() as turn:
        after = turn.raw.one(TOTALS, {})
    assert before is not None and after is not None
    appointments, counted, recorded, named = (a - b for a, b in zip(after, before, strict=True))
    assert (appointments, counted, recorded, named) == (0, 1, 1, 0)
    assert "au nom de Bob Martin ?" in bob.send("1")  # the next slot offered, the name kept
    assert "RDV confirm" in bob.send("1")


def test_a_turn_queueing_its_replies_adds_one_round_trip(runtime) -> None:
    """A Telegram turn queues its replies in the outbox through the ORM session: one
    statement more, inside the turn's transaction (its rows are there after the commit)."""
    from bot.messages import Inbound
    from store.models import Outbox
    from store.outbox import enqueue

    def queue(session, turn, address) -> None:  # type: ignore[no-untyped-def]
        for reply in turn.replies:
            enqueue(
                session,
                runtime.vault,
                practice_id=runtime.practice.id,
                channel="telegram",
                address=address,
                payload={"text": reply.as_lines()},
                patient_id=turn.patient_id,
            )

    def message(text: str) -> Inbound:
        return Inbound("telegram", "4242", text, runtime.assistant.clock(), message_id=text)

    runtime.assistant.handle(message("Bonjour"), enqueue=queue)  # warm, as a running service
    with waits(runtime.db.engine) as trips:
        turn = runtime.assistant.handle(message("RDV"), enqueue=queue)
    assert turn.replies
    assert len(trips) == 3, trips
    with runtime.db.read() as session:
        assert len(session.exec(select(Outbox)).all()) >= 2


def test_what_a_turn_writes_through_its_session_alone_is_rolled_back(runtime) -> None:
    """The connection is in autocommit mode for the turn: a turn whose first statement is
    the ORM session's still runs it inside the turn's transaction."""
    db: Database = runtime.db
    with pytest.raises(RuntimeError), db.turn() as turn:
        turn.session.add(appointment())
        turn.session.flush()
        raise RuntimeError("after the write")
    with db.read() as session:
        assert session.exec(select(Appointment)).all() == []


def test_a_turn_failing_after_its_first_statements_writes_nothing(runtime) -> None:
    db: Database = runtime.db
    with pytest.raises(RuntimeError), db.turn() as turn:
        turn.raw.run(INSERT_RATE, {"key": "k1"})
        turn.session.add(appointment())
        turn.session.flush()
        raise RuntimeError("after the writes")
    with db.turn() as turn:
        assert turn.raw.one(COUNT_APPOINTMENTS, {}) == (0,)
        assert turn.raw.one(SQL("SELECT count(*) FROM rate_limit"), {}) == (0,)


def test_last_writes_refused_at_the_commit_leave_nothing_and_raise(runtime) -> None:
    """A last write the server refuses (here a duplicate key) fails the turn as
    SQLAlchemy would, with nothing of the turn kept."""
    db: Database = runtime.db
    with db.turn() as turn:
        turn.raw.run(INSERT_RATE, {"key": "taken"})
    with pytest.raises(IntegrityError), db.turn() as turn:
        turn.session.add(appointment())
        turn.last(INSERT_RATE, {"key": "taken"})
    with db.read() as session:
        assert session.exec(select(Appointment)).all() == []


def test_the_pooled_connection_goes_back_as_it_was_taken(runtime) -> None:
    """After turns that committed, rolled back or failed, the connection other code gets
    from the pool is in psycopg's default mode, outside any transaction."""
    db: Database = runtime.db
    with db.turn() as turn:
        turn.raw.run(INSERT_RATE, {"key": "a"})
    with db.turn() as turn:
        turn.discard()
        turn.raw.run(INSERT_RATE, {"key": "b"})
    with pytest.raises(RuntimeError), db.turn() as turn:
        turn.raw.run(INSERT_RATE, {"key": "c"})
        raise RuntimeError("mid-turn")
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        assert driver.autocommit is False
        assert driver.info.transaction_status.name == "IDLE"
    with db.turn() as turn:
        keys = turn.raw.all(SQL("SELECT key FROM rate_limit ORDER BY key"), {})
    assert [k for (k,) in keys] == ["a"]

"""Concurrency guards on PostgreSQL (second pass of `make test`): the no-overlap constraint,
the patient row lock, the scheduler leader lock; and the SQLite leader lock."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from store import context as context_module
from store import migrations
from store import service as service_module
from store.db import Database
from store.models import Appointment, Patient
from store.raw import SQL
from tests import pg

START = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)


@pytest.fixture(params=["create_all", "migrations"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database whose schema comes from `create_all` or from the migrations."""
    url = pg.create_database("creneau_pg")
    if request.param == "create_all":
        Database(url).create_all()
    else:
        migrations.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()
    pg.drop_database(url)


def appt(
    start: datetime, minutes: int, status: str = "booked", practitioner: str = "roux"
) -> Appointment:
    return Appointment(
        practice_id="p1",
        practitioner_id=practitioner,
        type_id="consultation",
        start=start,
        end=start + timedelta(minutes=minutes),
        status=status,
    )


def insert(db: Database, *rows: Appointment) -> None:
    """Insert directly, bypassing the application's check."""
    with db.write() as session:
        for row in rows:
            session.add(row)


@pytest.mark.postgres
def test_overlapping_booked_appointments_are_refused(db: Database) -> None:
    insert(db, appt(START, 30))
    with pytest.raises(IntegrityError, match="appointment_no_overlap"):
        insert(db, appt(START + timedelta(minutes=20), 20))


@pytest.mark.postgres
def test_cancelled_adjacent_or_other_practitioner_may_overlap(db: Database) -> None:
    insert(db, appt(START, 30))
    insert(
        db,
        appt(START + timedelta(minutes=10), 20, status="cancelled"),
        appt(START + timedelta(minutes=30), 20),  # adjacent: [start, end) ranges
        appt(START, 30, practitioner="other"),
    )
    with db.read() as session:
        assert len(session.exec(select(Appointment)).all()) == 4


@pytest.mark.postgres
def test_cancelling_frees_the_range_for_a_new_booking(db: Database) -> None:
    first = appt(START, 20)
    insert(db, first)
    with db.write() as session:
        row = session.get(Appointment, first.id)
        assert row is not None
        row.status = "cancelled"
    insert(db, appt(START, 20))


@pytest.mark.postgres
def test_bypassed_check_still_ends_in_slot_taken(runtime, patient, monkeypatch) -> None:
    """With the application's re-check disabled, the constraint turns a race into new offers."""
    # both application checks see a free agenda: the engine's (through the context) and the
    # booking statement's (its NOT EXISTS dropped); only the database constraint is left to
    # refuse the second one
    unchecked = service_module.BOOK_IF_FREE.pg.split(" WHERE NOT EXISTS")[0]
    monkeypatch.setattr(
        service_module, "BOOK_IF_FREE", SQL("", pg=unchecked + " ON CONFLICT DO NOTHING")
    )
    monkeypatch.setattr(context_module, "busy_intervals", lambda *a, **k: [])
    alice, bob = patient("+33611111111", channel="sms"), patient("+33622222222", channel="sms")
    for who, name in ((alice, "Alice A"), (bob, "Bob B")):
        for step in ("RDV", "1", "1", name):
            who.send(step)
    assert "RDV confirm" in alice.send("1")
    out = bob.send("1")
    assert "vient d'être pris" in out and "1. " in out
    with runtime.db.read() as session:
        assert len(session.exec(select(Appointment)).all()) == 1


@pytest.mark.postgres
def test_a_newcomers_two_first_messages_at_once_make_one_row_and_one_notice(
    runtime, patient, monkeypatch, caplog
) -> None:
    """Both turns find no row and work their step at once; the second to write its new row
    hits the unique address index, and its retry answers as to a known patient."""
    caplog.set_level(logging.INFO, logger="store.service")
    barrier, waited = threading.Barrier(2, timeout=10), set()
    work = service_module.Assistant._work

    def together(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        step = work(self, *args, **kwargs)
        if threading.get_ident() not in waited:  # the first attempt of each turn only
            waited.add(threading.get_ident())
            barrier.wait()
        return step

    monkeypatch.setattr(service_module.Assistant, "_work", together)
    answers: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(patient("+33644444444", channel="sms").send("Bonjour"))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(answers) == 2
    assert sum("confidentialite" in a for a in answers) == 1
    assert all("Pour quel type de RDV" in a for a in answers)
    assert "retrying a turn after a concurrent write" in caplog.text
    with runtime.db.read() as session:
        assert len(session.exec(select(Patient)).all()) == 1


@pytest.mark.postgres
def test_a_patients_turns_wait_for_the_patient_row_lock(runtime, patient) -> None:
    """A turn of a patient blocks on `SELECT ... FOR UPDATE` while another holds the row."""
    alice = patient("+33633333333", channel="sms")
    alice.send("Bonjour")
    done = threading.Event()
    with runtime.db.write() as holder:
        holder.exec(select(Patient).with_for_update()).all()
        thread = threading.Thread(target=lambda: (alice.send("RDV"), done.set()))
        thread.start()
        _wait_for_a_lock_wait(runtime.db)
        assert not done.is_set()
    thread.join(10)
    assert done.is_set()


def _wait_for_a_lock_wait(db: Database, timeout: float = 10) -> None:
    """Until some session of this database waits on a row lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(query).scalar():
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("no session waited on the patient row lock")


@pytest.mark.postgres
def test_one_leader_among_two_holders(runtime) -> None:
    db, other = runtime.db, Database(runtime.settings.database_url)
    name = f"scheduler-{uuid.uuid4().hex}"
    with db.leader_lock(name) as first, other.leader_lock(name) as second:
        assert (first, second) == (True, False)
        with other.leader_lock(f"{name}-other") as unrelated:
            assert unrelated
    with other.leader_lock(name) as again:
        assert again  # released when the leader's block ended
    other.dispose()


@pytest.mark.postgres
def test_leadership_passes_on_when_the_leader_dies(runtime) -> None:
    db, other = runtime.db, Database(runtime.settings.database_url)
    name = f"scheduler-{uuid.uuid4().hex}"
    with db.leader_lock(name) as leading:
        assert leading
        with db.engine.connect() as conn:  # the leader's process dies: its session ends
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "JOIN pg_database d ON d.oid = pg_locks.database "
                    "WHERE locktype = 'advisory' AND granted "
                    "AND d.datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        deadline = time.monotonic() + 10
        while True:
            with other.leader_lock(name) as taken:
                if taken or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert taken
    other.dispose()


def test_sqlite_always_leads(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with db.leader_lock("scheduler") as a, db.leader_lock("scheduler") as b:
        assert a and b
    db.dispose()


@pytest.mark.postgres
def test_service_connections_wait_a_bounded_time(runtime):
    """Every service connection carries the lock and statement timeouts."""
    from sqlalchemy import text as sql

    from store.db import SERVICE

    with runtime.db.read() as session:
        lock = session.execute(sql("SHOW lock_timeout")).scalar_one()
        statement = session.execute(sql("SHOW statement_timeout")).scalar_one()
    assert (lock, statement) == (f"{SERVICE.lock_ms // 1000}s", f"{SERVICE.statement_ms // 1000}s")


def _drop_connections(url: str) -> None:
    """The server ends every other session on this database (as a restart would)."""
    db = Database(url)
    with db.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.commit()
    db.dispose()


def _count(db: Database) -> int:
    with db.turn() as turn:
        row = turn.raw.one(SQL("SELECT count(*) FROM patient"), {})
        return int(row[0]) if row else -1


@pytest.mark.postgres
def test_a_connection_dropped_while_idle_is_replaced_before_a_turn_uses_it() -> None:
    """Connections idle past the threshold are checked on checkout (busy ones are not:
    no round trip per turn); one the server dropped meanwhile is replaced unseen."""
    url = pg.create_database("creneau_pg")
    checked = Database(url, idle_ping_seconds=0.2)
    unchecked = Database(url, idle_ping_seconds=3600)
    try:
        checked.create_all()
        assert _count(checked) == 0 and _count(unchecked) == 0  # one pooled connection each
        _drop_connections(url)
        time.sleep(0.4)
        assert _count(checked) == 0
        with pytest.raises(OperationalError):  # without the check, the dead one is used
            _count(unchecked)
    finally:
        checked.dispose()
        unchecked.dispose()
        pg.drop_database(url)

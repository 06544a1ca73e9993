"""Daily summaries: local time across DST, claims between racing clocks, catch-up, purge."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from channels.clock import leadership, run_clock, tick
from store import scheduler
from store.models import AuditEvent, JobClaim, Patient, PractitionerLink
from store.scheduler import chunks, run_daily_purge, run_due_summaries
from tests.test_agenda import PARIS_DAY, a_day, at, outbox, with_practitioner

PHONE = "+33700000001"


def run(runtime, now: datetime) -> int:
    return run_due_summaries(runtime.db, runtime.vault, runtime.catalogs, runtime.practice, now)


def claims(runtime, kind: str = "summary") -> list[str]:
    with runtime.db.read() as session:
        return sorted(c.key for c in session.exec(select(JobClaim).where(JobClaim.kind == kind)))


@pytest.fixture
def sms_doctor(runtime):
    return with_practitioner(runtime, summary_phone=PHONE, summary_detail="initials")


def test_summary_at_local_time_across_dst(runtime, sms_doctor):
    # 07:30 in Paris is 05:30 UTC in summer time (24 Oct) and 06:30 UTC in winter time (26 Oct)
    before_summer, summer = datetime(2026, 10, 24, 5, 29, tzinfo=UTC), at(date(2026, 10, 24), 7, 30)
    assert summer == datetime(2026, 10, 24, 5, 30, tzinfo=UTC)
    assert run(runtime, before_summer) == 0
    assert run(runtime, summer) == 1
    winter_early = datetime(2026, 10, 26, 5, 30, tzinfo=UTC)  # 06:30 local: not yet
    winter = at(date(2026, 10, 26), 7, 30)
    assert winter == datetime(2026, 10, 26, 6, 30, tzinfo=UTC)
    assert run(runtime, winter_early) == 0
    assert run(runtime, winter) == 1
    assert claims(runtime) == ["roux:2026-10-24", "roux:2026-10-26"]


def test_summary_goes_once_by_sms_with_the_day(runtime, sms_doctor):
    a_day(runtime)
    now = at(PARIS_DAY, 7, 31)
    assert run(runtime, now) == 1
    assert run(runtime, now + timedelta(minutes=1)) == 0
    [(row, address, payload)] = outbox(runtime)
    assert (row.channel, row.kind, address, row.patient_id) == ("sms", "summary", PHONE, None)
    assert not row.respect_quiet_hours
    assert payload["op"] == "send" and "08:30 - P.M." in payload["text"]
    assert "Paul" not in payload["text"] and "lectrocardiogramme" not in payload["text"]
    with runtime.db.read() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "summary_sent"))
    assert (event.actor, event.subject) == ("system", "roux")
    assert event.detail == "day=2026-12-07 channel=sms detail=initials booked=2 cancelled=1"


def test_summary_of_tomorrow_and_full_detail_links_to_the_desk(runtime):
    with_practitioner(runtime, summary_phone=PHONE, summary_day="tomorrow", summary_detail="full")
    a_day(runtime)
    practice = runtime.practice
    run_due_summaries(
        runtime.db,
        runtime.vault,
        runtime.catalogs,
        practice,
        at(PARIS_DAY - timedelta(days=1), 19),
        base_url="https://c.example",
    )
    [(_, _, payload)] = outbox(runtime)
    text = payload["text"]
    assert "lundi 7 décembre" in text and "2 RDV, de 08:30 à 09:10." in text
    assert "08:30 - P.M." in text
    assert "https://c.example/desk/agenda?date=2026-12-07&practitioner=roux" in text
    for secret in ("Paul", "Martin", "lectrocardiogramme", "Consultation", "Bêtabloquant"):
        assert secret not in text


def test_a_chat_id_typed_in_the_practice_file_is_never_a_destination(runtime):
    with_practitioner(runtime, summary_telegram_chat_id=123456789)
    a_day(runtime)
    assert run(runtime, at(PARIS_DAY, 8)) == 0 and outbox(runtime) == []


def test_an_unreadable_cell_leaves_the_summary_going(runtime, sms_doctor):
    appts = a_day(runtime)
    with runtime.db.write() as session:
        paul = session.get(Patient, appts[0].patient_id)
        paul.name_enc = paul.name_enc[:-3]  # truncated
    assert run(runtime, at(PARIS_DAY, 8)) == 1
    [(_, _, payload)] = outbox(runtime)
    assert "08:30 - ?" in payload["text"] and "09:10 - Z.J-B.R." in payload["text"]
    with runtime.db.read() as session:
        [bad] = session.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell"))
    assert (bad.subject, bad.detail) == (paul.id, "table=patient column=name")


def test_an_unreadable_link_falls_back_to_the_phone_and_is_audited(runtime, sms_doctor):
    link = PractitionerLink(
        practice_id="default", practitioner_id="roux", chat_enc=b"\x01\x02", chat_index="x"
    )
    with runtime.db.write() as session:
        session.add(link)
    assert run(runtime, at(PARIS_DAY, 8)) == 1
    [(row, address, _)] = outbox(runtime)
    assert (row.channel, address) == ("sms", PHONE)
    with runtime.db.read() as session:
        [bad] = session.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell"))
    assert bad.detail == "table=practitioner_link column=chat"


def test_count_detail(runtime):
    with_practitioner(runtime, summary_phone=PHONE, summary_detail="count")
    a_day(runtime)
    run(runtime, at(PARIS_DAY, 8))
    [(_, _, payload)] = outbox(runtime)
    assert "2 RDV, de 08:30 à 09:10." in payload["text"] and "P.M." not in payload["text"]


def test_linked_telegram_chat_wins_over_phone(runtime, sms_doctor):
    link = PractitionerLink(
        practice_id="default", practitioner_id="roux", chat_enc=b"", chat_index="x"
    )
    link.chat_enc = runtime.vault.seal("practitioner_link", "chat", link.id, "424242")
    with runtime.db.write() as session:
        session.add(link)
    run(runtime, at(PARIS_DAY, 8))
    [(row, address, payload)] = outbox(runtime)
    assert (row.channel, address) == ("telegram", "424242") and payload["op"] == "send"


def test_no_destination_claims_but_queues_nothing_and_logs_no_data(runtime, caplog):
    a_day(runtime)
    assert run(runtime, at(PARIS_DAY, 8)) == 0
    assert outbox(runtime) == [] and claims(runtime) == ["roux:2026-12-07"]
    assert "no destination" in caplog.text and "Paul" not in caplog.text


def test_two_clocks_racing_send_exactly_once(runtime, sms_doctor):
    a_day(runtime)
    now = at(PARIS_DAY, 7, 45)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def clock() -> None:
        try:
            barrier.wait()
            run(runtime, now)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=clock) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(outbox(runtime)) == 1


def test_claim_refused_when_already_taken_by_another_clock(runtime, sms_doctor):
    with runtime.db.write() as session:
        session.add(JobClaim(practice_id="default", kind="summary", key="roux:2026-12-07"))
    assert run(runtime, at(PARIS_DAY, 8)) == 0 and outbox(runtime) == []


def test_catch_up_after_downtime_is_today_only(runtime, sms_doctor):
    # the clock was down since Saturday: it starts on Monday at 15:00
    assert run(runtime, at(PARIS_DAY, 15)) == 1
    assert claims(runtime) == ["roux:2026-12-07"]
    assert run(runtime, at(PARIS_DAY + timedelta(days=1), 7)) == 0  # Tuesday, before 07:30
    assert run(runtime, at(PARIS_DAY + timedelta(days=1), 7, 30)) == 1


def test_clock_loop_runs_at_start_and_stops(runtime, sms_doctor):
    stop = threading.Event()
    ticks: list[datetime] = []

    def now() -> datetime:
        ticks.append(at(PARIS_DAY, 9))
        stop.set()
        return ticks[-1]

    run_clock(runtime, stop, interval=0.01, clock=now)
    assert len(ticks) == 1 and len(outbox(runtime)) == 1


def test_leader_lock_is_respected(runtime, sms_doctor):
    class NotLeader:
        def leader_lock(self, name: str) -> bool:
            return False

    with leadership(NotLeader()) as leader:
        assert leader is False
    with leadership(object()) as leader:
        assert leader is True

    class Follower:
        @contextlib.contextmanager
        def leader_lock(self, name: str) -> Iterator[bool]:
            yield False

    with leadership(Follower()) as leader:
        assert leader is False
    with leadership(runtime.db) as leader:  # SQLite: one machine, always the leader
        assert leader is True
    runtime.db.leader_lock = lambda name: False  # another process leads
    assert tick(runtime, at(PARIS_DAY, 9)) is False and outbox(runtime) == []


def test_daily_purge_once_a_day(runtime, monkeypatch):
    calls: list[datetime] = []
    monkeypatch.setattr(scheduler, "purge", lambda session, practice, now: calls.append(now))
    args = (runtime.db, runtime.vault, runtime.catalogs, runtime.practice)
    assert run_daily_purge(*args, at(PARIS_DAY, 1)) is True
    assert run_daily_purge(*args, at(PARIS_DAY, 23)) is False
    assert run_daily_purge(*args, at(PARIS_DAY + timedelta(days=1), 1)) is True
    assert len(calls) == 2 and claims(runtime, "purge") == ["2026-12-07", "2026-12-08"]


def test_a_failing_job_does_not_stop_the_others(runtime, sms_doctor, monkeypatch, caplog):
    def boom(*_: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(scheduler, "JOBS", (boom, scheduler.run_due_summaries))
    scheduler.run_jobs(
        runtime.db, runtime.vault, runtime.catalogs, runtime.practice, at(PARIS_DAY, 9)
    )
    assert len(outbox(runtime)) == 1
    assert "RuntimeError" in caplog.text and "secret detail" not in caplog.text


def test_chunks_split_at_lines():
    assert chunks("a\nbb\ncc", 5) == ["a\nbb", "cc"]
    assert chunks("x" * 7, 3) == ["xxx", "xxx", "x"]
    assert chunks("", 3) == [""]

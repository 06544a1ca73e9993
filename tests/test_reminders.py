"""Discreet reminders: in the window, once, held through quiet hours, never naming the type."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from bot.gsm import encoding, segments
from store.models import Appointment
from store.scheduler import queue_reminders
from tests.test_agenda import add_appt, add_patient, at, outbox, with_practice

DAY = date(2026, 12, 8)  # Tuesday


def remind(runtime, now) -> int:
    return queue_reminders(runtime.db, runtime.vault, runtime.catalogs, runtime.practice, now)


def reminded_at(runtime, appt_id: str):
    with runtime.db.read() as session:
        return session.get(Appointment, appt_id).reminder_at


def test_reminder_enters_window_once_in_patient_language(runtime):
    paul = add_patient(runtime, lang="fr")
    appt = add_appt(runtime, paul, at(DAY, 10), "ecg")
    assert remind(runtime, at(DAY - timedelta(days=1), 9, 59)) == 0  # 24 h + 1 min ahead
    now = at(DAY - timedelta(days=1), 10)
    assert remind(runtime, now) == 1
    assert remind(runtime, now + timedelta(minutes=1)) == 0  # never twice
    assert reminded_at(runtime, appt.id) == now
    [(row, address, payload)] = outbox(runtime)
    assert (row.channel, row.kind, row.patient_id, address) == ("sms", "reminder", paul.id,
                                                                "+33612345678")  # fmt: skip
    assert row.respect_quiet_hours
    text = payload["text"]
    assert payload["op"] == "send"
    assert "mardi 8 décembre à 10:00" in text and "Cabinet des Lilas" in text and "MES RDV" in text
    assert "lectrocardiogramme" not in text and "ECG" not in text
    assert encoding(text) == "GSM-7" and segments(text) == 1


def test_english_telegram_reminder_never_names_the_type(runtime):
    bob = add_patient(runtime, "Bob Smith", channel="telegram", address="777", lang="en")
    add_appt(runtime, bob, at(DAY, 10), "ecg")
    remind(runtime, at(DAY, 8))
    [(row, address, payload)] = outbox(runtime)
    assert (row.channel, address) == ("telegram", "777")
    text = payload["text"]
    assert "Tuesday 8 December at 10:00" in text and "APPTS" in text
    assert "ECG" not in text and "lectrocardiogramme" not in text and "Bob" not in text


def test_reminder_in_quiet_hours_is_queued_and_held_not_dropped(runtime):
    paul = add_patient(runtime)
    add_appt(runtime, paul, at(DAY, 9))
    now = at(DAY - timedelta(days=1), 22)  # inside 20:00-08:00
    assert remind(runtime, now) == 1
    [(row, _, _)] = outbox(runtime)
    assert row.respect_quiet_hours and row.status == "pending" and row.next_attempt_at == now


def test_no_reminder_for_opted_out_unreachable_or_console_patients(runtime):
    stopped = add_patient(runtime, opted_out=True)
    gone = add_patient(runtime, address="+33612345600", unreachable=True)
    console = add_patient(runtime, channel="console", address="alice")
    for hour, who in zip((9, 10, 11), (stopped, gone, console), strict=True):
        add_appt(runtime, who, at(DAY, hour))
    assert remind(runtime, at(DAY, 8)) == 0 and outbox(runtime) == []


def test_no_reminder_for_a_booking_made_after_its_reminder_time(runtime):
    paul = add_patient(runtime)
    appt = add_appt(runtime, paul, at(DAY, 10), created_at=at(DAY, 7))  # booked 3 h before
    assert remind(runtime, at(DAY, 7, 1)) == 0
    assert reminded_at(runtime, appt.id) is None and outbox(runtime) == []


def test_cancelled_and_past_appointments_get_none(runtime):
    paul = add_patient(runtime)
    add_appt(runtime, paul, at(DAY, 10), status="cancelled")
    add_appt(runtime, paul, at(DAY, 7))
    assert remind(runtime, at(DAY, 8)) == 0


def test_no_reminders_when_disabled(runtime):
    with_practice(runtime, reminder_hours_before=0)
    add_appt(runtime, add_patient(runtime), at(DAY, 10))
    assert remind(runtime, at(DAY, 8)) == 0


def test_two_clocks_remind_once(runtime):
    paul = add_patient(runtime)
    for hour in (9, 10, 11):
        add_appt(runtime, paul, at(DAY, hour))
    barrier = threading.Barrier(3)

    def clock() -> None:
        barrier.wait()
        remind(runtime, at(DAY, 8))

    threads = [threading.Thread(target=clock) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outbox(runtime)) == 3


def test_booked_through_the_dialog_then_reminded(runtime, patient, clock):
    """A real SMS booking a week ahead gets its reminder the day before."""
    paul = patient("+33611223344", channel="sms")
    paul.send("RDV")
    paul.send("1")
    paul.send("7")  # another day
    paul.send("9/12 10h")
    out = paul.send("1")
    if "quel nom" in out:
        paul.send("Paul Martin")
    paul.send("1")
    assert remind(runtime, at(date(2026, 12, 8), 11)) == 1
    [(_, address, payload)] = outbox(runtime)
    assert address == "+33611223344" and "mercredi 9 décembre" in payload["text"]

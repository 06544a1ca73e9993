"""Sizing a breach: categories and counts of a period, never a value."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine

from store import breach
from tests.test_lifecycle import CHAT_C, NAME_A, NAME_B, NAME_C, PHONE_A, PHONE_B, PREP, book


@pytest.fixture(autouse=True)
def wall(clock):
    """The wall clock at the test clock (rows' default timestamps use the wall clock)."""
    with time_machine.travel(clock.now, tick=False) as traveller:
        yield traveller


@pytest.fixture
def seeded(patient, runtime):
    book(patient, PHONE_A, NAME_A, ecg=True)
    book(patient, "06 12 34 56 78", None, slot="2")  # same patient, national format
    book(patient, PHONE_B, NAME_B)
    book(patient, CHAT_C, NAME_C, channel="telegram")
    return runtime


def test_breach_report_counts_a_period(seeded, clock):
    t0 = clock()
    with seeded.db.read() as s:
        report = breach.breach_report(
            s, seeded.practice, t0 - timedelta(hours=1), t0 + timedelta(hours=1)
        )
        later = breach.breach_report(
            s, seeded.practice, t0 + timedelta(days=20), t0 + timedelta(days=21)
        )
    json.dumps(report)
    assert report["patients"] == 3 and report["patients_by_channel"] == {"sms": 2, "telegram": 1}
    assert report["appointments"] == 4 and report["appointments_with_preparation_answer"] == 1
    assert report["patients_with_name"] == 3 and report["conversations"] == 3
    assert any("preparation" in c for c in report["data_categories"])
    assert later["patients"] == 0 and later["appointments"] == 0
    text = json.dumps(report, ensure_ascii=False)
    for value in (NAME_A, PHONE_A, CHAT_C, PREP):
        assert value not in text

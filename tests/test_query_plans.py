"""How SQLite answers the turn's look-ups: from the indexes a turn already reads.

Whether a slot is free is asked when a step is worked out, again in the booking statement,
and per day in a slot search. Answered from the agenda index alone (its entries carry the
end and the status), a busy day costs a few index pages, not one row read per appointment
that starts within a day before the slot. The provider-id record and the rate-limit
counter are found through their primary keys."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store import migrations
from store.context import BUSY
from store.db import Database
from store.ratelimit import NOTIFIED
from store.service import BOOK_IF_FREE, FIND_PROCESSED

PARAMS = {
    "practice": "p",
    "practitioner": "d",
    "booked": "booked",
    "lowest": "2026-12-01 08:00:00",
    "start": "2026-12-02 08:00:00",
    "end": "2026-12-02 08:20:00",
    "id": "i",
    "patient": "pt",
    "type": "t",
    "prep": None,
    "now": "2026-12-01 09:00:00",
    "channel": "sms",
    "key": "k",
    "cutoff": "2026-12-01 08:50:00",
}


@pytest.fixture(params=["migrated", "created"])
def plans(request: pytest.FixtureRequest, tmp_path: Path):
    """EXPLAIN QUERY PLAN on a schema made by the migrations, or by create_all."""
    url = f"sqlite:///{tmp_path / 'plans.sqlite3'}"
    if request.param == "migrated":
        migrations.upgrade(url)
    else:
        db = Database(url)
        db.create_all()
        db.dispose()
    conn = sqlite3.connect(tmp_path / "plans.sqlite3")

    def plan(sql: str) -> list[str]:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, PARAMS)]

    yield plan
    conn.close()


def test_overlap_look_ups_read_the_agenda_index_alone(plans) -> None:
    for statement in (BUSY.sqlite, BOOK_IF_FREE.sqlite):
        steps = plans(statement)
        assert any("COVERING INDEX ix_appointment_agenda" in s for s in steps), steps
        assert any("COVERING INDEX ix_block_agenda" in s for s in steps), steps
        assert not any(s.startswith("SCAN") and "CONSTANT ROW" not in s for s in steps), steps


def test_turn_records_are_found_by_their_primary_keys(plans) -> None:
    assert plans(FIND_PROCESSED.sqlite) == [
        "SEARCH processed_message USING INDEX sqlite_autoindex_processed_message_1 "
        "(practice_id=? AND channel=? AND external_id=?)"
    ]
    assert plans(NOTIFIED.sqlite) == [
        "SEARCH rate_limit USING PRIMARY KEY (practice_id=? AND key=?)"
    ]

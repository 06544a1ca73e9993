"""What a phase left in the database: rows counted, appointments booked (read after a run,
on a connection of its own, closed before anything else runs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import create_engine, text

BOOKED = "SELECT practitioner_id, start FROM appointment WHERE status = 'booked'"

Slot = tuple[str, datetime]  # practitioner id, start (naive UTC)


def rows(url: str, table: str) -> int:
    """How many rows `table` holds."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def booked(url: str) -> Counter[Slot]:
    """Every booked appointment's (practitioner, start), with how many hold it."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(BOOKED)).all()
    finally:
        engine.dispose()
    return Counter((p, _naive(start)) for p, start in found)


def _naive(value: datetime | str) -> datetime:
    """A stored start as a naive UTC datetime (SQLite keeps it as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None)


def audit(new: Counter[Slot], planned: Iterable[Slot]) -> str:
    """One line on bookings: each in a slot a patient asked for, none twice."""
    wanted = set(planned)
    twice = sum(n - 1 for n in new.values() if n > 1)
    stray = sum(n for slot, n in new.items() if slot not in wanted)
    ok = not twice and not stray
    return (
        f"{'each' if ok else 'NOT each'} in the slot its patient asked for "
        f"({twice} booked twice, {stray} elsewhere)"
    )

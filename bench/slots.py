"""Slot search cost against the number of stored appointments (issue: core).

Next 5 free slots for one practitioner through the real store (a SQLite file), with 100,
10,000 and 100,000 stored appointments. The near future looks the same in every run
(the first days are partly booked); the extra appointments are history and other
practitioners, which a search bounded by its window must not pay for.

    .venv/bin/python -m bench.slots [--calls 400] [--url postgresql+psycopg://...]

With --url, the same runs on a fresh, migrated PostgreSQL database on that server.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.practice_file import bundled_example, load_practice
from bot.slots import next_slots
from store.context import busy_intervals
from store.db import Database
from store.models import Appointment, new_id

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def seed(db: Database, total: int) -> None:
    """`total` appointments: a fixed near-future pattern, the rest spread over history."""
    rows = []
    for day in range(3):  # the same near-future load in every run: every other slot taken
        for k in range(0, 10, 2):
            start = NOW + timedelta(days=day + 1, minutes=30 + 20 * k)
            rows.append((start, "roux"))
    n = 0
    while len(rows) < total:  # history: 20 a day, never overlapping within a practitioner
        pid, k = ("roux", n // 2) if n % 2 else (f"other{(n // 2) % 7}", (n // 2) // 7)
        start = NOW - timedelta(days=1 + k // 20) + timedelta(minutes=20 * (k % 20))
        rows.append((start, pid))
        n += 1
    values = [
        {
            "id": new_id(),
            "practice_id": "default",
            "patient_id": None,
            "practitioner_id": pid,
            "type_id": "consultation",
            "start": s,
            "end": s + timedelta(minutes=20),
            "status": "booked",
            "created_at": NOW,
        }
        for s, pid in rows
    ]
    with db.write() as session:
        for i in range(0, len(values), 5000):
            session.execute(insert(Appointment), values[i : i + 5000])


@contextmanager
def database(server: str | None) -> Iterator[Database]:
    """A fresh SQLite file, or a fresh migrated database on a PostgreSQL server."""
    if server is None:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            db.create_all()
            yield db
            db.dispose()
        return
    from bench.booking_pg import database as pg_database

    with pg_database(server) as url:
        db = Database(url)
        yield db
        db.dispose()


def measure(total: int, calls: int, server: str | None = None) -> tuple[float, float]:
    practice = load_practice(bundled_example())
    with database(server) as db:
        seed(db, total)
        times = []
        with db.read() as session:

            def busy(start: datetime, end: datetime) -> list:
                return busy_intervals(session, practice.id, "roux", start, end)

            for i in range(calls + 20):
                t0 = time.perf_counter()
                slots = next_slots(
                    practice, "roux", 20, now=NOW + timedelta(minutes=i % 60), busy=busy, limit=5
                )
                elapsed = time.perf_counter() - t0
                assert len(slots) == 5
                if i >= 20:  # warm-up excluded
                    times.append(elapsed * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--url", default=None, help="a PostgreSQL server to run on instead")
    args = parser.parse_args()
    print("PostgreSQL" if args.url else "SQLite", f"({args.calls} calls per size)")
    results = {}
    for total in (100, 10_000, 100_000):
        p50, p99 = measure(total, args.calls, args.url)
        results[total] = p99
        print(f"{total:>7} appointments: p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    print(f"p99 growth 100 -> 100,000: x{results[100_000] / results[100]:.2f} (target <= 2)")
    print(f"p99 at 10,000: {results[10_000]:.3f} ms (target <= 5 ms)")


if __name__ == "__main__":
    main()

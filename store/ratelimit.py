"""Per-sender inbound rate limit, kept in the database so every web worker shares it.

A fixed window per sender starts at their first message: up to `limit` messages pass, the
next one gets a single notice, then nothing until the window ends. Rows hold only a blind
index of the sender and are purged once their window is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.address import index_value
from store.db import table
from store.models import new_id
from store.vault import Vault

DEFAULT_LIMIT = 20
DEFAULT_WINDOW = timedelta(minutes=10)

# Core statements, built once: a turn reads and writes one small row, no ORM object needed.
RATE_LIMIT = table("rate_limit")
COLUMNS = (RATE_LIMIT.c.id, RATE_LIMIT.c.window_start, RATE_LIMIT.c.count, RATE_LIMIT.c.notified)
SENDER = (  # bind names differ from the columns': UPDATE reserves those for its SET clause
    RATE_LIMIT.c.practice_id == bindparam("practice"),
    RATE_LIMIT.c.key == bindparam("sender"),
)
CUTOFF = bindparam("cutoff", type_=RATE_LIMIT.c.window_start.type)  # now - window
COUNT_IN_WINDOW = (  # the usual case in one statement; it locks the row like FOR UPDATE
    update(RATE_LIMIT)
    .where(*SENDER, RATE_LIMIT.c.window_start > CUTOFF)
    .values(count=RATE_LIMIT.c.count + 1)
    .returning(*COLUMNS)
)
LOCK_ROW = select(*COLUMNS).where(*SENDER).with_for_update()
UPDATE_ROW = update(RATE_LIMIT).where(RATE_LIMIT.c.id == bindparam("row_id"))
STALE = select(RATE_LIMIT.c.id).where(RATE_LIMIT.c.window_start <= CUTOFF)
STALE = STALE.with_for_update(skip_locked=True)
PURGE = delete(RATE_LIMIT).where(RATE_LIMIT.c.id.in_(STALE))


@dataclass
class Counter:
    """One sender's row in the current window."""

    id: str
    window_start: datetime
    count: int
    notified: bool = False
    inserted: bool = False  # written by this transaction's INSERT, count included


class Decision(Enum):
    ALLOW = "allow"  # handle the message
    NOTIFY = "notify"  # first message over the limit: send the short notice once
    SILENT = "silent"  # over the limit and already told: answer nothing


def sender_key(vault: Vault, practice_id: str, channel: str, address: str) -> str:
    """The rate-limit key of a normalised address: a blind index in its own domain.

    Not the patient's index, so the table cannot be joined to patients.
    """
    return vault.index(practice_id, "ratelimit:" + index_value(channel, address))


class RateLimiter:
    """`limit` messages per `window` and per sender; the state lives in `rate_limit` rows."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window: timedelta = DEFAULT_WINDOW) -> None:
        if limit < 1 or window <= timedelta(0):
            raise ValueError("the rate limit needs a positive limit and window")
        self.limit = limit
        self.window = window

    def hit(self, session: Session, practice_id: str, key: str, now: datetime) -> Decision:
        """Count one message of `key` in the open writing transaction and say what to do."""
        counted = self._count_in_window(session, practice_id, key, now)
        if counted is not None:
            decision = self._decide(counted)
            if decision is Decision.NOTIFY:  # the notice is sent once: remember it
                self._update(session, counted)
            return decision
        # no row, or its window is over: start a window (or count a concurrent one's)
        found = self._locked_row(session, practice_id, key)
        new_window = found is None or now - found.window_start >= self.window
        if found is None or new_window:
            row = self._start_window(session, found, practice_id, key, now)
        else:
            row = found
            row.count += 1
        decision = self._decide(row)
        if not row.inserted:
            self._update(session, row)
        if new_window:  # once per sender and window, not on every message
            self.purge(session, now)
        return decision

    def purge(self, session: Session, now: datetime) -> int:
        """Delete rows whose window is over (all practices); rows locked elsewhere are skipped."""
        result = cast(CursorResult[Any], session.execute(PURGE, {"cutoff": now - self.window}))
        return int(result.rowcount or 0)

    def _decide(self, row: Counter) -> Decision:
        if row.count <= self.limit:
            return Decision.ALLOW
        if row.notified:
            return Decision.SILENT
        row.notified = True
        return Decision.NOTIFY

    def _count_in_window(
        self, session: Session, practice_id: str, key: str, now: datetime
    ) -> Counter | None:
        """Add one to this sender's row if its window is still open; None otherwise."""
        params = {"practice": practice_id, "sender": key, "cutoff": now - self.window}
        found = session.execute(COUNT_IN_WINDOW, params).first()
        return Counter(*found) if found is not None else None

    @staticmethod
    def _locked_row(session: Session, practice_id: str, key: str) -> Counter | None:
        """This sender's row, locked until the transaction ends (a no-op clause on SQLite,
        where the writing transaction already holds the database lock)."""
        found = session.execute(LOCK_ROW, {"practice": practice_id, "sender": key}).first()
        return Counter(*found) if found is not None else None

    def _start_window(
        self, session: Session, row: Counter | None, practice_id: str, key: str, now: datetime
    ) -> Counter:
        """Reset this sender's row, or insert it; a concurrent insert wins and is counted."""
        if row is not None:
            row.window_start, row.count, row.notified = now, 1, False
            return row
        fresh = Counter(new_id(), now, 1)
        try:
            with session.begin_nested():
                self._insert(session, fresh, practice_id, key)
        except IntegrityError:
            other = self._locked_row(session, practice_id, key)
            if other is None:  # deleted again in between: nothing sensible left but to allow
                self._insert(session, fresh, practice_id, key)
                return fresh
            other.count += 1
            return other
        return fresh

    @staticmethod
    def _insert(session: Session, row: Counter, practice_id: str, key: str) -> None:
        """Insert a sender's row."""
        values = {
            "id": row.id,
            "practice_id": practice_id,
            "key": key,
            "window_start": row.window_start,
            "count": row.count,
            "notified": row.notified,
        }
        session.execute(insert(RATE_LIMIT), values)
        row.inserted = True

    @staticmethod
    def _update(session: Session, row: Counter) -> None:
        """Write a sender's row back."""
        values = {"window_start": row.window_start, "count": row.count, "notified": row.notified}
        session.execute(UPDATE_ROW, {"row_id": row.id, **values})

"""Per-sender inbound rate limit, kept in the database so every web worker shares it.

A fixed window per sender starts at their first message: up to `limit` messages pass, the
next one gets a single notice, then nothing until the window ends. Rows hold only a blind
index of the sender and are purged once their window is over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from store.address import index_value
from store.models import RateLimit
from store.vault import Vault

DEFAULT_LIMIT = 20
DEFAULT_WINDOW = timedelta(minutes=10)


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
        found = self._locked_row(session, practice_id, key)
        new_window = found is None or now - found.window_start >= self.window
        if found is None or new_window:
            row = self._start_window(session, found, practice_id, key, now)
        else:
            row = found
            row.count += 1
        decision = self._decide(row)
        session.add(row)
        session.flush()
        if new_window:  # once per sender and window, not on every message
            self.purge(session, now)
        return decision

    def purge(self, session: Session, now: datetime) -> int:
        """Delete rows whose window is over (all practices); rows locked elsewhere are skipped."""
        stale = (
            select(RateLimit.id)
            .where(col(RateLimit.window_start) <= now - self.window)
            .with_for_update(skip_locked=True)
        )
        statement = (
            delete(RateLimit)
            .where(col(RateLimit.id).in_(stale))
            .execution_options(synchronize_session=False)
        )
        return int(session.exec(statement).rowcount or 0)

    def _decide(self, row: RateLimit) -> Decision:
        if row.count <= self.limit:
            return Decision.ALLOW
        if row.notified:
            return Decision.SILENT
        row.notified = True
        return Decision.NOTIFY

    @staticmethod
    def _locked_row(session: Session, practice_id: str, key: str) -> RateLimit | None:
        """This sender's row, locked until the transaction ends (a no-op clause on SQLite,
        where the writing transaction already holds the database lock)."""
        query = (
            select(RateLimit)
            .where(RateLimit.practice_id == practice_id, RateLimit.key == key)
            .with_for_update()
        )
        return session.exec(query).first()

    def _start_window(
        self, session: Session, row: RateLimit | None, practice_id: str, key: str, now: datetime
    ) -> RateLimit:
        """Reset this sender's row, or insert it; a concurrent insert wins and is counted."""
        if row is not None:
            row.window_start, row.count, row.notified = now, 1, False
            return row
        fresh = RateLimit(practice_id=practice_id, key=key, window_start=now, count=1)
        try:
            with session.begin_nested():
                session.add(fresh)
                session.flush()
        except IntegrityError:
            other = self._locked_row(session, practice_id, key)
            if other is None:  # deleted again in between: nothing sensible left but to allow
                return fresh
            other.count += 1
            return other
        return fresh

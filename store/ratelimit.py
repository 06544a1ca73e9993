"""Per-sender inbound rate limit, kept in the database so every web worker shares it.

A fixed window per sender starts at their first message: up to `limit` messages pass, the
next one gets a single notice, then nothing until the window ends. One statement counts a
message (an upsert that starts a new window when the last one is over), inside the turn's
own transaction, so a provider's retry of the same message (whose transaction is rolled
back once it is recognised) never counts. Rows hold only a keyed hash of the sender; the
daily purge removes those whose last window ended more than a day ago (a new window reuses
its sender's row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from store.address import index_value
from store.raw import SQL, Raw
from store.vault import Vault

DEFAULT_LIMIT = 20
DEFAULT_WINDOW = timedelta(minutes=10)

# Every assignment reads the row as it was (SQL semantics, SQLite and PostgreSQL alike).
COUNT = SQL(
    "INSERT INTO rate_limit (practice_id, key, window_start, count, notified) "
    "VALUES (:practice, :key, :now, 1, FALSE) "
    "ON CONFLICT (practice_id, key) DO UPDATE SET "
    "count = CASE WHEN rate_limit.window_start > :cutoff THEN rate_limit.count + 1 ELSE 1 END, "
    "notified = CASE WHEN rate_limit.window_start > :cutoff "
    "THEN rate_limit.notified ELSE FALSE END, "
    "window_start = CASE WHEN rate_limit.window_start > :cutoff "
    "THEN rate_limit.window_start ELSE :now END "
    "RETURNING count, notified"
)
NOTIFIED = SQL("UPDATE rate_limit SET notified = TRUE WHERE practice_id = :practice AND key = :key")


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

    def count(
        self, raw: Raw, practice_id: str, key: str, now: datetime
    ) -> tuple[SQL, dict[str, Any]]:
        """The statement counting one message of `key` (to run with others at once)."""
        params = {
            "practice": practice_id,
            "key": key,
            "now": raw.ts(now),
            "cutoff": raw.ts(now - self.window),
        }
        return COUNT, params

    def decide(self, raw: Raw, counted: Mapping[str, Any], row: Sequence[Any] | None) -> Decision:
        """What to do with the message, from the row that `count`'s statement returned
        (`counted`: its parameters, which name the sender)."""
        assert row is not None  # an upsert with RETURNING always returns its row
        count, notified = row
        if count <= self.limit:
            return Decision.ALLOW
        if notified:
            return Decision.SILENT
        sender = {"practice": counted["practice"], "key": counted["key"]}
        raw.run(NOTIFIED, sender)  # the notice is sent once per window
        return Decision.NOTIFY

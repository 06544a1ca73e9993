"""The clock process: runs the scheduled jobs at start and then every ~30 s until stopped.

With PostgreSQL several clocks may run; `Database.leader_lock("clock")`, when the store
provides it, lets only one of them work. Without it every clock works, which is still safe:
each job claims its work in the database before queueing anything.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from channels.runtime import Runtime
from store.models import utcnow
from store.scheduler import run_daily_purge, run_jobs

log = logging.getLogger(__name__)
TICK_SECONDS = 30.0


@contextlib.contextmanager
def leadership(db: Any, name: str = "clock") -> Iterator[bool]:
    """Whether this process leads now: the database's leader lock if it has one, else yes.

    `leader_lock(name)` may return a bool or a context manager yielding a bool.
    """
    lock = getattr(db, "leader_lock", None)
    if lock is None:
        yield True
        return
    held = lock(name)
    if isinstance(held, contextlib.AbstractContextManager):
        with held as value:
            yield bool(value)
    else:
        yield bool(held)


def tick(runtime: Runtime, now: datetime) -> bool:
    """Run every job once if this process leads; True when it did."""
    with leadership(runtime.db) as leader:
        if not leader:
            return False
        settings = runtime.settings
        run_jobs(
            runtime.db, runtime.vault, runtime.catalogs, runtime.practice, now,
            base_url=settings.public_base_url,
        )  # fmt: skip
        return True


def run_clock(
    runtime: Runtime,
    stop: threading.Event,
    interval: float = TICK_SECONDS,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Tick at start and then every `interval` seconds until `stop` is set."""
    log.info("clock started (every %.0f s)", interval)
    while not stop.is_set():
        try:
            tick(runtime, clock())
        except Exception as exc:  # keep the clock alive; the type only, never data
            log.error("clock tick failed: %s", type(exc).__name__)
        stop.wait(interval)
    log.info("clock stopped")


def run_purge(
    runtime: Runtime,
    stop: threading.Event,
    interval: float = TICK_SECONDS,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Only the daily retention purge, for processes that run without the clock (`creneau
    worker`): deleting what is no longer needed must not depend on which processes run.
    Claimed once per day in the database, so several processes never purge twice."""
    while not stop.is_set():
        try:
            run_daily_purge(runtime.db, runtime.vault, runtime.catalogs, runtime.practice, clock())
        except Exception as exc:  # keep going; the type only, never data
            log.error("purge failed: %s", type(exc).__name__)
        stop.wait(interval)

"""One writer at a time on a SQLite file, handed over at once rather than polled for.

SQLite lets one transaction write at a time; a writer that finds the lock taken sleeps in
its busy handler (1 ms, then 2, 5, 10 ms...) however soon the lock frees. Turns hold the
lock for well under a millisecond, so between web workers most of that sleep is lost. The
gate serialises the turns of every process first: a lock file (`flock`) across processes,
behind a thread lock within one, so the next turn starts as soon as the last one commits.
Other writers (the outbox worker, the clock, an operator's command) keep SQLite's own lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError

POLL = 0.0002  # seconds between two tries on the lock file while another process holds it


class GateTimeout(OperationalError):
    """The gate stayed closed longer than the turn may wait (answered like a locked table)."""

    def __init__(self) -> None:
        super().__init__("waiting for the write gate", {}, TimeoutError("write gate"))


class WriteGate:
    """A process-shared write lock on `<database>.gate` (created next to it, mode 0600)."""

    def __init__(self, database: str | Path) -> None:
        self.path = Path(f"{database}.gate")
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        """The lock file, opened once per process (a fork gets its own description)."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        """Hold the gate for the block; GateTimeout after `timeout` seconds of waiting."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise GateTimeout()
        try:
            fd = self._file()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise GateTimeout() from None
                    time.sleep(POLL)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

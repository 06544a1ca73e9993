"""One writer at a time on a SQLite file, handed over at once rather than polled for.

SQLite lets one transaction write at a time; a writer that finds the lock taken sleeps in
its busy handler (1 ms, then 2, 5, 10 ms...) however soon the lock frees. Turns hold the
lock for well under a millisecond, so between web workers most of that sleep is lost. The
gate serialises the turns of every process first: a lock file (`flock`) across processes,
behind a thread lock within one, so the next turn starts as soon as the last one commits.
A turn that finds the file locked by another process waits in the kernel (a blocking
`flock` made by a helper thread of its process), which wakes it the moment the holder
lets go; the turn itself waits no longer than its timeout. Other writers (the outbox
worker, the clock, an operator's command) keep SQLite's own lock.
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
        self._waiter: _Waiter | None = None

    def _file(self) -> int:
        """The lock file, opened once per process (a fork gets its own description)."""
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            self._waiter = _Waiter(self._fd)
        return self._fd

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        """Hold the gate for the block; GateTimeout after `timeout` seconds of waiting."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise GateTimeout()
        try:
            fd = self._file()
            assert self._waiter is not None
            self._waiter.acquire(deadline)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class _Waiter:
    """Takes the lock file for the one turn of its process that asks (the gate's thread
    lock lets one at a time): at once when it is free, else through a helper thread
    blocked in `flock` (a lock held by the process's open file, whichever thread took
    it), which the kernel wakes as soon as the holder lets go. A turn that gives up leaves
    the helper waiting; what the helper then obtains with nobody to take it, it lets go at
    once, so an abandoned wait never keeps the gate closed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._cond = threading.Condition()
        self._asking = False  # a turn is waiting for the helper
        self._granted = False  # the helper took the lock for that turn
        self._pending = False  # the helper has a blocking flock under way
        self._helper: threading.Thread | None = None

    def acquire(self, deadline: float) -> None:
        """Return holding the lock file, or raise GateTimeout at the deadline."""
        with self._cond:
            if not self._pending:  # (never while the helper may hold it for nobody)
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    self._ask_helper()
            self._asking, self._granted = True, False
            while not self._granted:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._asking = False
                    raise GateTimeout()
                self._cond.wait(left)
            self._asking = self._granted = False

    def _ask_helper(self) -> None:
        self._pending = True
        if self._helper is None:
            self._helper = threading.Thread(target=self._run, name="write-gate", daemon=True)
            self._helper.start()
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            with self._cond:
                self._pending = False
                if self._asking:
                    self._granted = True
                    self._cond.notify_all()
                else:  # its turn gave up meanwhile
                    fcntl.flock(self.fd, fcntl.LOCK_UN)

"""The SQLite WAL copied into the database file in the background, off the turns' path.

SQLite checkpoints on its own when a commit leaves 1,000 pages in the WAL: that commit then
copies them into the database file and syncs it while the write gate keeps every other
turn waiting (a stall of tens of milliseconds under load, once a whole second). In a web
process a thread runs a PASSIVE checkpoint every few tens of milliseconds on a connection
of its own: a passive checkpoint never blocks a writer, so the WAL stays short and SQLite's
own checkpoint, kept as a backstop, seldom falls on a turn. The backstop is raised in such
a process (4,000 pages, 16 MB of WAL): at 2,000 turns a second, 1,000 pages are written
within one interval, and at 1,000 SQLite's own checkpoint fell on turns again. The
erasure's and the purge's TRUNCATE checkpoints are unchanged.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

INTERVAL = 0.05  # seconds between two passive checkpoints
WAIT_MS = 0  # another checkpoint running: skip this round rather than wait
SETUP_WAIT_MS = 2_000  # for the connection's own settings, once
SQLITE_BACKSTOP_PAGES = 1_000  # SQLite's own checkpoint: a commit leaving this many pages
BACKSTOP_PAGES = 4_000  # the same where this thread runs


class Checkpointer:
    """One background thread per process, started on demand, stopped with the database."""

    def __init__(self, database: str | Path, interval: float = INTERVAL) -> None:
        self.path = str(database)
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pid = 0
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running (a fork has none)."""
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._thread = threading.Thread(
                target=self._run, name="creneau-checkpoint", daemon=True
            )
            self._thread.start()
            self._pid = os.getpid()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            thread.join(timeout=1)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.warning("background checkpoint not started: the database does not open")
            return
        warned = False
        try:
            if not self._prepared(conn):
                return
            while not self._stop.wait(self.interval):
                if not os.path.exists(self.path):
                    return  # the database is gone (a removed temporary directory)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    if not warned:  # SQLite's own checkpoint still runs meanwhile
                        log.warning("background checkpoint failed; SQLite's own takes over")
                        warned = True
        finally:
            conn.close()

    def _prepared(self, conn: sqlite3.Connection) -> bool:
        """The connection's settings, waiting a little for a lock of the moment (another
        connection opening the WAL, or closing the last one); then no waiting at all."""
        try:
            conn.execute(f"PRAGMA busy_timeout={SETUP_WAIT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={WAIT_MS}")
        except sqlite3.Error:
            log.warning("background checkpoint not started: the database stayed locked")
            return False
        return True

"""The SQLite write gate: one turn at a time across threads and processes, a bounded wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from store.gate import GateTimeout, WriteGate

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def test_another_process_holding_it_makes_a_turn_wait_then_give_up(tmp_path):
    gate = WriteGate(tmp_path / "db.sqlite3")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(gate.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(GateTimeout), gate.held(0.2):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    with gate.held(1):  # released with the process
        pass
    assert oct(gate.path.stat().st_mode & 0o777) == "0o600"


def test_threads_of_one_process_take_turns(tmp_path):
    gate = WriteGate(tmp_path / "db.sqlite3")
    inside: list[int] = []
    overlaps: list[int] = []

    def turn() -> None:
        for _ in range(50):
            with gate.held(5):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.0005)
                inside.pop()

    threads = [threading.Thread(target=turn) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_a_thread_waits_no_longer_than_its_timeout(tmp_path):
    gate = WriteGate(tmp_path / "db.sqlite3")
    with gate.held(1):
        failed: list[BaseException] = []

        def other() -> None:
            try:
                with gate.held(0.1):
                    pass
            except GateTimeout as exc:
                failed.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
    assert len(failed) == 1

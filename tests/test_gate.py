"""The SQLite write gate: one turn at a time across threads and processes, a bounded wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

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
    holder = holding(gate.path)
    try:
        with pytest.raises(GateTimeout), gate.held(0.2):
            pass
    finally:
        release(holder)
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


def holding(path) -> subprocess.Popen[str]:
    """Another process holding the gate's file until its stdin gets a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(10)


def test_a_waiting_turn_gets_the_gate_when_the_other_process_lets_go(tmp_path):
    gate = WriteGate(tmp_path / "db.sqlite3")
    holder = holding(gate.path)
    got: list[bool] = []

    def turn() -> None:
        with gate.held(30):
            got.append(True)

    t = threading.Thread(target=turn)
    t.start()
    t.join(0.3)
    assert got == []  # still waiting while the other process holds it
    release(holder)
    t.join(30)
    assert got == [True]


def test_a_wait_given_up_does_not_keep_the_gate_closed(tmp_path):
    """The helper's late catch, with nobody left to take it, is let go: another process
    then gets the gate, and so does this one."""
    gate = WriteGate(tmp_path / "db.sqlite3")
    holder = holding(gate.path)
    with pytest.raises(GateTimeout), gate.held(0.1):
        pass
    release(holder)
    other = WriteGate(tmp_path / "db.sqlite3")
    taken = subprocess.run(
        [sys.executable, "-c", TAKE, str(tmp_path / "db.sqlite3")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert taken.stdout.strip() == "ok", taken.stderr
    with gate.held(20), pytest.raises(GateTimeout), other.held(0.1):
        pass  # held by this process's gate: a second description waits, then gives up


TAKE = """
import sys
from store.gate import WriteGate
with WriteGate(sys.argv[1]).held(20):
    print("ok")
"""
COUNT = """
import sys
from pathlib import Path
from store.gate import WriteGate
gate, counter = WriteGate(sys.argv[1]), Path(sys.argv[2])
for _ in range(int(sys.argv[3])):
    with gate.held(30):
        counter.write_text(str(int(counter.read_text()) + 1))
"""


def test_processes_never_hold_it_together(tmp_path):
    """Read-increment-write of a shared counter under the gate, from three processes at
    once: no increment is lost."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    root = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT, str(tmp_path / "db.sqlite3"), str(counter), "300"],
            cwd=root,
        )
        for _ in range(3)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert counter.read_text() == "900"


class Failed(Exception):
    pass


def test_a_failed_turn_is_rolled_back_before_the_gate_opens(tmp_path, monkeypatch):
    """Whoever gets the gate next writes at once: the failed turn let go of SQLite's lock
    first (otherwise the next would wait in SQLite's busy handler, or give up). The
    connection goes back to the pool after the gate opens: slowed down here, so the next
    turn surely runs meanwhile."""
    import sqlite3

    from sqlalchemy import text

    from store.db import Database, DriverTurn
    from store.raw import SQL

    end = DriverTurn.end

    def slow_end(self: DriverTurn) -> None:
        time.sleep(0.3)
        end(self)

    monkeypatch.setattr(DriverTurn, "end", slow_end)

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = WriteGate(tmp_path / "db.sqlite3")  # its own lock file description: as another process
    wrote: list[str] = []
    inside = threading.Event()

    def next_turn() -> None:
        inside.wait(5)
        with other.held(5):
            conn = sqlite3.connect(tmp_path / "db.sqlite3", timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t VALUES (2)")
                conn.execute("COMMIT")
                wrote.append("ok")
            except sqlite3.OperationalError as exc:
                wrote.append(str(exc))
            finally:
                conn.close()

    waiter = threading.Thread(target=next_turn)
    waiter.start()
    with pytest.raises(Failed), db.turn() as tx:
        tx.raw.run(SQL("INSERT INTO t VALUES (1)"), {})
        inside.set()
        time.sleep(0.2)  # the other is waiting for the gate meanwhile
        raise Failed()
    waiter.join(5)
    with db.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT x FROM t"))] == [2]
    db.dispose()
    assert wrote == ["ok"]

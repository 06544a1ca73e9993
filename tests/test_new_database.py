"""A new SQLite file opened by several processes at once (`creneau serve`, gunicorn's
workers, a first `make run`): every one of them starts, none finds it "locked"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from store.db import Database

ROOT = Path(__file__).resolve().parent.parent
# Each process waits for a shared start signal (a file appearing), then opens the
# database and creates the schema, as a starting web worker does.
OPEN = """
import os, sys, time
from store.db import Database
db = Database(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
db.create_all()
with db.turn() as turn:
    turn.raw.cursor.execute("SELECT 1")
print("ok", flush=True)
"""
PROCESSES = 4


def start_together(tmp_path: Path, url: str) -> list[tuple[int, str]]:
    """Start the processes, release them at once; each one's exit code and output."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, url, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    return [(proc.wait(60), proc.stdout.read() if proc.stdout else "") for proc in procs]


def test_processes_opening_a_new_file_together_all_start(tmp_path: Path) -> None:
    for round_ in range(3):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'creneau.sqlite3'}"
        outcomes = start_together(folder, url)
        assert [code for code, _ in outcomes] == [0] * PROCESSES, outcomes
        db = Database(url)
        with db.engine.connect() as conn:
            assert inspect(conn).has_table("patient")
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        db.dispose()

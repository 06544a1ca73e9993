"""The SQLite part of the turn-cost benchmark: each kind of turn next to the floor.

Both servers run side by side (gunicorn, the same settings), and the floor is measured
again right before and right after each of Créneau's phases, so each ratio compares runs
a few seconds apart on this shared machine (against the mean of the floor's two).
Patients are walked in-process into the state a phase needs (`bench.walk`) on the same
database file and keys as the server:
- first contact: new numbers say "Bonjour" (the notice and the menu: the bench practice has more
  types than follow the notice in one SMS);
- slot choice: patients at the slot list of the slot they asked for choose it;
- confirmation: patients at the confirmation question say yes, each for a distinct slot.
The confirmation phase reuses the slot phase's patients (each has a slot of its own).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import tally, walk, wrk
from bench.sms_webhook import gunicorn, worker_peaks_mb
from bench.targets import RATIO_SQLITE
from bench.turn_phase import NOT_EXPECTED, Phase, Sent, answered, load, sent, size, within
from bench.turn_plan import Patient, Patients, Signer, strangers

FLOOR_MARKER = "Bien recu"
NOTICE_MARKER = "Droits: INFO"
MENU_MARKER = "Que souhaitez-vous faire"
NAME_MARKER = "quel nom"
BOOKED_MARKER = "RDV confirm"


@dataclass
class SqliteRun:
    """The SQLite section: its servers, its walkers and what it measured."""

    args: argparse.Namespace
    env: dict[str, str]
    floor_url: str
    floor_port: int
    port: int
    walkers: walk.Walkers
    peaks: list[float] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    floor_runs: list[wrk.Result] = field(default_factory=list)  # since the last check
    floor_rows: int = 0
    at_name: set[str] = field(default_factory=set)  # numbers whose slot choice was sent

    def __post_init__(self) -> None:
        self.numbers = itertools.count(50_000_000, 1_000_000)  # first-contact number blocks
        self.patients = Patients()

    # ------------------------------------------------------------ the floor

    def floor(self, seconds: int) -> wrk.Result:
        """The floor app on its own SQLite file."""
        requests = strangers(self.args.max_rate * seconds, next(self.numbers))
        result = load(self.floor_port, requests, self.args, seconds, [FLOOR_MARKER])
        self.floor_runs.append(result)
        return result

    def floor_check(self, *results: wrk.Result) -> str:
        """Each answer acknowledged; a row written for each request the server received."""
        written = tally.rows(self.floor_url, "floor") - self.floor_rows
        ok = within(written, *self.floor_runs)
        self.floor_rows += written
        self.floor_runs = []
        acknowledged = "; ".join(answered(r, FLOOR_MARKER, "acknowledged") for r in results)
        return f"floor: {acknowledged}; {written} rows written" + ("" if ok else NOT_EXPECTED)

    # ------------------------------------------------------------ Créneau's phases

    def first_contact(self) -> Phase:
        """New numbers say Bonjour: the notice and the menu, a patient row each."""
        args, url = self.args, self.env["DATABASE_URL"]
        floor = self.floor(args.seconds)
        load(self.port, strangers(args.max_rate * args.warm, next(self.numbers)), args, args.warm)
        before = tally.rows(url, "patient")
        requests = strangers(args.max_rate * args.seconds, next(self.numbers))
        turns = load(self.port, requests, args, args.seconds, [NOTICE_MARKER, MENU_MARKER])
        created = tally.rows(url, "patient") - before
        after = self.floor(args.seconds)
        checks = [
            answered(turns, NOTICE_MARKER, "held the notice"),
            answered(turns, MENU_MARKER, "held the menu"),
            f"{created} patients created (wrk read {turns.requests} answers, made "
            f"{sum(turns.sent)} requests)" + ("" if within(created, turns) else NOT_EXPECTED),
            self.floor_check(floor, after),
        ]
        return self._phase("first contact", turns, floor, checks, after)

    def slot_choice(self, rate: float) -> tuple[Phase, list[Patient]]:
        """Patients at the slot list choose the slot they asked for (offered first).

        Returns the phase and the patients ready for the next one: those whose choice
        was surely sent (now at the name question) and those never sent (still at the
        slot list); the few wrk may or may not have written are left out."""
        args = self.args
        warm = self.patients.take(size(rate, args.warm, args.headroom))
        measured = self.patients.take(size(rate, args.seconds, args.headroom))
        self._walk([walk.TO_SLOT_LIST], warm + measured, "to the slot list of their slot")
        floor = self.floor(args.seconds)
        sign = Signer()
        warm_run = load(self.port, [sign(p.number, "1") for p in warm], args, args.warm)
        requests = [sign(p.number, "1") for p in measured]
        turns = load(self.port, requests, args, args.seconds, [NAME_MARKER])
        after = self.floor(args.seconds)
        checks = [
            answered(turns, NAME_MARKER, "asked the name (slot accepted)"),
            self.floor_check(floor, after),
        ]
        ready = [
            (p, s)
            for group, run in ((warm, warm_run), (measured, turns))
            for p, s in zip(group, sent(run, len(group), args.connections), strict=True)
            if s is not Sent.MAYBE
        ]
        self.at_name = {p.number for p, s in ready if s is Sent.YES}
        phase = self._phase("slot choice", turns, floor, checks, after)
        return phase, [p for p, _ in ready]

    def confirmation(self, patients: Sequence[Patient], rate: float) -> Phase:
        """Patients at the confirmation question say yes: each books its own slot."""
        args, url = self.args, self.env["DATABASE_URL"]
        at_name = [p for p in patients if p.number in self.at_name]
        at_list = [p for p in patients if p.number not in self.at_name]
        self._walk([walk.NAME], at_name, "to the confirmation question")
        self._walk([walk.CHOOSE, walk.NAME], at_list, "to the confirmation question")
        ready = at_name + at_list
        n_warm = size(rate, args.warm, args.headroom)
        short = n_warm + size(rate, args.seconds, args.headroom) - len(ready)
        if short > 0:
            more = self.patients.take(short)
            self._walk(walk.BOOKING[:4], more, "to the confirmation question")
            ready += more
        floor = self.floor(args.seconds)
        before = tally.booked(url)
        sign = Signer()
        yes = [sign(p.number, "1") for p in ready]
        warm_run = load(self.port, yes[:n_warm], args, args.warm)
        turns = load(self.port, yes[n_warm:], args, args.seconds, [BOOKED_MARKER])
        new = tally.booked(url) - before
        after = self.floor(args.seconds)
        booked = sum(new.values())
        planned = ((p.practitioner, p.start_utc) for p in ready)
        checks = [
            answered(turns, BOOKED_MARKER, "confirmed the booking"),
            f"{booked} appointments booked, warm-up included (wrk read "
            f"{warm_run.requests + turns.requests} answers, made "
            f"{sum(warm_run.sent) + sum(turns.sent)} requests), {tally.audit(new, planned)}"
            + ("" if within(booked, warm_run, turns) else NOT_EXPECTED),
            self.floor_check(floor, after),
        ]
        return self._phase("confirmation", turns, floor, checks, after)

    # ------------------------------------------------------------ helpers

    def _phase(
        self,
        name: str,
        turns: wrk.Result,
        floor: wrk.Result,
        checks: list[str],
        after: wrk.Result,
    ) -> Phase:
        phase = Phase(name, turns, floor, after, RATIO_SQLITE, checks)
        print("\n".join(phase.lines()), flush=True)
        self.phases.append(phase)
        return phase

    def _walk(self, stages: Sequence[walk.Stage], patients: Sequence[Patient], where: str) -> None:
        if not patients:
            return
        began = time.perf_counter()
        self.walkers.walk(stages, patients)
        print(
            f"  ({len(patients)} patients walked {where} in {time.perf_counter() - began:.0f} s,"
            f" in-process, {self.args.workers} processes)",
            flush=True,
        )


@contextmanager
def sqlite_run(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> Iterator[SqliteRun]:
    """Both servers and the walkers up; the workers' peak memory read as the server stops."""
    floor_url = f"sqlite:///{tmp / 'floor.sqlite3'}"
    floor_env = {
        **env,
        "FLOOR_DATABASE": floor_url,
        "FLOOR_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    peaks: list[float] = []
    with ExitStack() as stack:
        floor_port = stack.enter_context(
            gunicorn("bench.floor:app()", floor_env, tmp / "floor.log", args.workers)
        )
        port = stack.enter_context(
            gunicorn(
                "channels.web:wsgi()",
                env,
                tmp / "creneau.log",
                args.workers,
                on_stop=lambda pid: peaks.extend(worker_peaks_mb(pid)),
            )
        )
        walkers = stack.enter_context(walk.walkers(env, args.workers))
        yield SqliteRun(args, env, floor_url, floor_port, port, walkers, peaks=peaks)


def measure(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> SqliteRun:
    """Every SQLite phase, in order, printed as it is measured."""
    with sqlite_run(args, env, tmp) as run:
        run.floor(args.warm)  # the floor's warm-up
        first = run.first_contact()
        slot, patients = run.slot_choice(first.turns.rate)
        run.confirmation(patients, max(first.turns.rate, slot.turns.rate))
    return run

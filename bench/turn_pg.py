"""The PostgreSQL part of the turn-cost benchmark: complete bookings driven by wrk.

On a throwaway database of the given server (created and migrated, dropped after): the
floor app on psycopg, then Créneau with many patients booking at once, each a distinct
slot it asks for in words (racing for one slot is a correctness test, not this), then the
floor again (the ratio is against the mean of the floor's two runs). Every
message is pre-signed and sent by wrk: five per booking (the day and time asked, the type,
the first slot offered, the name, yes). The requests run in rounds of `--batch` patients
per step (`wave`), so a patient's next message comes a whole round after its previous
one, in the same wrk thread: the same patient never has two messages in flight. The
first batches are walked in-process beforehand to the step they have reached, so the run
books at a steady rate from its first second.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import tally, walk, wrk
from bench.sms_webhook import gunicorn, worker_peaks_mb
from bench.targets import P99_MS, RATIO_PG, at_least, at_most
from bench.turn_phase import (
    NOT_EXPECTED,
    THREADS,
    Phase,
    Sent,
    answered,
    load,
    load_shares,
    sent_in_shares,
    size,
    within,
)
from bench.turn_plan import Patient, Patients, Signer, strangers

STEPS = tuple(stage.steps[0][0] for stage in walk.BOOKING)  # the text of each message
CONFIRM_STEP = len(STEPS) - 1
FLOOR_MARKER = "Bien recu"
BOOKED_MARKER = "RDV confirm"


def answers(url: str) -> bool:
    """Whether a PostgreSQL server answers at `url` within 3 s."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    try:
        psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            dbname=u.database,
            connect_timeout=3,
        ).close()
    except psycopg.Error:
        return False
    return True


def server_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Wave:
    """Complete bookings as wrk sends them, a share per thread, in steady state from the
    first request: patients of the first batches are walked in-process beforehand to the
    step their batch has reached (`staged`: steps done -> patients)."""

    shares: list[list[tuple[str, str]]]
    tags: list[list[tuple[Patient, int]]]  # per share: the patient and step of each request
    staged: dict[int, list[Patient]]
    patients: list[Patient]


def wave(source: Patients, batch: int, per_thread: int) -> Wave:
    """Bookings for at least `per_thread` requests per thread, `batch` patients a round.

    In round r a thread sends, for each position k of a batch, one message of each step:
    step s to patient k of batch r + 4 - s. A patient's next message comes one round
    (5 x `batch` + 1 requests of its thread) after the previous, every round confirms
    `batch` bookings, spread evenly, and no patient is ever in two threads."""
    sign = Signer()
    depth = len(STEPS) - 1
    rounds = -(-per_thread // (len(STEPS) * batch))
    shares, tags, patients = [], [], []
    staged: dict[int, list[Patient]] = {n: [] for n in range(1, depth + 1)}
    for _ in range(THREADS):
        batches = [source.take(batch) for _ in range(rounds + depth)]
        patients += [p for b in batches for p in b]
        for i in range(depth):
            staged[depth - i] += batches[i]
        share, share_tags = [], []
        for r in range(rounds):
            for k in range(batch):
                for step, text in enumerate(STEPS):
                    p = batches[r + depth - step][k]
                    share.append(sign(p.number, text(p)))
                    share_tags.append((p, step))
        shares.append(share)
        tags.append(share_tags)
    return Wave(shares, tags, staged, patients)


def confirmations(plan: Wave, result: wrk.Result, connections: int) -> dict[Sent, list[Patient]]:
    """The patients whose confirmation wrk sent (after all their other messages), those
    whose confirmation it may have sent as it stopped, and those it did not send."""
    out: dict[Sent, list[Patient]] = {s: [] for s in Sent}
    lengths = [len(share) for share in plan.shares]
    for tags, was_sent in zip(plan.tags, sent_in_shares(result, lengths, connections), strict=True):
        for (p, step), s in zip(tags, was_sent, strict=True):
            if step == CONFIRM_STEP:
                out[s].append(p)
    return out


@dataclass
class PgResult:
    """What the PostgreSQL part measured."""

    phase: Phase
    bookings_per_s: float
    peaks: list[float] = field(default_factory=list)


def measure(args: argparse.Namespace, base_env: dict[str, str], tmp: Path) -> PgResult:
    """The floor on psycopg, then complete bookings, on a throwaway database."""
    from bench.booking_pg import database

    with database(args.url) as url:
        print(
            f"PostgreSQL {server_version(url)}, throwaway database; bookings in rounds of "
            f"{args.batch} patients ({args.batch // THREADS} per wrk thread)",
            flush=True,
        )
        env = {**base_env, "DATABASE_URL": url}
        floor = _floor(args, env, url, tmp, 90_000_000)
        source, per_batch = Patients(), args.batch // THREADS
        warm = wave(source, per_batch, size(floor.result.rate, args.warm, args.headroom) // THREADS)
        plan = wave(
            source, per_batch, size(floor.result.rate, args.seconds, args.headroom) // THREADS
        )
        _stage(env, args, warm, plan)
        peaks: list[float] = []
        with gunicorn(
            "channels.web:wsgi()",
            env,
            tmp / "creneau-pg.log",
            args.workers,
            on_stop=lambda pid: peaks.extend(worker_peaks_mb(pid)),
        ) as port:
            load_shares(port, warm.shares, args, args.warm)
            before = tally.booked(url)
            turns = load_shares(port, plan.shares, args, args.seconds, [BOOKED_MARKER])
            new = tally.booked(url) - before
        after = _floor(args, env, url, tmp, 92_000_000)
        written = tally.rows(url, "floor")
    floor_check = (
        f"floor: {answered(floor.result, FLOOR_MARKER, 'acknowledged')}; "
        f"{answered(after.result, FLOOR_MARKER, 'acknowledged')}; {written} rows written"
        + ("" if within(written, *floor.runs, *after.runs) else NOT_EXPECTED)
    )
    phase = _phase(args, plan, turns, new, floor.result, floor_check, after.result)
    print("\n".join(phase.lines()), flush=True)
    booked = sum(new.values())
    return PgResult(phase, booked / turns.seconds if turns.seconds else 0.0, peaks)


def _stage(env: dict[str, str], args: argparse.Namespace, *waves: Wave) -> None:
    """Walk the first batches of each wave in-process to the step their batch has reached."""
    began, count = time.perf_counter(), 0
    with walk.walkers(env, args.workers) as walkers:
        for plan in waves:
            for done, patients in plan.staged.items():
                walkers.walk(walk.BOOKING[:done], patients)
                count += len(patients)
    print(
        f"  ({count} patients walked in-process to the step of their batch in "
        f"{time.perf_counter() - began:.0f} s)",
        flush=True,
    )


def _phase(
    args: argparse.Namespace,
    plan: Wave,
    turns: wrk.Result,
    new: Counter[tally.Slot],
    floor: wrk.Result,
    floor_check: str,
    floor_after: wrk.Result,
) -> Phase:
    """The bookings phase and its checks: every confirmation sent booked its own slot."""
    sure = confirmations(plan, turns, args.connections)
    surely, maybe = sure[Sent.YES], sure[Sent.MAYBE]
    booked = sum(new.values())
    missing = sum(1 for p in surely if new[(p.practitioner, p.start_utc)] == 0)
    said = turns.found.get(BOOKED_MARKER, 0)
    ok = said <= booked <= len(surely) + len(maybe) and not missing and not turns.errors
    rate = booked / turns.seconds if turns.seconds else 0.0
    planned = ((p.practitioner, p.start_utc) for p in plan.patients)
    checks = [
        f"{said} answers confirmed a booking, {turns.errors} errors",
        f"{booked} appointments booked for {len(surely)} confirmations sent (and "
        f"{len(maybe)} perhaps sent as wrk stopped); {missing} of those patients without "
        f"their slot; {tally.audit(new, planned)}" + ("" if ok else NOT_EXPECTED),
        floor_check,
    ]
    extra = [f"bookings: {booked} in {turns.seconds:.1f} s = {rate:.1f} bookings/s"]
    return Phase("booking turns", turns, floor, floor_after, RATIO_PG, checks, extra)


@dataclass
class FloorRun:
    """One run of the floor app: its measured result, and every wrk run it made (for the
    rows check)."""

    result: wrk.Result
    runs: tuple[wrk.Result, ...]


def _floor(
    args: argparse.Namespace, env: dict[str, str], url: str, tmp: Path, numbers: int
) -> FloorRun:
    """The floor app on psycopg against the same server, warmed up then measured (senders
    numbered from `numbers`, a block not used by another run)."""
    key = base64.b64encode(os.urandom(32)).decode()
    floor_env = {**env, "FLOOR_DATABASE": url, "FLOOR_KEY": key}
    with gunicorn("bench.floor:app()", floor_env, tmp / "floor-pg.log", args.workers) as port:
        warm = load(port, strangers(args.max_rate * args.warm, numbers), args, args.warm)
        requests = strangers(args.max_rate * args.seconds, numbers + 1_000_000)
        result = load(port, requests, args, args.seconds, [FLOOR_MARKER])
    return FloorRun(result, (warm, result))


def summary(result: PgResult) -> list[str]:
    """The lines of the final summary for PostgreSQL."""
    phase = result.phase
    return [
        f"  PostgreSQL booking turns: {phase.turns.rate:.1f}/s, ratio "
        f"{at_least(phase.ratio, RATIO_PG)}, p50 {phase.turns.p50_ms:.1f} ms, "
        f"p99 {at_most(phase.turns.p99_ms, P99_MS, unit=' ms')}",
        f"  PostgreSQL bookings: {result.bookings_per_s:.1f}/s",
    ]

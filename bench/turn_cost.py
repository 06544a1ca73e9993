"""Turn cost against its floor: Créneau's SMS turns next to the least work such a turn needs.

One command, every figure next to its target (issue 15), each Créneau run measured right
after its floor in the same run, with the same gunicorn settings (sync workers, loopback)
and the same wrk load (pre-signed Twilio webhooks, each sent once, `--seconds` per phase):
- SQLite: the floor app (`bench/floor.py`: signature check, AES-GCM seal, one durable
  insert, TwiML); Créneau's first-contact turn (notice and menu); its mid-booking turns:
  a patient at the slot list choosing the slot it asked for, a patient at the
  confirmation question saying yes (each a distinct slot, so every one books);
- PostgreSQL (when the server answers): the same floor on psycopg, then complete bookings
  driven by wrk, patients choosing distinct slots; turns/s, p50/p99, bookings/s;
- SMS cost: the segments of one complete French booking with the example practice;
- memory: the peak RSS of each Créneau web worker under that load.
After each phase it prints what the turns were checked to have done (answers read by wrk,
rows and appointments in the database).

    .venv/bin/python -m bench.turn_cost [--seconds 10] [--url postgresql+psycopg://...]
        [--sections sqlite,pg,sms] [--connections 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from bench import sms_cost, targets, turn_pg, turn_sqlite, wrk
from bench.sms_webhook import environment
from bench.turn_phase import THREADS
from bench.turn_plan import bench_environment

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECTIONS = ("sqlite", "pg", "sms")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per phase")
    parser.add_argument("--warm", type=int, default=2, help="warm-up seconds before each")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--headroom",
        type=float,
        default=2.5,
        help="prepared patients cover this many times the expected rate (raise it if a "
        "run stops because its requests ran out, lower it if the slots run out)",
    )
    parser.add_argument(
        "--max-rate",
        type=int,
        default=5000,
        help="requests per second the cheap lists (floor, first contact) are sized for",
    )
    parser.add_argument(
        "--batch", type=int, default=200, help="PostgreSQL: patients per round and step"
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("TEST_PG_URL")
        or os.environ.get("CRENEAU_TEST_DATABASE_URL")
        or DEFAULT_PG,
        help="PostgreSQL server (a throwaway database is created there and dropped)",
    )
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help="any of sqlite,pg,sms (comma-separated)"
    )
    args = parser.parse_args()
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {','.join(SECTIONS)}")
    if args.batch % THREADS or args.batch < THREADS:
        parser.error(f"--batch must be a multiple of {THREADS}")
    if args.connections < THREADS:
        parser.error(f"--connections must be at least {THREADS}")
    return args


def memory(label: str, peaks: list[float]) -> str:
    if not peaks:
        return f"  memory, {label}: not read (no worker found)"
    worst = max(peaks)
    shown = ", ".join(f"{mb:.0f} MB" for mb in peaks)
    return f"  memory, {label}: peak RSS per worker {shown} → " + targets.at_most(
        worst, targets.WORKER_MB, fmt="{:.0f}", unit=" MB"
    )


def main() -> None:
    args = arguments()
    wrk.require_wrk()
    print("Turn cost against its floor (issue 15)")
    print(targets.machine())
    print(
        f"gunicorn {args.workers} sync workers on loopback, wrk {args.connections} connections "
        f"({THREADS} threads), {args.warm} s warm-up + {args.seconds} s per phase",
        flush=True,
    )
    try:
        summary = sections(args)
    except wrk.RanOut as exc:
        raise SystemExit(
            f"{exc}: a phase ran faster than its list was sized for; run again with a "
            f"larger --headroom (now {args.headroom}) or --max-rate (now {args.max_rate})"
        ) from None
    print("\nSummary against the targets of issue 15")
    print("\n".join(summary))


def sections(args: argparse.Namespace) -> list[str]:
    """Run the asked sections, printing as they go; the summary lines."""
    summary: list[str] = []
    if "sms" in args.sections:
        print("\nSMS cost (one complete French booking, example practice, bot.gsm.segments)")
        bookings = sms_cost.measure()
        for booking in bookings:
            print("\n".join("  " + line for line in sms_cost.describe(booking)))
        summary += ["  SMS " + sms_cost.describe(b)[0] for b in bookings]
    tmp = Path(tempfile.mkdtemp(prefix="creneau-turncost-"))
    try:
        env = bench_environment(environment(tmp), tmp)
        if "sqlite" in args.sections:
            print("\nSQLite (one file, WAL)", flush=True)
            run = turn_sqlite.measure(args, env, tmp)
            for phase in run.phases:
                summary.append(
                    f"  SQLite {phase.name}: {phase.turns.rate:.1f}/s, ratio "
                    f"{targets.at_least(phase.ratio, targets.RATIO_SQLITE)}, p99 "
                    + targets.at_most(phase.turns.p99_ms, targets.P99_MS, unit=" ms")
                )
            summary.append(memory("SQLite, all three phases", run.peaks))
        if "pg" in args.sections:
            print(f"\nPostgreSQL at {args.url}", flush=True)
            if turn_pg.answers(args.url):
                result = turn_pg.measure(args, env, tmp)
                summary += turn_pg.summary(result)
                summary.append(memory("PostgreSQL bookings", result.peaks))
            else:
                print("  does not answer: PostgreSQL part skipped")
                summary.append("  PostgreSQL: skipped (the server does not answer)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


if __name__ == "__main__":
    main()

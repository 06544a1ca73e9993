"""Instructions per turn, counted by callgrind: a figure that does not move with the load.

Timings on a shared machine move by tens of per cent from one run to the next; the number
of instructions a turn executes does not (`valgrind --tool=callgrind` counts them, whatever
else the machine is doing). For each phase, two runs under callgrind do the same work up to
the measured turns (start the app in-process, walk the same number of patients to the
phase's state, warm up), then run `--few` or `--many` turns of that phase: the difference
of their totals, divided by the difference of turns, is the cost of one turn, start-up and
walking cancelled out. In-process, SQLite, the Flask test client (as `bench.profile_turn`).

    .venv/bin/python -m bench.instructions [--phases first,slot,confirm] [--few 50]
        [--many 150] [--jobs 2]

Needs valgrind (`apt-get install valgrind`). Each run takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.profile_turn import PHASES
from bench.sms_webhook import ROOT

WARM = 20
COLLECTED = re.compile(r"Collected : (\d+)")


def child(phase: str, walked: int, turns: int) -> None:
    """In the process callgrind watches: walk `walked` patients, then run `turns` turns."""
    from bench import profile_turn, walk
    from bench.sms_webhook import environment
    from bench.turn_plan import Patients, bench_environment

    stages, text, _ = PHASES[phase]
    tmp = Path(tempfile.mkdtemp(prefix="creneau-instructions-"))
    try:
        walk.start(bench_environment(environment(tmp), tmp))
        client = walk.client()
        patients = Patients().take(WARM + walked)
        walk.require(walk.walk_here(stages, patients), stages, len(patients))
        profile_turn.run(client, profile_turn.environs(patients[:WARM], text))
        profile_turn.run(client, profile_turn.environs(patients[WARM : WARM + turns], text))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def counted(phase: str, walked: int, turns: int, out: Path) -> int:
    """Instructions of one run of `child` under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--child",
        phase,
        str(walked),
        str(turns),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({phase}, {turns} turns):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="first,slot,confirm")
    parser.add_argument("--few", type=int, default=50, help="turns of the shorter run")
    parser.add_argument("--many", type=int, default=150, help="turns of the longer run")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, walked, turns = args.child
        child(phase, int(walked), int(turns))
        return
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown or args.many <= args.few:
        parser.error(f"phases among {','.join(PHASES)}; --many above --few")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (as root: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        runs = {
            (phase, turns): pool.submit(
                counted, phase, args.many, turns, Path(tmp) / f"{phase}.{turns}.out"
            )
            for phase in phases
            for turns in (args.few, args.many)
        }
        print(f"Instructions per turn (callgrind; {args.many} - {args.few} turns, in-process)")
        for phase in phases:
            few, many = runs[(phase, args.few)].result(), runs[(phase, args.many)].result()
            per_turn = (many - few) / (args.many - args.few)
            print(f"  {phase:8s} {per_turn / 1e6:7.3f} M instructions per turn")


if __name__ == "__main__":
    main()

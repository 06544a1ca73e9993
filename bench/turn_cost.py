"""Turn cost against its floor: Créneau's SMS turns next to the least work such a turn needs.

In one run, with the same gunicorn settings (2 sync workers) and the same wrk load
(32 connections, pre-signed Twilio webhooks, each sent once):
- the floor app (`bench/floor.py`): signature check, AES-GCM seal, one durable insert, TwiML;
- Créneau's first-contact turn: a new number says "Bonjour" (notice + menu);
- Créneau's mid-booking turns: patients at the slot list choose a slot, patients at the
  confirmation say yes (each a distinct slot, so every confirmation books).
Prints each rate, p50/p99 and the ratio to the floor of the same run.

    .venv/bin/python -m bench.turn_cost [--requests 12000] [--connections 32] [--url URL]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from twilio.request_validator import RequestValidator

from bench import wrk
from bench.sms_webhook import ACCOUNT_SID, AUTH_TOKEN, PATH, PUBLIC, environment, gunicorn

PRACTICE_NUMBER = "+33700000099"


def form(number: str, body: str) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    sid = "SM" + secrets.token_hex(16)
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "To": PRACTICE_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def numbers(start: int) -> Iterator[str]:
    """Distinct valid French mobile numbers."""
    n = start
    while True:
        yield f"+336{n:08d}"
        n += 1


def first_contacts(count: int, start: int) -> list[tuple[str, str]]:
    """`count` signed "Bonjour" from numbers never seen."""
    validator = RequestValidator(AUTH_TOKEN)
    gen = numbers(start)
    return [wrk.signed(validator, PUBLIC + PATH, form(next(gen), "Bonjour")) for _ in range(count)]


def measure(
    port: int,
    warm: list[tuple[str, str]],
    requests: list[tuple[str, str]],
    args: argparse.Namespace,
) -> wrk.Result:
    """Warm up for 2 s on `warm`, then measure `requests` for --seconds."""
    wrk.run(port, PATH, wrk.split(warm, 2), args.connections, seconds=2)
    return wrk.run(port, PATH, wrk.split(requests, 2), args.connections, seconds=args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30_000, help="per phase, at most")
    parser.add_argument("--seconds", type=int, default=10, help="per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    wrk.require_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="creneau-turncost-"))
    try:
        env = environment(tmp)
        floor_env = {
            **env,
            "FLOOR_DATABASE": f"sqlite:///{tmp / 'floor.sqlite3'}",
            "FLOOR_KEY": base64.b64encode(os.urandom(32)).decode(),
        }
        print(
            f"gunicorn {args.workers} sync workers, wrk {args.connections} connections, "
            f"{args.seconds} s per phase, SQLite"
        )
        with gunicorn("bench.floor:app()", floor_env, tmp / "floor.log", args.workers) as port:
            floor = measure(
                port, first_contacts(10_000, 1), first_contacts(args.requests, 100_000), args
            )
        with gunicorn("channels.web:wsgi()", env, tmp / "creneau.log", args.workers) as port:
            first = measure(
                port,
                first_contacts(10_000, 1_000_000),
                first_contacts(args.requests, 2_000_000),
                args,
            )
        print(floor.line("floor (durable write)"))
        print(first.line("Créneau first contact"))
        print(f"ratio first contact / floor: {first.rate / floor.rate:.2f} (target >= 0.6)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Complete bookings per second on PostgreSQL, against a bare Flask "hello" in the same run.

Créneau under gunicorn (sync workers) on a fresh, migrated PostgreSQL database; many
patients in parallel, each a distinct number posting signed Twilio webhooks through a whole
booking (RDV, consultation, one of the offered slots, name, confirm; a slot taken meanwhile
means choosing again). Then a bare Flask app under the same gunicorn settings answers the
same number of requests, for the ratio. Prints the figures; writes nothing.

    .venv/bin/python bench/booking_pg.py [--url postgresql+psycopg://postgres@127.0.0.1/test]
        [--workers 4] [--patients 300] [--threads 32]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token"
CHOICE = re.compile(r"^(\d+)\. (.+)$", re.M)
SLOT = re.compile(r"\d\d:\d\d")
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>hello</Message></Response>'


def hello() -> Flask:
    """The baseline: a bare Flask app answering the webhook path with fixed TwiML."""
    app = Flask("hello")
    app.add_url_rule(
        "/sms/twilio", "hello", lambda: (TWIML, 200, {"Content-Type": "text/xml"}), methods=["POST"]
    )
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    return app


@dataclass
class Stats:
    """Latencies of every request and the count of finished bookings."""

    latencies: list[float] = field(default_factory=list)
    bookings: int = 0
    errors: int = 0  # patients who could not finish
    statuses: dict[int, int] = field(default_factory=dict)  # non-200 answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, booked: bool) -> None:
        """One finished booking, or one error (from any thread)."""
        with self.lock:
            if booked:
                self.bookings += 1
            else:
                self.errors += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, migrated; dropped afterwards."""
    from store.migrations import upgrade

    name = f"creneau_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """A gunicorn serving `app` on a free loopback port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **env, "PUBLIC_BASE_URL": base}
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(base)
            yield base
        finally:
            proc.terminate()
            proc.wait(30)
            log.seek(0)
            crashes = log.read().count("Traceback")
            if crashes:
                print(f"  ({app}: {crashes} traceback(s) in the server log)")


def wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{base} did not start")


class Client:
    """Posts signed webhooks as Twilio would, timing each."""

    def __init__(self, base: str, stats: Stats) -> None:
        self.endpoint = base + "/sms/twilio"
        self.validator = RequestValidator(TOKEN)
        self.stats = stats
        self.http = requests.Session()

    def sms(self, sender: str, body: str) -> str:
        params = {"From": sender, "Body": body, "MessageSid": "SM" + uuid.uuid4().hex}
        headers = {"X-Twilio-Signature": self.validator.compute_signature(self.endpoint, params)}
        began = time.perf_counter()
        resp = self.http.post(self.endpoint, data=params, headers=headers, timeout=60)
        self.stats.latencies.append(time.perf_counter() - began)
        if resp.status_code != 200:
            with self.stats.lock:
                self.stats.statuses[resp.status_code] = (
                    self.stats.statuses.get(resp.status_code, 0) + 1
                )
            return ""
        return "\n".join(m.text or "" for m in ET.fromstring(resp.text).iter("Message"))


def book(client: Client, phone: str, rng: random.Random) -> None:
    """One patient's whole booking, answering whatever the bot asks next.

    Patients look a few pages ahead ("Plus tard") before choosing, as real ones spread
    over the week; otherwise every thread fights for the same five slots.
    """
    reply = client.sms(phone, "RDV")
    reply = client.sms(phone, "1")
    for _ in range(rng.randrange(6)):
        later = [n for n, label in CHOICE.findall(reply) if label.startswith("Plus tard")]
        if later:
            reply = client.sms(phone, later[0])
    for _ in range(30):
        if "RDV confirm" in reply:
            client.stats.count(booked=True)
            return
        if "A quel nom" in reply:
            reply = client.sms(phone, "Camille Banc")  # a name: letters only
        elif "1. Oui" in reply:
            reply = client.sms(phone, "1")
        else:
            slots = [n for n, label in CHOICE.findall(reply) if SLOT.search(label)]
            if not slots:
                break
            reply = client.sms(phone, rng.choice(slots))
    client.stats.count(booked=False)


def run(
    base: str, jobs: int, threads: int, job: Callable[[Client, int], object]
) -> tuple[float, Stats]:
    """Run `jobs` jobs on `threads` threads; wall time and stats."""
    stats = Stats()
    clients = [Client(base, stats) for _ in range(threads)]
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: job(clients[i % threads], i), range(jobs)))
    return time.perf_counter() - began, stats


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "CRENEAU_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from store.crypto import generate_key

    with database(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        env = {
            "CRENEAU_ENV": "development",
            "CRENEAU_VAR_DIR": tmp,
            "DATABASE_URL": url,
            "CRENEAU_PRACTICE": str(ROOT / "practice.example.toml"),
            "CRENEAU_DATA_KEYS": f"b1:{generate_key()}",
            "CRENEAU_INDEX_KEY": generate_key(),
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
        }
        with gunicorn("channels.web:wsgi()", args.workers, env) as base:
            rng = random.Random(7)
            seconds, stats = run(
                base, args.patients, args.threads, lambda c, i: book(c, f"+3365{i:07d}", rng)
            )
    with gunicorn("bench.booking_pg:hello()", args.workers, {}) as base:
        requests_made = len(stats.latencies)
        hello_s, hello_stats = run(
            base, requests_made, args.threads, lambda c, i: c.sms(f"+3366{i:07d}", "RDV") and None
        )
    report(args, seconds, stats, hello_s, hello_stats)


def report(
    args: argparse.Namespace, seconds: float, stats: Stats, hello_s: float, hello: Stats
) -> None:
    """Print the figures."""
    rps, hello_rps = len(stats.latencies) / seconds, len(hello.latencies) / hello_s
    print(
        f"PostgreSQL, gunicorn {args.workers} sync workers, {args.threads} client threads, "
        f"{args.patients} patients"
    )
    print(
        f"  bookings completed: {stats.bookings} in {seconds:.1f} s = "
        f"{stats.bookings / seconds:.1f} bookings/s ({stats.errors} unfinished after 30 turns, "
        f"non-200 answers: {stats.statuses or 0})"
    )
    print(
        f"  webhook requests:   {len(stats.latencies)} = {rps:.0f} req/s, "
        f"p50 {pct(stats.latencies, 50):.0f} ms, p99 {pct(stats.latencies, 99):.0f} ms"
    )
    print(
        f"  bare Flask hello:   {len(hello.latencies)} = {hello_rps:.0f} req/s, "
        f"p50 {pct(hello.latencies, 50):.1f} ms, p99 {pct(hello.latencies, 99):.1f} ms"
    )
    print(f"  ratio Créneau / hello: {rps / hello_rps:.2%} of the bare app's request rate")


if __name__ == "__main__":
    main()

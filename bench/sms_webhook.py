"""SMS webhook throughput: Créneau under gunicorn against a bare Flask "hello" app.

Both run with the same gunicorn settings (2 sync workers, loopback); Créneau uses SQLite in
a temporary directory. A load generator (threads + http.client, one request in flight per
connection) posts signed Twilio webhooks: booking conversations from many distinct numbers
(Bonjour, 1, one of the first five slots,
name, 1, MES RDV). The hello app answers the same requests with a fixed
TwiML. Prints requests/s, the ratio and p50/p99 latency of each.

    .venv/bin/python bench/sms_webhook.py [--connections 32] [--seconds 20] [--max-requests N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import itertools
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
HOST = "127.0.0.1"
PUBLIC = "https://bench.creneau.example"
PATH = "/sms/twilio"
ACCOUNT_SID = "AC" + "4" * 32
AUTH_TOKEN = "bench-auth-token-" + "8" * 16
CONVERSATION = ("Bonjour", "1", "{slot}", "Camille Bench", "1", "MES RDV")
HELLO_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>hello</Message></Response>'

# Open every day, long hours: thousands of free slots, so conversations do not run dry.
PRACTICE = """
[practice]
name = "Cabinet du Banc d'Essai"
timezone = "Europe/Paris"
locale = "fr"
controller = "Dr Anne Roux, 3 rue des Lilas, 69003 Lyon"
contact = "cabinet@example.org"
privacy_notice_url = "https://example.org/confidentialite"
notice_version = "bench-1"
retention_days = 30
min_notice_hours = 1
horizon_days = 60
cancel_cutoff_hours = 1
reminder_hours_before = 0
quiet_hours = "21:00-07:00"

[[practitioners]]
id = "roux"
name = "Dr Anne Roux"
summary_time = "07:30"
{hours}

[[consultation_types]]
id = "consultation"
label = {{ fr = "Consultation", en = "Consultation" }}
duration_minutes = 10
practitioners = ["roux"]
requires_preparation = false

[[consultation_types]]
id = "suivi"
label = {{ fr = "Suivi", en = "Follow-up" }}
duration_minutes = 10
practitioners = ["roux"]
requires_preparation = false
"""


def hello_app() -> Flask:
    """The baseline: the same route and answer shape, no work at all."""
    app = Flask("hello")

    @app.post(PATH)
    def sms() -> Response:
        return Response(HELLO_TWIML, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def environment(tmp: Path) -> dict[str, str]:
    """Settings for Créneau: keys given explicitly so both workers share them."""
    practice = tmp / "practice.toml"
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours = "\n".join(f'hours.{d} = ["07:00-20:00"]' for d in days)
    practice.write_text(PRACTICE.format(hours=hours), encoding="utf-8")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    index = base64.b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()).decode()
    return {
        **os.environ,
        "CRENEAU_ENV": "development",
        "CRENEAU_VAR_DIR": str(tmp / "var"),
        "CRENEAU_PRACTICE": str(practice),
        "DATABASE_URL": f"sqlite:///{tmp / 'creneau.sqlite3'}",
        "CRENEAU_DATA_KEYS": f"bench1:{key}",
        "CRENEAU_INDEX_KEY": index,
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+33700000099",
    }


@contextmanager
def gunicorn(
    app: str,
    env: dict[str, str],
    log: Path,
    workers: int,
    on_stop: Callable[[int], None] | None = None,
) -> Iterator[int]:
    """Run `app` under gunicorn (sync workers, loopback) until the block ends; yields the port.
    `on_stop(master_pid)` runs just before the server is stopped (to read its workers)."""
    port = free_port()
    command = [
        str(GUNICORN),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:{port}",
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        app,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            wait_healthy(port, proc, log)
            yield port
        finally:
            if on_stop is not None:
                on_stop(proc.pid)
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_peaks_mb(master_pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of each child of a gunicorn master, in MB (Linux)."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master_pid) and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    return peaks


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited early:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not become healthy in 60 s")


# ---------------------------------------------------------------- load


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    booked: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latencies: list[float], errors: int, booked: int) -> None:
        with self.lock:
            self.latencies += latencies
            self.errors += errors
            self.booked += booked


class Load:
    """Conversations from distinct numbers, `connections` at a time, bounded in time and count."""

    def __init__(self, port: int, connections: int, seconds: float, max_requests: int) -> None:
        self.port = port
        self.connections = connections
        self.seconds = seconds
        self.max_requests = max_requests
        self.validator = RequestValidator(AUTH_TOKEN)
        self.numbers = itertools.count(1)
        self.sent = itertools.count(1)
        self.stats = Stats()

    def run(self) -> Stats:
        start = time.perf_counter()
        self.deadline = start + self.seconds
        threads = [threading.Thread(target=self._client) for _ in range(self.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.stats.elapsed = time.perf_counter() - start
        return self.stats

    def _client(self) -> None:
        latencies: list[float] = []
        errors = booked = 0
        while True:
            number = f"+336{next(self.numbers):08d}"
            for text in CONVERSATION:
                if time.perf_counter() > self.deadline or next(self.sent) > self.max_requests:
                    self.stats.add(latencies, errors, booked)
                    return
                began = time.perf_counter()
                status, body = self._post(number, text.format(slot=random.randint(1, 5)))
                latencies.append(time.perf_counter() - began)
                errors += status != 200
                booked += "RDV confirm" in body

    def _post(self, number: str, text: str) -> tuple[int, str]:
        sid = "SM" + secrets.token_hex(16)
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": number,
            "To": "+33700000099",
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.validator.compute_signature(PUBLIC + PATH, form),
        }
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request("POST", PATH, urllib.parse.urlencode(form), headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except OSError:
            return 0, ""
        finally:
            conn.close()


def warm_up(port: int) -> None:
    """A few conversations before measuring: imports, catalogs, tables, connection pools."""
    Load(port, connections=2, seconds=5, max_requests=2 * len(CONVERSATION)).run()


def measure(port: int, args: argparse.Namespace) -> Stats:
    warm_up(port)
    return Load(port, args.connections, args.seconds, args.max_requests).run()


# ---------------------------------------------------------------- report


def describe(name: str, stats: Stats) -> float:
    n = len(stats.latencies)
    rate = n / stats.elapsed if stats.elapsed else 0.0
    ms = sorted(x * 1000 for x in stats.latencies)
    p50 = statistics.median(ms) if ms else float("nan")
    p99 = ms[min(n - 1, int(n * 0.99))] if ms else float("nan")
    extra = f", {stats.booked} bookings confirmed" if name == "creneau" else ""
    print(
        f"{name:8s} {n:6d} requests in {stats.elapsed:5.1f} s: {rate:8.1f} req/s, "
        f"p50 {p50:7.1f} ms, p99 {p99:7.1f} ms, {stats.errors} non-200{extra}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="creneau-bench-"))
    try:
        env = environment(tmp)
        print(
            f"gunicorn {args.workers} sync workers, {args.connections} connections, "
            f"up to {args.seconds:.0f} s or {args.max_requests} requests each, SQLite"
        )
        peaks: list[float] = []
        with gunicorn(
            "channels.web:wsgi()",
            env,
            tmp / "creneau.log",
            args.workers,
            on_stop=lambda pid: peaks.extend(worker_peaks_mb(pid)),
        ) as port:
            creneau = measure(port, args)
        with gunicorn(
            "bench.sms_webhook:hello_app()", env, tmp / "hello.log", args.workers
        ) as port:
            hello = measure(port, args)
        creneau_rate = describe("creneau", creneau)
        hello_rate = describe("hello", hello)
        ratio = creneau_rate / hello_rate if hello_rate else float("nan")
        print(f"ratio creneau/hello: {ratio:.3f} ({1 / ratio:.1f}x slower)" if ratio else "")
        if peaks:
            print(
                "peak memory of a Créneau web worker under this load: "
                + ", ".join(f"{mb:.0f} MB" for mb in peaks)
                + " (target <= 150 MB)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

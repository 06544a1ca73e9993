"""The web process under stress, as started in production: bounded waits on a locked
database, /healthz answering while every request thread waits, bodies refused before they
are read, and the metrics endpoint (gunicorn, several workers)."""

from __future__ import annotations

import os
import re
import select
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests import pg
from tests.conftest import env_for
from tests.fake_telegram import FakeBotAPI
from tests.procs import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CRENEAU,
    GUNICORN,
    PUBLIC,
    Server,
    base_env,
    free_port,
    started,
)

SECRET = "webhook-secret-" + "x" * 16
TOKEN = "metrics-token-" + "y" * 20
PHONE = "+33612345678"
MB = 1024 * 1024


def service_env(tmp_path: Path, api: FakeBotAPI | None = None, **extra: str) -> dict[str, str]:
    """A development service with SMS, and Telegram when a fake Bot API is given."""
    settings = env_for(
        tmp_path,
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER="+33478000000",
        **extra,
    )
    if api is not None:
        settings.update(
            TELEGRAM_BOT_TOKEN="123:abc",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_BASE_URL=api.base,
        )
    return base_env(**settings)


@contextmanager
def serve(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    with started([CRENEAU, "serve", "--port", str(port)], env, tmp_path, port) as server:
        yield server


def update(update_id: int, chat: int = 4242, body: str = "Bonjour") -> dict:  # type: ignore[type-arg]
    user = {"id": chat, "is_bot": False, "first_name": "P", "language_code": "fr"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": user,
            "text": body,
        },
    }


def telegram(server: Server, payload: dict, timeout: float = 30) -> requests.Response:  # type: ignore[type-arg]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    return requests.post(
        server.base + "/telegram/webhook", json=payload, headers=headers, timeout=timeout
    )


# ---------------------------------------------------------------- bounded waits


@contextmanager
def database_locked(url: str) -> Iterator[None]:
    """Another session holds the lock webhooks need: on PostgreSQL an exclusive lock on the
    patient table, on SQLite the write lock."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE patient IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def test_a_locked_database_gets_bounded_answers_and_healthz_still_answers(tmp_path):
    with FakeBotAPI() as api:
        env = service_env(tmp_path, api)
        with serve(tmp_path, env) as server:
            assert telegram(server, update(1)).status_code == 200  # the patient exists
            assert server.sms(PHONE, "Bonjour").status_code == 200
            with database_locked(env["DATABASE_URL"]):
                # more webhooks at once than the server has request threads
                answers: list[int] = []
                threads = [
                    threading.Thread(
                        target=lambda n=n: answers.append(
                            telegram(server, update(100 + n)).status_code
                        )
                    )
                    for n in range(12)
                ]
                for t in threads:
                    t.start()
                time.sleep(0.5)  # they are all waiting on the lock now
                health = requests.get(server.base + "/healthz", timeout=5)
                assert (health.status_code, health.json()) == (200, {"status": "ok"})
                sms = server.sms(PHONE, "RDV")
                for t in threads:
                    t.join(60)
            # Telegram is told to deliver again; the SMS patient gets the apology
            assert answers == [503] * 12
            assert sms.status_code == 200 and "un problème technique" in sms.text
            assert "Traceback" not in server.output()
            # once the lock is gone, Telegram's retry goes through
            assert telegram(server, update(100)).status_code == 200


def test_under_gunicorn_healthz_is_not_stuck_behind_waiting_requests(tmp_path):
    """Requests waiting on a lock hold some of a worker's threads; another thread answers
    /healthz, well before the lock timeout ends their wait."""
    env = service_env(tmp_path, WEB_THREADS="4")
    with gunicorn(tmp_path, env) as server:
        assert server.sms(PHONE, "Bonjour").status_code == 200
        with database_locked(env["DATABASE_URL"]):
            answers: list[str] = []
            waiting = [  # as many as two sync workers could take, fewer than their threads
                threading.Thread(target=lambda: answers.append(server.sms(PHONE, "RDV").text))
                for _ in range(4)
            ]
            for t in waiting:
                t.start()
            time.sleep(0.5)  # they are waiting on the lock now
            health = requests.get(server.base + "/healthz", timeout=2.5)  # < the 3 s wait
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            for t in waiting:
                t.join(60)
        assert len(answers) == 4 and all("un problème technique" in a for a in answers)


# ---------------------------------------------------------------- bodies


def _children(pid: int) -> list[int]:
    """The process and its direct children (gunicorn's workers)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def largest_open_file(pid: int) -> int:
    """The size of the largest regular file the server's processes hold open (spooled
    bodies included: they are unlinked temporary files)."""
    biggest = 0
    for proc in _children(pid):
        fds = Path(f"/proc/{proc}/fd")
        try:
            entries = list(fds.iterdir())
        except OSError:
            continue
        for fd in entries:
            try:
                info = os.stat(fd)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                biggest = max(biggest, info.st_size)
    return biggest


def post_huge(server: Server, path: str, chunked: bool) -> tuple[int, int]:
    """Start a 300 MB POST and keep sending until the server answers; its status and the
    largest file it held open meanwhile."""
    port = int(server.base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {300 * MB}"
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{length}\r\n"
    sock.sendall((head + "Content-Type: application/x-www-form-urlencoded\r\n\r\n").encode())
    piece = b"a" * MB
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    biggest = 0
    try:
        for _ in range(300):
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered
            sock.sendall(frame)
            biggest = max(biggest, largest_open_file(server.proc.pid))
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    try:
        while b"\r\n" not in answer:
            more = sock.recv(4096)
            if not more:
                break
            answer += more
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    biggest = max(biggest, largest_open_file(server.proc.pid))
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return (int(match.group(1)) if match else 0), biggest


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_waitress_refuses_a_300_mb_body_without_spooling_it(tmp_path, chunked):
    env = service_env(tmp_path, TMPDIR=str(tmp_path))
    with serve(tmp_path, env) as server:
        status, biggest = post_huge(server, "/sms/twilio", chunked)
        assert status == 413
        assert biggest < MB
        assert requests.get(server.base + "/healthz", timeout=5).status_code == 200


@contextmanager
def gunicorn(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": "2"}
    args = [GUNICORN, "--config", "python:channels.gunicorn_conf", "channels.web:wsgi()"]
    with started(args, env, tmp_path, port) as server:
        yield server


def test_gunicorn_refuses_a_300_mb_body_before_reading_it(tmp_path):
    with gunicorn(tmp_path, service_env(tmp_path, TMPDIR=str(tmp_path))) as server:
        status, biggest = post_huge(server, "/sms/twilio", chunked=False)
        assert status == 413 and biggest < MB


# ---------------------------------------------------------------- metrics


def scrape(server: Server, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.base + "/metrics", headers=headers, timeout=10)


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the Prometheus text format."""
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if found == labels:
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_need_the_token_and_count_a_booking_across_workers(tmp_path):
    env = service_env(tmp_path, CRENEAU_METRICS_TOKEN=TOKEN)
    with gunicorn(tmp_path, env) as server:
        assert scrape(server, None).status_code == 401
        assert scrape(server, "wrong").status_code == 401
        before = scrape(server)
        assert before.status_code == 200
        assert before.headers["Content-Type"].startswith("text/plain")
        for body in ("RDV", "1", "1", "Paul Martin", "1"):
            assert server.sms(PHONE, body).status_code == 200
        for _ in range(4):  # whichever worker answers, it reports all of them
            body = scrape(server).text
            assert sample(body, "creneau_appointments_total", action="booked", channel="sms") == 1
            assert sample(body, "creneau_turns_total", channel="sms", outcome="ok") == 5
            assert sample(body, "creneau_turn_seconds_count", channel="sms") == 5
            assert sample(body, "creneau_database_up") == 1
            assert sample(body, "creneau_outbox_depth", channel="sms", status="pending") is None
        for secret in (PHONE, "612345678", "Paul", "Martin"):
            assert secret not in body


def test_metrics_are_off_without_a_token(tmp_path):
    env = service_env(tmp_path)
    with serve(tmp_path, env) as server:
        assert scrape(server).status_code == 404


@pytest.mark.postgres
def test_healthz_answers_while_a_postgres_session_holds_the_tables(tmp_path):
    """The same with the lock held in a real PostgreSQL session on every table."""
    env = service_env(tmp_path)
    with serve(tmp_path, env) as server:
        engine = create_engine(pg.session_url())
        try:
            with engine.connect() as conn, conn.begin():
                conn.execute(text("LOCK TABLE patient, processed_message, rate_limit"))
                health = requests.get(server.base + "/healthz", timeout=5)
                sms = server.sms(PHONE, "Bonjour")
        finally:
            engine.dispose()
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert sms.status_code == 200 and "un problème technique" in sms.text

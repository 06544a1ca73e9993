"""Many patients, one slot, several processes: exactly one booking, everyone else told.

gunicorn with 4 sync workers on a fresh, migrated PostgreSQL database; 50 patients (distinct
numbers, signed Twilio webhooks, parallel threads) walk to the confirmation of the same
slot, half of them as a 20-minute consultation and half as a 30-minute ECG on the same
start, then all confirm at once. Rounds: 20 (CRENEAU_RACE_ROUNDS to change it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from store import migrations
from store.crypto import generate_key
from tests import pg
from tests.conftest import EXAMPLE, ROOT

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        importlib.util.find_spec("channels.sms") is None,
        reason="the SMS channel (channels/sms.py) is not there yet",
    ),
]
PATIENTS = 50
ROUNDS = int(os.environ.get("CRENEAU_RACE_ROUNDS", "20"))
TOKEN = "race-test-auth-token"
CHOICE = re.compile(r"^(\d+)\. (.+)$", re.M)
CONFIRMED, TAKEN = "RDV confirm", "vient d'etre pris"  # GSM-7 folds ê to e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A gunicorn on the real app, and how to talk to it as Twilio would."""

    base: str
    url: str
    log: Path
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(TOKEN))

    def sms(self, sender: str, body: str, sid: str) -> tuple[int, str]:
        """POST one signed inbound SMS; the status and the reply's text."""
        params = {"From": sender, "Body": body, "MessageSid": sid}
        endpoint = self.base + "/sms/twilio"
        signature = self.validator.compute_signature(endpoint, params)
        resp = requests.post(
            endpoint, data=params, headers={"X-Twilio-Signature": signature}, timeout=60
        )
        if resp.status_code != 200:
            return resp.status_code, resp.text
        return 200, "\n".join(m.text or "" for m in ET.fromstring(resp.text).iter("Message"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = pg.create_database("creneau_race")
    migrations.upgrade(url)
    tmp, port = tmp_path_factory.mktemp("race"), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CRENEAU_ENV": "development",
        "CRENEAU_VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": url,
        "CRENEAU_PRACTICE": str(EXAMPLE),
        "PUBLIC_BASE_URL": base,
        "CRENEAU_DATA_KEYS": f"r1:{generate_key()}",
        "CRENEAU_INDEX_KEY": generate_key(),
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
    }
    log = tmp / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--workers",
                "4",
                "--bind",
                f"127.0.0.1:{port}",
                "channels.web:wsgi()",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base, proc, log)
        yield Server(base, url, log)
    finally:
        proc.terminate()
        proc.wait(30)
        pg.drop_database(url)


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if requests.get(base + "/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not become healthy:\n{log.read_text()}")


@dataclass
class Walker:
    """One patient by SMS, stopping at the confirmation question."""

    server: Server
    phone: str
    ecg: bool
    replies: list[tuple[int, str]] = field(default_factory=list)
    sent: int = 0

    def say(self, body: str) -> str:
        self.sent += 1
        status, reply = self.server.sms(self.phone, body, f"SM{self.phone[1:]}x{self.sent:03d}")
        self.replies.append((status, reply))
        assert status == 200, f"{status} after {body!r}:\n{reply}"
        return reply

    def to_slot_list(self) -> dict[str, str]:
        """RDV, then the type: the offered slots as label -> number."""
        self.say("RDV")
        offered = self.say("2" if self.ecg else "1")
        return {label.strip(): n for n, label in CHOICE.findall(offered)}

    def to_confirmation(self, number: str) -> None:
        self.say(number)
        letters = "".join("abcdefghij"[int(d)] for d in self.phone[-4:])  # a name has no digits
        question = self.say(f"Patient {letters.capitalize()}")
        if self.ecg:
            question = self.say("Aucun")
        assert "1. " in question, question


def common_label(consultation: dict[str, str], ecg: dict[str, str]) -> str:
    """The first slot offered for both types (same start, 20 and 30 minutes long)."""
    for label in consultation:
        if label in ecg and re.search(r"\d\d:\d\d", label):
            return label
    raise AssertionError(f"no common slot in {list(consultation)} and {list(ecg)}")


def booked(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM appointment WHERE status = 'booked'"))
        value = int(count.scalar() or 0)
    engine.dispose()
    return value


def run_round(server: Server, rnd: int) -> list[str]:
    """One round; returns every patient's answer to the simultaneous confirmation."""
    walkers = [Walker(server, f"+336{rnd:02d}{i:06d}", ecg=bool(i % 2)) for i in range(PATIENTS)]
    with ThreadPoolExecutor(PATIENTS) as pool:
        offers = list(pool.map(Walker.to_slot_list, walkers))
        target = common_label(offers[0], offers[1])
        list(pool.map(lambda w, o: w.to_confirmation(o[target]), walkers, offers))
        start = threading.Barrier(PATIENTS)
        return list(pool.map(lambda w: (start.wait(), w.say("1"))[1], walkers))


def test_one_slot_many_patients_exactly_one_booking(server: Server) -> None:
    for rnd in range(ROUNDS):
        answers = run_round(server, rnd)
        winners = [a for a in answers if CONFIRMED in a]
        losers = [a for a in answers if TAKEN in a]
        assert len(winners) == 1, f"round {rnd}: {len(winners)} confirmations"
        others = [a for a in answers if CONFIRMED not in a and TAKEN not in a]
        assert len(losers) == PATIENTS - 1, f"round {rnd}: unexpected answers {others[:3]}"
        assert all(CHOICE.search(a) for a in losers), "the others are offered other slots"
        assert booked(server.url) == rnd + 1
    assert "Traceback" not in server.log.read_text()

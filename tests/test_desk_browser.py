"""The desk in a real browser: Debian's Chromium driven by Playwright, against the real app
served over HTTP on a real database, the SMS webhook signed as Twilio signs it.

A secretary logs in with a TOTP code, books for a caller, sees a booking made by SMS
appear, cancels it with confirmation, adds and removes an absence, exports and erases a
patient; the day view is photographed at phone width.

Without Chromium (or Playwright) these tests are skipped, saying why; with
CRENEAU_BROWSER_TESTS=required (as `.ci/run` sets) they fail instead.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from channels.runtime import Runtime
from channels.settings import Settings
from channels.web import create_app
from store.desk import add_user
from store.models import Appointment, Block, Patient, utcnow
from tests.conftest import env_for
from tests.test_agenda import outbox

CHROMIUM = os.environ.get("CRENEAU_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("CRENEAU_BROWSER_TESTS", "") == "required"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TWILIO_TOKEN = "b" * 32
PASSWORD = "secretariat password"
CALLER = "+33612345678"
TEXTER = "+33698765432"

PRACTICE = """
[practice]
name = "Cabinet des Lilas"
timezone = "Europe/Paris"
locale = "fr"
controller = "Dr Anne Roux, 3 rue des Lilas, 69003 Lyon"
contact = "cabinet@example.org"
privacy_notice_url = "https://example.org/confidentialite"
notice_version = "1"
retention_days = 30
min_notice_hours = 1
horizon_days = 30
cancel_cutoff_hours = 1
reminder_hours_before = 24
quiet_hours = "21:00-07:00"
closed = []
legal_basis = "public_interest"

[[practitioners]]
id = "roux"
name = "Dr Anne Roux"
summary_time = "07:30"
summary_day = "today"
summary_detail = "initials"
summary_telegram_chat_id = 0
summary_phone = ""
hours.mon = ["08:00-19:00"]
hours.tue = ["08:00-19:00"]
hours.wed = ["08:00-19:00"]
hours.thu = ["08:00-19:00"]
hours.fri = ["08:00-19:00"]
hours.sat = ["08:00-19:00"]
hours.sun = ["08:00-19:00"]
absences = []

[[consultation_types]]
id = "consultation"
label = { fr = "Consultation", en = "Consultation" }
duration_minutes = 20
practitioners = ["roux"]
requires_preparation = false
"""


def _why_not() -> str | None:
    """Why the browser cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (as root: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make install)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _why_not()
    if reason:
        if REQUIRED:
            pytest.fail(f"browser tests are required (CRENEAU_BROWSER_TESTS) but {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """The app served on a real port, with the practice above and SMS configured."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        practice = tmp_path / "practice.toml"
        practice.write_text(PRACTICE)
        env = env_for(
            tmp_path,
            CRENEAU_PRACTICE=str(practice),
            PUBLIC_BASE_URL=self.url,
            TWILIO_ACCOUNT_SID="AC" + "2" * 32,
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            TWILIO_FROM_NUMBER="+33700000009",
        )
        self.rt = Runtime(Settings.from_env(env))
        self.server = make_server("127.0.0.1", self.port, create_app(self.rt), threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.rt.db.dispose()

    def sms(self, sender: str, body: str) -> str:
        """Text the practice as Twilio delivers it (signed); the TwiML reply's text."""
        target = self.url + "/sms/twilio"
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": "AC" + "2" * 32,
            "From": sender,
            "To": "+33700000009",
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(target, params)
        request = urllib.request.Request(
            target,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            xml = response.read().decode()
        return html.unescape(" ".join(re.findall(r"<Message>(.*?)</Message>", xml, re.S)))


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    server = Live(tmp_path)
    yield server
    server.stop()


CHOICE = re.compile(r"^\s*(\d{1,2})\.\s*(.+?)\s*$", re.M)
TIME = re.compile(r"\b([01]\d|2[0-3]):([0-5]\d)\b")


def _pick(reply: str, pattern: str) -> str | None:
    for number, label in CHOICE.findall(reply):
        if re.search(pattern, label, re.I):
            return str(number)
    return None


def book_by_sms(live: Live, sender: str, name: str) -> None:
    """Walk the booking dialog by reading each reply, as a patient would."""
    reply = live.sms(sender, "Bonjour")
    for _ in range(12):
        if number := _pick(reply, r"^(oui|yes)\b"):
            reply = live.sms(sender, number)
            break
        for pattern in (r"prendre rdv", r"^consultation", r"\d{2}:\d{2}"):
            if number := _pick(reply, pattern):
                reply = live.sms(sender, number)
                break
        else:
            if re.search(r"\bnom\b", reply, re.I):
                reply = live.sms(sender, name)
            else:
                break
    assert "confirm" in reply.lower(), reply


def _appointments(live: Live) -> list[Appointment]:
    with live.rt.db.read() as session:
        return list(session.exec(select(Appointment).order_by(Appointment.start)))


def _day_of(moment: datetime) -> date:
    return moment.astimezone(live_tz()).date()


def live_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")


def test_a_secretary_works_the_desk_in_a_real_browser(browser, live, tmp_path):
    with live.rt.db.write() as session:
        enrolment = add_user(
            session,
            live.rt.vault,
            live.rt.practice,
            "accueil@lilas.example",
            "secretary",
            PASSWORD,
            utcnow(),
        )
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15_000)

    # log in with a generated TOTP code; the login page comes first
    page.goto(live.url + "/desk/")
    assert page.url.endswith("/desk/login")
    page.fill("#email", "accueil@lilas.example")
    page.fill("#password", PASSWORD)
    page.fill("#code", pyotp.TOTP(enrolment.secret).now())
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/desk/agenda"))
    page.keyboard.press("Tab")  # from the top, the first stop is the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # book for a caller: tomorrow, the first free slot
    tomorrow = (datetime.now(live_tz()) + timedelta(days=1)).date()
    page.goto(f"{live.url}/desk/book?practitioner=roux&type=consultation&date={tomorrow}")
    page.locator("input[name=start]").first.check()
    page.fill("#name", "Jeanne Appel")
    page.fill("#phone", "06 12 34 56 78")
    page.get_by_role("button", name="Réserver").click()
    page.get_by_text("RDV réservé").wait_for()
    page.get_by_role("link", name="Agenda").last.click()
    page.get_by_text("Jeanne Appel").wait_for()
    [booked] = _appointments(live)
    assert booked.status == "booked"
    texts = [payload["text"] for _, address, payload in outbox(live.rt) if address == CALLER]
    assert len(texts) == 2 and "confidentialite" in texts[0]
    assert "Consultation" not in texts[1] and "Dr Anne Roux" in texts[1]

    # a patient books by SMS: it shows on the desk
    book_by_sms(live, TEXTER, "Marc Texto")
    by_sms = [a for a in _appointments(live) if a.id != booked.id]
    assert len(by_sms) == 1
    day = _day_of(by_sms[0].start)
    page.goto(f"{live.url}/desk/agenda?date={day}&practitioner=roux")
    row = page.locator("tr", has_text="Marc Texto")
    row.wait_for()

    # cancel it, with a confirmation step
    row.get_by_role("link").click()
    page.get_by_role("link", name="Annuler le RDV").click()
    page.get_by_text("Annuler ce RDV ?").wait_for()
    with live.rt.db.read() as session:
        assert session.get(Appointment, by_sms[0].id).status == "booked"
    page.get_by_role("button", name="Oui, annuler le RDV").click()
    page.get_by_text("RDV annulé.").wait_for()
    assert "annulé" in page.locator("tr", has_text="Marc Texto").inner_text()
    with live.rt.db.read() as session:
        assert session.get(Appointment, by_sms[0].id).status == "cancelled"
    told = [p["text"] for _, address, p in outbox(live.rt) if address == TEXTER]
    assert any("annulé" in t for t in told) and not any("Consultation" in t for t in told)

    # add and remove an absence
    page.goto(f"{live.url}/desk/agenda?date={tomorrow}&practitioner=roux")
    page.get_by_text("Aucune absence ce jour").wait_for()
    page.locator("summary", has_text="Ajouter une absence").click()
    page.fill("#start_time", "15:00")
    page.fill("#end_time", "17:00")
    page.locator("form[action$='/desk/absences'] button[type=submit]").click()
    page.get_by_text("Absence ajoutée").wait_for()
    with live.rt.db.read() as session:
        assert len(list(session.exec(select(Block)))) == 1
    page.get_by_role("button", name=re.compile("Retirer|Supprimer l'absence")).click()
    page.get_by_text("Absence supprimée.").wait_for()
    page.get_by_text("Aucune absence ce jour").wait_for()
    with live.rt.db.read() as session:
        assert list(session.exec(select(Block))) == []

    # the day view at phone width
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{live.url}/desk/agenda?date={tomorrow}&practitioner=roux")
    phone.get_by_text("Jeanne Appel").wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shots = Path(os.environ.get("CRENEAU_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "desk-day-phone.png"
    phone.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
    phone.goto(f"{live.url}/desk/agenda?date={tomorrow - timedelta(days=3)}&practitioner=roux")
    phone.get_by_text("Aucun RDV ce jour").wait_for()
    phone.close()

    # export, then erase, the caller's data
    page.get_by_role("link", name="Patients").click()
    page.fill("#value", "06 12 34 56 78")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name=re.compile("Export lisible")).click()
    page.get_by_text("Données détenues sur le patient").wait_for()
    assert "Jeanne Appel" in page.content() and CALLER in page.content()
    exported = context.request.get(page.url + ".json")
    assert exported.ok and json.loads(exported.text())["patient"]["name"] == "Jeanne Appel"
    page.go_back()
    page.get_by_role("link", name="Effacer toutes ses données").click()
    page.get_by_role("button", name="Oui, tout effacer").click()
    page.get_by_text("Données effacées").wait_for()
    page.fill("#value", CALLER)
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_text("Aucun patient avec ce numéro.").wait_for()
    with live.rt.db.read() as session:
        names = [
            live.rt.vault.open("patient", "name", p.id, p.name_enc)
            for p in session.exec(select(Patient))
            if p.name_enc
        ]
    assert names == ["Marc Texto"]

    # log out: the desk is closed again
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r"/desk/login"))
    page.goto(live.url + "/desk/agenda")
    assert page.url.split("?")[0].endswith("/desk/login")
    context.close()

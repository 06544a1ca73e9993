"""The SMS channel: Twilio webhook through Flask's test client, and the Twilio REST sender
against a local fake Twilio server."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func
from sqlmodel import SQLModel, select
from twilio.request_validator import RequestValidator
from werkzeug import Response as WerkzeugResponse

from bot.gsm import encoding, segments
from channels import sms
from channels.outbound import Result
from channels.runtime import Runtime
from channels.settings import Settings
from channels.sms_sender import TwilioSender
from channels.web import create_app
from store import lifecycle
from store.models import Appointment, Patient, RateLimit, utcnow
from store.ratelimit import RateLimiter
from tests.conftest import database_url

PRACTICE_FILE = Path(__file__).resolve().parent.parent / "practice.example.toml"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-" + "2" * 16
PUBLIC = "https://creneau.example"
WEBHOOK = PUBLIC + "/sms/twilio"
PRACTICE_NUMBER = "+33700000001"
PHONE = "+33612345678"
NAME = "Paulette Marchand"
MONDAY_7AM = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 07:00 in Paris


# ---------------------------------------------------------------- fixtures


def make_settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "CRENEAU_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url(tmp_path),
        "CRENEAU_PRACTICE": str(PRACTICE_FILE),
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        **extra,
    }
    return Settings.from_env(env)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(make_settings(tmp_path))
    yield rt
    if "db" in rt.__dict__:
        rt.db.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def monday() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(MONDAY_7AM, tick=False) as traveller:
        yield traveller


class Phone:
    """A phone texting the practice: posts Twilio's inbound form, signed, and reads TwiML."""

    def __init__(self, client: FlaskClient, number: str = PHONE) -> None:
        self.client = client
        self.number = number

    def form(self, body: str, sid: str | None = None) -> dict[str, str]:
        sid = sid or "SM" + uuid.uuid4().hex
        return {
            "ToCountry": "FR",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": "FR",
            "To": PRACTICE_NUMBER,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.number,
            "ApiVersion": "2010-04-01",
        }

    def post(
        self, form: dict[str, str], signature: str | None = "ok", url: str = WEBHOOK
    ) -> WerkzeugResponse:
        headers = {}
        if signature == "ok":
            headers["X-Twilio-Signature"] = sign(url, form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.client.post("/sms/twilio", data=form, headers=headers)

    def send(self, body: str, sid: str | None = None) -> str:
        """Text `body`; the reply's text ("" when the answer is an empty <Response/>)."""
        response = self.post(self.form(body, sid))
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        return reply_text(response.get_data(as_text=True))


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def messages(xml: str) -> list[str]:
    """The SMS of a TwiML answer: one `<Message>` per reply."""
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def reply_text(xml: str) -> str:
    """Every SMS of the TwiML answer, blank-line separated ("" for none)."""
    return "\n\n".join(messages(xml))


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read() as session:
        return {
            name: session.exec(select(func.count()).select_from(table)).one()
            for name, table in SQLModel.metadata.tables.items()
        }


def count(runtime: Runtime, model: type[SQLModel]) -> int:
    return row_counts(runtime)[model.__tablename__]  # type: ignore[index]


def choice(reply: str, n: int) -> str:
    """The label of choice `n` in an SMS reply."""
    return next(line.split(". ", 1)[1] for line in reply.splitlines() if line.startswith(f"{n}. "))


def book(phone: Phone) -> list[str]:
    """A booking from a plain greeting (the type is asked at once), returning every reply."""
    return [phone.send(text) for text in ("Bonjour", "1", "1", NAME, "1")]


# ---------------------------------------------------------------- the webhook


def test_full_booking_by_sms(runtime: Runtime, client: FlaskClient, monday) -> None:
    phone = Phone(client)
    first, slots, name_q, confirm, done = book(phone)
    assert first.startswith("Cabinet des Lilas gère vos RDV")
    assert "https://example.org/confidentialite" in first
    assert first.index("confidentialite") < first.index("Pour quel type de RDV ?")
    assert "1. Consultation\n2. Electrocardiogramme" in first.replace("É", "E")
    slot = choice(slots, 1)
    assert slot.startswith("lun. 7 déc. ")
    time = slot.rsplit(" ", 1)[1]
    assert name_q == "A quel nom ?"  # À folded to GSM-7
    assert f"lundi 7 décembre à {time}" in confirm and "1. Oui\n2. Non" in confirm
    assert f"au nom de {NAME}" in confirm
    assert done.startswith(f"RDV confirmé: lundi 7 décembre à {time}")
    listing = phone.send("MES RDV")
    assert f"1. {slot}" in listing
    assert count(runtime, Appointment) == 1


def test_replies_are_gsm7_and_within_the_cap(client: FlaskClient, monday) -> None:
    phone = Phone(client)
    replies = [
        *book(phone),
        phone.send("MES RDV"),
        phone.send("INFO"),
        phone.send("AIDE"),
        phone.send("MES DONNEES"),
        phone.send("août 14h"),
        phone.send("😀"),
    ]
    for text in replies:
        assert text
        for message in text.split("\n\n"):
            assert encoding(message) == "GSM-7", message
            assert segments(message) <= 2, message


def test_choices_are_numbered_lines_in_one_message(client: FlaskClient, monday) -> None:
    answer = Phone(client).post(Phone(client).form("Bonjour"))
    root = ET.fromstring(answer.get_data(as_text=True))
    (message,) = root.findall("Message")
    lines = (message.text or "").splitlines()
    assert lines[-3:] == ["Pour quel type de RDV ?", "1. Consultation", "2. Électrocardiogramme"]


def test_forged_or_missing_signature_is_refused_and_stores_nothing(
    runtime: Runtime, client: FlaskClient
) -> None:
    phone = Phone(client)
    form = phone.form("Bonjour")
    assert phone.post(form, signature=None).status_code == 403
    assert phone.post(form, signature="").status_code == 403
    assert phone.post(form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    forged = sign(WEBHOOK, form, token="not-the-auth-token")
    assert phone.post(form, signature=forged).status_code == 403
    tampered = dict(form, Body="SUPPRIMER")
    assert phone.post(tampered, signature=sign(WEBHOOK, form)).status_code == 403
    assert set(row_counts(runtime).values()) == {0}


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/sms/twilio",  # what the app sees behind a proxy: not what Twilio signed
        "https://evil.example/sms/twilio",
        PUBLIC + "/sms/other",
    ],
)
def test_signature_for_another_url_is_refused(
    runtime: Runtime, client: FlaskClient, url: str
) -> None:
    response = Phone(client).post(Phone(client).form("Bonjour"), url=url)
    assert response.status_code == 403
    assert set(row_counts(runtime).values()) == {0}


def test_signature_with_explicit_default_port_is_accepted(client: FlaskClient) -> None:
    phone = Phone(client)
    response = phone.post(phone.form("Bonjour"), url="https://creneau.example:443/sms/twilio")
    assert response.status_code == 200


def test_repeated_message_sid_repeats_the_reply_without_a_second_booking(
    runtime: Runtime, client: FlaskClient, monday
) -> None:
    phone = Phone(client)
    sid = "SM" + "a" * 32
    first = phone.post(phone.form("Bonjour", sid)).get_data(as_text=True)
    again = phone.post(phone.form("Bonjour", sid)).get_data(as_text=True)
    assert first == again
    for text in ("1", "1", "1", NAME):
        phone.send(text)
    confirm_sid = "SM" + "b" * 32
    done = phone.post(phone.form("1", confirm_sid)).get_data(as_text=True)
    replay = phone.post(phone.form("1", confirm_sid)).get_data(as_text=True)
    assert "RDV confirm" in done
    assert replay == done
    assert count(runtime, Appointment) == 1


def test_stop_confirms_once_then_one_reminder_until_start(
    runtime: Runtime, client: FlaskClient
) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    assert "plus aucun message" in phone.send("STOP")
    assert phone.send("Bonjour") == (
        "Vous avez demandé STOP: nous ne vous écrivons plus. Pour reprendre: START."
    )
    for text in ("RDV", "1", "AIDE", "STOP", "😀", ""):
        assert phone.send(text) == ""  # one reminder a day, then silence
    back = phone.send("START")
    assert "de nouveau" in back and "1. Prendre RDV" in back
    assert "2. Mes RDV" in phone.send("MENU")


def test_arret_is_stop_too(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    assert "START" in phone.send("Arrêt")
    assert "START" in phone.send("Bonjour")
    assert phone.send("Bonjour") == ""


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [("AIDE", "MES RDV: voir"), ("aide ", "MES RDV: voir"), ("HELP", "MES RDV: voir")],
)
def test_help_keywords(client: FlaskClient, keyword: str, expected: str) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    reply = phone.send(keyword)
    assert expected in reply and "cabinet@example.org" in reply
    assert "1. Consultation" in reply


def test_help_in_english_after_en(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    assert "English" in phone.send("EN")
    assert "APPTS (move, cancel)" in phone.send("HELP")


def test_a_picture_without_text_gets_a_text_only_answer(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    form = phone.form("")
    form["NumMedia"] = "1"
    form["MediaUrl0"] = "https://api.twilio.com/2010-04-01/Accounts/x/Messages/y/Media/z"
    response = phone.post(form)
    assert response.status_code == 200
    reply = reply_text(response.get_data(as_text=True))
    assert reply.startswith("Désolé, je ne lis que le texte.") and "1. Consultation" in reply


def test_a_picture_with_text_reads_the_text(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    form = phone.form("MES RDV")
    form["NumMedia"] = "1"
    assert "aucun RDV" in reply_text(phone.post(form).get_data(as_text=True))


def test_an_empty_body_gets_help(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    assert "MES RDV: voir" in phone.send("")


def test_first_contact_with_an_empty_body_gets_the_notice_then_help(client: FlaskClient) -> None:
    reply = Phone(client).send("")
    assert reply.startswith("Cabinet des Lilas gère vos RDV") and "MES RDV: voir" in reply


def test_overlong_body_is_cut_not_rejected(
    runtime: Runtime, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    handle = runtime.assistant.handle

    def spy(inbound, **kw):  # type: ignore[no-untyped-def]
        seen.append(inbound)
        return handle(inbound, **kw)

    monkeypatch.setattr(runtime.assistant, "handle", spy)
    phone = Phone(client)
    phone.send("Bonjour")
    reply = phone.send("blabla " * 700)
    assert len(seen[-1].text) == sms.MAX_INBOUND_CHARS
    assert "pas compris" in reply and "1. Consultation" in reply


def test_emoji_gets_a_helpful_reply(client: FlaskClient) -> None:
    phone = Phone(client)
    phone.send("Bonjour")
    reply = phone.send("👍🏽😀")
    assert "pas compris" in reply and "1. Consultation" in reply
    assert encoding(reply) == "GSM-7"


def test_bad_from_is_acknowledged_silently_and_not_logged(
    runtime: Runtime, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = Phone(client, number="not-a-number-42")
    assert phone.send("Bonjour") == ""
    assert count(runtime, Patient) == 0
    assert "not-a-number-42" not in caplog.text


def test_unexpected_error_gets_a_polite_apology_without_data_in_logs(
    runtime: Runtime,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(inbound, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"leaky message about {inbound.sender}: {inbound.text}")

    monkeypatch.setattr(runtime.assistant, "handle", boom)
    caplog.set_level(logging.DEBUG)
    reply = Phone(client).send("Rendez-vous pour Paulette")
    assert reply.startswith("Désolé") and "cabinet@example.org" in reply
    assert "RuntimeError" in caplog.text
    assert "leaky" not in caplog.text and "612345678" not in caplog.text
    assert "Paulette" not in caplog.text


def test_no_phone_number_or_name_in_logs(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, monday
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = Phone(client)
    book(phone)
    phone.send("MES RDV")
    phone.send("MES DONNEES")
    phone.send("STOP")
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in (PHONE, PHONE[3:], "0612345678", "06 12 34 56 78", NAME, "Paulette", "Marchand"):
        assert secret not in logged


def test_webhook_absent_without_twilio_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
    app = create_app(Runtime(settings))
    assert app.test_client().post("/sms/twilio", data={"Body": "x"}).status_code == 404


# ---------------------------------------------------------------- rate limit


def test_rate_limit_one_notice_then_silence_other_senders_fine(
    runtime: Runtime, client: FlaskClient
) -> None:
    noisy, quiet = Phone(client), Phone(client, number="+33698765432")
    with time_machine.travel(MONDAY_7AM, tick=False) as clock:
        for _ in range(20):
            assert noisy.send("Bonjour")
        assert noisy.send("Bonjour") == "Trop de messages, réessayez dans quelques minutes."
        for _ in range(3):
            assert noisy.send("Bonjour") == ""
        clock.shift(timedelta(minutes=5))
        assert "1. Consultation" in quiet.send("Bonjour")
        clock.shift(timedelta(minutes=4, seconds=59))
        assert noisy.send("AIDE") == ""
        clock.shift(timedelta(seconds=1))  # the noisy sender's window is over
        assert "1. Consultation" in noisy.send("Bonjour")
        assert count(runtime, RateLimit) == 2
        clock.shift(timedelta(minutes=10))
        assert noisy.send("AIDE")
        assert count(runtime, RateLimit) == 2  # a new window reuses the sender's row
        clock.shift(timedelta(days=1))
        assert noisy.send("AIDE")
        with runtime.db.write() as session:
            lifecycle.purge(session, runtime.practice, utcnow())
    assert count(runtime, RateLimit) == 1  # the quiet sender's old window: purged daily


def test_rate_limit_is_configurable_and_in_english(runtime: Runtime) -> None:
    app = Flask("t")
    sms.register(app, runtime, limiter=RateLimiter(limit=2, window=timedelta(minutes=1)))
    phone = Phone(app.test_client())
    phone.send("Bonjour")
    phone.send("EN")
    assert phone.send("HELP") == "Too many messages, please try again in a few minutes."
    assert phone.send("HELP") == ""


def test_rate_limit_notice_is_not_sent_to_an_opted_out_patient(runtime: Runtime) -> None:
    app = Flask("t")
    sms.register(app, runtime, limiter=RateLimiter(limit=2))
    phone = Phone(app.test_client())
    phone.send("Bonjour")
    phone.send("STOP")
    assert phone.send("START") == ""  # over the limit: silence, no notice, no START either


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(limit=0)
    with pytest.raises(ValueError):
        RateLimiter(window=timedelta(0))


# ---------------------------------------------------------------- outbound (Twilio REST)

MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def twilio_message(to: str = PHONE) -> dict[str, Any]:
    return {
        "sid": "SM" + uuid.uuid4().hex,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "status": "queued",
        "body": "x",
        "date_created": None,
        "error_code": None,
    }


def twilio_error(code: int, status: int = 400) -> dict[str, Any]:
    return {
        "code": code,
        "message": "error",
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def sender_for(tmp_path: Path, server: HTTPServer, **extra: str) -> TwilioSender:
    base = server.url_for("/").rstrip("/")
    extra = {"TWILIO_MESSAGING_SERVICE_SID": "MG" + "3" * 32, **extra}
    return TwilioSender(make_settings(tmp_path, TWILIO_API_BASE_URL=base, **extra))


def send(sender: TwilioSender, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        try:
            return await sender.send(PHONE, payload)
        finally:
            await sender.close()

    return asyncio.run(run())


def test_sender_sends_gsm7_through_the_messaging_service(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_json(
        twilio_message(), status=201
    )
    sender = sender_for(tmp_path, httpserver)
    payload = {
        "op": "send",
        "text": "Rappel: RDV demain à 09:00, Cabinet des Lilas. L’équipe",
        "choices": [["1.1", "Oui"]],
    }
    outcome = send(sender, payload)
    assert outcome.result is Result.SENT
    ((request, _),) = httpserver.log
    form = request.form
    assert form["To"] == PHONE
    assert form["MessagingServiceSid"] == "MG" + "3" * 32
    assert "From" not in form
    assert form["Body"] == "Rappel: RDV demain à 09:00, Cabinet des Lilas. L'équipe\n1. Oui"
    assert request.authorization.username == ACCOUNT_SID


def test_sender_uses_the_from_number_without_a_messaging_service(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_json(
        twilio_message(), status=201
    )
    sender = sender_for(
        tmp_path, httpserver, TWILIO_MESSAGING_SERVICE_SID="", TWILIO_FROM_NUMBER=PRACTICE_NUMBER
    )
    assert send(sender, {"op": "send", "text": "Bonjour"}).result is Result.SENT
    ((request, _),) = httpserver.log
    assert request.form["From"] == PRACTICE_NUMBER
    assert "MessagingServiceSid" not in request.form


@pytest.mark.parametrize(
    ("status", "body", "headers", "result", "error"),
    [
        (500, {"message": "boom", "status": 500}, {}, Result.RETRY, "http:500"),
        (503, twilio_error(20503, 503), {}, Result.RETRY, "twilio:20503"),
        (429, twilio_error(20429, 429), {"Retry-After": "7"}, Result.RETRY, "twilio:20429"),
        (400, twilio_error(21610), {}, Result.UNREACHABLE, "twilio:21610"),
        (400, twilio_error(21211), {}, Result.PERMANENT, "twilio:21211"),
        (400, twilio_error(21614), {}, Result.PERMANENT, "twilio:21614"),
        (400, twilio_error(21408), {}, Result.PERMANENT, "twilio:21408"),
        (401, twilio_error(20003, 401), {}, Result.PERMANENT, "twilio:20003"),
        (
            400,
            {
                "type": "https://www.twilio.com/docs/errors/21610",
                "title": "Unsubscribed",
                "status": 400,
                "code": 21610,
            },
            {},
            Result.UNREACHABLE,
            "twilio:21610",
        ),  # RFC 9457
    ],
)
def test_sender_maps_twilio_errors(
    tmp_path: Path,
    httpserver: HTTPServer,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    result: Result,
    error: str,
) -> None:
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_data(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )
    outcome = send(sender_for(tmp_path, httpserver), {"op": "send", "text": "Bonjour"})
    assert outcome.result is result
    assert outcome.error == error
    assert outcome.retry_after == (7.0 if "Retry-After" in headers else None)


def test_sender_retries_when_twilio_is_unreachable(tmp_path: Path) -> None:
    base = "http://127.0.0.1:9"  # discard port: connection refused
    sender = TwilioSender(
        make_settings(tmp_path, TWILIO_API_BASE_URL=base, TWILIO_FROM_NUMBER=PRACTICE_NUMBER)
    )
    outcome = send(sender, {"op": "send", "text": "Bonjour"})
    assert outcome.result is Result.RETRY
    assert outcome.error == "ConnectionError"


def test_sender_refuses_a_payload_it_did_not_queue(tmp_path: Path, httpserver: HTTPServer) -> None:
    sender = sender_for(tmp_path, httpserver)
    assert send(sender, {"op": "edit", "text": "x"}).result is Result.PERMANENT
    assert send(sender_for(tmp_path, httpserver), {"op": "send"}).error == "bad_payload"
    assert not httpserver.log


def test_sender_needs_credentials_and_a_sender(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TWILIO_FROM_NUMBER"):
        TwilioSender(make_settings(tmp_path))
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        TwilioSender(
            make_settings(tmp_path, TWILIO_ACCOUNT_SID="", TWILIO_FROM_NUMBER=PRACTICE_NUMBER)
        )


@pytest.mark.parametrize(
    "bodies",
    [[], ["Bonjour"], ['a<b & "c" é\n2. Non', "deux > un"], ["ü ' ]]> & <![CDATA["]],
)
def test_twiml_is_what_the_twilio_library_writes(bodies: list[str]) -> None:
    from twilio.twiml.messaging_response import MessagingResponse

    reference = MessagingResponse()
    for body in bodies:
        reference.message(body)
    assert sms.twiml(bodies) == str(reference)


def test_a_webhook_answer_sets_no_cookie(client: FlaskClient, monday) -> None:
    response = Phone(client).post(Phone(client).form("Bonjour"))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers

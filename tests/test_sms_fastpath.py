"""The SMS webhook's fast path: the signature held to twilio's own validator, and the
answers of the WSGI fast path held to those of the Flask route it stands in front of."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from channels.runtime import Runtime
from channels.sms import Signature, parse_form
from channels.web import create_app
from store.models import Patient, ProcessedMessage
from tests import pg
from tests.test_sms import (
    AUTH_TOKEN,
    MONDAY_7AM,
    PUBLIC,
    WEBHOOK,
    Phone,
    count,
    make_settings,
    messages,
    sign,
)

URLS = (
    "https://creneau.example/sms/twilio",
    "https://creneau.example:443/sms/twilio",
    "http://localhost:8000/sms/twilio",
    "https://creneau.example:8443/cabinet/sms/twilio",
)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
forms = st.lists(st.tuples(names, values), max_size=6)


def twilio_forms(pairs: list[tuple[str, str]]) -> tuple[MultiDict[str, str], dict[str, list[str]]]:
    """The same form for twilio's validator (a MultiDict, as Flask gives it) and for ours."""
    multi: MultiDict[str, str] = MultiDict(pairs)
    return multi, multi.to_dict(flat=False)


@settings(max_examples=300, deadline=None)
@given(pairs=forms, url=st.sampled_from(URLS), signed=st.sampled_from((*URLS, "")))
def test_the_signature_agrees_with_twilio(pairs, url, signed) -> None:
    """Whatever the form (repeated fields, empty values, any text) and whichever URL Twilio
    signed, our check says what twilio's RequestValidator says."""
    multi, ours = twilio_forms(pairs)
    reference = RequestValidator(AUTH_TOKEN)
    candidates = ["", "not-a-signature", reference.compute_signature(url + "?x=1", multi)]
    if signed:
        candidates.append(reference.compute_signature(signed, multi))
    for candidate in candidates:
        expected = reference.validate(url, multi, candidate)
        assert Signature(AUTH_TOKEN, url).valid(ours, candidate) is expected


def test_twilio_signatures_with_and_without_the_default_port_pass() -> None:
    fields = {"Body": "Bonjour", "From": "+33612345678"}
    form = {name: [value] for name, value in fields.items()}
    check = Signature(AUTH_TOKEN, WEBHOOK)
    for url in (WEBHOOK, "https://creneau.example:443/sms/twilio"):
        assert check.valid(form, RequestValidator(AUTH_TOKEN).compute_signature(url, fields))
    other = RequestValidator("another-token").compute_signature(WEBHOOK, fields)
    assert not check.valid(form, other)
    assert not Signature("", WEBHOOK).valid(form, sign(WEBHOOK, {"Body": "Bonjour"}))


def test_the_form_is_read_as_flask_reads_it() -> None:
    raw = b"Body=Caf%C3%A9+%26+th%C3%A9&Empty=&Body=2&From=%2B33612345678"
    environ = EnvironBuilder(
        method="POST", data=raw, content_type="application/x-www-form-urlencoded"
    ).get_environ()
    flask_form = Flask("reference").request_class(environ).form.to_dict(flat=False)
    assert (
        parse_form(raw)
        == flask_form
        == {
            "Body": ["Café & thé", "2"],
            "Empty": [""],
            "From": ["+33612345678"],
        }
    )
    assert parse_form(b"Body=%FF") is None  # not UTF-8: left to Flask's parser


# ---------------------------------------------------------------- both paths, one answer


class Counted:
    """The Flask route of the webhook, counting the requests it really answers."""

    def __init__(self, app: Flask) -> None:
        self.view = app.view_functions["sms_twilio"]
        self.calls = 0
        app.view_functions["sms_twilio"] = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.view(*args, **kwargs)


class ChunkedPhone(Phone):
    """A phone whose webhooks come without a declared length (a proxy re-chunking them):
    the fast path leaves them to Flask."""

    def post(self, form: dict[str, str], signature: str | None = "ok", url: str = WEBHOOK) -> Any:
        headers = {"X-Twilio-Signature": sign(url, form) if signature == "ok" else signature or ""}
        builder = EnvironBuilder(path="/sms/twilio", base_url=PUBLIC, method="POST", data=form)
        environ = builder.get_environ()
        builder.close()
        body = environ["wsgi.input"].read()
        del environ["CONTENT_LENGTH"]
        environ.update(
            {
                "wsgi.input": io.BytesIO(body),
                "wsgi.input_terminated": True,
                "HTTP_TRANSFER_ENCODING": "chunked",
                "HTTP_X_TWILIO_SIGNATURE": headers["X-Twilio-Signature"],
            }
        )
        return self.client.open(Request(environ))  # an environ dict would be rebuilt


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(make_settings(tmp_path))
    yield rt
    rt.db.dispose()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def route(app: Flask) -> Counted:
    return Counted(app)


@pytest.fixture
def monday() -> Iterator[None]:
    with time_machine.travel(MONDAY_7AM, tick=False):
        yield


CONVERSATION = ("Bonjour", "1", "1", "Paulette Marchand", "1", "MES RDV", "INFO", "merci")


def test_fast_path_and_flask_route_answer_alike(tmp_path: Path, monday) -> None:
    """The same conversation on two fresh databases, one through each path: the same
    replies; only the chunked one reached Flask's route."""
    answers, calls = [], []
    for phone_class in (Phone, ChunkedPhone):
        runtime = Runtime(make_settings(tmp_path / phone_class.__name__))
        app = create_app(runtime)
        route = Counted(app)
        phone = phone_class(app.test_client())
        answers.append([phone.send(text) for text in CONVERSATION])
        calls.append(route.calls)
        runtime.db.dispose()
        pg.empty_if_used()  # PostgreSQL: both runs share the session's database
    fast, slow = answers
    assert calls == [0, len(CONVERSATION)]
    assert fast == slow
    assert "RDV confirmé" in fast[4]


@pytest.mark.parametrize("phone_class", [Phone, ChunkedPhone], ids=["fast", "flask"])
def test_a_forged_webhook_is_refused_alike_on_both_paths(
    runtime, client: FlaskClient, phone_class: type[Phone]
) -> None:
    phone = phone_class(client)
    for signature in ("forged", None):
        answer = phone.post(phone.form("Bonjour"), signature=signature)
        assert answer.status_code == 403
        assert answer.get_data(as_text=True) == "forbidden\n"
        assert answer.mimetype == "text/plain"
    assert count(runtime, Patient) == count(runtime, ProcessedMessage) == 0


def test_the_fast_path_answers_with_twiml_headers(client: FlaskClient, route) -> None:
    answer = Phone(client).post(Phone(client).form("Bonjour"))
    assert route.calls == 0
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert int(answer.headers["Content-Length"]) == len(answer.get_data())
    assert messages(answer.get_data(as_text=True))


def test_other_requests_on_the_path_go_to_flask(client: FlaskClient, route) -> None:
    assert client.get("/sms/twilio").status_code == 405
    form = Phone(client).form("Bonjour")
    json_post = client.post(
        "/sms/twilio", json=form, headers={"X-Twilio-Signature": sign(WEBHOOK, form)}
    )
    assert json_post.status_code == 403  # no form: the signature of the form cannot match
    assert route.calls == 1
    undecodable = client.post(
        "/sms/twilio",
        data=b"Body=%FF&From=%2B33612345678",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "forged"},
    )
    assert undecodable.status_code == 403 and route.calls == 2

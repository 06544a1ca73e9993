"""The practice desk through Flask's test client: login and lockout, sessions, CSRF, roles,
the agenda, booking for a caller, cancel and move, absences, patients' requests, the
calendar feed, the audit of every view of personal data, the CLI for desk users."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlmodel import select

from bot.gsm import encoding, segments
from bot.slots import next_slots
from channels.cli import main
from channels.runtime import Runtime
from channels.settings import Settings
from channels.web import create_app
from store.context import busy_intervals
from store.desk import add_user
from store.models import (
    Appointment,
    AuditEvent,
    Block,
    CalendarFeed,
    DeskUser,
    Patient,
)
from store.service import Assistant
from tests.conftest import Clock, env_for
from tests.test_agenda import PARIS_DAY, add_appt, add_patient, at, outbox

PASSWORD = "correct horse battery"
DAY = PARIS_DAY.isoformat()  # Monday 7 December 2026
SMS_ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "TWILIO_FROM_NUMBER": "+33700000001",
}
GENERIC = "Connexion impossible"


# ---------------------------------------------------------------- set-up


def two_practitioners(rt: Runtime) -> None:
    """The example practice plus a colleague, Dr Marc Petit, who also does consultations."""
    practice = rt.practice
    roux = practice.practitioners[0]
    petit = dataclasses.replace(roux, id="petit", name="Dr Marc Petit", absences=())
    types = tuple(
        dataclasses.replace(c, practitioners=(*c.practitioners, "petit"))
        if c.id == "consultation"
        else c
        for c in practice.consultation_types
    )
    changed = dataclasses.replace(practice, practitioners=(roux, petit), consultation_types=types)
    rt.__dict__["practice"] = changed
    rt.assistant.practice = changed


def make_runtime(tmp_path: Path, clock: Clock, **env: str) -> Runtime:
    rt = Runtime(Settings.from_env(env_for(tmp_path, **env)))
    rt.__dict__["assistant"] = Assistant(rt.db, rt.practice, rt.vault, rt.catalogs, clock=clock)
    two_practitioners(rt)
    return rt


@pytest.fixture
def rt(tmp_path: Path, clock: Clock) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path, clock, **SMS_ENV)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def app(rt: Runtime) -> Any:
    flask_app = create_app(rt)
    flask_app.config["TESTING"] = True
    return flask_app


@dataclasses.dataclass
class DeskUserSeat:
    """A desk user with a cookie-keeping client."""

    client: FlaskClient
    email: str
    secret: str
    rt: Runtime
    clock: Clock

    def csrf(self, path: str = "/desk/login") -> str:
        page = self.client.get(path).get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, f"no csrf_token on {path}"
        return found.group(1)

    def code(self, at_time: datetime | None = None) -> str:
        return pyotp.TOTP(self.secret).at(at_time or self.clock.now)

    def login(self, password: str = PASSWORD, code: str | None = None, email: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/desk/login",
            data={
                "email": email or self.email,
                "password": password,
                "code": code or self.code(),
                "csrf_token": self.csrf(),
            },
        )

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, str] | None = None, csrf_from: str | None = None):  # type: ignore[no-untyped-def]
        form = dict(data or {})
        form["csrf_token"] = self.csrf(csrf_from or "/desk/agenda")
        return self.client.post(path, data=form)


@pytest.fixture
def seat(app: Any, rt: Runtime, clock: Clock):  # type: ignore[no-untyped-def]
    """seat(role, practitioner=None, login=True): a desk user, signed in."""
    counter = iter(range(1000))

    def make(role: str, practitioner: str | None = None, login: bool = True) -> DeskUserSeat:
        email = f"{role}{next(counter)}@cabinet.example"
        with rt.db.write() as session:
            enrolment = add_user(
                session, rt.vault, rt.practice, email, role, PASSWORD, clock.now, practitioner
            )
        user = DeskUserSeat(app.test_client(), email, enrolment.secret, rt, clock)
        if login:
            assert user.login().status_code == 303
            clock.advance(seconds=30)  # the next login needs the next code
        return user

    return make


def events(rt: Runtime, action: str | None = None) -> list[AuditEvent]:
    with rt.db.read() as session:
        rows = list(session.exec(select(AuditEvent).order_by(AuditEvent.at)))
    return [e for e in rows if action is None or e.action == action]


def a_day(rt: Runtime) -> dict[str, Any]:
    """Paul (ECG, an answer) at 08:30 and Zoé at 09:10 with Dr Roux; Léa at 10:00 with Dr
    Petit; all on Monday 7 December."""
    paul = add_patient(rt, "Paul Martin")
    zoe = add_patient(rt, "Zoé Roy", address="+33612345679")
    lea = add_patient(rt, "Léa Petitjean", address="+33612345670")
    return {
        "paul": paul,
        "zoe": zoe,
        "lea": lea,
        "ecg": add_appt(rt, paul, at(PARIS_DAY, 8, 30), "ecg", prep="Bêtabloquant"),
        "zoe_appt": add_appt(rt, zoe, at(PARIS_DAY, 9, 10)),
        "lea_appt": add_appt(rt, lea, at(PARIS_DAY, 10), practitioner_id="petit"),
    }


def text(response: Any) -> str:
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- sessions and login


DESK_PAGES = [
    "/desk/",
    "/desk/agenda",
    f"/desk/agenda?date={DAY}&practitioner=roux",
    "/desk/week",
    "/desk/book",
    "/desk/patients",
    "/desk/calendar",
    "/desk/admin/users",
    "/desk/admin/audit",
    "/desk/appointments/x",
]


def test_no_session_is_sent_to_the_login(app):
    client = app.test_client()
    for path in DESK_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/desk/login"), path
    assert client.get("/desk/login").status_code == 200


def test_login_gives_a_303_to_the_desk_and_a_guarded_cookie(seat, rt):
    user = seat("secretary", login=False)
    response = user.login()
    assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is not https here
    assert user.get(f"/desk/agenda?date={DAY}").status_code == 200
    [event] = events(rt, "desk_login")
    assert event.actor == f"desk:{user.email}"


def test_the_cookie_is_secure_behind_https(tmp_path, clock):
    https = make_runtime(tmp_path, clock, PUBLIC_BASE_URL="https://cabinet.example")
    client = create_app(https).test_client()
    with https.db.write() as session:
        enrolment = add_user(
            session, https.vault, https.practice, "a@cabinet.example", "admin", PASSWORD, clock.now
        )
    page = text(client.get("/desk/login", base_url="https://cabinet.example"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/desk/login",
        base_url="https://cabinet.example",
        headers={"Referer": "https://cabinet.example/desk/login"},
        data={
            "email": "a@cabinet.example",
            "password": PASSWORD,
            "code": pyotp.TOTP(enrolment.secret).at(clock.now),
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]
    https.db.dispose()


def test_every_wrong_login_gets_the_same_generic_answer(seat, clock):
    user = seat("secretary", login=False)
    tries = {
        "wrong password": user.login(password="wrong password!"),
        "wrong code": user.login(code="000000" if user.code() != "000000" else "111111"),
        "expired code": user.login(code=user.code(clock.now - timedelta(minutes=5))),
        "unknown e-mail": user.login(email="nobody@cabinet.example"),
        "not a code": user.login(code="abc"),
    }
    bodies = set()
    for why, response in tries.items():
        assert response.status_code == 401, why
        found = re.search(r'<p class="flash error" role="alert">([^<]+)</p>', text(response))
        assert found and GENERIC in found.group(1), why
        bodies.add(found.group(1))
    assert len(bodies) == 1


def test_the_sixth_try_in_15_minutes_is_refused_even_when_right(seat, rt, clock):
    user = seat("secretary", login=False)
    for _ in range(5):
        assert user.login(password="not the password").status_code == 401
        clock.advance(seconds=60)
    refused = user.login()
    assert refused.status_code == 401 and GENERIC in text(refused)
    assert len(events(rt, "desk_login_locked")) == 1 and events(rt, "desk_login") == []
    clock.advance(minutes=13)  # 14 minutes after the fifth failure: still locked
    assert user.login().status_code == 401
    clock.advance(minutes=1)  # 15 minutes after it
    assert user.login().status_code == 303


def test_failures_spread_over_more_than_15_minutes_do_not_lock(seat, clock):
    user = seat("secretary", login=False)
    for _ in range(5):
        assert user.login(password="not the password").status_code == 401
        clock.advance(minutes=4)
    assert user.login().status_code == 303


def test_a_code_works_once(seat, clock):
    user = seat("secretary", login=False)
    code = user.code()
    assert user.login(code=code).status_code == 303
    other = seat("secretary", login=False)
    other.email, other.secret = user.email, user.secret
    assert other.login(code=code).status_code == 401  # replayed within its 30 s


def test_sessions_end_after_15_idle_minutes_and_12_hours(seat, clock):
    user = seat("secretary")
    clock.advance(minutes=14)
    assert user.get("/desk/agenda").status_code == 200
    clock.advance(minutes=16)
    idle = user.get("/desk/agenda")
    assert idle.status_code == 302 and "ended=1" in idle.headers["Location"]
    assert "Session terminée" in text(user.get(idle.headers["Location"]))
    user = seat("secretary")
    for _ in range(12 * 6):
        clock.advance(minutes=10)
        if user.get("/desk/agenda").status_code != 200:
            break
    assert user.get("/desk/agenda").status_code == 302  # 12 hours at most


def test_logout_needs_its_csrf_token_and_ends_the_session(seat, rt):
    user = seat("secretary")
    assert user.client.post("/desk/logout").status_code == 400  # no token: refused
    assert user.get("/desk/agenda").status_code == 200  # still signed in
    out = user.post("/desk/logout")
    assert out.status_code == 303 and out.headers["Location"].startswith("/desk/login")
    assert user.get("/desk/agenda").status_code == 302
    assert events(rt, "desk_logout")


def test_disabling_a_user_ends_their_sessions(seat, rt, clock):
    user = seat("secretary")
    admin = seat("admin")
    with rt.db.read() as session:
        target = session.exec(select(DeskUser).where(DeskUser.email == user.email)).one()
    assert (
        admin.post(
            f"/desk/admin/users/{target.id}/disable", csrf_from="/desk/admin/users"
        ).status_code
        == 303
    )
    assert user.get("/desk/agenda").status_code == 302
    assert user.login().status_code == 401


# ---------------------------------------------------------------- CSRF


def test_a_post_without_a_valid_csrf_token_changes_nothing(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    form = {"practitioner": "roux", "start_date": "2026-12-10", "end_date": "2026-12-10"}
    for token in (None, "forged", user.csrf("/desk/agenda") + "x"):
        data = dict(form, **({"csrf_token": token} if token else {}))
        assert user.client.post("/desk/absences", data=data).status_code == 400
        cancel = {"csrf_token": token} if token else {}
        path = f"/desk/appointments/{day['zoe_appt'].id}/cancel"
        assert user.client.post(path, data=cancel).status_code == 400
    with rt.db.read() as session:
        assert session.exec(select(Block)).first() is None
        assert session.get(Appointment, day["zoe_appt"].id).status == "booked"
    assert outbox(rt) == []
    ok = user.post("/desk/absences", form)
    assert ok.status_code == 303  # the same form with its token works


def test_a_token_from_another_session_is_refused(seat, rt):
    a_day(rt)
    mallory, alice = seat("secretary"), seat("secretary")
    stolen = mallory.csrf("/desk/agenda")
    form = {
        "practitioner": "roux",
        "start_date": "2026-12-10",
        "end_date": "2026-12-10",
        "csrf_token": stolen,
    }
    assert alice.client.post("/desk/absences", data=form).status_code == 400


# ---------------------------------------------------------------- roles


def test_a_secretary_sees_every_agenda_but_never_a_preparation_answer(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    pages = [
        user.get(f"/desk/agenda?date={DAY}&practitioner=roux"),
        user.get(f"/desk/agenda?date={DAY}&practitioner=petit"),
        user.get(f"/desk/week?date={DAY}&practitioner=roux"),
        user.get(f"/desk/appointments/{day['ecg'].id}"),
        user.get(f"/desk/patients/{day['paul'].id}"),
        user.get(f"/desk/patients/{day['paul'].id}/export"),
        user.get(f"/desk/patients/{day['paul'].id}/export.json"),
    ]
    assert all(p.status_code == 200 for p in pages)
    assert "Paul Martin" in text(pages[0]) and "Électrocardiogramme" in text(pages[0])
    assert "Léa Petitjean" in text(pages[1])
    for page in pages:
        assert "Bêtabloquant" not in text(page)
    exported = json.loads(text(pages[-1]))
    assert exported["appointments"][0]["prep"] == "(réservée au praticien)"


def test_a_practitioner_sees_their_answers_and_never_a_colleague(seat, rt):
    day = a_day(rt)
    roux = seat("practitioner", "roux")
    own = roux.get(f"/desk/agenda?date={DAY}")
    assert "Paul Martin" in text(own) and "Bêtabloquant" in text(own)
    assert "Bêtabloquant" in text(roux.get(f"/desk/appointments/{day['ecg'].id}"))
    assert "Léa" not in text(own)
    petit = seat("practitioner", "petit")
    assert petit.get(f"/desk/agenda?date={DAY}&practitioner=roux").status_code == 403
    assert petit.get(f"/desk/week?date={DAY}&practitioner=roux").status_code == 403
    assert petit.get(f"/desk/appointments/{day['ecg'].id}").status_code == 404
    assert petit.post(f"/desk/appointments/{day['ecg'].id}/cancel").status_code == 404
    assert petit.get("/desk/patients").status_code == 403
    assert petit.get("/desk/admin/users").status_code == 403
    mine = petit.get(f"/desk/agenda?date={DAY}")
    assert "Léa Petitjean" in text(mine) and "Paul" not in text(mine)
    assert "Dr Anne Roux" not in text(mine)  # not even offered in the picker
    with rt.db.read() as session:
        assert session.get(Appointment, day["ecg"].id).status == "booked"


def test_only_an_admin_manages_users_and_reads_the_audit_log(seat, rt):
    secretary, admin = seat("secretary"), seat("admin")
    assert secretary.get("/desk/admin/users").status_code == 403
    assert secretary.get("/desk/admin/audit").status_code == 403
    log = admin.get("/desk/admin/audit")
    assert log.status_code == 200 and f"desk:{secretary.email}" in text(log)
    added = admin.post(
        "/desk/admin/users",
        {"email": "new@cabinet.example", "role": "secretary", "password": PASSWORD},
        csrf_from="/desk/admin/users",
    )
    assert added.status_code == 200 and "otpauth://totp/" in text(added)
    assert "data:image/svg+xml;base64," in text(added)
    refused = admin.post(
        "/desk/admin/users",
        {"email": "x@cabinet.example", "role": "secretary", "password": "short"},
        csrf_from="/desk/admin/users",
    )
    assert refused.status_code == 400 and "12" in text(refused)


# ---------------------------------------------------------------- the audit of every view


def test_every_view_of_personal_data_is_audited_with_the_user(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    before = len(events(rt))
    visits = {
        "desk_agenda_view": f"/desk/agenda?date={DAY}&practitioner=roux",
        "desk_week_view": f"/desk/week?date={DAY}&practitioner=roux",
        "desk_appointment_view": f"/desk/appointments/{day['ecg'].id}",
        "desk_patient_view": f"/desk/patients/{day['paul'].id}",
        "desk_patient_export": f"/desk/patients/{day['paul'].id}/export.json",
    }
    for path in visits.values():
        assert user.get(path).status_code == 200, path
    assert (
        user.post("/desk/patients", {"kind": "phone", "value": "06 12 34 56 78"}).status_code == 303
    )
    user.post(f"/desk/appointments/{day['ecg'].id}/phone")
    seen = events(rt)[before:]
    mine = {e.action for e in seen if e.actor == f"desk:{user.email}"}
    assert set(visits) | {"desk_phone_view", "desk_patient_lookup"} <= mine
    for event in seen:
        for secret in ("Paul", "Martin", "+3361", "Bêtabloquant", "0612"):
            assert secret not in f"{event.actor} {event.subject} {event.detail}"


def test_the_number_is_shown_on_request_only(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    page = user.get(f"/desk/appointments/{day['zoe_appt'].id}")
    assert "+33612345679" not in text(page)
    shown = user.post(f"/desk/appointments/{day['zoe_appt'].id}/phone")
    assert "+33612345679" in text(shown)
    [event] = events(rt, "desk_phone_view")
    assert event.subject == day["zoe"].id and event.actor == f"desk:{user.email}"


def test_one_unreadable_cell_is_one_bad_cell_on_the_desk(seat, rt):
    day = a_day(rt)
    with rt.db.write() as session:
        paul = session.get(Patient, day["paul"].id)
        paul.name_enc = paul.name_enc[:-1] + bytes([paul.name_enc[-1] ^ 0x40])
    user = seat("practitioner", "roux")
    page = user.get(f"/desk/agenda?date={DAY}")
    assert page.status_code == 200
    assert "(illisible)" in text(page) and "Zoé Roy" in text(page)
    [bad] = events(rt, "unreadable_cell")
    assert (bad.subject, bad.detail) == (paul.id, "table=patient column=name")
    assert bad.actor == f"desk:{user.email}"


def test_english_on_request(seat):
    user = seat("secretary")
    english = user.get(f"/desk/agenda?date={DAY}&lang=en")
    assert "No appointments this day" in text(english) and 'lang="en"' in text(english)
    assert "Log out" in text(user.get("/desk/agenda"))  # remembered
    assert "Aucun RDV ce jour" in text(user.get("/desk/agenda?lang=fr"))


# ---------------------------------------------------------------- booking for a caller


def book(
    user: DeskUserSeat,
    start: datetime,
    phone: str = "06 12 34 56 78",
    name: str = "Jeanne Appel",
    type_id: str = "consultation",
    practitioner: str = "roux",
):  # type: ignore[no-untyped-def]
    path = f"/desk/book?practitioner={practitioner}&type={type_id}&date={start.date()}"
    return user.post(
        "/desk/book",
        {
            "practitioner": practitioner,
            "type": type_id,
            "date": start.date().isoformat(),
            "start": start.isoformat(),
            "name": name,
            "phone": phone,
            "lang": "fr",
        },
        csrf_from=path,
    )


def test_booking_for_a_caller_shows_in_the_slot_search_and_tells_the_patient(seat, rt):
    user = seat("secretary")
    form = user.get(f"/desk/book?practitioner=roux&type=consultation&date={DAY}")
    assert form.status_code == 200
    slot = at(PARIS_DAY, 8, 30)
    assert f'value="{slot.isoformat()}"' in text(form)
    done = book(user, slot)
    assert done.status_code == 200 and "RDV réservé" in text(done)
    with rt.db.read() as session:
        appt = session.exec(select(Appointment)).one()
        patient = session.get(Patient, appt.patient_id)

        def busy(lo, hi):
            return busy_intervals(session, "default", "roux", lo, hi)

        offered = next_slots(
            rt.practice,
            "roux",
            20,
            now=rt.assistant.clock(),
            busy=busy,
            start_from=at(PARIS_DAY, 0),
            limit=3,
        )
    assert slot not in offered  # the bot no longer offers it
    assert rt.vault.open("patient", "address", patient.id, patient.address_enc) == "+33612345678"
    assert patient.notice_version == rt.practice.notice_version
    (n_row, _, notice), (c_row, address, confirm) = outbox(rt)
    assert address == "+33612345678" and n_row.channel == c_row.channel == "sms"
    assert "https://example.org/confidentialite" in notice["text"]
    body = confirm["text"]
    assert "lundi 7 décembre à 08:30" in body and "Cabinet des Lilas" in body
    assert "Dr Anne Roux" in body and "Consultation" not in body
    for message in (notice["text"], body):
        assert encoding(message) == "GSM-7" and segments(message) <= 2
    [event] = events(rt, "desk_book")
    assert event.subject == appt.id and "new_patient=1" in event.detail


def test_a_known_caller_gets_no_second_notice_and_the_type_never_leaves(seat, rt):
    user = seat("secretary")
    book(user, at(PARIS_DAY, 8, 30), phone="+33 6 12 34 56 78")
    done = book(user, at(PARIS_DAY, 9, 30), phone="0612345678", type_id="ecg")
    assert "Venez 10 minutes en avance" in text(done)  # read to the caller, not sent
    rows = outbox(rt)
    assert len(rows) == 3  # notice, confirmation, confirmation
    for _, _, payload in rows:
        for secret in ("lectrocardiogramme", "ECG", "Venez 10 minutes"):
            assert secret not in payload["text"]
    with rt.db.read() as session:
        assert len(list(session.exec(select(Patient)))) == 1


def test_booking_refuses_a_taken_slot_a_bad_number_and_a_bad_name(seat, rt):
    a_day(rt)
    user = seat("secretary")
    assert "plus libre" in text(book(user, at(PARIS_DAY, 9, 10)))  # Zoé has it
    assert "pas valide" in text(book(user, at(PARIS_DAY, 11), phone="12"))
    assert "Indiquez un nom" in text(book(user, at(PARIS_DAY, 11), name="1234"))
    assert "plus libre" in text(book(user, at(PARIS_DAY, 12, 30)))  # closed at lunch
    with rt.db.read() as session:
        assert len(list(session.exec(select(Appointment)))) == 3


def test_without_sms_nothing_is_sent_and_the_page_says_so(tmp_path, clock):
    rt = make_runtime(tmp_path, clock)
    client = create_app(rt).test_client()
    with rt.db.write() as session:
        enrolment = add_user(
            session, rt.vault, rt.practice, "s@cabinet.example", "secretary", PASSWORD, clock.now
        )
    user = DeskUserSeat(client, "s@cabinet.example", enrolment.secret, rt, clock)
    assert user.login().status_code == 303
    done = book(user, at(PARIS_DAY, 8, 30))
    assert "SMS non configuré" in text(done) and outbox(rt) == []
    with rt.db.read() as session:
        assert session.exec(select(Patient)).one().notice_version is None  # not delivered
    rt.db.dispose()


# ---------------------------------------------------------------- cancel and move


def test_cancel_asks_first_then_cancels_and_tells_the_patient_discreetly(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    ask = user.get(f"/desk/appointments/{day['ecg'].id}/cancel")
    assert ask.status_code == 200 and "Annuler ce RDV ?" in text(ask)
    with rt.db.read() as session:
        assert session.get(Appointment, day["ecg"].id).status == "booked"
    done = user.post(f"/desk/appointments/{day['ecg'].id}/cancel")
    assert done.status_code == 303 and f"date={DAY}" in done.headers["Location"]
    with rt.db.read() as session:
        appt = session.get(Appointment, day["ecg"].id)
    assert (appt.status, appt.cancelled_by, appt.prep_enc) == ("cancelled", "desk", None)
    [(row, address, payload)] = outbox(rt)
    assert (row.kind, address) == ("notice", "+33612345678")
    assert "lundi 7 décembre à 08:30" in payload["text"]
    assert "lectrocardiogramme" not in payload["text"] and "Paul" not in payload["text"]
    again = user.post(f"/desk/appointments/{day['ecg'].id}/cancel")
    assert "plus à venir" in text(user.get(again.headers["Location"]))


def test_move_asks_first_then_moves_keeping_the_answer(seat, rt):
    day = a_day(rt)
    user = seat("practitioner", "roux")
    new = at(PARIS_DAY + timedelta(days=1), 9)
    path = f"/desk/appointments/{day['ecg'].id}/move"
    pick = user.get(f"{path}?date={new.date()}")
    assert f'value="{new.isoformat()}"' in text(pick)
    ask = user.post(path, {"start": new.isoformat()}, csrf_from=path)
    assert "mardi 8 décembre à 09:00" in text(ask) and 'name="confirm"' in text(ask)
    with rt.db.read() as session:
        assert session.get(Appointment, day["ecg"].id).status == "booked"
    done = user.post(path, {"start": new.isoformat(), "confirm": "yes"}, csrf_from=path)
    assert done.status_code == 303 and "date=2026-12-08" in done.headers["Location"]
    with rt.db.read() as session:
        old = session.get(Appointment, day["ecg"].id)
        moved = session.exec(select(Appointment).where(Appointment.start == new)).one()
    assert old.status == "cancelled" and old.prep_enc is None
    assert rt.vault.open("appointment", "prep", moved.id, moved.prep_enc) == "Bêtabloquant"
    [(_, _, payload)] = outbox(rt)
    assert "mardi 8 décembre à 09:00" in payload["text"] and "ECG" not in payload["text"]


def test_a_move_onto_a_taken_slot_changes_nothing(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    path = f"/desk/appointments/{day['ecg'].id}/move"
    taken = at(PARIS_DAY, 9, 10)
    done = user.post(path, {"start": taken.isoformat(), "confirm": "yes"}, csrf_from=path)
    assert done.status_code == 303 and done.headers["Location"].endswith("/move")
    with rt.db.read() as session:
        assert session.get(Appointment, day["ecg"].id).status == "booked"
    assert outbox(rt) == []


# ---------------------------------------------------------------- absences


def test_absences_added_and_removed_show_at_once_in_the_slot_search(seat, rt):
    user = seat("practitioner", "roux")
    form = {
        "practitioner": "roux",
        "start_date": DAY,
        "start_time": "14:00",
        "end_date": DAY,
        "end_time": "18:30",
    }
    assert user.post("/desk/absences", form).status_code == 303

    def afternoon() -> list[datetime]:
        with rt.db.read() as session:

            def busy(lo, hi):
                return busy_intervals(session, "default", "roux", lo, hi)

            return next_slots(
                rt.practice,
                "roux",
                20,
                now=rt.assistant.clock(),
                busy=busy,
                start_from=at(PARIS_DAY, 14),
                limit=1,
            )

    assert afternoon()[0].date() != PARIS_DAY
    page = text(user.get(f"/desk/agenda?date={DAY}"))
    with rt.db.read() as session:
        block = session.exec(select(Block)).one()
    assert f"/desk/absences/{block.id}/delete" in page and "14:00" in page
    assert user.post(f"/desk/absences/{block.id}/delete").status_code == 303
    assert afternoon()[0] == at(PARIS_DAY, 14)
    assert {"block_period", "block_remove"} <= {e.action for e in events(rt)}
    assert user.post("/desk/absences", dict(form, end_date="2026-12-01")).status_code == 303
    with rt.db.read() as session:
        assert session.exec(select(Block)).first() is None  # the end before the start


def test_a_practitioner_cannot_remove_a_colleague_absence(seat, rt):
    petit = seat("practitioner", "petit")
    with rt.db.write() as session:
        block = Block(
            practice_id="default",
            practitioner_id="roux",
            start=at(PARIS_DAY, 8),
            end=at(PARIS_DAY, 12),
        )
        session.add(block)
    assert petit.post(f"/desk/absences/{block.id}/delete").status_code == 404
    with rt.db.read() as session:
        assert session.get(Block, block.id) is not None


# ---------------------------------------------------------------- patients' requests


def find(user: DeskUserSeat, kind: str, value: str) -> Any:
    return user.post("/desk/patients", {"kind": kind, "value": value}, csrf_from="/desk/patients")


def test_find_export_rename_and_erase_a_patient(seat, rt):
    day = a_day(rt)
    user = seat("secretary")
    for value in ("06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78"):
        found = find(user, "phone", value)
        assert found.status_code == 303, value
        assert found.headers["Location"] == f"/desk/patients/{day['paul'].id}"
    assert find(user, "phone", "0699999999").status_code == 404
    assert find(user, "phone", "abc").status_code == 400
    assert user.get("/desk/patients?kind=phone&value=0612345678").status_code == 200  # form only
    page = text(user.get(f"/desk/patients/{day['paul'].id}/export"))
    assert "Paul Martin" in page and "+33612345678" in page and "Électrocardiogramme" in page
    assert "Données détenues sur le patient" in page
    renamed = user.post(
        f"/desk/patients/{day['paul'].id}/name",
        {"name": "Paul\u202e Martins\x1b[31m"},
        csrf_from=f"/desk/patients/{day['paul'].id}",
    )
    assert renamed.status_code == 303
    with rt.db.read() as session:
        paul = session.get(Patient, day["paul"].id)
        assert rt.vault.open("patient", "name", paul.id, paul.name_enc) == "Paul Martins"
    ask = user.get(f"/desk/patients/{day['paul'].id}/erase")
    assert "est définitif" in text(ask)
    with rt.db.read() as session:
        assert session.get(Patient, day["paul"].id) is not None
    gone = user.post(
        f"/desk/patients/{day['paul'].id}/erase", csrf_from=f"/desk/patients/{day['paul'].id}"
    )
    assert gone.status_code == 303
    with rt.db.read() as session:
        assert session.get(Patient, day["paul"].id) is None
    assert find(user, "phone", "0612345678").status_code == 404
    [erasure] = events(rt, "erasure")
    assert erasure.actor == f"desk:{user.email}"


def test_find_a_telegram_patient(seat, rt):
    tg = add_patient(rt, "Nadia Telegram", channel="telegram", address="600123456")
    user = seat("admin")
    found = find(user, "telegram", "600123456")
    assert found.headers["Location"] == f"/desk/patients/{tg.id}"
    page = user.get(f"/desk/patients/{tg.id}")
    assert "Nadia Telegram" in text(page) and "telegram" in text(page)


# ---------------------------------------------------------------- the calendar feed


def feed_url(page: str) -> str:
    found = re.search(r'value="(http[^"]+/ical/[^"]+\.ics)"', page)
    assert found, "no feed URL on the page"
    return found.group(1)


def test_the_feed_is_rfc5545_busy_times_only_and_revocable(seat, rt):
    day = a_day(rt)
    user = seat("practitioner", "roux")
    created = user.post("/desk/calendar", {"practitioner": "roux"}, csrf_from="/desk/calendar")
    url = feed_url(text(created))
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with rt.db.read() as session:
        stored = session.exec(select(CalendarFeed)).one()
    assert token not in stored.token_hash
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = user.client.get("/" + path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    found = [c for c in cal.walk("VEVENT")]
    assert [str(e["SUMMARY"]) for e in found] == ["RDV", "RDV"]  # Dr Roux's two only
    assert found[0].decoded("DTSTART") == at(PARIS_DAY, 8, 30)
    assert str(cal["VERSION"]) == "2.0" and "PRODID" in cal
    raw = response.data.decode()
    for secret in ("Paul", "P.M.", "Martin", "ECG", "lectro", "Consultation", "Bêta", "Léa"):
        assert secret not in raw
    assert day["ecg"].id in raw  # the UID: a pseudonymous id
    revoked = user.post(
        "/desk/calendar/revoke", {"practitioner": "roux"}, csrf_from="/desk/calendar"
    )
    assert revoked.status_code == 303
    assert user.client.get("/" + path).status_code == 404
    assert user.client.get("/ical/not-a-token.ics").status_code == 404


def test_the_feed_carries_initials_only_when_opted_in(seat, rt):
    a_day(rt)
    user = seat("practitioner", "roux")
    created = user.post(
        "/desk/calendar", {"practitioner": "roux", "initials": "y"}, csrf_from="/desk/calendar"
    )
    path = "/" + feed_url(text(created)).split("://", 1)[1].split("/", 1)[1]
    cal = Calendar.from_ical(user.client.get(path).data)
    assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")] == ["RDV P.M.", "RDV Z.R."]
    assert "Paul" not in cal.to_ical().decode()
    assert events(rt, "calendar_feed_read")
    petit = seat("practitioner", "petit")
    assert petit.get("/desk/calendar?practitioner=roux").status_code == 403


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[dict[str, str], Runtime]]:
    env = env_for(tmp_path, CRENEAU_OPERATOR="claire")
    runtime = Runtime(Settings.from_env(env))
    yield env, runtime
    runtime.db.dispose()


def test_cli_desk_users(cli):
    env, rt = cli
    runner = CliRunner(env=env)
    added = runner.invoke(
        main,
        ["desk", "user", "add", "Sec@Cabinet.example", "--role", "secretary"],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    uri = re.search(r"otpauth://totp/\S+", added.output).group(0)
    assert "secret=" in uri and "issuer=Cr" in uri
    assert "a long enough password" not in added.output
    with rt.db.read() as session:
        user = session.exec(select(DeskUser)).one()
    assert user.email == "sec@cabinet.example" and user.password_hash.startswith("$argon2id$")
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    assert secret.encode() not in user.totp_enc
    assert rt.vault.open("desk_user", "totp", user.id, user.totp_enc) == secret
    listed = runner.invoke(main, ["desk", "user", "list"])
    assert "sec@cabinet.example  secretary  active" in listed.output
    again = runner.invoke(
        main,
        ["desk", "user", "add", "sec@cabinet.example", "--role", "secretary"],
        input="a long enough password\n",
    )
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(
        main, ["desk", "user", "add", "b@cabinet.example", "--role", "admin"], input="short\n"
    )
    assert short.exit_code != 0 and "12" in short.output
    lone = runner.invoke(
        main,
        ["desk", "user", "add", "c@cabinet.example", "--role", "practitioner"],
        input="a long enough password\n",
    )
    assert lone.exit_code != 0 and "--practitioner" in lone.output
    reset = runner.invoke(main, ["desk", "user", "reset-2fa", "sec@cabinet.example"])
    assert reset.exit_code == 0 and "otpauth://totp/" in reset.output
    assert re.search(r"secret=([A-Z2-7]+)", reset.output).group(1) != secret
    assert runner.invoke(main, ["desk", "user", "disable", "sec@cabinet.example"]).exit_code == 0
    assert "disabled" in runner.invoke(main, ["desk", "user", "list"]).output
    with rt.db.read() as session:
        actions = [(e.actor, e.action) for e in session.exec(select(AuditEvent))]
    assert ("cli:claire", "desk_user_add") in actions
    assert ("cli:claire", "desk_user_reset_2fa") in actions
    assert ("cli:claire", "desk_user_disable") in actions


def test_a_desk_login_after_the_cli(cli, clock):
    env, rt = cli
    out = CliRunner(env=env).invoke(
        main, ["desk", "user", "add", "a@cabinet.example", "--role", "admin"], input=PASSWORD + "\n"
    )
    secret = re.search(r"secret=([A-Z2-7]+)", out.output).group(1)
    client = create_app(rt).test_client()
    page = text(client.get("/desk/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/desk/login",
        data={
            "email": "A@cabinet.example",
            "password": PASSWORD,
            "code": pyotp.TOTP(secret).now(),
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert client.get(f"/desk/agenda?date={date.today()}").status_code == 200

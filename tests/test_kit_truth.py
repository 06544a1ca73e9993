"""No document claims less than what is sent: what the kit says each messaging operator sees
is held against the messages actually exchanged (a Telegram booking through the real
python-telegram-bot and a local fake Bot API, an SMS booking through the engine, the
reminder the scheduler sends), and what it says practitioners' messages carry against the
summaries actually rendered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlmodel import select

from bot.practice import Practice
from channels import kit
from channels.runtime import Runtime
from channels.settings import Settings
from channels.web import create_app
from channels.worker import Worker
from store.agenda import AgendaEntry, initials, summary_text
from store.models import Appointment, Outbox
from store.scheduler import queue_reminders
from store.service import Assistant
from tests.conftest import EXAMPLE, env_for
from tests.fake_telegram import Call, FakeBotAPI
from tests.test_telegram import FAST, T0, RunningWorker, User, telegram_env

NAME = "Ysolde Témoin-Canari"
ANSWER = "Kardegic canari 75"
# Documents that say what each messaging operator sees.
EXPOSURE_DOCS = [
    ("information-patients", "fr"),
    ("information-patients", "en"),
    ("registre-traitement", "fr"),
    ("registre-traitement", "en"),
    ("registre-sous-traitant", "fr"),
    ("analyse-impact", "fr"),
    ("accord-sous-traitance", "fr"),
]
# How each document language words what carries no value of its own.
WORDS = {
    "fr": {
        "prep_instructions": "consignes de préparation",
        "prep_answer": "réponse du patient",
        "name": "le nom que le patient donne",
        "choice": "le choix du patient",
        "own_data": "MES DONNEES",
        "chat_id": "identifiant de conversation",
        "first_name": "prénom",
        "language": "langue",
        "phone": "numéro de téléphone",
        "text": "texte de chaque",
        "after": "jamais le type de consultation, une consigne ou une réponse",
        "telegram": "**Telegram** (hors de l'Union européenne ; aucun accord",
        "sms": "**Twilio** (SMS ; États-Unis",
    },
    "en": {
        "prep_instructions": "preparation instructions",
        "prep_answer": "patient's answer",
        "name": "the name the patient gives",
        "choice": "the patient's choice",
        "own_data": "MY DATA",
        "chat_id": "chat id",
        "first_name": "first name",
        "language": "language",
        "phone": "phone number",
        "text": "text of every",
        "after": "never the consultation type, an instruction or an answer",
        "telegram": "**Telegram** (outside the European Union; no processing agreement",
        "sms": "**Twilio** (SMS; United States",
    },
}


def found(text: str, practice: Practice) -> set[str]:
    """Which kinds of content a message (or an inbound text) carries, by their values."""
    kinds = set()
    for t in practice.consultation_types:
        if any(label in text for label in t.label.values()):
            kinds.add("types")
        if any(q in text for q in (t.preparation_question or {}).values()):
            kinds.add("prep_question")
        if any(i in text for i in (t.preparation or {}).values()):
            kinds.add("prep_instructions")
    if any(p.name in text for p in practice.practitioners):
        kinds.add("practitioner")
    if practice.name in text:
        kinds.add("practice")
    if ANSWER in text:
        kinds.add("prep_answer")
    if NAME in text:
        kinds.add("name")
    return kinds


def operator_block(text: str, channel: str, lang: str) -> str:
    """The paragraph of a document saying what one operator sees, with its sub-list."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("- " + WORDS[lang][channel]))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines)
    )
    return "\n".join(lines[start:end])


def assert_documents_state(
    practice: Practice, settings: Settings, channel: str, live: set[str], fields: set[str]
) -> None:
    """Each exposure document says, for `channel`, every kind of content seen, by value."""
    for name, lang in EXPOSURE_DOCS:
        text = kit.render_markdown(name, lang, practice, settings)
        block = operator_block(text, channel, lang)
        words = WORDS[lang]
        where = (name, lang, channel)
        for kind in live:
            if kind == "types":
                for t in practice.consultation_types:
                    assert t.label_for(lang) in block, (*where, t.id)
            elif kind == "prep_question":
                for t in practice.consultation_types:
                    if t.preparation_question:
                        assert t.preparation_question[lang] in block, where
            elif kind in ("practitioner", "slots"):
                for p in practice.practitioners:
                    assert p.name in block, where
            elif kind in words:
                assert words[kind] in block, (*where, kind)
        for field in fields:
            assert words[field] in block, (*where, field)
        assert words["after"] in text, where


# ---------------------------------------------------------------- Telegram, end to end


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def tg_runtime(tmp_path: Path, api: FakeBotAPI) -> Iterator[Runtime]:
    # no quiet hours: the reminder goes out whatever the wall clock says
    text = EXAMPLE.read_text(encoding="utf-8")
    practice = tmp_path / "practice.toml"
    practice.write_text(re.sub(r"(?m)^quiet_hours = .*$", "", text), encoding="utf-8")
    rt = Runtime(
        Settings.from_env(telegram_env(tmp_path, api.base, CRENEAU_PRACTICE=str(practice)))
    )
    rt.__dict__["assistant"] = Assistant(
        rt.db, rt.practice, rt.vault, rt.catalogs, clock=lambda: T0
    )
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(tg_runtime: Runtime) -> FlaskClient:
    app = create_app(tg_runtime)
    app.testing = True
    return app.test_client()


def outbox_empty(rt: Runtime) -> bool:
    with rt.db.read() as session:
        return session.exec(select(Outbox)).first() is None


def texts_of(calls: list[Call]) -> list[str]:
    """Everything Telegram carried to the chat: texts, edits and button labels."""
    out = []
    for call in calls:
        if call.method in ("sendMessage", "editMessageText"):
            out.append(str(call.params.get("text", "")))
            out += [label for label, _ in call.buttons]
    return out


def test_what_telegram_sees_is_what_the_documents_say(
    tg_runtime: Runtime, client: FlaskClient, api: FakeBotAPI
) -> None:
    practice = tg_runtime.practice
    ecg = next(t for t in practice.consultation_types if t.requires_preparation)
    with RunningWorker(Worker(tg_runtime, config=FAST)):
        user = User(client, api)
        inbound = ["/start", NAME, ANSWER]
        user.send("/start")
        user.press(ecg.label_for("fr"))
        user.press(user.last.buttons[0][0])  # type: ignore[union-attr]
        user.send(NAME)
        user.send(ANSWER)
        user.press("Oui")
        user.send("MES DONNEES")
        assert api.wait_for(lambda: outbox_empty(tg_runtime))  # every answer has gone out
        live_calls = list(api.calls)

        # the live exchange: what went through Telegram, both ways
        live = set().union(*(found(t, practice) for t in texts_of(live_calls) + inbound))
        assert {"types", "prep_question", "prep_answer", "name"} <= live  # the test saw them
        declared = set(kit.LIVE_CONTENT) | set(kit.AFTER_CONTENT)
        assert live - {"practitioner"} <= declared
        # what the Bot API hands the bot about the user, beside the chat id
        profile = {"first_name": "first_name", "language_code": "language"}
        sent_profile = {profile[k] for k in user._from() if k in profile}
        assert sent_profile <= set(kit.TELEGRAM_PROFILE)
        assert_documents_state(
            practice,
            tg_runtime.settings,
            "telegram",
            live | {"choice", "own_data"},
            {"chat_id", "text"} | sent_profile,
        )

        # afterwards: the reminder the scheduler queues, sent by the worker
        with tg_runtime.db.write() as session:
            appt = session.exec(select(Appointment)).one()
            appt.created_at = appt.start - timedelta(days=3)
            start = appt.start
        before = len(api.sent(chat_id=user.chat_id))
        now = start - timedelta(hours=practice.reminder_hours_before - 1)
        with time_machine.travel(now, tick=True):  # the worker sends what is due by the wall
            assert queue_reminders(
                tg_runtime.db, tg_runtime.vault, tg_runtime.catalogs, practice, now
            )
            assert api.wait_for(lambda: len(api.sent(chat_id=user.chat_id)) > before)
    [reminder] = texts_of(api.sent(chat_id=user.chat_id)[before:])
    after = found(reminder, practice)
    assert "practice" in after  # the test saw the reminder
    assert after <= set(kit.AFTER_CONTENT), after
    assert NAME not in reminder and ANSWER not in reminder


# ---------------------------------------------------------------- SMS, through the engine


def test_what_twilio_sees_is_what_the_documents_say(tmp_path, patient) -> None:
    sms = patient("+33612345678", channel="sms")
    practice = sms.assistant.practice
    inbound = ["Bonjour", "2", "1", NAME, ANSWER, "1", "MES DONNEES"]
    for text in inbound:
        sms.send(text)
    replies = [out for _, out in sms.log]
    live = set().union(*(found(t, practice) for t in replies + inbound))
    assert {"types", "prep_question", "prep_answer", "name"} <= live
    assert live - {"practitioner"} <= set(kit.LIVE_CONTENT) | set(kit.AFTER_CONTENT)
    settings = Settings.from_env(env_for(tmp_path, TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="x"))
    assert_documents_state(
        practice, settings, "sms", live | {"choice", "own_data"}, {"phone", "text"}
    )


# ---------------------------------------------------------------- practitioners


def summary_content(text: str, entry: AgendaEntry, practice: Practice) -> set[str]:
    """What a rendered summary carries, by value."""
    kinds = set()
    if entry.start.astimezone(practice.tz).strftime("%H:%M") in text:
        kinds.add("times")
    if entry.type_label in text:
        kinds.add("types")
    if entry.patient_name and entry.patient_name in text:
        kinds.add("names")
    elif entry.initials in text:
        kinds.add("initials")
    if entry.preparation and entry.preparation in text:
        kinds.add("prep_answers")
    if "2 RDV" in text or "2 appointments" in text:
        kinds.add("counts")
    if "/desk/agenda?date=" in text:
        kinds.add("desk_link")
    return kinds


@pytest.mark.parametrize("detail", sorted(kit.SUMMARY_CONTENT))
def test_practitioner_messages_carry_what_the_documents_say(runtime, detail) -> None:
    practice, catalogs = runtime.practice, runtime.catalogs
    ecg = next(t for t in practice.consultation_types if t.requires_preparation)
    start = datetime(2026, 12, 7, 9, 10, tzinfo=practice.tz)
    entries = [
        AgendaEntry(
            f"a{i}",
            start + timedelta(hours=i),
            start + timedelta(hours=i, minutes=30),
            ecg.id,
            ecg.label_for(practice.locale),
            NAME,
            initials(NAME),
            ANSWER,
        )
        for i in range(2)
    ]
    text = summary_text(
        catalogs,
        practice,
        practice.practitioners[0],
        date(2026, 12, 7),
        entries,
        practice.locale,
        detail=detail,
        desk_url="https://rdv.example/desk/agenda?date=2026-12-07&practitioner=roux",
    )
    assert summary_content(text, entries[0], practice) == set(kit.SUMMARY_CONTENT[detail])

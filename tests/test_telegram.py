"""Telegram: the webhook through Flask's test client, the outbox worker against a local
fake Bot API, and the CLI commands. Limits and waits are shrunk where the test is not
about them."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlmodel import SQLModel, select

from channels.runtime import Runtime
from channels.settings import Settings
from channels.web import create_app
from channels.worker import Limits, Worker, WorkerConfig, quiet_until
from store import outbox
from store.crypto import generate_key
from store.models import Outbox, Patient
from store.service import Assistant
from tests.conftest import database_url
from tests.fake_telegram import Call, FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # a Wednesday, 09:00 in Paris
FAST = WorkerConfig(
    poll_interval=0.02,
    backoff_base=0.05,
    claim_ttl=timedelta(seconds=30),
    limits={"telegram": Limits(1000.0, 0.0)},
)
_ids = itertools.count(7_000_000)


def telegram_env(tmp_path: Path, api_base: str, **extra: str) -> dict[str, str]:
    env = {
        "CRENEAU_ENV": "development",
        "CRENEAU_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url(tmp_path),
        "CRENEAU_PRACTICE": str(ROOT / "practice.example.toml"),
        "CRENEAU_DATA_KEYS": f"t1:{generate_key()}",
        "CRENEAU_INDEX_KEY": generate_key(),
        "TELEGRAM_BOT_TOKEN": "123:ABC",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": api_base,
        "PUBLIC_BASE_URL": "https://creneau.example",
    }
    env.update(extra)
    return env


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, api: FakeBotAPI) -> dict[str, str]:
    return telegram_env(tmp_path, api.base)


@pytest.fixture
def runtime(env: dict[str, str]) -> Iterator[Runtime]:
    rt = Runtime(Settings.from_env(env))
    rt.__dict__["assistant"] = Assistant(
        rt.db, rt.practice, rt.vault, rt.catalogs, clock=lambda: T0
    )
    yield rt
    rt.db.dispose()


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime)
    app.testing = True
    return app.test_client()


class RunningWorker:
    """A Worker in its own thread and loop, as `creneau worker` runs it."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(worker.run(self.stop)))

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[Worker]:
    with RunningWorker(Worker(runtime, config=FAST)) as w:
        yield w


# ---------------------------------------------------------------- a Telegram user


class User:
    """A private chat posting real-shaped updates to the webhook and reading the fake API."""

    def __init__(self, client: FlaskClient, api: FakeBotAPI, lang: str = "fr") -> None:
        self.client, self.api, self.lang = client, api, lang
        self.chat_id = next(_ids)
        self.last: Call | None = None

    def _from(self) -> dict[str, Any]:
        return {
            "id": self.chat_id,
            "is_bot": False,
            "first_name": "Nadia",
            "language_code": self.lang,
        }

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {HEADER: secret} if secret else {}
        return self.client.post("/telegram/webhook", json=update, headers=headers).status_code

    def message_update(self, text: str, chat_type: str = "private") -> dict[str, Any]:
        return {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": 1_790_000_000,
                "text": text,
                "from": self._from(),
                "chat": {"id": self.chat_id, "type": chat_type, "first_name": "Nadia"},
            },
        }

    def press_update(self, data: str, message: Call | None = None) -> dict[str, Any]:
        """A callback query on `message` (the last bot message by default), keyboard included."""
        message = message or self.last
        msg: dict[str, Any] = {
            "message_id": 42,
            "date": 1_790_000_000,
            "chat": {"id": self.chat_id, "type": "private"},
            "from": {"id": 123, "is_bot": True, "first_name": "Bot"},
        }
        if message is not None:
            msg["text"] = message.params["text"]
            if message.params.get("reply_markup"):
                msg["reply_markup"] = message.params["reply_markup"]
        return {
            "update_id": next(_ids),
            "callback_query": {
                "id": str(next(_ids)),
                "chat_instance": "1",
                "data": data,
                "from": self._from(),
                "message": msg,
            },
        }

    def _next_reply(self, update: dict[str, Any]) -> Call:
        before = len(self.api.sent(chat_id=self.chat_id))
        assert self.post(update) == 200
        assert self.api.wait_for(lambda: len(self.api.sent(chat_id=self.chat_id)) > before)
        self.last = self.api.sent(chat_id=self.chat_id)[before]
        return self.last

    def send(self, text: str) -> Call:
        return self._next_reply(self.message_update(text))

    def press(self, pattern: str) -> Call:
        """Press the first button of the last message whose label contains `pattern`."""
        assert self.last is not None
        token = next(t for label, t in self.last.buttons if pattern in label)
        return self._next_reply(self.press_update(token))

    @property
    def text(self) -> str:
        assert self.last is not None
        return str(self.last.params["text"])


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.db.read() as session:
        return {
            t.name: session.exec(select(func.count()).select_from(t)).one()
            for t in SQLModel.metadata.sorted_tables
        }


def outbox_rows(runtime: Runtime) -> list[Outbox]:
    with runtime.db.read() as session:
        return list(session.exec(select(Outbox).order_by(Outbox.created_at)))


def payloads(runtime: Runtime) -> list[dict[str, Any]]:
    return [outbox.open_row(runtime.vault, r)[1] for r in outbox_rows(runtime)]


# ---------------------------------------------------------------- the webhook's edge


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET[:-1]])
def test_a_missing_or_forged_secret_is_refused_and_nothing_is_written(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime, secret: str | None
) -> None:
    user = User(client, api)
    assert user.post(user.message_update("/start"), secret=secret) == 403
    assert set(row_counts(runtime).values()) == {0}


def test_without_a_configured_secret_every_update_is_refused(
    tmp_path: Path, api: FakeBotAPI
) -> None:
    rt = Runtime(Settings.from_env(telegram_env(tmp_path, api.base, TELEGRAM_WEBHOOK_SECRET="")))
    user = User(create_app(rt).test_client(), api)
    assert user.post(user.message_update("/start"), secret="anything") == 403
    assert set(row_counts(rt).values()) == {0}


def test_no_webhook_when_telegram_is_not_configured(tmp_path: Path, api: FakeBotAPI) -> None:
    rt = Runtime(Settings.from_env(telegram_env(tmp_path, api.base, TELEGRAM_BOT_TOKEN="")))
    response = (
        create_app(rt).test_client().post("/telegram/webhook", json={}, headers={HEADER: SECRET})
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"message": {}}',
        b'{"update_id": 7, "message": {"text": "no chat, no date"}}',
    ],
)
def test_an_unreadable_body_is_acknowledged_and_nothing_is_written(
    client: FlaskClient, runtime: Runtime, body: bytes
) -> None:
    """200, not 400: Telegram would deliver a refused update again and again."""
    response = client.post(
        "/telegram/webhook", data=body, content_type="application/json", headers={HEADER: SECRET}
    )
    assert response.status_code == 200
    assert set(row_counts(runtime).values()) == {0}


def test_other_updates_are_acknowledged_and_ignored(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime
) -> None:
    user = User(client, api)
    assert (
        user.post({"update_id": next(_ids), "edited_message": user.message_update("x")["message"]})
        == 200
    )
    assert (
        user.post(
            {
                "update_id": next(_ids),
                "poll": {
                    "id": "1",
                    "question": "?",
                    "options": [],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                },
            }
        )
        == 200
    )
    assert set(row_counts(runtime).values()) == {0}


def test_the_webhook_only_queues_and_never_calls_telegram(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime
) -> None:
    user = User(client, api)
    assert user.post(user.message_update("/start")) == 200
    assert api.calls == []
    [payload] = payloads(runtime)
    assert payload["op"] == "send" and payload["text"].startswith("Cabinet des Lilas")
    assert "Telegram (hors UE, sans contrat de sous-traitance)" in payload["text"]
    assert [label for label, _ in payload["buttons"]] == ["Consultation", "Électrocardiogramme"]
    assert all(len(token.encode()) <= 64 for _, token in payload["buttons"])


def test_a_repeated_update_id_has_no_second_effect(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime
) -> None:
    user = User(client, api)
    update = user.message_update("/start")
    assert user.post(update) == 200
    first = row_counts(runtime)
    assert user.post(update) == 200
    assert row_counts(runtime) == first
    assert len(outbox_rows(runtime)) == 1


# ---------------------------------------------------------------- conversations, end to end


def test_start_sends_the_notice_first_with_an_inline_keyboard(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    reply = user.send("/start")
    assert user.text.startswith("Cabinet des Lilas gère vos RDV")
    assert "https://example.org/confidentialite" in user.text
    assert user.text.endswith("Pour quel type de RDV ?")  # a newcomer has nothing to list
    assert [label for label, _ in reply.buttons] == ["Consultation", "Électrocardiogramme"]
    markup = reply.params["reply_markup"]["inline_keyboard"]
    assert all(len(row) == 1 for row in markup)  # one button per row


def test_a_full_booking_with_buttons_then_listed(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime, worker: Worker
) -> None:
    user = User(client, api)
    user.send("/start")
    assert "type" in user.text
    user.press("Consultation")
    slot_label, _ = user.last.buttons[0] if user.last else ("", "")
    user.press(slot_label)
    assert "nom" in user.text
    user.send("Paul Martin")
    assert "Confirmer" in user.text
    user.press("Oui")
    assert user.text.startswith("RDV confirmé")
    assert "Consultation" not in user.text  # never the consultation type in a message
    user.send("MES RDV")
    assert "1 RDV" in user.text
    assert any(slot_label in label for label, _ in user.last.buttons)  # type: ignore[union-attr]

    def outbox_empty() -> bool:  # the worker deletes a row just after the API answered
        with runtime.db.read() as session:
            return not list(session.exec(select(Outbox)))

    assert api.wait_for(outbox_empty)  # all sent, all deleted


def test_an_ecg_asks_the_preparation_question(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    user.send("RDV")
    slots = user.press("Électrocardiogramme")  # the instructions open the slot list
    assert slots.params["text"].startswith("A savoir pour ce RDV: Venez 10 minutes")
    assert "Électrocardiogramme" not in slots.params["text"] and slots.buttons
    user.press(user.last.buttons[0][0])
    user.send("Paul Martin")
    assert "traitement en cours" in user.text


def test_a_press_is_answered_and_the_pressed_message_shows_a_menu_choice(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    menu = user.send("/menu")
    user.press("Prendre RDV")
    assert api.wait_for(lambda: api.sent("editMessageText", chat_id=user.chat_id))
    [answer] = api.sent("answerCallbackQuery")
    assert answer.params["callback_query_id"]
    [edit] = api.sent("editMessageText", chat_id=user.chat_id)
    assert edit.params["text"] == menu.params["text"] + "\n-> Prendre RDV"
    assert not edit.params.get("reply_markup")
    order = [c.method for c in api.calls]
    assert order.index("answerCallbackQuery") < order.index("editMessageText")


def test_a_press_on_a_message_without_its_keyboard_just_removes_the_buttons(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    user.send("/start")
    token = user.last.buttons[0][1]  # type: ignore[union-attr]
    update = user.press_update(token)
    del update["callback_query"]["message"]["reply_markup"]
    user._next_reply(update)
    assert api.wait_for(lambda: api.sent("editMessageReplyMarkup", chat_id=user.chat_id))
    [edit] = api.sent("editMessageReplyMarkup", chat_id=user.chat_id)
    assert edit.params["message_id"] in (42, "42")


def test_an_old_button_says_the_choice_expired_and_shows_the_current_menu(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    menu = user.send("/menu")
    user.press("Prendre RDV")
    stale = next(t for label, t in menu.buttons if label == "Mes RDV")
    user._next_reply(user.press_update(stale, message=menu))
    assert user.text.startswith("Ce choix a expiré")
    assert "Consultation" in [label for label, _ in user.last.buttons]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "What kind of appointment?"),
        ("de", "What kind of appointment?"),
        ("fr-FR", "Pour quel type de RDV ?"),
    ],
)
def test_the_language_comes_from_the_telegram_client(
    client: FlaskClient, api: FakeBotAPI, worker: Worker, code: str, expected: str
) -> None:
    user = User(client, api, lang=code)
    user.send("/start")
    assert user.text.endswith(expected)


# ---------------------------------------------------------------- the worker


def queue(
    runtime: Runtime,
    chat_id: int,
    text: str,
    *,
    kind: str = "reply",
    patient_id: str | None = None,
    quiet: bool = False,
    op: str = "send",
) -> str:
    """Put one Telegram payload in the outbox; its row id."""
    payload = {"op": op, "text": text, "buttons": []}
    if op == "answer":
        payload = {"op": "answer", "callback_query_id": text}
    with runtime.db.write() as session:
        row = outbox.enqueue(
            session,
            runtime.vault,
            practice_id=runtime.practice.id,
            channel="telegram",
            address=str(chat_id),
            payload=payload,
            kind=kind,
            patient_id=patient_id,
            respect_quiet_hours=quiet,
        )
        return row.id


def a_patient(runtime: Runtime, **fields: Any) -> str:
    with runtime.db.write() as session:
        patient = Patient(
            practice_id=runtime.practice.id,
            channel="telegram",
            address_index="idx",
            address_enc=b"x",
            lang="fr",
            **fields,
        )
        session.add(patient)
        return patient.id


def the_row(runtime: Runtime, row_id: str) -> Outbox | None:
    with runtime.db.read() as session:
        return session.get(Outbox, row_id)


def test_a_429_is_honoured_before_trying_again(runtime: Runtime, api: FakeBotAPI) -> None:
    api.fail(429, "Too Many Requests: retry after 1", retry_after=1)
    row = queue(runtime, 11, "hello")
    with RunningWorker(Worker(runtime, config=FAST)):
        assert api.wait_for(lambda: len(api.sent()) == 2)
        assert api.wait_for(lambda: the_row(runtime, row) is None)
    first, second = api.sent()
    assert second.at - first.at >= 0.95


def test_a_5xx_is_retried_with_backoff_then_sent(runtime: Runtime, api: FakeBotAPI) -> None:
    api.fail(500, "Internal Server Error", times=2)
    row = queue(runtime, 12, "hello")
    with RunningWorker(Worker(runtime, config=FAST)):
        assert api.wait_for(lambda: the_row(runtime, row) is None)
    assert [c.params["text"] for c in api.sent()] == ["hello"] * 3


def test_retries_give_up_after_the_last_attempt(runtime: Runtime, api: FakeBotAPI) -> None:
    api.fail(502, "Bad Gateway", times=10)
    row = queue(runtime, 13, "hello")
    config = WorkerConfig(**{**FAST.__dict__, "max_attempts": 3, "backoff_base": 0.01})
    with RunningWorker(Worker(runtime, config=config)):
        assert api.wait_for(
            lambda: (r := the_row(runtime, row)) is not None and r.status == "failed"
        )
    assert len(api.sent()) == 3


def test_a_blocked_bot_marks_the_patient_unreachable(runtime: Runtime, api: FakeBotAPI) -> None:
    api.fail(403, "Forbidden: bot was blocked by the user")
    pid = a_patient(runtime)
    row = queue(runtime, 14, "hello", patient_id=pid)
    with RunningWorker(Worker(runtime, config=FAST)):
        assert api.wait_for(lambda: the_row(runtime, row) is None)
    with runtime.db.read() as session:
        assert session.get(Patient, pid).unreachable  # type: ignore[union-attr]


def test_a_bad_request_is_recorded_as_failed_with_a_code_only(
    runtime: Runtime, api: FakeBotAPI
) -> None:
    api.fail(400, "Bad Request: chat not found")
    row = queue(runtime, 15, "hello")
    with RunningWorker(Worker(runtime, config=FAST)):
        assert api.wait_for(
            lambda: (r := the_row(runtime, row)) is not None and r.status == "failed"
        )
    failed = the_row(runtime, row)
    assert failed is not None and failed.last_error == "telegram:400"
    assert failed.claimed_by is None


def test_message_not_modified_on_an_edit_counts_as_done(runtime: Runtime, api: FakeBotAPI) -> None:
    api.fail(400, "Bad Request: message is not modified")
    with runtime.db.write() as session:
        row = outbox.enqueue(
            session,
            runtime.vault,
            practice_id=runtime.practice.id,
            channel="telegram",
            address="16",
            payload={"op": "edit", "message_id": 5, "text": "x"},
        ).id
    with RunningWorker(Worker(runtime, config=FAST)):
        assert api.wait_for(lambda: the_row(runtime, row) is None)


def test_two_workers_never_send_a_row_twice(runtime: Runtime, api: FakeBotAPI) -> None:
    api.delay = 0.01
    for i in range(60):
        queue(runtime, 100 + i % 20, f"m{i}")
    small = WorkerConfig(**{**FAST.__dict__, "batch": 5, "max_held": 5})  # forces interleaving
    a = Worker(runtime, config=small, worker_id="a")
    b = Worker(runtime, config=small, worker_id="b")
    with RunningWorker(a), RunningWorker(b):
        assert api.wait_for(lambda: not outbox_rows(runtime), timeout=15)
    texts = [c.params["text"] for c in api.sent()]
    assert sorted(texts) == sorted(f"m{i}" for i in range(60))
    assert a.counts["sent"] + b.counts["sent"] == 60


def test_a_crashed_workers_claims_expire_and_are_sent_once(
    runtime: Runtime, api: FakeBotAPI
) -> None:
    for i in range(3):
        queue(runtime, 200, f"m{i}")
    crashed = Worker(
        runtime,
        senders={"telegram": object()},  # type: ignore[dict-item]
        config=WorkerConfig(claim_ttl=timedelta(seconds=1)),
        worker_id="dead",
    )
    assert len(crashed.claim(10)) == 3  # ...and it dies before sending
    with RunningWorker(Worker(runtime, config=FAST, worker_id="new")):
        assert not api.wait_for(lambda: api.sent(), timeout=0.5)
        assert api.wait_for(lambda: len(api.sent()) == 3)
        assert api.wait_for(lambda: not outbox_rows(runtime))
    assert [c.params["text"] for c in api.sent()] == ["m0", "m1", "m2"]


def test_one_chat_gets_at_most_one_message_a_second(runtime: Runtime, api: FakeBotAPI) -> None:
    for i in range(3):
        queue(runtime, 300, f"m{i}")
    queue(runtime, 300, "cq-1", op="answer")
    queue(runtime, 301, "other")
    config = WorkerConfig(**{**FAST.__dict__, "limits": {"telegram": Limits(30.0, 1.0)}})
    with RunningWorker(Worker(runtime, config=config)):
        assert api.wait_for(lambda: not outbox_rows(runtime))
    mine = api.sent(chat_id=300)
    assert [c.params["text"] for c in mine] == ["m0", "m1", "m2"]
    gaps = [b.at - a.at for a, b in itertools.pairwise(mine)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    # the other chat and the exempt answer did not wait behind chat 300
    assert api.sent(chat_id=301)[0].at < mine[1].at
    assert api.sent("answerCallbackQuery")[0].at < mine[1].at


def test_quiet_hours_move_reminders_to_the_end_of_the_window(
    runtime: Runtime, api: FakeBotAPI
) -> None:
    night = datetime(2026, 12, 2, 22, 30, tzinfo=runtime.practice.tz)
    row = queue(runtime, 400, "reminder", kind="reminder", quiet=True)
    reply = queue(runtime, 401, "an answer")
    worker = Worker(
        runtime,
        senders={"telegram": object()},  # type: ignore[dict-item]
        config=FAST,
        clock=lambda: night,
    )
    assert [j.id for j in worker.claim(10)] == [reply]
    moved = the_row(runtime, row)
    assert moved is not None and moved.claimed_by is None
    assert moved.next_attempt_at == datetime(2026, 12, 3, 8, 0, tzinfo=runtime.practice.tz)


def test_quiet_window_across_midnight(runtime: Runtime) -> None:
    tz = runtime.practice.tz  # quiet_hours = "20:00-08:00"
    assert quiet_until(runtime.practice, datetime(2026, 12, 2, 19, 59, tzinfo=tz)) is None
    assert quiet_until(runtime.practice, datetime(2026, 12, 2, 20, 0, tzinfo=tz)) == datetime(
        2026, 12, 3, 8, 0, tzinfo=tz
    )
    assert quiet_until(runtime.practice, datetime(2026, 12, 3, 7, 59, tzinfo=tz)) == datetime(
        2026, 12, 3, 8, 0, tzinfo=tz
    )
    assert quiet_until(runtime.practice, datetime(2026, 12, 3, 8, 0, tzinfo=tz)) is None


def test_only_replies_reach_an_opted_out_patient(runtime: Runtime) -> None:
    pid = a_patient(runtime, opted_out=True)
    reminder = queue(runtime, 500, "reminder", kind="reminder", patient_id=pid)
    reply = queue(runtime, 500, "stop confirmed", patient_id=pid)
    worker = Worker(
        runtime,
        senders={"telegram": object()},  # type: ignore[dict-item]
        config=FAST,
    )
    assert [j.id for j in worker.claim(10)] == [reply]
    assert the_row(runtime, reminder) is None


# ---------------------------------------------------------------- command line


def test_set_webhook_registers_the_public_url_with_the_secret(
    env: dict[str, str], api: FakeBotAPI
) -> None:
    from channels.cli.telegram import telegram

    result = CliRunner().invoke(telegram, ["set-webhook"], env=env)
    assert result.exit_code == 0, result.output
    [call] = api.sent("setWebhook")
    assert call.params["url"] == "https://creneau.example/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert "123:ABC" not in result.output


def test_polling_feeds_updates_to_the_same_handling(
    runtime: Runtime, api: FakeBotAPI, client: FlaskClient
) -> None:
    from channels.cli.telegram import _bot, poll_updates

    user = User(client, api)
    api.updates = [user.message_update("/start")]
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert asyncio.run(poll_updates(runtime, _bot(runtime), stop, timeout=0)) == 1
    assert api.sent("deleteWebhook")
    assert json.dumps(payloads(runtime)[0]).count("Pour quel type de RDV") == 1


# ---------------------------------------------------------------- practitioners, end to end


def test_practitioner_links_by_code_then_reads_the_agenda(runtime, client, api, worker) -> None:
    """Through the webhook: a stranger's /agenda is patient dialog; a code links the chat."""
    from store.models import AuditEvent, utcnow
    from store.practitioners import create_link_code

    with runtime.db.write() as session:
        code = create_link_code(session, runtime.practice, "roux", utcnow())
    stranger, doctor = User(client, api), User(client, api)
    seen = stranger.send("/agenda")
    assert "agenda du" not in str(seen.params["text"])
    assert "confidentialite" in str(seen.params["text"])  # the patient notice, first contact
    linked = doctor.send(f"/start {code}")
    assert "relié à l'agenda de Dr Anne Roux" in str(linked.params["text"])
    assert api.wait_for(lambda: len(api.sent(chat_id=doctor.chat_id)) == 2)  # linked, then help
    agenda = doctor.send("/agenda")
    assert "Dr Anne Roux - agenda du" in str(agenda.params["text"])
    reused = User(client, api).send(f"/start {code}")  # single use: a stranger again
    assert "relié" not in str(reused.params["text"])
    with runtime.db.read() as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("agenda_access") == 1


# ---------------------------------------------------------------- text only, private only


def _message(user: User, **fields: Any) -> dict[str, Any]:
    """A real-shaped message update from `user`, without text unless given."""
    update = user.message_update("")
    del update["message"]["text"]
    update["message"].update(fields)
    return update


PHOTO = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
STICKER = {
    "file_id": "CAAC",
    "file_unique_id": "AgAD",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "type": "regular",
}
VOICE = {"file_id": "AwAC", "file_unique_id": "AgAE", "duration": 3}


def test_a_caption_is_read_as_text(client: FlaskClient, api: FakeBotAPI, worker: Worker) -> None:
    user = User(client, api)
    user.send("/start")
    reply = user._next_reply(_message(user, photo=PHOTO, caption="1"))  # Consultation
    assert reply.params["text"] == "Prochains créneaux avec Dr Anne Roux:"


@pytest.mark.parametrize(
    "media",
    [{"photo": PHOTO}, {"sticker": STICKER}, {"voice": VOICE}],
    ids=["photo", "sticker", "voice"],
)
def test_media_get_a_short_text_only_answer(
    client: FlaskClient, api: FakeBotAPI, worker: Worker, media: dict[str, Any]
) -> None:
    user = User(client, api)
    user.send("/start")
    reply = user._next_reply(_message(user, **media))
    assert (
        reply.params["text"] == "Désolé, je ne lis que le texte. Écrivez ou choisissez ci-dessous:"
    )
    assert [label for label, _ in reply.buttons] == ["Consultation", "Électrocardiogramme"]


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
def test_a_group_gets_one_polite_refusal_and_the_bot_leaves(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime, worker: Worker, chat_type: str
) -> None:
    user = User(client, api)
    assert user.post(user.message_update("RDV", chat_type=chat_type)) == 200
    assert api.wait_for(lambda: api.sent("leaveChat", chat_id=user.chat_id))
    [refusal] = api.sent(chat_id=user.chat_id)
    assert "conversation privée" in refusal.params["text"]
    order = [c.method for c in api.calls if c.chat_id == str(user.chat_id)]
    assert order == ["sendMessage", "leaveChat"]
    with runtime.db.read() as session:
        assert not list(session.exec(select(Patient)))  # no record opened for a group


def test_the_bot_added_to_a_group_refuses_and_leaves(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    """The service message Telegram sends when someone adds the bot to a group."""
    user = User(client, api)
    bot = {"id": 123, "is_bot": True, "first_name": "Bot"}
    update = _message(user, new_chat_members=[bot])
    update["message"]["chat"] = {"id": user.chat_id, "type": "group", "title": "Famille"}
    assert user.post(update) == 200
    assert api.wait_for(lambda: api.sent("leaveChat", chat_id=user.chat_id))


FORWARDS = {
    "origin (Bot API 7)": {
        "forward_origin": {
            "type": "user",
            "date": 1_789_000_000,
            "sender_user": {"id": 99, "is_bot": False, "first_name": "Ami"},
        }
    },
    "pre-2023 fields": {
        "forward_from": {"id": 99, "is_bot": False, "first_name": "Ami"},
        "forward_date": 1_789_000_000,
    },
}


@pytest.mark.parametrize("shape", list(FORWARDS))
def test_a_forwarded_stop_does_nothing(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime, worker: Worker, shape: str
) -> None:
    user = User(client, api)
    user.send("/start")
    reply = user._next_reply(_message(user, text="STOP", **FORWARDS[shape]))
    assert "plus aucun message" not in reply.params["text"]
    with runtime.db.read() as session:
        [patient] = session.exec(select(Patient)).all()
        assert not patient.opted_out
    assert "Pour quel type" in user.send("RDV").params["text"]  # still in the dialog


def test_a_forwarded_number_is_not_a_choice(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    user.send("/start")
    reply = user._next_reply(_message(user, text="1", **FORWARDS["origin (Bot API 7)"]))
    assert reply.params["text"].startswith("Désolé, je n'ai pas compris.")


def test_a_press_on_an_inline_message_is_answered(
    client: FlaskClient, api: FakeBotAPI, runtime: Runtime, worker: Worker
) -> None:
    """An inline-mode message has no `message` in its callback: answered all the same."""
    user = User(client, api)
    update = user.press_update("3.1")
    del update["callback_query"]["message"]
    update["callback_query"]["inline_message_id"] = "AAAAAB"
    assert user.post(update) == 200
    assert api.wait_for(lambda: api.sent("answerCallbackQuery"))
    assert api.sent("answerCallbackQuery")[0].params["callback_query_id"]
    with runtime.db.read() as session:
        assert not list(session.exec(select(Patient)))


def test_a_press_in_a_group_is_answered(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    update = user.press_update("3.1")
    update["callback_query"]["message"]["chat"]["type"] = "group"
    assert user.post(update) == 200
    assert api.wait_for(lambda: api.sent("answerCallbackQuery"))


def test_a_pre_2019_update_gets_200(client: FlaskClient, api: FakeBotAPI, runtime: Runtime) -> None:
    """Users without `is_bot` (added to the Bot API in 2017): PTB cannot read it; 200 all
    the same, so Telegram does not redeliver it for a day."""
    old = {
        "update_id": next(_ids),
        "message": {
            "message_id": 1,
            "from": {"id": 5, "first_name": "Ancien"},
            "chat": {"id": 5, "first_name": "Ancien", "type": "private"},
            "date": 1_500_000_000,
            "text": "Bonjour",
        },
    }
    response = client.post("/telegram/webhook", json=old, headers={HEADER: SECRET})
    assert response.status_code == 200
    assert set(row_counts(runtime).values()) == {0}


# ---------------------------------------------------------------- discreet after the live exchange

TYPE_WORDS = ("Électrocardiogramme", "ECG", "Electrocardiogramme")
ANSWER = "Kardegic 75"


def test_a_preparation_booking_leaves_no_type_and_no_answer_behind(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    """The type is in the menu the patient picks from (the live exchange); every message
    sent after that, every edit, the confirmation and the listing name no type and no
    answer; the instructions come once, alone, without the type's name."""
    user = User(client, api)
    user.send("RDV")
    menu_count = len(api.sent(chat_id=user.chat_id))
    user.press("Électrocardiogramme")  # the slots, opened by the instructions
    user.press(user.last.buttons[0][0])  # a slot
    user.send("Paul Martin")
    user.send(ANSWER)
    assert "Confirmer" in user.text
    user.press("Oui")
    assert user.text.startswith("RDV confirmé")
    user.send("MES RDV")
    assert api.wait_for(
        lambda: len(api.sent("editMessageText")) + len(api.sent("editMessageReplyMarkup")) >= 3
    )
    after = api.sent(chat_id=user.chat_id)[menu_count:]
    edits = api.sent("editMessageText", chat_id=user.chat_id)
    for call in after + edits:
        text = str(call.params.get("text", ""))
        labels = " ".join(label for label, _ in call.buttons)
        for word in (*TYPE_WORDS, ANSWER, "Kardegic"):
            assert word not in text and word not in labels, (call.method, text)
    instructions = [c for c in after if "Venez 10 minutes" in str(c.params.get("text"))]
    assert len(instructions) == 1  # sent once, with the slots; never again
    assert not [c for c in edits if "Venez" in str(c.params.get("text"))]  # never in an edit
    assert "Venez 10 minutes" not in user.text  # not in the confirmation


def test_a_pressed_type_button_is_never_written_back(
    client: FlaskClient, api: FakeBotAPI, worker: Worker
) -> None:
    user = User(client, api)
    question = user.send("RDV")
    user.press("Électrocardiogramme")
    assert api.wait_for(lambda: api.sent("editMessageReplyMarkup", chat_id=user.chat_id))
    assert not api.sent("editMessageText", chat_id=user.chat_id)  # keyboard removed only
    assert question.params["text"].endswith("Pour quel type de RDV ?")

"""Telegram: the webhook that turns updates into engine turns, and the Bot API sender.

The webhook never calls Telegram: it runs one turn and queues the replies in the outbox
within the same transaction, then answers 200. The outbox worker sends them through
`TelegramSender`. Chat ids, names and texts are never logged.

Text only, private chats only: a caption is read as text, media alone get a short "text
only" answer, a group gets one polite refusal and the bot leaves it, a forwarded message is
never the patient's own keyword, every button press is answered, and an update this bot
cannot parse is acknowledged (200) so Telegram does not deliver it again and again.
"""

from __future__ import annotations

import hmac
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from flask import Flask, request
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.engine import fold
from bot.messages import Inbound, Rendered, Text
from bot.practice import Practice
from channels import practitioner_bot
from channels.outbound import Result, SendOutcome
from channels.runtime import Runtime
from store.address import AddressError
from store.models import utcnow
from store.outbox import enqueue as outbox_enqueue
from store.ratelimit import RateLimiter
from store.service import Turn

log = logging.getLogger(__name__)
LIMITER = RateLimiter()  # per-sender flood guard; its counters live in the database

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_TEXT = 4096  # Bot API limit for one message
MAX_CALLBACK_DATA = 64  # bytes
CHOSEN_MARK = "\n-> "

Payload = dict[str, Any]


# ---------------------------------------------------------------- rendering


def send_payloads(reply: Rendered) -> list[Payload]:
    """One reply as outbox payloads: the text (split at the Bot API limit), buttons last."""
    text = reply.text or "…"
    chunks = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
    buttons = [
        [label, token] for token, label in reply.choices if len(token.encode()) <= MAX_CALLBACK_DATA
    ]
    payloads: list[Payload] = [{"op": "send", "text": c, "buttons": []} for c in chunks]
    payloads[-1]["buttons"] = buttons
    return payloads


def keyboard(buttons: list[list[str]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard with one button per row, or None without buttons."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=token)] for label, token in buttons]
    )


def _chosen_label(message: Message, token: str) -> str | None:
    """The label of the pressed button, read from the message's own keyboard."""
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == token:
                return button.text
    return None


@dataclass(frozen=True)
class Secrets:
    """What a button press must never write back into a chat: consultation type labels, and
    any message that holds a type's preparation question or instructions (folded)."""

    labels: frozenset[str] = frozenset()
    passages: tuple[str, ...] = ()

    def in_text(self, text: str) -> bool:
        folded = fold(text)
        return any(passage in folded for passage in self.passages)


_SECRETS: dict[int, tuple[Practice, Secrets]] = {}


def secrets_of(practice: Practice) -> Secrets:
    """The practice's secrets, computed once per practice object."""
    cached = _SECRETS.get(id(practice))
    if cached is not None and cached[0] is practice:
        return cached[1]
    types = practice.consultation_types
    labels = frozenset(fold(label) for ctype in types for label in ctype.label.values())
    passages = tuple(
        fold(text)
        for ctype in types
        for texts in (ctype.preparation, ctype.preparation_question)
        for text in (texts or {}).values()
        if text.strip()
    )
    found = Secrets(labels, passages)
    _SECRETS[id(practice)] = (practice, found)
    return found


def press_payloads(query: CallbackQuery, secrets: Secrets | None = None) -> list[Payload]:
    """For a button press: answer the query, then take the keyboard off the pressed message,
    marking the choice on it unless it is a consultation type or the message holds
    preparation instructions (what an edit leaves on the phone never names either)."""
    secrets = secrets or Secrets()
    payloads: list[Payload] = [{"op": "answer", "callback_query_id": query.id}]
    message = query.message
    if not isinstance(message, Message):
        return payloads
    edit: Payload = {"op": "edit", "message_id": message.message_id}
    label = _chosen_label(message, query.data or "")
    original = message.text
    if (
        label is not None
        and original
        and fold(label) not in secrets.labels
        and not secrets.in_text(original)
    ):
        mark = CHOSEN_MARK + label
        edit["text"] = original[: MAX_TEXT - len(mark)] + mark
    payloads.append(edit)
    return payloads


# ---------------------------------------------------------------- updates to turns


def _command(text: str) -> str:
    """`/start payload` and `/help@my_bot` reduced to the bare command the engine knows."""
    if not text.startswith("/"):
        return text
    head, _, rest = text.partition(" ")
    head = head.split("@", 1)[0]
    return head if head == "/start" else f"{head} {rest}".strip()


def _private(message: Message | None) -> bool:
    return message is not None and message.chat.type == "private"


def _forwarded(message: Message) -> bool:
    """Forwarded from someone (or somewhere) else, in today's or the pre-2023 update shape."""
    legacy = message.api_kwargs or {}
    return bool(
        message.forward_origin
        or message.is_automatic_forward
        or any(
            legacy.get(key)
            for key in ("forward_date", "forward_from", "forward_from_chat", "forward_sender_name")
        )
    )


def _media(message: Message) -> bool:
    """A picture, sticker, voice note, file, location... (with or without a caption)."""
    try:
        return message.effective_attachment is not None
    except (AttributeError, TypeError, ValueError):  # a shape PTB does not know
        return False


def _lang(user: Any) -> str | None:
    return user.language_code if user is not None else None


def to_inbound(
    update: Update, secrets: Secrets | None = None
) -> tuple[Inbound, list[Payload]] | None:
    """The engine's inbound message and the payloads to queue before the replies, or None
    for an update the patient dialog does not handle (groups, inline buttons, edits...)."""
    uid = str(update.update_id)
    message = update.message
    if message is not None:
        if not _private(message):
            return None
        text = message.text if message.text is not None else message.caption
        inbound = Inbound(
            CHANNEL,
            str(message.chat.id),
            _command(text or ""),
            utcnow(),
            message_id=uid,
            lang_hint=_lang(message.from_user),
            media=_media(message),
            forwarded=_forwarded(message),
        )
        return inbound, []
    query = update.callback_query
    if query is not None and isinstance(query.message, Message) and _private(query.message):
        inbound = Inbound(
            CHANNEL,
            str(query.message.chat.id),
            None,
            utcnow(),
            message_id=uid,
            choice=query.data or "",
            lang_hint=_lang(query.from_user),
        )
        return inbound, press_payloads(query, secrets)
    return None


def _enqueue(
    runtime: Runtime, before: list[Payload], session: Session, turn: Turn, address: str
) -> None:
    """Queue the press acknowledgements, then each reply, in the turn's transaction."""
    # without a reply (an opted-out patient), only the button press is acknowledged
    payloads = list(before) if turn.replies else [p for p in before if p.get("op") == "answer"]
    for reply in turn.replies:
        payloads += send_payloads(reply)
    queue_payloads(runtime, session, address, payloads, patient_id=turn.patient_id)


def queue_payloads(
    runtime: Runtime,
    session: Session,
    chat_id: str,
    payloads: list[Payload],
    patient_id: str | None = None,
) -> None:
    """Queue Bot API payloads for one chat, in order, in the current transaction."""
    for payload in payloads:
        outbox_enqueue(
            session,
            runtime.vault,
            practice_id=runtime.practice.id,
            channel=CHANNEL,
            address=chat_id,
            payload=payload,
            kind="reply",
            patient_id=patient_id,
        )


def handle_update(runtime: Runtime, update: Update) -> Turn | None:
    """Run one update through the assistant; replies go to the outbox. None if the patient
    dialog does not run (a group, a press on an inline or group message, another update)."""
    parsed = to_inbound(update, secrets_of(runtime.practice))
    if parsed is None:
        _outside_the_dialog(runtime, update)
        return None
    inbound, before = parsed
    if update.message is not None and _practitioner_command(runtime, update.message, inbound):
        return None
    turn = runtime.assistant.handle(
        inbound, enqueue=partial(_enqueue, runtime, before), limiter=LIMITER
    )
    log.debug("telegram update handled: replies=%d repeated=%s", len(turn.replies), turn.repeated)
    return turn


def _outside_the_dialog(runtime: Runtime, update: Update) -> None:
    """A group gets one polite refusal and the bot leaves it; a press the dialog cannot take
    (an inline message, a group) is still answered, so no button keeps spinning."""
    message = update.message
    if message is not None and not _private(message):
        text = runtime.catalogs.text(
            Text("telegram.group"), _client_lang(runtime, message.from_user), runtime.practice.tz
        )
        payloads: list[Payload] = [{"op": "send", "text": text, "buttons": []}, {"op": "leave"}]
        with runtime.db.write() as session:
            queue_payloads(runtime, session, str(message.chat.id), payloads)
        log.info("telegram: refused a group or channel chat and left it")
        return
    query = update.callback_query
    if query is not None and query.from_user is not None:
        answer: list[Payload] = [{"op": "answer", "callback_query_id": query.id}]
        with runtime.db.write() as session:
            queue_payloads(runtime, session, str(query.from_user.id), answer)


def _client_lang(runtime: Runtime, user: Any) -> str:
    code = (_lang(user) or "").lower()
    if not code:
        return runtime.practice.locale
    return "fr" if code.startswith("fr") else "en"


def _practitioner_command(runtime: Runtime, message: Message, inbound: Inbound) -> bool:
    """A linked practitioner's command, handled before the patient dialog: the practitioner
    router returns the replies, queued here in the same transaction; `/start <code>` keeps
    its code. False (nothing written) when the patient dialog should take the message."""
    text = message.text or ""
    if not text.startswith("/"):
        return False  # practitioner commands all start with a slash
    with runtime.db.write() as session:
        replies = practitioner_bot.respond(
            runtime, session, inbound.sender, text, inbound.message_id or "", utcnow()
        )
        if replies is None:
            return False
        payloads: list[Payload] = [{"op": "send", "text": reply} for reply in replies]
        queue_payloads(runtime, session, inbound.sender, payloads)
    return True


# ---------------------------------------------------------------- the webhook


def secret_ok(expected: str, given: str | None) -> bool:
    """Constant-time check of the secret Telegram echoes; an unset secret refuses all."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def register(app: Flask, runtime: Runtime) -> None:
    """Add POST /telegram/webhook when Telegram is configured."""
    if not runtime.settings.telegram_enabled:
        return
    if not runtime.settings.telegram_webhook_secret:
        log.warning(
            "TELEGRAM_WEBHOOK_SECRET is empty: the webhook refuses every update "
            "(set it, or use `creneau telegram poll`)"
        )
    app.add_url_rule(WEBHOOK_PATH, "telegram_webhook", _webhook_view(runtime), methods=["POST"])


def _webhook_view(runtime: Runtime) -> Callable[[], tuple[str, int]]:
    def telegram_webhook() -> tuple[str, int]:
        if not secret_ok(
            runtime.settings.telegram_webhook_secret, request.headers.get(SECRET_HEADER)
        ):
            return "forbidden", 403
        update = parse_update(request.get_json(silent=True))
        if update is None:  # acknowledged: Telegram would otherwise deliver it again and again
            return "ignored", 200
        return handle_safely(runtime, update)

    return telegram_webhook


def parse_update(data: Any) -> Update | None:
    """A message or callback update as PTB objects; None for anything else or anything it
    cannot read (another update kind, an old or odd shape)."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        log.info("telegram: a body without an update id acknowledged and ignored")
        return None
    wanted = {k: data[k] for k in ALLOWED_UPDATES if k in data}
    if not wanted:
        return None
    try:
        return Update.de_json({"update_id": data["update_id"], **wanted}, None)
    except Exception as exc:  # PTB raises many types on shapes it does not know
        log.info("telegram: an update it cannot parse acknowledged (%s)", type(exc).__name__)
        return None


def handle_safely(runtime: Runtime, update: Update) -> tuple[str, int]:
    """Acknowledge; a database outage gets 503 so that Telegram delivers the update again."""
    try:
        handle_update(runtime, update)
    except AddressError:
        log.info("telegram update with an unusable chat id ignored")
    except SQLAlchemyError as exc:
        log.error("telegram update not stored: %s", type(exc).__name__)
        return "unavailable", 503
    return "ok", 200


# ---------------------------------------------------------------- the sender


def _seconds(exc: RetryAfter) -> float:
    """retry_after in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError, op: str) -> SendOutcome:
    """A Bot API error as a send outcome, with an error code and never any content."""
    if isinstance(exc, RetryAfter):
        return SendOutcome(Result.RETRY, retry_after=_seconds(exc), error="telegram:429")
    if isinstance(exc, Forbidden):
        return SendOutcome(Result.UNREACHABLE, error="telegram:403")
    if isinstance(exc, BadRequest):
        if op == "edit" and "not modified" in exc.message.lower():
            return SendOutcome(Result.SENT)
        return SendOutcome(Result.PERMANENT, error="telegram:400")
    if isinstance(exc, TimedOut):
        return SendOutcome(Result.RETRY, error="telegram:timeout")
    return SendOutcome(Result.RETRY, error=f"telegram:{type(exc).__name__}"[:60])


class TelegramSender:
    """Sends queued Telegram payloads through the Bot API (one per process, in its loop)."""

    channel = CHANNEL

    def __init__(
        self,
        token: str,
        api_base_url: str = "https://api.telegram.org",
        timeout: float = 10.0,
        pool_size: int = 32,
    ) -> None:
        # PTB's documented opt-in: time periods as timedelta, without a deprecation warning
        # on every 429 (`_seconds` reads both forms)
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._request = HTTPXRequest(
            connection_pool_size=pool_size,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=timeout,
            pool_timeout=timeout,
        )
        self.bot = Bot(
            token,
            base_url=f"{api_base_url.rstrip('/')}/bot",
            request=self._request,
            get_updates_request=self._request,
        )
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Any) -> TelegramSender:
        return cls(settings.telegram_bot_token, settings.telegram_api_base_url)

    async def send(self, address: str, payload: Payload) -> SendOutcome:
        """Perform one queued operation and say how it went."""
        if not self._ready:
            await self._request.initialize()
            self._ready = True
        op = payload.get("op", "send")
        try:
            await self._call(int(address), op, payload)
        except TelegramError as exc:
            return classify(exc, op)
        except (KeyError, TypeError, ValueError):
            return SendOutcome(Result.PERMANENT, error="telegram:bad_payload")
        return SendOutcome(Result.SENT)

    async def _call(self, chat_id: int, op: str, payload: Payload) -> None:
        bot = self.bot
        if op == "send":
            await bot.send_message(
                chat_id, payload["text"], reply_markup=keyboard(_buttons(payload))
            )
        elif op == "answer":
            await bot.answer_callback_query(payload["callback_query_id"])
        elif op == "edit" and payload.get("text"):
            await bot.edit_message_text(
                payload["text"], chat_id=chat_id, message_id=int(payload["message_id"])
            )
        elif op == "edit":
            await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=int(payload["message_id"])
            )
        elif op == "leave":
            await bot.leave_chat(chat_id)
        else:
            raise ValueError("unknown op")

    async def close(self) -> None:
        if self._ready:
            await self._request.shutdown()
            self._ready = False


def _buttons(payload: Payload) -> list[list[str]]:
    """[[label, token]...]; a Rendered dict's `choices` ([token, label]) is accepted too."""
    if "buttons" in payload:
        return [list(b) for b in payload["buttons"]]
    return [[label, token] for token, label in payload.get("choices", ())]

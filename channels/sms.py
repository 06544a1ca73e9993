"""The SMS channel (Twilio): the inbound webhook, answered synchronously with TwiML.

Every request is authenticated with Twilio's signature against the configured public URL
(behind a proxy the request's own URL is not what Twilio signed) before anything is read.
Each reply of a turn is its own SMS (one TwiML `<Message>`), folded to GSM-7 and capped in
length; a picture or a voice note without text (MMS) gets a "text only" answer. Nothing
personal is logged.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from xml.sax.saxutils import escape

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bot.dialog import MENU_IDS
from bot.engine import notice_text
from bot.gsm import segments, to_gsm7, truncate_to_segments
from bot.i18n import Catalogs
from bot.messages import Choice, Inbound, Rendered, Reply, Text
from bot.practice import LANGUAGES, Practice
from channels.runtime import Runtime
from store.address import AddressError
from store.models import utcnow
from store.ratelimit import RateLimiter

log = logging.getLogger(__name__)
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

PATH = "/sms/twilio"
CHANNEL = "sms"
MAX_INBOUND_CHARS = 1600  # Twilio's own cap on a concatenated SMS
MAX_SEGMENTS = 6  # a safety cap: dialog replies stay within 2 (tested), summaries may be longer
FALLBACK_APOLOGY = {  # when even the catalogs fail
    "fr": "Désolé, un problème technique est survenu. Réessayez plus tard.",
    "en": "Sorry, something went wrong on our side. Please try again later.",
}


def sms_text(texts: Iterable[str]) -> str:
    """Texts as one SMS body: blank-line separated, GSM-7 folded, capped."""
    body = "\n\n".join(t for t in texts if t)
    return truncate_to_segments(to_gsm7(body), MAX_SEGMENTS) if body else ""


def render(replies: Iterable[Rendered]) -> list[str]:
    """The SMS bodies of a turn, one per reply, choices as `N. label` lines."""
    return [body for r in replies if (body := sms_text([r.as_lines()]))]


def first_reply_segments(practice: Practice, catalogs: Catalogs) -> dict[str, int]:
    """The SMS segments of a newcomer's first reply at its shortest (the short notice and
    the menu), per language: what `creneau check` holds to the budget of two."""
    menu = Reply(
        (notice_text(practice, "sms"), Text("menu.prompt")),
        tuple(Choice(cid, Text(f"choice.{cid}")) for cid in MENU_IDS),
    )
    return {
        lang: segments(to_gsm7(catalogs.render(menu, lang, practice.tz).as_lines()))
        for lang in LANGUAGES
    }


def twiml(bodies: Iterable[str]) -> Response:
    """One `<Message>` per body, or an empty `<Response />` when there is none: the TwiML
    twilio's MessagingResponse writes, without building an element tree per answer."""
    messages = "".join(f"<Message>{escape(body)}</Message>" for body in bodies)
    answer = f"<Response>{messages}</Response>" if messages else "<Response />"
    return Response(XML_DECLARATION + answer, status=200, mimetype="text/xml")


def forbidden() -> Response:
    """403 with no body hint: the caller is not Twilio (or the URL/token is misconfigured)."""
    return Response("forbidden\n", status=403, mimetype="text/plain")


class SmsWebhook:
    """`POST /sms/twilio`: authenticate, rate-limit, run one turn, answer TwiML."""

    def __init__(self, runtime: Runtime, limiter: RateLimiter | None = None) -> None:
        self.runtime = runtime
        self.limiter = limiter or RateLimiter()
        self.validator = RequestValidator(runtime.settings.twilio_auth_token)
        self.public_url = (
            runtime.settings.public_base_url + PATH if runtime.settings.public_base_url else ""
        )

    def __call__(self) -> Response:
        """Answer one webhook: 403 unless signed by Twilio, else always 200 with TwiML."""
        if not self._authentic():
            log.warning("sms webhook: refused a request with a missing or bad signature")
            return forbidden()
        try:
            return twiml(self._answer())
        except Exception as exc:  # the edge: log without data, apologise, acknowledge
            log.error("sms webhook failed: %s", _where(exc))
            return twiml([self._apology()])

    # ------------------------------------------------------------ steps

    def _authentic(self) -> bool:
        """Whether X-Twilio-Signature matches the form under the configured public URL."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        url = self.public_url or request.url
        return bool(self.validator.validate(url, request.form, signature))

    def _answer(self) -> list[str]:
        """The SMS bodies to answer with (none for silence)."""
        form = request.form
        inbound = Inbound(
            channel=CHANNEL,
            sender=form.get("From", ""),
            text=form.get("Body", "")[:MAX_INBOUND_CHARS],
            at=utcnow(),
            message_id=form.get("MessageSid", "")[:64],
            media=_media_count(form.get("NumMedia")) > 0,
        )
        try:
            turn = self.runtime.assistant.handle(inbound, limiter=self.limiter)
        except AddressError:
            log.info("sms webhook: sender is not a phone number; ignored")
            return []
        return render(turn.replies)

    def _apology(self) -> str:
        """A short polite apology in the practice language, even if the catalogs are broken."""
        lang = "fr"
        try:
            lang = self.runtime.practice.locale
            return sms_text([self._say("sms.error", lang)])
        except Exception:
            return FALLBACK_APOLOGY.get(lang, FALLBACK_APOLOGY["fr"])

    def _say(self, key: str, lang: str) -> str:
        """A channel-level catalog text (not from the engine) in `lang`."""
        practice = self.runtime.practice
        text = Text(key, {"contact": practice.contact, "practice": practice.name})
        return self.runtime.catalogs.text(text, lang, practice.tz)


def _media_count(raw: str | None) -> int:
    """Twilio's NumMedia (pictures, audio attached to an MMS); 0 when absent or odd."""
    return int(raw) if raw and raw.isdigit() else 0


def _where(exc: BaseException) -> str:
    """Exception type and innermost frame: enough to debug, never the message (it may hold data)."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return type(exc).__name__ + place


def register(app: Flask, runtime: Runtime, limiter: RateLimiter | None = None) -> None:
    """Add `POST /sms/twilio` when Twilio credentials are configured."""
    settings = runtime.settings
    if not settings.sms_enabled:
        return
    if not settings.public_base_url:
        log.warning(
            "PUBLIC_BASE_URL is not set: Twilio signatures are checked against the "
            "request URL, which is wrong behind a proxy"
        )
    webhook = SmsWebhook(runtime, limiter)
    app.add_url_rule(PATH, "sms_twilio", webhook, methods=["POST"])

"""The SMS channel (Twilio): the inbound webhook, answered synchronously with TwiML.

Every request is authenticated with Twilio's signature against the configured public URL
(behind a proxy the request's own URL is not what Twilio signed) before anything is read.
Each reply of a turn is its own SMS (one TwiML `<Message>`), folded to GSM-7 and capped in
length; a picture or a voice note without text (MMS) gets a "text only" answer. Nothing
personal is logged.

The webhook is the hot path of the service: a form-encoded POST with a declared length is
answered by a WSGI layer in front of Flask (`SmsFastPath`), which reads the form and
writes the answer itself; anything else on the path (chunked bodies, another content
type, no configured public URL, another method) goes through Flask's route, which gives
the same answers.
"""

from __future__ import annotations

import base64
import hmac
import io
import logging
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from flask import Flask, Response, request
from twilio.request_validator import add_port, remove_port

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
TWIML_TYPE = "text/xml; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"

Form = Mapping[str, Sequence[str]]  # a parsed form: every value of each field, in order
StartResponse = Callable[..., Any]

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


def twiml(bodies: Iterable[str]) -> str:
    """One `<Message>` per body, or an empty `<Response />` when there is none: the TwiML
    twilio's MessagingResponse writes, without building an element tree per answer."""
    messages = "".join(f"<Message>{escape(body)}</Message>" for body in bodies)
    answer = f"<Response>{messages}</Response>" if messages else "<Response />"
    return XML_DECLARATION + answer


class Answer:
    """A webhook answer: status line, content type and body, for Flask or plain WSGI."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: str, content_type: str, body: str) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body


FORBIDDEN = Answer("403 FORBIDDEN", TEXT_TYPE, "forbidden\n")  # no hint for whoever forged it


class Signature:
    """Twilio's request signature for one URL: base64 HMAC-SHA1, keyed with the auth token,
    of the URL followed by each field name and value, names sorted, each name's distinct
    values sorted. Twilio signs the URL with or without its default port: the form as
    configured is tried first, the other only when it does not match (twilio's own
    RequestValidator, which the tests hold this to, always computes both)."""

    __slots__ = ("token", "urls")

    def __init__(self, token: str, url: str) -> None:
        parsed = urlparse(url)
        self.token = token.encode()
        self.urls = tuple(dict.fromkeys((url, remove_port(parsed), add_port(parsed))))

    def valid(self, form: Form, signature: str) -> bool:
        """Whether `signature` is Twilio's for this form posted to this URL."""
        if not signature or not self.token:
            return False
        given = signature.encode()
        signed = "".join(name + value for name in sorted(form) for value in sorted(set(form[name])))
        for url in self.urls:
            mac = hmac.digest(self.token, (url + signed).encode(), "sha1")
            if hmac.compare_digest(base64.b64encode(mac), given):
                return True
        return False


class SmsWebhook:
    """`POST /sms/twilio`: authenticate, rate-limit, run one turn, answer TwiML."""

    def __init__(self, runtime: Runtime, limiter: RateLimiter | None = None) -> None:
        self.runtime = runtime
        self.limiter = limiter or RateLimiter()
        token = runtime.settings.twilio_auth_token
        self.token = token
        self.public_url = (
            runtime.settings.public_base_url + PATH if runtime.settings.public_base_url else ""
        )
        self.signature = Signature(token, self.public_url) if self.public_url else None

    def __call__(self) -> Response:
        """The Flask view (requests the fast path passes on): the same answer."""
        form = request.form.to_dict(flat=False)
        signature = self.signature or Signature(self.token, request.url)
        answer = self.answer(form, request.headers.get("X-Twilio-Signature", ""), signature)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    def answer(self, form: Form, given: str, signature: Signature) -> Answer:
        """Answer one webhook: 403 unless `given` is Twilio's signature of the form (for
        the URL `signature` holds), else always 200 with TwiML."""
        if not signature.valid(form, given):
            log.warning("sms webhook: refused a request with a missing or bad signature")
            return FORBIDDEN
        try:
            return Answer("200 OK", TWIML_TYPE, twiml(self._bodies(form)))
        except Exception as exc:  # the edge: log without data, apologise, acknowledge
            log.error("sms webhook failed: %s", _where(exc))
            return Answer("200 OK", TWIML_TYPE, twiml([self._apology()]))

    # ------------------------------------------------------------ steps

    def _bodies(self, form: Form) -> list[str]:
        """The SMS bodies to answer with (none for silence)."""
        inbound = Inbound(
            channel=CHANNEL,
            sender=_first(form, "From"),
            text=_first(form, "Body")[:MAX_INBOUND_CHARS],
            at=utcnow(),
            message_id=_first(form, "MessageSid")[:64],
            media=_media_count(_first(form, "NumMedia")) > 0,
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


class SmsFastPath:
    """WSGI in front of Flask: a form-encoded `POST /sms/twilio` with a declared length
    goes straight to the webhook (no request context, no routing, no form parser: a
    third of a turn's Python on the path Twilio calls all day). Everything else on that
    path, and every other path, goes on to Flask. It sits behind the app's body limit
    (channels.web.BodyLimit), which refuses a declared length over 256 KB first."""

    def __init__(self, app: Callable[..., Iterable[bytes]], webhook: SmsWebhook) -> None:
        self.app = app
        self.webhook = webhook

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        signature = self.webhook.signature
        form = self._form(environ) if environ.get("PATH_INFO") == PATH and signature else None
        if form is None or signature is None:
            return self.app(environ, start_response)
        answer = self.webhook.answer(form, environ.get("HTTP_X_TWILIO_SIGNATURE", ""), signature)
        body = answer.body.encode()
        start_response(
            answer.status,
            [("Content-Type", answer.content_type), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _form(self, environ: dict[str, Any]) -> Form | None:
        """The posted form, or None when Flask should take the request (then with its
        body intact)."""
        length = environ.get("CONTENT_LENGTH") or ""
        kind = (environ.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower()
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or kind != FORM_TYPE
            or not length.isdigit()  # chunked: Flask reads it within its own limit
        ):
            return None
        raw = environ["wsgi.input"].read(int(length))
        form = parse_form(raw)
        if form is None:
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
        return form


def parse_form(raw: bytes) -> Form | None:
    """A form-encoded body as Flask reads it (blank values kept), or None when it is not
    UTF-8 throughout (Flask's parser has its own way with such bodies)."""
    try:
        return parse_qs(raw.decode(), keep_blank_values=True, errors="strict")
    except ValueError:
        return None


def _first(form: Form, name: str) -> str:
    """A field's first value, "" when absent."""
    values = form.get(name)
    return values[0] if values else ""


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
    app.wsgi_app = SmsFastPath(app.wsgi_app, webhook)  # type: ignore[method-assign]

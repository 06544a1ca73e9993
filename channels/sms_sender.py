"""The SMS channel's outbound side: one queued payload, one Twilio Messages call.

The Twilio client is blocking, so each send runs in a worker thread. Its HTTP client is
rebased onto `TWILIO_API_BASE_URL` (tests, local emulation) and keeps the `Retry-After` of
the last answer per thread. Outcomes carry Twilio error codes only, never content or number.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.messages import Rendered
from channels.outbound import Result, SendOutcome
from channels.settings import Settings
from channels.sms import sms_text

log = logging.getLogger(__name__)

TWILIO_DEFAULT_BASE = "https://api.twilio.com"
TIMEOUT_SECONDS = 15.0
UNSUBSCRIBED = 21610  # the recipient replied STOP at the carrier / Twilio level
PERMANENT_CODES = frozenset({21211, 21408, 21614, UNSUBSCRIBED})  # invalid, region, not mobile


class RebasedHttpClient(TwilioHttpClient):
    """Twilio's HTTP client with every request sent to another origin (scheme and host)."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout, logger=logging.getLogger("twilio.http_client"))
        parts = urlsplit(base_url)
        self.origin = (parts.scheme, parts.netloc)
        self.rebase = base_url.rstrip("/") != TWILIO_DEFAULT_BASE
        self._last = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send to the configured origin; remember Retry-After for this thread."""
        if self.rebase:
            parts = urlsplit(url)
            url = urlunsplit((*self.origin, parts.path, parts.query, parts.fragment))
        self._last.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        self._last.retry_after = _seconds(response.headers.get("Retry-After"))
        return response

    @property
    def retry_after(self) -> float | None:
        """Retry-After of this thread's last answer, in seconds, if the server gave one."""
        return getattr(self._last, "retry_after", None)


class TwilioSender:
    """`channels.outbound.Sender` for SMS through the Twilio Messages API."""

    channel = "sms"

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        if not settings.sms_enabled:
            raise ValueError("SMS needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not (settings.twilio_messaging_service_sid or settings.twilio_from_number):
            raise ValueError("SMS needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
        self.settings = settings
        self.http = RebasedHttpClient(settings.twilio_api_base_url)
        self.client = client or Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http
        )

    async def send(self, address: str, payload: dict[str, Any]) -> SendOutcome:
        """Send one payload (`{"op": "send", "text": ..., "choices": [...]}`) to a number."""
        body = payload_text(payload)
        if not body:
            log.error("sms sender: payload without text (op=%s)", str(payload.get("op"))[:16])
            return SendOutcome(Result.PERMANENT, error="bad_payload")
        return await asyncio.to_thread(self._send_blocking, address, body)

    async def close(self) -> None:
        """Release pooled connections."""
        if self.http.session is not None:
            self.http.session.close()

    def _send_blocking(self, address: str, body: str) -> SendOutcome:
        try:
            self.client.messages.create(to=address, body=body, **self._sender())
        except (TwilioRestException, TwilioServiceException) as exc:  # legacy and RFC 9457 errors
            return self._failed(exc.status, exc.code)
        except RequestException as exc:  # timeouts, refused or reset connections
            log.warning("sms sender: transport error %s; will retry", type(exc).__name__)
            return SendOutcome(Result.RETRY, error=type(exc).__name__)
        return SendOutcome(Result.SENT)

    def _sender(self) -> dict[str, str]:
        """Messaging Service when configured (number pool, compliance), else the From number."""
        if self.settings.twilio_messaging_service_sid:
            return {"messaging_service_sid": self.settings.twilio_messaging_service_sid}
        return {"from_": self.settings.twilio_from_number}

    def _failed(self, status: int, code: int | None) -> SendOutcome:
        coded = code and code != status  # without a code in the body, twilio repeats the status
        error = f"twilio:{code}" if coded else f"http:{status}"
        log.warning("sms sender: Twilio answered %s (%s)", status, error)
        return SendOutcome(classify(status, code), self.http.retry_after, error)


def classify(status: int, code: int | None) -> Result:
    """What a Twilio error means for the outbox row."""
    if code == UNSUBSCRIBED:
        return Result.UNREACHABLE
    if code in PERMANENT_CODES:
        return Result.PERMANENT
    if status == 429 or status >= 500:
        return Result.RETRY
    return Result.PERMANENT


def payload_text(payload: dict[str, Any]) -> str:
    """The SMS body of a queued payload, rendered like the webhook's replies."""
    if payload.get("op", "send") != "send" or not isinstance(payload.get("text"), str):
        return ""
    rendered = Rendered.from_dict(
        {"text": payload["text"], "choices": payload.get("choices") or ()}
    )
    return sms_text([rendered.as_lines()])


def _seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

"""A local fake of the Telegram Bot API: records every call, answers like Telegram, and can
be told to fail (429 with retry_after, 500, 403, 400) for the next calls."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() on arrival

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of an inline keyboard, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [
            (b["text"], b["callback_data"])
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    method: str | None = None  # only this method, or any


@dataclass
class FakeBotAPI:
    """Start with `with FakeBotAPI() as api:`; point TELEGRAM_API_BASE_URL at `api.base`."""

    delay: float = 0.0  # seconds before each answer
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # served once by getUpdates
    webhook_url: str = ""  # set by setWebhook, reported by getWebhookInfo

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._msg_id = 1000
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBotAPI:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(
        self,
        status: int,
        description: str,
        times: int = 1,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` matching calls with this error."""
        with self.lock:
            self.failures += [Failure(status, description, retry_after, method)] * times

    def sent(self, method: str = "sendMessage", chat_id: int | str | None = None) -> list[Call]:
        with self.lock:
            return [
                c
                for c in self.calls
                if c.method == method and (chat_id is None or c.chat_id == str(chat_id))
            ]

    def wait_for(self, predicate: Any, timeout: float = 8.0) -> bool:
        """Wait until predicate() is true (polling), or the timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    # ------------------------------------------------------------ server side

    def _answer(
        self, method: str, params: dict[str, Any], arrived: float
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append(Call(method, params, arrived))
            failure = next((f for f in self.failures if f.method in (None, method)), None)
            if failure is not None:
                self.failures.remove(failure)
            self._msg_id += 1
            mid = self._msg_id
        if failure is not None:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, body
        if method == "getMe":
            return 200, {
                "ok": True,
                "result": {"id": 123, "is_bot": True, "first_name": "Bot", "username": "fake_bot"},
            }
        if method in ("sendMessage", "editMessageText"):
            return 200, {
                "ok": True,
                "result": {
                    "message_id": int(params.get("message_id") or mid),
                    "date": int(time.time()),
                    "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                    "text": params.get("text", ""),
                },
            }
        if method in ("setWebhook", "deleteWebhook"):
            with self.lock:
                self.webhook_url = str(params.get("url", "")) if method == "setWebhook" else ""
            return 200, {"ok": True, "result": True}
        if method == "getWebhookInfo":
            return 200, {
                "ok": True,
                "result": {
                    "url": self.webhook_url,
                    "has_custom_certificate": False,
                    "pending_update_count": 0,
                },
            }
        if method == "getUpdates":
            with self.lock:
                updates, self.updates = self.updates, []
            if not updates:
                time.sleep(0.05)
            return 200, {"ok": True, "result": updates}
        return 200, {"ok": True, "result": True}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params = _params(raw, self.headers.get("Content-Type", ""))
                method = urllib.parse.urlparse(self.path).path.rstrip("/").split("/")[-1]
                arrived = time.monotonic()
                if api.delay:
                    time.sleep(api.delay)
                status, body = api._answer(method, params, arrived)
                out = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST

        return Handler


def _params(raw: bytes, ctype: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in ctype:
        params = json.loads(raw)
    else:
        params = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
    for key in ("reply_markup", "allowed_updates"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params

"""The Flask app factory: everything injected, nothing built at import time.

Beyond the channels' webhooks it serves `/healthz` (bounded: it answers within a second
whatever the database or the other requests are doing) and `/metrics` (Prometheus, only
with the bearer token), and refuses bodies over 256 KB before reading them.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Flask, Response, jsonify, request
from gunicorn.errors import AppImportError
from sqlalchemy.exc import SQLAlchemyError

from channels.desk import register as register_desk
from channels.metrics import CONTENT_TYPE, DatabaseCollector, exposition
from channels.notice import blueprint as notice_blueprint
from channels.runtime import Runtime
from channels.sms import register as register_sms
from channels.telegram import register as register_telegram

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # every webhook body is far smaller; the servers refuse more unread
HEALTH_BUDGET = 0.8  # seconds /healthz waits for the database before answering "down"

StartResponse = Callable[..., Any]


def create_app(runtime: Runtime | None = None) -> Flask:
    """Build the web app over a runtime (from the environment when none is given)."""
    runtime = runtime or Runtime.from_env()
    app = Flask("creneau")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["creneau"] = runtime
    probe = HealthProbe(runtime)
    app.add_url_rule("/healthz", "healthz", probe.view)
    app.add_url_rule("/metrics", "metrics", _metrics_view(runtime))
    app.register_blueprint(notice_blueprint(runtime))
    register_sms(app, runtime)
    register_telegram(app, runtime)
    register_desk(app, runtime)
    # outermost, in front of the SMS fast path too: nothing reads a body over the limit
    app.wsgi_app = BodyLimit(app.wsgi_app, MAX_BODY)  # type: ignore[method-assign]
    return app


class BodyLimit:
    """Refuse a declared body over the limit with 413 before anything reads it (and close
    the connection, so no server drains it); Flask's own limit covers chunked bodies."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.limit:
            body = b"request body too large\n"
            start_response(
                "413 Request Entity Too Large",
                [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ],
            )
            return [body]
        return self.app(environ, start_response)


class HealthProbe:
    """`GET /healthz`: 200 when the database answers, 503 otherwise, in under a second.

    The ping runs on its own connection (not the service's pool) with its own short
    timeout, in a small pool of its own threads, and the answer never waits longer than
    HEALTH_BUDGET for it.
    """

    def __init__(self, runtime: Runtime, budget: float = HEALTH_BUDGET) -> None:
        self.runtime = runtime
        self.budget = budget
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz")

    def ok(self) -> bool:
        future = self._pool.submit(self._ping)
        try:
            return future.result(timeout=self.budget)
        except FutureTimeout:
            log.warning("health check: the database did not answer within %.1f s", self.budget)
            return False

    def _ping(self) -> bool:
        try:
            return self.runtime.db.ping()
        except SQLAlchemyError as exc:
            log.warning("health check: database error %s", type(exc).__name__)
            return False

    def view(self) -> tuple[Response, int]:
        ok = self.ok()
        return jsonify(status="ok" if ok else "down"), 200 if ok else 503


def _metrics_view(runtime: Runtime) -> Callable[[], Response]:
    """`GET /metrics`: 404 when CRENEAU_METRICS_TOKEN is unset, 401 without it as a bearer
    token (compared in constant time), else the Prometheus text format."""

    def metrics() -> Response:
        token = runtime.settings.metrics_token
        if not token:
            return Response("not found\n", status=404, mimetype="text/plain")
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            return Response(
                "unauthorized\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        collector = DatabaseCollector(runtime.db, runtime.practice.id)
        return Response(exposition(collector), status=200, content_type=CONTENT_TYPE)

    return metrics


def wsgi(no_channels: bool = False) -> Flask:
    """Entry point for gunicorn: `gunicorn 'channels.web:wsgi()'` (or `wsgi(no_channels=True)`
    for a deployment without patient channels). A configuration production refuses stops
    the worker with one line per problem, never a traceback."""
    from channels.preflight import startup_runtime
    from channels.runtime import configure_logging, settle
    from channels.settings import SettingsError

    configure_logging()
    try:
        runtime = startup_runtime(no_channels=no_channels)
        app = create_app(runtime)
        settle(runtime)
        return app
    except SettingsError as exc:
        # gunicorn prints an AppImportError's message alone and stops: no traceback
        raise AppImportError("\n".join(error_lines(exc))) from None


def error_lines(exc: Exception) -> list[str]:
    """A refused configuration as the lines an operator reads."""
    return [f"error: {line}" for line in str(exc).splitlines()]

"""The practice desk: a server-rendered web desk behind a password and a TOTP second
factor, on the service's own host, the only place where a patient's name is shown with a
consultation type or a preparation answer. Plus the practitioners' calendar feeds.

`register(app, runtime)` adds the blueprint under /desk and the feed at /ical; sessions are
signed with CRENEAU_SECRET_KEY, forms carry Flask-WTF CSRF tokens.
"""

from __future__ import annotations

import logging

from flask import Flask, Request, render_template
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError

from channels.desk import admin, agenda, auth, feed, patients  # noqa: F401  (register views)
from channels.desk.base import bp, csrf
from channels.runtime import Runtime
from store.desk import MAX_SESSION

log = logging.getLogger(__name__)


def register(app: Flask, runtime: Runtime) -> None:
    """Add the desk and the calendar feed to the app (not without a secret key)."""
    settings = runtime.settings
    if not settings.secret_key:
        log.error("CRENEAU_SECRET_KEY is not set: the desk is off")
        return
    app.secret_key = settings.secret_key
    app.session_interface = DeskOnlySessions()
    app.config.update(
        SESSION_COOKIE_NAME="creneau_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        SESSION_COOKIE_PATH="/desk",
        PERMANENT_SESSION_LIFETIME=MAX_SESSION,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked for every desk POST, not for the webhooks
        WTF_CSRF_SSL_STRICT=True,
    )
    csrf.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(feed.ical)
    app.register_error_handler(CSRFError, _csrf_refused)


class DeskOnlySessions(SecureCookieSessionInterface):
    """Signed session cookies for the desk only: a webhook never opens or sets one (and
    does not pay for it)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/desk"):
            return self.null_session_class()
        return super().open_session(app, request)


def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    """A POST without a valid CSRF token: refused before anything changed."""
    return render_template("desk/error.html", key="common.expired"), 400

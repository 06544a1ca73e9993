"""The Flask app factory: everything injected, nothing built at import time."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError

from channels.desk import register as register_desk
from channels.notice import blueprint as notice_blueprint
from channels.runtime import Runtime
from channels.sms import register as register_sms
from channels.telegram import register as register_telegram

log = logging.getLogger(__name__)


def create_app(runtime: Runtime | None = None) -> Flask:
    """Build the web app over a runtime (from the environment when none is given)."""
    runtime = runtime or Runtime.from_env()
    app = Flask("creneau")
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.extensions["creneau"] = runtime

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        try:
            ok = runtime.db.ping()
        except SQLAlchemyError:
            log.exception("health check: database error")
            ok = False
        return jsonify(status="ok" if ok else "down"), 200 if ok else 503

    app.register_blueprint(notice_blueprint(runtime))
    register_sms(app, runtime)
    register_telegram(app, runtime)
    register_desk(app, runtime)
    return app


def wsgi() -> Flask:
    """Entry point for gunicorn: `gunicorn 'channels.web:wsgi()'`."""
    from channels.runtime import configure_logging

    configure_logging()
    return create_app()

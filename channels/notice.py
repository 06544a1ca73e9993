"""The full patient notice as a public page: `GET /confidentialite` (French) and
`GET /privacy` (English), built once from the practice file and the settings."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, Response

from channels.register import notice_page
from channels.runtime import Runtime

PATHS = {"fr": "/confidentialite", "en": "/privacy"}


def blueprint(runtime: Runtime) -> Blueprint:
    """The notice pages; rendered at the first request of each language, then reused."""
    bp = Blueprint("notice", __name__)

    @cache
    def body(lang: str) -> str:
        return notice_page(runtime.practice, runtime.settings, lang)

    def view(lang: str) -> Response:
        response = Response(body(lang), mimetype="text/html")
        response.headers["Content-Language"] = lang
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    for lang, path in PATHS.items():
        bp.add_url_rule(path, f"notice_{lang}", lambda lang=lang: view(lang), methods=["GET"])
    return bp

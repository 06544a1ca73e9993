"""What every desk view shares: the blueprint, the signed-in user, roles, the language,
rendering, auditing.

Every page but the login needs a live session (else a redirect to the login); every POST
carries a valid CSRF token (Flask-WTF checks it before the view runs, so a forged POST
changes nothing). Pages that show personal data are never cached by the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect

from bot.practice import Practice, Practitioner
from channels.desk import i18n
from channels.runtime import Runtime
from store.desk import session_user
from store.models import DeskUser

F = TypeVar("F", bound=Callable[..., Any])
TOKEN = "desk_token"
LANG = "desk_lang"
PUBLIC_ENDPOINTS = frozenset({"desk.login", "desk.static"})

bp = Blueprint(
    "desk",
    __name__,
    url_prefix="/desk",
    template_folder="templates",
    static_folder="static",
)
csrf = CSRFProtect()


def runtime() -> Runtime:
    """The runtime the app was built over."""
    rt: Runtime = current_app.extensions["creneau"]
    return rt


def practice() -> Practice:
    return runtime().practice


def now() -> datetime:
    """The service's clock (the assistant's: tests move it)."""
    return runtime().assistant.clock()


def today() -> date:
    return now().astimezone(practice().tz).date()


def lang() -> str:
    """The desk's language: asked for (?lang=), else remembered, else the practice's."""
    chosen: str = g.get("lang") or i18n.pick(session.get(LANG), practice().locale)
    return chosen


def t(key: str, **params: object) -> str:
    return i18n.t(key, lang(), **params)


def user() -> DeskUser:
    """The signed-in user (views behind `before_request` always have one)."""
    found: DeskUser | None = g.get("desk_user")
    if found is None:
        abort(401)
    return found


def actor() -> str:
    """How the audit log names the signed-in desk user."""
    return f"desk:{user().email}"[:64]


# ---------------------------------------------------------------- roles


@dataclass(frozen=True)
class Access:
    """What a desk user may see and do."""

    user: DeskUser

    @property
    def admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def staff(self) -> bool:
        """Secretaries and admins: every agenda, the patients' requests."""
        return self.user.role in ("admin", "secretary")

    def practitioners(self) -> list[Practitioner]:
        """The practitioners whose agenda this user may see."""
        everyone = list(practice().practitioners)
        if self.staff:
            return everyone
        return [p for p in everyone if p.id == self.user.practitioner_id]

    def may_see(self, practitioner_id: str) -> bool:
        return any(p.id == practitioner_id for p in self.practitioners())

    def sees_answers_of(self, practitioner_id: str) -> bool:
        """Preparation answers: only the practitioner themselves reads them."""
        return bool(self.user.practitioner_id) and self.user.practitioner_id == practitioner_id

    def manages_feed_of(self, practitioner_id: str) -> bool:
        return self.admin or self.user.practitioner_id == practitioner_id


def access() -> Access:
    return Access(user())


def staff_only(view: F) -> F:
    """Secretaries and admins only (403 for a practitioner)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not access().staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_only(view: F) -> F:
    """Admins only."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not access().admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def practitioner_or_404(practitioner_id: str | None) -> Practitioner:
    """The practitioner asked for, if this user may see them; else 403/404. None: the
    first one the user may see."""
    allowed = access().practitioners()
    if not allowed:
        abort(403)
    if not practitioner_id:
        return allowed[0]
    try:
        found = practice().practitioner(practitioner_id)
    except KeyError:
        abort(404)
    if not access().may_see(found.id):
        abort(403)
    return found


# ---------------------------------------------------------------- rendering and audit


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, **context), status


def here_with(**params: str) -> str:
    """The current URL with some query parameters replaced."""
    args = request.args.to_dict()
    args.update(params)
    return f"{request.path}?{urlencode(args)}"


def parse_day(value: str | None) -> date:
    """A `YYYY-MM-DD` query value, or today when absent or malformed."""
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return today()


# ---------------------------------------------------------------- every request


@bp.before_request
def _before() -> Any:
    """Language, CSRF on every POST, then the session (or a redirect to the login)."""
    asked = request.args.get("lang")
    if asked in i18n.LANGS:
        session[LANG] = asked
        g.lang = asked
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    rt = runtime()
    with rt.db.write() as db_session:
        found = session_user(db_session, rt.practice.id, session.get(TOKEN, ""), now())
    if found is None:
        ended = TOKEN in session
        session.pop(TOKEN, None)
        target = url_for("desk.login", ended=1) if ended else url_for("desk.login")
        return redirect(target, 303 if request.method == "POST" else 302)
    g.desk_user = found
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    """No caching of pages with personal data; a strict content policy; the referrer only
    within the desk's own origin (its URLs never leave it; Flask-WTF checks it on https)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.errorhandler(403)
def _forbidden(_error: Exception) -> Any:
    return render_template("desk/error.html", key="common.forbidden"), 403


@bp.errorhandler(404)
def _not_found(_error: Exception) -> Any:
    return render_template("desk/error.html", key="common.not_found"), 404


@bp.context_processor
def _globals() -> dict[str, Any]:
    """What every template may use."""
    signed_in = g.get("desk_user")
    tz = practice().tz

    def columns(items: list[dict[str, Any]]) -> list[str]:
        keys: list[str] = []
        for item in items:
            keys += [k for k in item if k not in keys]
        return keys

    return {
        "label": lambda key: i18n.field(key, lang()),
        "scalar": lambda item: i18n.value(item, lang(), tz),
        "columns": columns,
        "t": t,
        "lang": lang,
        "me": signed_in,
        "can": Access(signed_in) if signed_in is not None else None,
        "practice_name": practice().name,
        "here_with": here_with,
    }

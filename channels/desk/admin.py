"""For admins: the desk users (add, disable, enable, new second factor) and the audit log."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

import segno
from flask import abort, flash, redirect, request, url_for
from sqlmodel import col, select

from channels.desk import i18n
from channels.desk.base import actor, admin_only, bp, lang, now, practice, render, runtime, t, user
from channels.desk.forms import UserForm
from store import audit
from store.desk import (
    ROLES,
    DeskUserError,
    Enrolment,
    add_user,
    disable_user,
    enable_user,
    list_users,
    reset_second_factor,
)
from store.models import AuditEvent, DeskUser

AUDIT_PAGE = 100


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG data URI (scanned by the authenticator app)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def _users_page(enrolment: Enrolment | None = None, error: str | None = None) -> Any:
    rt = runtime()
    with rt.db.write() as db_session:
        users = list_users(db_session, rt.practice.id)
        audit.record(
            db_session, rt.practice.id, actor(), "desk_users_view", None, f"users={len(users)}"
        )
    tz = practice().tz
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "role": t(f"role.{u.role}"),
            "practitioner": u.practitioner_id or "",
            "active": u.disabled_at is None,
            "last_login": i18n.when(u.last_login_at, "stamp", lang(), tz)
            if u.last_login_at
            else "",
            "me": u.id == user().id,
        }
        for u in users
    ]
    enrol = None
    if enrolment is not None:
        enrol = {
            "email": enrolment.user.email,
            "uri": enrolment.uri,
            "secret": enrolment.secret,
            "qr": qr_svg(enrolment.uri),
        }
    return render(
        "desk/users.html",
        400 if error else 200,
        rows=rows,
        roles=ROLES,
        practitioners=practice().practitioners,
        enrol=enrol,
        error=error,
    )


@bp.get("/admin/users")
@admin_only
def users() -> Any:
    return _users_page()


@bp.post("/admin/users")
@admin_only
def user_add() -> Any:
    """Create a user; their second factor is shown once, to scan."""
    form = UserForm(request.form)
    rt = runtime()
    try:
        with rt.db.write() as db_session:
            enrolment = add_user(
                db_session,
                rt.vault,
                rt.practice,
                form.email.data or "",
                form.role.data or "",
                form.password.data or "",
                now(),
                form.practitioner.data or None,
            )
            audit.record(
                db_session,
                rt.practice.id,
                actor(),
                "desk_user_add",
                enrolment.user.id,
                f"role={enrolment.user.role}",
            )
    except DeskUserError as exc:
        return _users_page(error=str(exc))
    return _users_page(enrolment)


def _target(db_session: Any, user_id: str) -> DeskUser:
    found = db_session.get(DeskUser, user_id)
    if found is None or found.practice_id != practice().id:
        abort(404)
    return found


@bp.post("/admin/users/<user_id>/disable")
@admin_only
def user_disable(user_id: str) -> Any:
    if user_id == user().id:
        flash(t("users.self"), "error")
        return redirect(url_for("desk.users"), 303)
    rt = runtime()
    with rt.db.write() as db_session:
        target = _target(db_session, user_id)
        disable_user(db_session, target, now())
        audit.record(db_session, rt.practice.id, actor(), "desk_user_disable", target.id)
    flash(t("users.done"), "ok")
    return redirect(url_for("desk.users"), 303)


@bp.post("/admin/users/<user_id>/enable")
@admin_only
def user_enable(user_id: str) -> Any:
    rt = runtime()
    with rt.db.write() as db_session:
        target = _target(db_session, user_id)
        enable_user(db_session, target)
        audit.record(db_session, rt.practice.id, actor(), "desk_user_enable", target.id)
    flash(t("users.done"), "ok")
    return redirect(url_for("desk.users"), 303)


@bp.post("/admin/users/<user_id>/reset-2fa")
@admin_only
def user_reset(user_id: str) -> Any:
    """A new second factor (the old one stops working, sessions end); shown once."""
    rt = runtime()
    with rt.db.write() as db_session:
        target = _target(db_session, user_id)
        enrolment = reset_second_factor(db_session, rt.vault, rt.practice, target)
        audit.record(db_session, rt.practice.id, actor(), "desk_user_reset_2fa", target.id)
    return _users_page(enrolment)


# ---------------------------------------------------------------- the audit log


def _instant(value: str) -> datetime | None:
    """An aware ISO 8601 instant from the query, or None."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


@bp.get("/admin/audit")
@admin_only
def audit_log() -> Any:
    """The most recent events, newest first; filters by who and what; older pages."""
    who = request.args.get("actor", "").strip()[:64]
    what = request.args.get("action", "").strip()[:48]
    before = request.args.get("before", "")
    rt = runtime()
    query = select(AuditEvent).where(AuditEvent.practice_id == rt.practice.id)
    if who:
        query = query.where(col(AuditEvent.actor).contains(who))
    if what:
        query = query.where(AuditEvent.action == what)
    cutoff = _instant(before)
    if cutoff is not None:
        query = query.where(col(AuditEvent.at) < cutoff)
    query = query.order_by(col(AuditEvent.at).desc()).limit(AUDIT_PAGE)
    with rt.db.write() as db_session:
        events = list(db_session.exec(query))
        audit.record(
            db_session, rt.practice.id, actor(), "desk_audit_view", None, f"events={len(events)}"
        )
    tz = practice().tz
    rows = [
        (i18n.when(e.at, "stamp", lang(), tz), e.actor, e.action, e.subject or "", e.detail or "")
        for e in events
    ]
    older = events[-1].at.isoformat() if len(events) == AUDIT_PAGE else None
    return render("desk/audit.html", rows=rows, who=who, what=what, older=older)

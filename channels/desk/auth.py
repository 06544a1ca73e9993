"""Login and logout: e-mail, password and the TOTP code, one generic message whatever was
wrong; a new session (and a new CSRF token) at each login."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, request, session, url_for

from channels.desk.base import LANG, TOKEN, bp, now, render, runtime, t
from channels.desk.forms import LoginForm
from store import audit
from store.desk import authenticate, close_session, open_session


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """GET: the form. POST: 303 to /desk/ on success, else the form again (401) with the
    one generic message (wrong e-mail, password or code, or the account locked)."""
    if request.method == "GET":
        info = None
        if request.args.get("ended"):
            info = t("login.ended")
        elif request.args.get("out"):
            info = t("login.out")
        return render("desk/login.html", info=info, email="")
    form = LoginForm(request.form)
    rt = runtime()
    moment = now()
    with rt.db.write() as db_session:
        found = authenticate(
            db_session,
            rt.vault,
            rt.practice,
            form.email.data or "",
            form.password.data or "",
            form.code.data or "",
            moment,
        )
        token = open_session(db_session, found, moment) if found is not None else None
    if found is None or token is None:
        return render("desk/login.html", 401, error=t("login.failed"), email=form.email.data)
    chosen = session.get(LANG)
    session.clear()  # a fresh session: nothing from before the login survives
    session.permanent = True
    session[TOKEN] = token
    if chosen:
        session[LANG] = chosen
    return redirect(url_for("desk.home"), 303)


@bp.post("/logout")
def logout() -> Any:
    """End the session here and in the database."""
    rt = runtime()
    with rt.db.write() as db_session:
        close_session(db_session, rt.practice.id, session.get(TOKEN, ""))

        signed_in = g.get("desk_user")
        if signed_in is not None:
            actor = f"desk:{signed_in.email}"[:64]
            audit.record(db_session, rt.practice.id, actor, "desk_logout", signed_in.id)
    chosen = session.get(LANG)
    session.clear()
    if chosen:
        session[LANG] = chosen
    return redirect(url_for("desk.login", out=1), 303)

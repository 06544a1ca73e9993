"""The practitioners' private calendar feeds: managed on the desk (create, show once,
revoke, initials opt-in), served at `GET /ical/<token>.ics` as RFC 5545 through the
`icalendar` library. A feed carries busy times titled "RDV" (and the patient's initials
with the practitioner's opt-in): never a name, a type or an answer. An unknown or revoked
token answers 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from icalendar import Calendar, Event

from bot.practice import Practitioner
from channels.desk import i18n
from channels.desk.base import (
    access,
    actor,
    bp,
    lang,
    now,
    practice,
    practitioner_or_404,
    render,
    runtime,
    t,
)
from channels.desk.forms import FeedForm
from channels.runtime import Runtime
from store import audit
from store.feeds import FeedEvent, create_feed, feed_by_token, feed_events, feed_of, revoke_feed
from store.models import utcnow

ical = Blueprint("ical", __name__)
PRODID = "-//Creneau//Agenda du cabinet//FR"


def calendar(name: str, events: list[FeedEvent], stamp: datetime) -> bytes:
    """An RFC 5545 calendar of busy periods titled RDV (plus initials when given)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-published-ttl", "PT15M")
    for item in events:
        event = Event()
        event.add("uid", f"{item.uid}@creneau")
        event.add("dtstamp", stamp)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        event.add("summary", f"RDV {item.initials}" if item.initials else "RDV")
        event.add("transp", "OPAQUE")
        event.add("class", "PRIVATE")
        cal.add_component(event)
    return cal.to_ical()


@ical.get("/ical/<token>.ics")
def feed(token: str) -> Any:
    """The feed of the practitioner this token belongs to; 404 for any other token."""
    rt: Runtime = current_app.extensions["creneau"]
    moment = rt.assistant.clock()
    with rt.db.write() as db_session:
        found = feed_by_token(db_session, rt.practice.id, token)
        if found is None:
            abort(404)
        events = feed_events(db_session, rt.vault, rt.practice, found, moment)
        found.last_fetched_at = moment
        db_session.add(found)
        if found.with_initials:  # personal data leaves: say so in the audit log
            audit.record(
                db_session,
                rt.practice.id,
                f"feed:{found.practitioner_id}",
                "calendar_feed_read",
                found.practitioner_id,
                f"events={len(events)}",
            )
    name = f"{rt.practice.name} – {rt.practice.practitioner(found.practitioner_id).name}"
    body = calendar(name, events, utcnow())
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="agenda.ics"',
            "Cache-Control": "private, max-age=300",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )


# ---------------------------------------------------------------- on the desk


def _page(practitioner_id: str | None, url: str | None = None) -> Any:
    doctor = practitioner_or_404(practitioner_id)
    if not access().manages_feed_of(doctor.id):
        abort(403)
    rt = runtime()
    with rt.db.read() as db_session:
        found = feed_of(db_session, rt.practice.id, doctor.id)
    since = i18n.when(found.created_at, "stamp", lang(), practice().tz) if found else None
    managed = [p for p in access().practitioners() if access().manages_feed_of(p.id)]
    return render(
        "desk/calendar.html", doctor=doctor, feed=found, since=since, url=url, practitioners=managed
    )


@bp.get("/calendar")
def calendar_page() -> Any:
    """The practitioner's feed: whether it exists, create a new one, revoke it."""
    return _page(request.args.get("practitioner"))


@bp.post("/calendar")
def calendar_create() -> Any:
    """A new secret address (the old one stops working); shown once."""
    form, doctor = _feed_form()
    rt = runtime()
    with rt.db.write() as db_session:
        token = create_feed(db_session, rt.practice, doctor.id, bool(form.initials.data), now())
        audit.record(
            db_session,
            rt.practice.id,
            actor(),
            "calendar_feed_create",
            doctor.id,
            f"initials={int(bool(form.initials.data))}",
        )
    base = rt.settings.public_base_url or request.host_url.rstrip("/")
    return _page(doctor.id, url=f"{base}/ical/{token}.ics")


@bp.post("/calendar/revoke")
def calendar_revoke() -> Any:
    """Revoke the address: it answers 404 from now on."""
    _, doctor = _feed_form()
    rt = runtime()
    with rt.db.write() as db_session:
        revoke_feed(db_session, rt.practice.id, doctor.id)
        audit.record(db_session, rt.practice.id, actor(), "calendar_feed_revoke", doctor.id)
    flash(t("feed.revoked"), "ok")
    return redirect(url_for("desk.calendar_page", practitioner=doctor.id), 303)


def _feed_form() -> tuple[FeedForm, Practitioner]:
    """The posted form and the practitioner it names, if this user manages their feed
    (404 for an unknown practitioner, 403 for another's)."""
    form = FeedForm(request.form)
    doctor = practitioner_or_404(form.practitioner.data)
    if not access().manages_feed_of(doctor.id):
        abort(403)
    return form, doctor

"""Patients' requests received at the practice: find a patient by phone number (national
or international form) or Telegram id, give them their data (a readable page to print or
send, and the JSON), correct their name, erase them (with a confirmation step).

For secretaries and admins. The export is `store.lifecycle.export_patient`, rendered
generically (whatever keys it holds); a preparation answer is shown to its practitioner
only, as everywhere on the desk. Every view is audited in the desk user's name.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from sqlmodel import Session

from bot.sanitize import clean_field
from channels.desk import i18n
from channels.desk.base import (
    access,
    actor,
    bp,
    lang,
    now,
    practice,
    render,
    runtime,
    staff_only,
    t,
)
from channels.desk.forms import RenameForm
from store import audit
from store.address import AddressError
from store.appointments import BookingError, clean_name
from store.lifecycle import compact, erase, export_patient, find_patient
from store.models import Patient

PREP_KEYS = frozenset({"prep", "preparation", "prep_answer", "preparation_answer"})


def _redact(value: Any, practitioner_id: str | None = None) -> Any:
    """The export as this user may see it: a preparation answer only for its practitioner
    (found by the `practitioner_id` of the enclosing item)."""
    if isinstance(value, dict):
        owner = value.get("practitioner_id", practitioner_id)
        out = {}
        for key, item in value.items():
            if key in PREP_KEYS and item not in (None, "", False):
                allowed = isinstance(owner, str) and access().sees_answers_of(owner)
                out[key] = item if allowed else t("common.reserved")
            else:
                out[key] = _redact(item, owner)
        return out
    if isinstance(value, list):
        return [_redact(item, practitioner_id) for item in value]
    return value


def _patient_or_404(db_session: Session, patient_id: str) -> Patient:
    patient = db_session.get(Patient, patient_id)
    if patient is None or patient.practice_id != practice().id:
        abort(404)
    return patient


def _export(db_session: Session, patient: Patient) -> dict[str, Any]:
    rt = runtime()
    data = export_patient(db_session, rt.vault, rt.practice, patient)  # audits bad cells
    redacted: dict[str, Any] = _redact(data)
    return redacted


# ---------------------------------------------------------------- find


@bp.route("/patients", methods=["GET", "POST"])
@staff_only
def patients() -> Any:
    """GET: the search form. POST `kind` and `value`: the look-up (audited, found or not).
    A POST, so that no number ever sits in a URL, a browser history or an access log."""
    if request.method == "GET":
        return render("desk/patients.html", kind="phone", value="", message=None)
    kind = request.form.get("kind", "phone")
    value = clean_field(request.form.get("value", ""))[:40]
    if not value:
        return render("desk/patients.html", 400, kind=kind, value="", message=t("pat.bad"))
    channel = "telegram" if kind == "telegram" else "sms"
    rt = runtime()
    with rt.db.write() as db_session:
        try:
            found = find_patient(db_session, rt.vault, rt.practice, channel, value)
        except AddressError:
            return render("desk/patients.html", 400, kind=kind, value=value, message=t("pat.bad"))
        audit.record(
            db_session,
            rt.practice.id,
            actor(),
            "desk_patient_lookup",
            found.id if found else None,
            f"channel={channel} found={int(bool(found))}",
        )
    if found is None:
        return render("desk/patients.html", 404, kind=kind, value=value, message=t("pat.not_found"))
    return redirect(url_for("desk.patient", patient_id=found.id), 303)


# ---------------------------------------------------------------- record and export


@bp.get("/patients/<patient_id>")
@staff_only
def patient(patient_id: str) -> Any:
    """What is held about the patient, and the actions on it."""
    data = _audited_export(patient_id, "desk_patient_view")
    return _record_page(patient_id, data, stamp=None)


@bp.get("/patients/<patient_id>/export")
@staff_only
def patient_export(patient_id: str) -> Any:
    """The readable export, to print or send to the patient (an audited access)."""
    data = _audited_export(patient_id, "desk_patient_export", "html")
    stamp = t(
        "export.intro",
        date=i18n.when(now(), "stamp", lang(), practice().tz),
        practice=practice().name,
    )
    return _record_page(patient_id, data, stamp=stamp)


def _audited_export(patient_id: str, action: str, detail: str | None = None) -> dict[str, Any]:
    """Everything held about the patient, read and audited in one transaction (404 if
    the patient is not the practice's)."""
    rt = runtime()
    with rt.db.write() as db_session:
        row = _patient_or_404(db_session, patient_id)
        data = _export(db_session, row)
        audit.record(db_session, rt.practice.id, actor(), action, row.id, detail)
    return data


def _record_page(patient_id: str, data: dict[str, Any], stamp: str | None) -> Any:
    """The patient's record; with a stamp, its printable export."""
    name = (data.get("patient") or {}).get("name") or t("common.no_name")
    return render(
        "desk/patient.html",
        patient_id=patient_id,
        name=name,
        data=data,
        printable=stamp is not None,
        stamp=stamp,
    )


@bp.get("/patients/<patient_id>/export.json")
@staff_only
def patient_export_json(patient_id: str) -> Any:
    """The same export as JSON, to hand over (portability)."""
    data = _audited_export(patient_id, "desk_patient_export", "json")
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="patient-{patient_id}.json"'},
    )


# ---------------------------------------------------------------- rectify and erase


@bp.post("/patients/<patient_id>/name")
@staff_only
def patient_rename(patient_id: str) -> Any:
    """Correct the patient's name (cleaned of control and bidi characters)."""
    form = RenameForm(request.form)
    rt = runtime()
    try:
        name = clean_name(form.name.data or "")
    except BookingError:
        flash(t("book.err.name"), "error")
        return redirect(url_for("desk.patient", patient_id=patient_id), 303)
    with rt.db.write() as db_session:
        row = _patient_or_404(db_session, patient_id)
        row.name_enc = rt.vault.seal("patient", "name", row.id, name)
        db_session.add(row)
        audit.record(db_session, rt.practice.id, actor(), "desk_patient_rename", row.id)
    flash(t("pat.renamed"), "ok")
    return redirect(url_for("desk.patient", patient_id=patient_id), 303)


@bp.route("/patients/<patient_id>/erase", methods=["GET", "POST"])
@staff_only
def patient_erase(patient_id: str) -> Any:
    """GET: the confirmation step. POST: erase, then compact the database file."""
    rt = runtime()
    if request.method == "GET":
        with rt.db.read() as db_session:
            _patient_or_404(db_session, patient_id)
        return render("desk/erase.html", patient_id=patient_id)
    with rt.db.write() as db_session:
        row = _patient_or_404(db_session, patient_id)
        counts = erase(db_session, rt.vault, rt.practice, row, now(), actor=actor())
    compact(rt.db)
    flash(
        t(
            "pat.erased",
            cancelled=counts.get("cancelled", 0),
            deleted=counts.get("deleted_appointments", 0),
        ),
        "ok",
    )
    return redirect(url_for("desk.patients"), 303)

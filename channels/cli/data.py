"""`creneau` commands for the data lifecycle: purge, patient export/erase, key rotation, audit
log, processing register, end-of-contract export and wipe, breach report.

Every command that reads or changes personal data writes an audit event in the name of
the operator (`--operator` or CRENEAU_OPERATOR; no personal data). Attached to the main
group with `attach(main)`.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from sqlmodel import col, select

from channels.cli._common import actor, operator_option, record, runtime
from channels.runtime import Runtime
from store import audit
from store.address import AddressError
from store.lifecycle import (
    compact,
    count_rows,
    erase,
    export_all,
    export_patient,
    find_patient,
    purge,
    wipe,
)
from store.models import AuditEvent, Patient, utcnow
from store.rotation import FIRST_FAILURES

DAY = click.DateTime(formats=["%Y-%m-%d"])


def _record(
    rt: Runtime, action: str, subject: str | None = None, detail: str | None = None
) -> None:
    """One audit event in its own transaction, in the operator's name."""
    record(rt, action, subject, detail)


def _compact(rt: Runtime) -> None:
    """Rebuild the SQLite file so deleted values leave the disk; warn if it was busy."""
    if not compact(rt.db):
        click.echo(
            "warning: the database was busy, deleted values may stay on disk until the next purge",
            err=True,
        )


def _local_start(rt: Runtime, day: date) -> datetime:
    """Midnight of a local day of the practice, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=rt.practice.tz)


# ------------------------------------------------------------------ purge


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
@operator_option
def purge_cmd(dry_run: bool) -> None:
    """Apply the retention rules now (appointments, answers, conversations, ids, audit)."""
    rt = runtime()
    with rt.db.write() as session:
        counts = purge(session, rt.practice, utcnow(), dry_run=dry_run, actor=actor(rt))
    if not dry_run:
        _compact(rt)
    click.echo("Would delete (dry run):" if dry_run else "Deleted:")
    for name, n in counts.items():
        click.echo(f"  {name}: {n}")


# ------------------------------------------------------------------ one patient


def _address_options(func: Any) -> Any:
    func = click.option("--telegram", "telegram", metavar="ID", help="Telegram chat id.")(func)
    return click.option("--phone", "phone", metavar="P", help="Phone number.")(func)


def _find(rt: Runtime, session: Any, phone: str | None, telegram: str | None) -> Patient | None:
    """The patient named on the command line, or None; a clean error (no value echoed)."""
    if bool(phone) == bool(telegram):
        raise click.UsageError("give exactly one of --phone or --telegram")
    channel, raw = ("sms", phone) if phone else ("telegram", telegram)
    try:
        return find_patient(session, rt.vault, rt.practice, channel, raw or "")
    except AddressError as exc:
        hint = "--phone" if phone else "--telegram"
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _not_found(rt: Runtime) -> click.ClickException:
    """Record the failed look-up; the error to raise."""
    _record(rt, "patient_lookup", None, "not found")
    return click.ClickException("no patient with that address")


@click.group("patient")
def patient_group() -> None:
    """Handle a patient's request received at the desk."""


@patient_group.command("export")
@_address_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the JSON to this file (mode 600) instead of the terminal.",
)
@operator_option
def patient_export(phone: str | None, telegram: str | None, out: str | None) -> None:
    """Everything held about one patient, as JSON (right of access and portability)."""
    rt = runtime()
    data: dict[str, Any] | None = None
    with rt.db.write() as session:
        patient = _find(rt, session, phone, telegram)
        if patient is not None:
            data = export_patient(session, rt.vault, rt.practice, patient)
            data["exported_at"] = utcnow().isoformat()
            audit.record(
                session,
                rt.practice.id,
                actor(rt),
                "patient_export",
                patient.id,
                f"appointments={len(data['appointments'])}",
            )
    if data is None:
        raise _not_found(rt)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out:
        _write_private(Path(out), text + "\n")
        click.echo(f"written to {out}", err=True)
    else:
        click.echo(text)
    if data["unreadable"]:
        raise click.ClickException(
            f"{len(data['unreadable'])} value(s) could not be decrypted (null in the export, "
            "listed under unreadable, audited): check the keys, or restore them from a backup"
        )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@patient_group.command("erase")
@_address_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@operator_option
def patient_erase(phone: str | None, telegram: str | None, yes: bool) -> None:
    """Erase a patient: future appointments cancelled and unlinked, everything else deleted."""
    rt = runtime()
    with rt.db.read() as session:
        found = _find(rt, session, phone, telegram)
    if found is None:
        raise _not_found(rt)
    if not yes:
        click.confirm("Erase everything held about this patient? This cannot be undone", abort=True)
    with rt.db.write() as session:
        patient = session.get(Patient, found.id)
        if patient is None:
            raise click.ClickException("the patient was erased meanwhile")
        counts = erase(session, rt.vault, rt.practice, patient, utcnow(), actor=actor(rt))
    _compact(rt)
    click.echo("Erased: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


# ------------------------------------------------------------------ keys


@click.command("rotate")
@click.option("--batch-size", default=200, show_default=True, help="Rows per transaction.")
@click.option("--verify", is_flag=True, help="Also authenticate ciphertexts already current.")
@operator_option
def keys_rotate(batch_size: int, verify: bool) -> None:
    """Re-encrypt everything under the first key of CRENEAU_DATA_KEYS (resumable)."""
    from store.rotation import count_sealed, rotate

    rt = runtime()
    with click.progressbar(
        length=count_sealed(rt.db), label="re-encrypting", file=sys.stderr
    ) as bar:
        result = rotate(
            rt.db,
            rt.vault,
            batch_size,
            progress=bar.update,
            verify=verify,
            practice_id=rt.practice.id,
            actor=actor(rt),
        )
    click.echo(f"primary key: {rt.vault.ring.primary_id}")
    click.echo(
        f"rotated: {result['rotated']}, already current: {result['current']}, "
        f"failed: {result['failed']}"
    )
    for label, n in result["by_column"].items():
        click.echo(f"  {label}: {n}")
    if result["failed"]:
        _failure_summary(result["failed_by_column"], result["first_failures"])
        raise click.ClickException(
            f"{result['failed']} ciphertext(s) could not be opened and were left untouched: "
            "add the key they were written with to CRENEAU_DATA_KEYS (after the new one) "
            "and run `creneau keys rotate` again"
        )
    click.echo("every ciphertext is under the primary key: older keys can be removed")


def _failure_summary(by_column: dict[str, int], first: list[dict[str, str]]) -> None:
    """Failures as counts per column and the first few row ids, never one line per row."""
    for label, n in by_column.items():
        click.echo(f"  failed in {label}: {n}", err=True)
    for f in first:
        click.echo(f"  e.g. {f['table']}.{f['column']} row {f['row_id']}: {f['reason']}", err=True)


# ------------------------------------------------------------------ audit log


@click.command("audit")
@click.option("--since", type=DAY, default=None, help="First local day (YYYY-MM-DD).")
@click.option("--limit", default=1000, show_default=True, help="At most this many events.")
@operator_option
def audit_cmd(since: datetime | None, limit: int) -> None:
    """List audit events (who, what, when; pseudonymous ids only), oldest first."""
    rt = runtime()
    query = select(AuditEvent).where(AuditEvent.practice_id == rt.practice.id)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= _local_start(rt, since.date()))
    with rt.db.read() as session:
        events = session.exec(query.order_by(col(AuditEvent.at)).limit(limit)).all()
    for e in events:
        when = e.at.astimezone(rt.practice.tz).isoformat(timespec="seconds")
        click.echo("\t".join([when, e.actor, e.action, e.subject or "-", e.detail or ""]))
    _record(rt, "audit_read", None, f"events={len(events)}")


# ------------------------------------------------------------------ register


@click.command("register")
@click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="Language (default: the practice's).",
)
@click.option(
    "--kit",
    "kit_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, writable=True),
    default=None,
    help="Write the filled processor kit (Markdown and HTML) into DIR instead.",
)
def register_cmd(lang: str | None, kit_dir: str | None) -> None:
    """Print the processing-register entry, then the full privacy notice; or write the kit."""
    from channels import kit
    from channels.register import full_notice, register_text

    rt = runtime()
    if kit_dir is not None:
        written = kit.write_kit(kit_dir, rt.practice, rt.settings)
        for path in written:
            click.echo(str(path))
        click.echo(f"{len(written)} files written to {kit_dir}", err=True)
        return
    lang = lang or rt.practice.locale
    click.echo(register_text(rt.practice, rt.settings, lang))
    click.echo("-" * 72 + "\n")
    click.echo(full_notice(rt.practice, rt.settings, lang))


# ------------------------------------------------------------------ end of contract


@click.command("export-all")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@operator_option
def export_all_cmd(file: str, force: bool) -> None:
    """Hand back all the practice's data, decrypted: a zip with one JSON file per table.
    Exits 1 when some values could not be decrypted (they are null in the file)."""
    if Path(file).exists() and not force:
        raise click.ClickException(f"{file} exists: choose another name, or pass --force")
    rt = runtime()
    with rt.db.read() as session:
        total = sum(count_rows(session, rt.practice).values())
        with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
            result = export_all(
                session, rt.vault, rt.practice, file, progress=bar.update, now=utcnow()
            )
    counts = result["tables"]
    _record(rt, "export_all", None, " ".join(f"{k}={v}" for k, v in counts.items())[:200])
    for name, n in counts.items():
        click.echo(f"  {name}: {n}")
    click.echo(f"written to {file} (mode 600; it holds personal data in clear)")
    bad = result["unreadable"]
    if bad:
        by_column: dict[str, int] = {}
        for cell in bad:
            label = f"{cell['table']}.{cell['column']}"
            by_column[label] = by_column.get(label, 0) + 1
        first = [{**c, "reason": "cannot be decrypted"} for c in bad[:FIRST_FAILURES]]
        _failure_summary(by_column, first)
        raise click.ClickException(
            f"{len(bad)} value(s) could not be decrypted (null in the export, listed under "
            "`unreadable` in manifest.json): add the key they were written with to "
            "CRENEAU_DATA_KEYS and export again"
        )


EXPORT_FRESH = timedelta(hours=24)  # wipe wants an export-all at most this old


def _fresh_export(rt: Runtime) -> bool:
    """Whether `export-all` ran for this practice within EXPORT_FRESH (its audit event)."""
    since = utcnow() - EXPORT_FRESH
    with rt.db.read() as session:
        found = session.exec(
            select(AuditEvent.id).where(
                AuditEvent.practice_id == rt.practice.id,
                AuditEvent.action == "export_all",
                col(AuditEvent.at) >= since,
            )
        ).first()
    return found is not None


@click.command("wipe")
@click.option(
    "--confirm", "confirm_name", metavar="NAME", help="The practice name, exactly (for scripts)."
)
@click.option("--force", is_flag=True, help="Wipe even without an export-all of the last 24 h.")
@operator_option
def wipe_cmd(confirm_name: str | None, force: bool) -> None:
    """Delete every row of the practice in every table (end of contract; irreversible).
    Refuses unless `export-all` ran in the last 24 hours (or --force)."""
    rt = runtime()
    name = rt.practice.name
    fresh = _fresh_export(rt)
    if not fresh and not force:
        raise click.ClickException(
            "no export-all in the last 24 hours: hand the data back first "
            "(creneau export-all FILE), or pass --force to delete it without a copy; "
            "nothing deleted"
        )
    if confirm_name is None:
        confirm_name = click.prompt(
            f"This deletes ALL data of {name!r}. Type the practice name to confirm"
        )
    if confirm_name != name:
        raise click.ClickException("the name does not match: nothing deleted")
    with rt.db.write() as session:
        counts = wipe(session, rt.practice, actor=actor(rt))
    if not fresh:
        _record(rt, "wipe_without_export", None, "forced")
    _compact(rt)
    click.echo("Deleted:")
    for table, n in counts.items():
        click.echo(f"  {table}: {n}")
    kept = "one audit event 'wipe'" + (" and one 'wipe_without_export'" if not fresh else "")
    click.echo(f"Kept: {kept} with these counts (no personal data).")


MOMENT = click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
NOTIFY_WITHIN = timedelta(hours=72)  # GDPR Art. 33(1): the controller tells the CNIL


@click.command("breach-report")
@click.option("--from", "start", type=DAY, default=None, help="First local day (YYYY-MM-DD).")
@click.option("--to", "end", type=DAY, default=None, help="Last local day, included.")
@click.option(
    "--discovered",
    type=MOMENT,
    default=None,
    metavar="YYYY-MM-DDTHH:MM",
    help="When the breach was discovered (practice time): prints the 72 h deadline, the "
    "CNIL form's facts and draft notices. Without --from/--to, the period is everything "
    "the database may hold then.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@operator_option
def breach_report_cmd(
    start: datetime | None, end: datetime | None, discovered: datetime | None, as_json: bool
) -> None:
    """What a breach notification needs (Art. 33-34): data categories, numbers of people and
    records of a period; with --discovered, the deadline and the drafts."""
    from store.breach import breach_report

    rt = runtime()
    found = discovered.replace(tzinfo=rt.practice.tz) if discovered else None
    lo, hi = _breach_period(rt, start, end, found)
    with rt.db.read() as session:
        report = breach_report(session, rt.practice, lo, hi)
    detail = f"from={lo.date()} to={(hi - timedelta(days=1)).date()}" + (
        f" discovered={found:%Y-%m-%dT%H:%M}" if found else ""
    )
    _record(rt, "breach_report", None, detail)
    if found is not None:
        deadline = _deadline(found)
        report["discovered"] = found.isoformat()
        report["notify_cnil_by"] = deadline.isoformat()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif found is not None:
        click.echo(_breach_drafts(rt, report, found))
    else:
        _print_breach(report)


def _breach_period(
    rt: Runtime, start: datetime | None, end: datetime | None, found: datetime | None
) -> tuple[datetime, datetime]:
    """[lo, hi) from --from/--to; by default, all the database may hold at discovery:
    appointments kept `retention_days` back, bookings up to `horizon_days` ahead."""
    if (start is None) != (end is None):
        raise click.UsageError("give both --from and --to, or neither")
    if start is not None and end is not None:
        lo = _local_start(rt, start.date())
        hi = _local_start(rt, end.date() + timedelta(days=1))
        if hi <= lo:
            raise click.BadParameter("--to must not be before --from")
        return lo, hi
    if found is None:
        raise click.UsageError("give --from and --to, or --discovered")
    day = found.date()
    lo = _local_start(rt, day - timedelta(days=rt.practice.retention_days + 1))
    return lo, _local_start(rt, day + timedelta(days=rt.practice.horizon_days + 1))


def _deadline(found: datetime) -> datetime:
    """72 elapsed hours after discovery (UTC arithmetic: a DST change does not move it),
    shown back in the discovery's time zone."""
    return (found.astimezone(UTC) + NOTIFY_WITHIN).astimezone(found.tzinfo)


def _spoken(moment: datetime) -> str:
    """'mardi 1 décembre 2026 à 09:00 (Europe/Paris)'."""
    from babel.dates import format_datetime

    text = format_datetime(moment, "EEEE d MMMM y 'à' HH:mm", tzinfo=moment.tzinfo, locale="fr")
    return f"{text} ({moment.tzinfo})"


def _remaining(deadline: datetime) -> str:
    """How long is left before the deadline, or how long ago it passed."""
    hours = (deadline - utcnow()).total_seconds() / 3600
    if hours >= 0:
        return f"il reste {int(hours)} h"
    return f"échéance dépassée de {int(-hours)} h"


def _breach_drafts(rt: Runtime, report: dict[str, Any], found: datetime) -> str:
    """The filled breach report: deadline, CNIL form facts, Art. 34 advice, both drafts."""
    from channels import kit

    deadline = _deadline(found)
    return kit.render_markdown(
        "violation-rapport",
        "fr",
        rt.practice,
        rt.settings,
        report=report,
        discovered=_spoken(found),
        deadline=_spoken(deadline),
        remaining=_remaining(deadline),
    )


def _print_breach(report: dict[str, Any]) -> None:
    click.echo(f"Practice: {report['practice']['name']} ({report['practice']['controller']})")
    click.echo(f"Period: {report['period']['from']} .. {report['period']['to']}")
    click.echo("Data categories held:")
    for cat in report["data_categories"]:
        click.echo(f"  - {cat}")
    for key in (
        "patients",
        "patients_with_name",
        "appointments",
        "appointments_with_preparation_answer",
        "queued_messages",
        "conversations",
        "stored_replies",
        "audit_events",
    ):
        click.echo(f"{key}: {report[key]}")
    click.echo(
        "patients by channel: "
        + (", ".join(f"{k}={v}" for k, v in report["patients_by_channel"].items()) or "none")
    )
    click.echo(f"Note: {report['note']}")


# ------------------------------------------------------------------ wiring


def attach(main: click.Group) -> None:
    """Add these commands to the `creneau` group (and `rotate` to its `keys` group)."""
    for command in (
        purge_cmd,
        patient_group,
        audit_cmd,
        register_cmd,
        export_all_cmd,
        wipe_cmd,
        breach_report_cmd,
    ):
        main.add_command(command)
    keys = main.commands.get("keys")
    if not isinstance(keys, click.Group):
        keys = click.Group("keys", help="Encryption keys.")
        main.add_command(keys)
    keys.add_command(keys_rotate)

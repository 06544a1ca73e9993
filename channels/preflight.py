"""Checks before the service starts, and the whole list `creneau doctor` prints.

Production refuses to start on any failed start check, one line per problem naming the
fix. `creneau doctor` runs the same checks plus those that need the network or are too
slow for every start (migrations, the Telegram webhook, the clock), one line each.
Nothing here reads or prints a personal value: the key check decrypts a few cells and
keeps only whether they opened.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.practice_file import PracticeError
from channels.runtime import Runtime
from channels.settings import Finding, Settings, SettingsError, shown_url
from store.crypto import CryptoError, aad
from store.db import SERVICE, Database, Timeouts
from store.models import AuditEvent
from store.rotation import Cell, sealed_cells
from store.schema import stale_sqlite

SAMPLE = 2  # the oldest and the newest rows of each sealed column
MAX_CLOCK_SKEW = 5.0  # seconds between this machine and the database server
TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
TWILIO_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")
TWILIO_TOKEN = re.compile(r"^[0-9a-fA-F]{32}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


# ---------------------------------------------------------------- start checks


def startup_runtime(*, no_channels: bool = False, timeouts: Timeouts = SERVICE) -> Runtime:
    """The runtime of a service process, or SettingsError with one line per problem: the
    settings (refused in production when unsafe), the practice file, the start checks."""
    rt = Runtime(Settings.from_env(), timeouts=timeouts)
    try:
        rt.practice  # noqa: B018  (validate the practice file at start)
    except PracticeError as exc:
        raise SettingsError(*practice_lines(exc)) from None
    refuse_unsafe(rt, no_channels=no_channels)
    refuse_stale_schema(rt.settings.database_url)
    return rt


def refuse_stale_schema(url: str) -> None:
    """SettingsError for a SQLite file made by `create_all` under an earlier version and
    never migrated (a development file kept across an update): its turns would fail on what
    changed, each answered with an apology. A migrated database is never such, and a
    database that does not answer is left to the health check and `creneau doctor`."""
    try:
        found = stale_sqlite(url)
    except SQLAlchemyError:
        return
    if found:
        raise SettingsError(
            f"database {shown_url(url)}: made by an earlier version of Créneau and never "
            f"migrated ({found}): run `creneau db upgrade` (it takes the database from the "
            "version it has), or remove the file to start afresh"
        )


def practice_lines(exc: PracticeError) -> list[str]:
    """A practice file's problems, one line each, naming the file."""
    return [f"practice file {exc.source}: {p}" for p in exc.problems] or [
        f"practice file {exc.source}: invalid"
    ]


def refuse_unsafe(rt: Runtime, *, no_channels: bool = False) -> None:
    """In production, raise SettingsError listing every failed start check (practice file, legal
    basis, operator, channels, stored data readable with the keys); in development, no-op."""
    if not rt.settings.production:
        return
    failed = [f.problem for f in start_checks(rt, no_channels=no_channels) if f.problem]
    if failed:
        raise SettingsError(*failed)


def start_checks(
    rt: Runtime, *, no_channels: bool = False, operator: str | None = None
) -> list[Finding]:
    """The checks a service process makes at start (beyond the settings' own)."""
    practice = practice_finding(rt)
    found = [practice]
    if practice.ok:
        found.append(legal_basis_finding(rt))
    found += [
        operator_finding(rt.settings, operator),
        channels_finding(rt.settings, no_channels),
        twilio_finding(rt.settings),
    ]
    found += stored_data_findings(rt)
    return found


def practice_finding(rt: Runtime) -> Finding:
    try:
        practice = rt.practice
    except PracticeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        return Finding(
            "practice file",
            f"{exc.source}: {len(exc.problems)} problem(s), first: {first.strip()} "
            "(see `creneau check`)",
        )
    return Finding("practice file", detail=f"{rt.settings.practice_file} ({practice.name})")


def legal_basis_finding(rt: Runtime) -> Finding:
    if not rt.practice.legal_basis:
        return Finding(
            "legal basis",
            f"{rt.settings.practice_file}: [practice] legal_basis is not set: production "
            'states it in every notice; set e.g. legal_basis = "public_interest"',
        )
    return Finding("legal basis", detail=rt.practice.legal_basis)


def operator_finding(settings: Settings, given: str | None = None) -> Finding:
    name = (given or settings.operator).strip()
    if not name:
        return Finding(
            "operator",
            "CRENEAU_OPERATOR is not set: production names who runs commands on personal "
            "data in the audit log; set it to the person or team responsible",
        )
    return Finding("operator", detail=name)


def channels_finding(settings: Settings, no_channels: bool) -> Finding:
    pairs = (("sms", settings.sms_enabled), ("telegram", settings.telegram_enabled))
    on = [name for name, enabled in pairs if enabled]
    if on:
        return Finding("channels", detail=", ".join(on))
    if no_channels:
        return Finding("channels", detail="none (--no-channels)")
    return Finding(
        "channels",
        "no channel is configured (neither TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN nor "
        "TELEGRAM_BOT_TOKEN): patients could not reach the service; configure one, or pass "
        "--no-channels if that is intended",
    )


# ---------------------------------------------------------------- stored data and keys


def stored_data_findings(rt: Runtime) -> list[Finding]:
    """Can the keys read what is stored? A sample of every sealed column, and the blind
    index recomputed for a sample of patients."""
    try:
        vault = rt.vault
    except SettingsError as exc:
        return [Finding("stored data", f"{exc}")]
    try:
        unreadable, sampled = _unreadable_cells(rt.db, vault)
        index_ok = _index_matches(rt.db, vault)
    except SQLAlchemyError as exc:
        return [Finding("stored data", database_problem(exc, rt.settings.database_url))]
    found = []
    if unreadable:
        label, row_id, reason = unreadable[0]
        more = f" (and {len(unreadable) - 1} other column(s))" if len(unreadable) > 1 else ""
        found.append(
            Finding(
                "stored data",
                f"{label} row {row_id} cannot be read with CRENEAU_DATA_KEYS ({reason}){more}: "
                "set the keys this database was written with (keep an old key listed after "
                "the new one until `creneau keys rotate` has run)",
            )
        )
    else:
        found.append(Finding("stored data", detail=f"{sampled} sampled cell(s) readable"))
    if index_ok is False:
        found.append(
            Finding(
                "blind index",
                "CRENEAU_INDEX_KEY is not the key this database's patients were indexed with "
                "(no patient would be found again): set the original CRENEAU_INDEX_KEY",
            )
        )
    else:
        found.append(Finding("blind index", detail="matches" if index_ok else "no patient yet"))
    return found


def _unreadable_cells(db: Database, vault: Any) -> tuple[list[tuple[str, str, str]], int]:
    """(label, row id, reason) of the first unreadable sample of each sealed column, and
    how many cells were tried."""
    bad: list[tuple[str, str, str]] = []
    tried = 0
    with db.read() as session:
        for cell in sealed_cells():
            for row_id, token in _sample(session, cell):
                tried += 1
                try:
                    vault.ring.decrypt(bytes(token), aad(cell.table.name, cell.name, row_id))
                except CryptoError as exc:
                    bad.append((cell.label, row_id, str(exc)))
                    break
    return bad, tried


def _sample(session: Any, cell: Cell) -> Iterator[tuple[str, bytes]]:
    """A few non-empty ciphertexts of a column: the first and the last by primary key
    (random ids and message keys: a sample from across the table, read through its key's
    index rather than sorting the table)."""
    key = list(cell.table.primary_key.columns)
    base = select(cell.table.c.id, cell.column).where(cell.column.is_not(None))
    seen = set()
    for order in ([c.asc() for c in key], [c.desc() for c in key]):
        for row_id, token in session.execute(base.order_by(*order).limit(SAMPLE // 2 or 1)):
            if row_id not in seen and token:
                seen.add(row_id)
                yield row_id, token


def _index_matches(db: Database, vault: Any) -> bool | None:
    """Whether the newest patient's stored blind index is what the index key computes
    (None: no patient to compare with)."""
    from store.models import Patient

    patient = Patient.__table__  # type: ignore[attr-defined]
    query = (
        select(
            patient.c.id,
            patient.c.practice_id,
            patient.c.channel,
            patient.c.address_index,
            patient.c.address_enc,
        )
        .where(func.length(patient.c.address_enc) > 0)
        .order_by(patient.c.id.desc())
        .limit(1)
    )
    with db.read() as session:
        row = session.execute(query).first()
    if row is None:
        return None
    try:
        address = vault.open("patient", "address", row.id, bytes(row.address_enc))
    except CryptoError:
        return None  # the data keys check reports it
    return bool(vault.address_index(row.practice_id, row.channel, address) == row.address_index)


def database_problem(exc: BaseException, url: str) -> str:
    """One line for a database error: its type and the driver's first line, and the fix."""
    original = getattr(exc, "orig", None) or exc
    first = (str(original).strip().splitlines() or [""])[0][:160]
    return (
        f"the database at {shown_url(url)} did not answer ({type(original).__name__}: "
        f"{first}): check DATABASE_URL and that the server is up"
    )


# ---------------------------------------------------------------- doctor-only checks


def database_finding(rt: Runtime) -> Finding:
    try:
        rt.db.ping()
    except SQLAlchemyError as exc:
        return Finding("database connection", database_problem(exc, rt.settings.database_url))
    return Finding("database connection", detail="answers")


def migrations_finding(rt: Runtime) -> Finding:
    from store.migrations import current, head

    newest = head()
    try:
        rev = current(rt.settings.database_url)
    except SQLAlchemyError as exc:
        return Finding("migrations", database_problem(exc, rt.settings.database_url))
    if rev == newest:
        return Finding("migrations", detail=f"at {rev} (newest)")
    if rev is None and not rt.settings.production:
        try:
            refuse_stale_schema(rt.settings.database_url)
        except SettingsError as exc:
            return Finding("migrations", str(exc))
        return Finding("migrations", detail="not migrated (tables made at start: development)")
    return Finding(
        "migrations",
        f"the database is at {rev or 'no revision'}, the code at {newest}: "
        "run `creneau db upgrade`",
    )


def webhook_finding(settings: Settings, fetch: Callable[[Settings], Any] | None = None) -> Finding:
    """Telegram delivers updates to PUBLIC_BASE_URL/telegram/webhook (getWebhookInfo)."""
    from channels.telegram import WEBHOOK_PATH

    name = "Telegram webhook"
    if not settings.telegram_enabled:
        return Finding(name, detail="Telegram off")
    if not settings.public_base_url:
        return Finding(name, detail="no PUBLIC_BASE_URL: run `creneau telegram poll`")
    expected = settings.public_base_url + WEBHOOK_PATH
    try:
        info = (fetch or _webhook_info)(settings)
    except Exception as exc:  # the Bot API's errors, the network's: one line each
        return Finding(
            name,
            f"getWebhookInfo failed at {settings.telegram_api_base_url} ({type(exc).__name__}): "
            "check TELEGRAM_BOT_TOKEN and the network",
        )
    if info.url != expected:
        where = info.url or "nowhere (no webhook set)"
        return Finding(
            name,
            f"Telegram delivers updates to {where}, not {expected}: "
            "run `creneau telegram set-webhook`",
        )
    detail = f"{expected}, {info.pending_update_count} pending"
    if info.last_error_message:
        detail += f", last error: {info.last_error_message[:80]}"
    return Finding(name, detail=detail)


def _webhook_info(settings: Settings) -> Any:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    async def call() -> Any:
        bot = Bot(
            settings.telegram_bot_token,
            base_url=f"{settings.telegram_api_base_url}/bot",
            request=HTTPXRequest(connect_timeout=5, read_timeout=5),
        )
        async with bot:
            return await bot.get_webhook_info()

    return asyncio.run(call())


def twilio_finding(settings: Settings) -> Finding:
    """The Twilio settings are well-formed (checked offline, nothing is sent)."""
    name = "Twilio"
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if not sid and not token:
        return Finding(name, detail="SMS off")
    if not (sid and token):
        missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
        return Finding(name, f"{missing} is not set: SMS needs both the account SID and token")
    if not TWILIO_SID.match(sid):
        return Finding(name, "TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits")
    if not TWILIO_TOKEN.match(token):
        return Finding(name, "TWILIO_AUTH_TOKEN must be 32 hex digits (Console > Account)")
    return _twilio_sender(settings)


def _twilio_sender(settings: Settings) -> Finding:
    name = "Twilio"
    service, sender = settings.twilio_messaging_service_sid, settings.twilio_from_number
    if service:
        if not TWILIO_SERVICE.match(service):
            return Finding(
                name, "TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hex digits"
            )
        return Finding(name, detail="credentials well-formed, messaging service")
    if not sender:
        return Finding(
            name,
            "no SMS sender: set TWILIO_MESSAGING_SERVICE_SID (MG...) or TWILIO_FROM_NUMBER",
        )
    if sender.startswith("+"):
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(sender))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            return Finding(name, "TWILIO_FROM_NUMBER is not a valid E.164 number (+33...)")
    elif not ALPHANUMERIC_SENDER.match(sender):
        return Finding(
            name,
            "TWILIO_FROM_NUMBER must be an E.164 number or an alphanumeric sender ID "
            "(1-11 letters, digits or spaces)",
        )
    return Finding(name, detail="credentials well-formed, sender number")


def clock_findings(rt: Runtime) -> list[Finding]:
    """The practice's time zone, and this machine's clock against the database's."""
    now = datetime.now(UTC)
    found = []
    try:
        tz = rt.practice.tz
        local = now.astimezone(tz)
        found.append(
            Finding("time zone", detail=f"{rt.practice.timezone}, {local:%Y-%m-%d %H:%M %z}")
        )
    except Exception as exc:  # a zone missing from the system's or tzdata's database
        found.append(
            Finding("time zone", f"the practice's time zone cannot be loaded ({exc}): fix it")
        )
    try:
        skew, newest = _clock_reference(rt.db)
    except SQLAlchemyError as exc:
        return [*found, Finding("clock", database_problem(exc, rt.settings.database_url))]
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW:
        return [
            *found,
            Finding(
                "clock",
                f"this machine's clock is {skew:+.0f} s off the database server's: enable time "
                "synchronisation (NTP) on both",
            ),
        ]
    if newest is not None and (newest - now).total_seconds() > 60:
        return [
            *found,
            Finding(
                "clock",
                f"the newest audit event is dated {newest:%Y-%m-%d %H:%M} UTC, after this "
                "machine's time: the clock went back; enable time synchronisation (NTP)",
            ),
        ]
    shown = f", {skew:+.1f} s from the database" if skew is not None else ""
    return [*found, Finding("clock", detail=f"UTC {now:%Y-%m-%d %H:%M:%S}{shown}")]


def _clock_reference(db: Database) -> tuple[float | None, datetime | None]:
    """Seconds this machine is ahead of the database server (PostgreSQL), and the newest
    audit event's time."""
    skew = None
    with db.read() as session:
        if db.is_postgres:
            before = datetime.now(UTC)
            server = session.execute(text("SELECT now()")).scalar_one()
            after = datetime.now(UTC)
            skew = ((before - server) + (after - server)).total_seconds() / 2
        newest = session.execute(select(func.max(AuditEvent.at))).scalar_one()  # type: ignore[arg-type]
    return skew, newest

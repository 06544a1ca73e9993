"""Practitioner commands on Telegram, handled before the patient dialog.

A chat becomes a practitioner's by `/start <code>` with a one-time code from
`creneau practitioner link`; only then are `/agenda`, `/demain`, `/annuler N`, `/absent` and
`/aide` answered. For any other chat `handle` returns None and the patient dialog runs as
usual, so an unlinked chat never sees agenda data nor learns whether a code exists. Every
agenda access is audited (pseudonymous ids, no personal data). Chat ids are sealed; only a
blind index is kept in clear for the look-up.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlmodel import Session, col, delete, select

from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from bot.when import parse_when
from channels.runtime import Runtime
from channels.telegram import queue_payloads
from store import audit
from store.agenda import AgendaEntry, appointments_between, day_agenda, entry_line, header
from store.models import (
    Appointment,
    Block,
    LinkCode,
    Patient,
    PractitionerLink,
    ProcessedMessage,
    utcnow,
)
from store.outbox import notify_patient
from store.vault import Vault

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CODE_TTL = timedelta(hours=24)
LIST_TTL = timedelta(hours=12)  # `/annuler N` refers to a list shown at most this long ago
MAX_BLOCK = timedelta(days=366)
TELEGRAM_LIMIT = 4096

AGENDA, TOMORROW, CANCEL, AWAY, HELP = "agenda", "tomorrow", "cancel", "away", "help"
COMMANDS = {
    "/agenda": AGENDA, "/demain": TOMORROW, "/tomorrow": TOMORROW, "/annuler": CANCEL,
    "/cancel": CANCEL, "/absent": AWAY, "/away": AWAY, "/aide": HELP, "/help": HELP,
    "/start": HELP,
}  # fmt: skip
PERIOD_SEPARATOR = re.compile(r"\s*\.\.\s*|\s+(?:-|au|to|until|jusqu'au)\s+", re.IGNORECASE)


# ---------------------------------------------------------------- link codes


def code_hash(code: str) -> str:
    """What is stored of a link code: its SHA-256, never the code."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


def chat_index(vault: Vault, practice_id: str, chat_id: str) -> str:
    """Blind index of a practitioner's chat id (its own domain, apart from patients')."""
    return vault.index(practice_id, f"practitioner-chat:{chat_id.strip()}")


def create_link_code(
    session: Session, practice: Practice, practitioner_id: str, now: datetime
) -> str:
    """A new one-time code for a practitioner, valid CODE_TTL; earlier unused codes die."""
    practice.practitioner(practitioner_id)  # StopIteration for an unknown id
    session.exec(
        delete(LinkCode).where(
            col(LinkCode.practice_id) == practice.id,
            col(LinkCode.practitioner_id) == practitioner_id,
        )
    )
    code = secrets.token_urlsafe(16)  # [A-Za-z0-9_-]: valid in a t.me deep link
    session.add(
        LinkCode(
            practice_id=practice.id,
            practitioner_id=practitioner_id,
            code_hash=code_hash(code),
            expires_at=now + CODE_TTL,
            created_at=now,
        )
    )
    return code


def unlink(session: Session, practice: Practice, practitioner_id: str) -> bool:
    """Forget a practitioner's chat and pending codes; True if a chat was linked."""
    session.exec(
        delete(LinkCode).where(
            col(LinkCode.practice_id) == practice.id,
            col(LinkCode.practitioner_id) == practitioner_id,
        )
    )
    link = _link_of(session, practice.id, practitioner_id)
    if link is None:
        return False
    session.delete(link)
    return True


def _link_of(session: Session, practice_id: str, practitioner_id: str) -> PractitionerLink | None:
    return session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice_id,
            PractitionerLink.practitioner_id == practitioner_id,
        )
    ).first()


def linked_chat(
    session: Session, vault: Vault, practice_id: str, chat_id: str
) -> PractitionerLink | None:
    """The link of this chat, if it belongs to a practitioner."""
    return session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice_id,
            PractitionerLink.chat_index == chat_index(vault, practice_id, chat_id),
        )
    ).first()


def _redeem(session: Session, practice_id: str, code: str, now: datetime) -> LinkCode | None:
    """The valid, unused code (marked used now), or None."""
    row = session.exec(
        select(LinkCode).where(
            LinkCode.practice_id == practice_id, LinkCode.code_hash == code_hash(code)
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    session.add(row)
    return row


def _link(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_id: str,
    chat_id: str,
    now: datetime,
) -> PractitionerLink:
    """Bind the chat to the practitioner, replacing any earlier link of either."""
    index = chat_index(vault, practice.id, chat_id)
    session.exec(
        delete(PractitionerLink).where(
            col(PractitionerLink.practice_id) == practice.id,
            (col(PractitionerLink.practitioner_id) == practitioner_id)
            | (col(PractitionerLink.chat_index) == index),
        )
    )
    session.flush()
    link = PractitionerLink(
        practice_id=practice.id,
        practitioner_id=practitioner_id,
        chat_enc=b"",
        chat_index=index,
        linked_at=now,
    )
    link.chat_enc = vault.seal("practitioner_link", "chat", link.id, chat_id.strip())
    session.add(link)
    session.flush()
    return link


# ---------------------------------------------------------------- the context of one command


@dataclass
class Ctx:
    """One practitioner command being handled."""

    runtime: Runtime
    session: Session
    link: PractitionerLink
    now: datetime

    @property
    def practice(self) -> Practice:
        return self.runtime.practice

    @property
    def practitioner(self) -> Practitioner:
        return self.practice.practitioner(self.link.practitioner_id)

    @property
    def lang(self) -> str:
        return self.practice.locale

    @property
    def today(self) -> date:
        return self.now.astimezone(self.practice.tz).date()

    @property
    def actor(self) -> str:
        return f"practitioner:{self.link.practitioner_id}"

    def t(self, key: str, **params: object) -> str:
        """A practitioner-facing text in the practice language."""
        return self.runtime.catalogs.text(Text(key, params), self.lang, self.practice.tz)


# ---------------------------------------------------------------- entry point


def handle(
    runtime: Runtime, session: Session, chat_id: str, text: str, now: datetime
) -> list[str] | None:
    """Replies to a practitioner command, or None when the patient dialog should run."""
    practice = runtime.practice
    command, _, args = (text or "").strip().partition(" ")
    command = command.split("@", 1)[0].lower()
    args = args.strip()
    if command == "/start" and args:
        code = _redeem(session, practice.id, args, now)
        if code is not None:
            return _linked(runtime, session, code, chat_id, now)
    link = linked_chat(session, runtime.vault, practice.id, chat_id)
    if link is None or not command.startswith("/"):
        return None
    try:
        practice.practitioner(link.practitioner_id)
    except StopIteration:  # removed from the practice file: the link no longer grants access
        return None
    ctx = Ctx(runtime, session, link, now)
    action = COMMANDS.get(command, HELP)
    if action == AGENDA:
        return _agenda(ctx, args)
    if action == TOMORROW:
        return _show_day(ctx, ctx.today + timedelta(days=1))
    if action == CANCEL:
        return _cancel(ctx, args)
    if action == AWAY:
        return _away(ctx, args)
    return [ctx.t("pbot.help")]


def _linked(
    runtime: Runtime, session: Session, code: LinkCode, chat_id: str, now: datetime
) -> list[str]:
    """Link the chat and welcome the practitioner."""
    practice = runtime.practice
    link = _link(session, runtime.vault, practice, code.practitioner_id, chat_id, now)
    audit.record(
        session,
        practice.id,
        f"practitioner:{code.practitioner_id}",
        "practitioner_link",
        code.practitioner_id,
    )
    log.info("practitioner chat linked: practitioner=%s", code.practitioner_id)
    ctx = Ctx(runtime, session, link, now)
    return [ctx.t("pbot.linked", name=ctx.practitioner.name), ctx.t("pbot.help")]


# ---------------------------------------------------------------- /agenda, /demain


def parse_day(text: str, lang: str, today: date) -> date | None:
    """'2026-12-07', '7/12', 'demain', 'lundi'... as a date; empty is today."""
    if not text.strip():
        return today
    when = parse_when(text, lang, today)
    return when.day if when is not None and when.day is not None else None


def _agenda(ctx: Ctx, args: str) -> list[str]:
    day = parse_day(args, ctx.lang, ctx.today)
    if day is None:
        return [ctx.t("pbot.date_bad")]
    return _show_day(ctx, day)


def _detail(practitioner: Practitioner) -> str:
    """Telegram lists follow the practitioner's chosen detail, at least initials."""
    return "full" if practitioner.summary_detail == "full" else "initials"


def _numbered(ctx: Ctx, entries: Sequence[AgendaEntry]) -> list[str]:
    """Entries as `N. line`, remembered (sealed) for `/annuler N`."""
    detail = _detail(ctx.practitioner)
    catalogs = ctx.runtime.catalogs
    lines = [
        ctx.t("pbot.line", n=n, line=entry_line(catalogs, ctx.practice, e, detail, ctx.lang))
        for n, e in enumerate(entries, 1)
    ]
    _remember(ctx, [e.appointment_id for e in entries])
    return lines


def _show_day(ctx: Ctx, day: date) -> list[str]:
    """The numbered list of a day's booked appointments (an audited access)."""
    entries = [
        e
        for e in day_agenda(
            ctx.session, ctx.runtime.vault, ctx.practice, ctx.link.practitioner_id, day, ctx.lang
        )
        if not e.cancelled
    ]
    lines = [header(ctx.runtime.catalogs, ctx.practice, ctx.practitioner, day, ctx.lang)]
    lines += _numbered(ctx, entries) or [ctx.t("summary.empty")]
    _audit_access(ctx, f"day={day.isoformat()} entries={len(entries)}")
    return _split("\n".join(lines))


def _audit_access(ctx: Ctx, detail: str) -> None:
    audit.record(
        ctx.session, ctx.practice.id, ctx.actor, "agenda_access", ctx.link.practitioner_id, detail
    )


def _split(text: str) -> list[str]:
    from store.scheduler import chunks

    return chunks(text, TELEGRAM_LIMIT)


def _remember(ctx: Ctx, ids: list[str]) -> None:
    link = ctx.link
    link.last_list_enc = ctx.runtime.vault.seal_json("practitioner_link", "last_list", link.id, ids)
    link.last_list_at = ctx.now
    ctx.session.add(link)


def _recall(ctx: Ctx) -> list[str]:
    """The appointment ids of the last list shown to this chat, if recent enough."""
    link = ctx.link
    if link.last_list_enc is None or link.last_list_at is None:
        return []
    if ctx.now - link.last_list_at > LIST_TTL:
        return []
    return list(
        ctx.runtime.vault.open_json("practitioner_link", "last_list", link.id, link.last_list_enc)
    )


# ---------------------------------------------------------------- /annuler N


def _cancel(ctx: Ctx, args: str) -> list[str]:
    ids = _recall(ctx)
    if not args.isdigit() or not 1 <= int(args) <= len(ids):
        return [ctx.t("pbot.cancel_usage")]
    number = int(args)
    appt = ctx.session.get(Appointment, ids[number - 1])
    if (
        appt is None
        or appt.practitioner_id != ctx.link.practitioner_id
        or appt.status != "booked"
        or appt.start <= ctx.now
    ):
        return [ctx.t("pbot.cancel_gone")]
    ctx.runtime.assistant.cancel(ctx.session, None, appt.id, ctx.now, by="practitioner")
    audit.record(ctx.session, ctx.practice.id, ctx.actor, "appointment_cancel", appt.id)
    told = _notify_patient(ctx, appt)
    key = "pbot.cancel_done" if told else "pbot.cancel_done_silent"
    return [ctx.t(key, n=number, when=Moment(appt.start, "slot"))]


def _notify_patient(ctx: Ctx, appt: Appointment) -> bool:
    """Queue the discreet cancellation notice (date, time, practice; never the type)."""
    patient = ctx.session.get(Patient, appt.patient_id) if appt.patient_id else None
    if patient is None or patient.opted_out or patient.unreachable:
        return False
    if patient.channel not in ("sms", "telegram"):
        return False
    vault, practice = ctx.runtime.vault, ctx.practice
    text = ctx.runtime.catalogs.text(
        Text(
            "notice.cancelled_by_practice",
            {"when": Moment(appt.start, "long"), "practice": practice.name},
        ),
        patient.lang,
        practice.tz,
    )
    notify_patient(ctx.session, vault, patient, text, kind="notice", now=ctx.now)
    return True


# ---------------------------------------------------------------- /absent START END


@dataclass(frozen=True)
class _Point:
    """One end of a period as typed: a day and maybe a time (None: that side's default),
    or a part of the day ("matin", "après-midi") when no time is given."""

    day: date | None
    at: time | None
    part: str | None = None


# what a part of a day blocks, from its start to its end (None: midnight, the next day)
BLOCK_PARTS: dict[str, tuple[time, time | None]] = {
    "morning": (time(0), time(12)),
    "afternoon": (time(12), None),
    "evening": (time(17), None),
}


def _point(text: str, lang: str, today: date) -> _Point | None:
    """'7/12', 'demain 14h', '2026-12-07T14:00'... or None when not understood."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None and ("T" in text or ":" in text):
        return _Point(moment.date(), moment.time().replace(tzinfo=None))
    when = parse_when(text, lang, today)
    if when is None or (when.day is None and when.at is None and when.part is None):
        return None
    return _Point(when.day, when.at, None if when.at else when.part)


def _is_day(token: str, lang: str, today: date) -> bool:
    found = _point(token, lang, today)
    return found is not None and found.day is not None and found.at is None


def _split_period(args: str, lang: str, today: date) -> tuple[_Point, _Point | None] | None:
    """Start and end points; end None when only one day (or day and time) is given."""
    parts = PERIOD_SEPARATOR.split(args, maxsplit=1)
    if len(parts) == 2:
        start, end = _point(parts[0], lang, today), _point(parts[1], lang, today)
        return (start, end) if start and end else None
    tokens = args.split()
    candidates: list[tuple[bool, int, _Point, _Point]] = []
    for i in range(1, len(tokens)):
        left, right = " ".join(tokens[:i]), " ".join(tokens[i:])
        start, end = _point(left, lang, today), _point(right, lang, today)
        if start is None or end is None:
            continue
        day_first = _is_day(tokens[i], lang, today)
        if day_first or (start.at is not None and end.day is None):
            candidates.append((day_first, i, start, end))
    if candidates:
        _, _, start, end = max(candidates, key=lambda c: (c[0], c[1]))
        return start, end
    whole = _point(args, lang, today)
    return (whole, None) if whole is not None else None


def parse_period(args: str, lang: str, today: date, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """`/absent` arguments as aware [start, end): days are whole, times exact."""
    found = _split_period(args, lang, today)
    if found is None:
        return None
    first, last = found
    start_day = first.day or today
    if last is None and first.part is not None:  # "demain matin": that part of that day
        part_start, part_end = BLOCK_PARTS[first.part]
        end_day = start_day if part_end else start_day + timedelta(days=1)
        return (
            datetime.combine(start_day, part_start, tz),
            datetime.combine(end_day, part_end or time(0), tz),
        )
    start = datetime.combine(start_day, first.at or time(0), tz)
    if last is None:
        end = datetime.combine(start_day + timedelta(days=1), time(0), tz)
    elif last.at is None:
        end = datetime.combine((last.day or start_day) + timedelta(days=1), time(0), tz)
    else:
        end = datetime.combine(last.day or start_day, last.at, tz)
    return start, end


def _away(ctx: Ctx, args: str) -> list[str]:
    period = parse_period(args, ctx.lang, ctx.today, ctx.practice.tz) if args else None
    if period is None or not period[0] < period[1] or period[1] <= ctx.now:
        return [ctx.t("pbot.absent_usage")]
    start, end = period
    if end - start > MAX_BLOCK:
        return [ctx.t("pbot.absent_usage")]
    pid = ctx.link.practitioner_id
    ctx.session.add(
        Block(
            practice_id=ctx.practice.id,
            practitioner_id=pid,
            start=start,
            end=end,
            created_at=ctx.now,
        )
    )
    inside = [
        e
        for e in appointments_between(
            ctx.session,
            ctx.runtime.vault,
            ctx.practice,
            pid,
            start - timedelta(days=1),
            end,
            ctx.lang,
        )
        if not e.cancelled and e.end > start
    ]
    audit.record(
        ctx.session, ctx.practice.id, ctx.actor, "block_period", pid, f"appointments={len(inside)}"
    )
    lines = [ctx.t("pbot.absent_done", start=Moment(start, "slot"), end=Moment(end, "slot"))]
    if inside:
        lines.append(ctx.t("pbot.absent_inside"))
        lines += _numbered(ctx, inside)
        _audit_access(ctx, f"period entries={len(inside)}")
    else:
        lines.append(ctx.t("pbot.absent_none"))
    return _split("\n".join(lines))


# ---------------------------------------------------------------- for the Telegram webhook


def queue_replies(runtime: Runtime, session: Session, chat_id: str, replies: Sequence[str]) -> None:
    """Queue replies to a practitioner's chat in the current transaction."""
    payloads = [{"op": "send", "text": text} for text in replies]
    queue_payloads(runtime, session, chat_id, payloads)


def try_handle(
    runtime: Runtime, chat_id: str, text: str, message_id: str = "", now: datetime | None = None
) -> bool:
    """Handle a private Telegram message as a practitioner command, replies queued, the
    update id recorded; False when the patient dialog should take it instead."""
    now = now or utcnow()
    practice_id = runtime.practice.id
    with runtime.db.write() as session:
        if message_id and _seen(session, practice_id, message_id):
            return linked_chat(session, runtime.vault, practice_id, chat_id) is not None
        replies = handle(runtime, session, chat_id, text, now)
        if replies is None:
            return False  # nothing was written
        queue_replies(runtime, session, chat_id, replies)
        if message_id:
            session.add(
                ProcessedMessage(
                    practice_id=practice_id,
                    channel=CHANNEL,
                    external_id=message_id[:64],
                    created_at=now,
                )
            )
    return True


def _seen(session: Session, practice_id: str, message_id: str) -> bool:
    return (
        session.exec(
            select(ProcessedMessage.id).where(
                ProcessedMessage.practice_id == practice_id,
                ProcessedMessage.channel == CHANNEL,
                ProcessedMessage.external_id == message_id[:64],
            )
        ).first()
        is not None
    )

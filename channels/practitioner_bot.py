"""Practitioner commands on Telegram, handled before the patient dialog.

A chat becomes a practitioner's by `/start <code>` with a one-time code from
`creneau practitioner link`; only then are `/agenda`, `/demain`, `/annuler N`, `/absent` and
`/aide` answered. For any other chat `handle` returns None and the patient dialog runs as
usual, so an unlinked chat never sees agenda data nor learns whether a code exists. Every
agenda access is audited (pseudonymous ids, no personal data).

This module routes and parses; the store does the rest (store.practitioners: links, lists,
blocks; store.appointments: cancellation and the patient's notice; store.agenda: the day),
the same operations the desk uses. It returns reply texts: the Telegram channel queues them.
What it says carries times, counts and initials at most; at `full` detail a link to the
day on the desk, where names, types and answers can be read behind a login.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlmodel import Session

from bot.messages import Moment, Text
from bot.practice import Practice, Practitioner
from bot.when import parse_when
from channels.runtime import Runtime
from store import audit
from store.agenda import (
    AgendaEntry,
    appointment_entry,
    appointments_between,
    audit_unreadable,
    day_agenda,
    desk_day_url,
    entry_line,
    header,
    link_line,
)
from store.appointments import cancel_by_practice, reachable, tell
from store.crypto import CryptoError
from store.models import Appointment, LinkCode, PractitionerLink, utcnow
from store.practitioners import (
    BlockError,
    ListMemory,
    add_block,
    already_handled,
    clear_pending,
    link_chat,
    linked_chat,
    pending_matches,
    recall_list,
    record_handled,
    redeem_code,
    remember_list,
    set_pending,
)
from store.scheduler import chunks

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TELEGRAM_LIMIT = 4096
YES = frozenset({"oui", "o", "yes", "y", "ok", "confirmer", "confirm"})

AGENDA, TOMORROW, CANCEL, AWAY, HELP = "agenda", "tomorrow", "cancel", "away", "help"
COMMANDS = {
    "/agenda": AGENDA, "/demain": TOMORROW, "/tomorrow": TOMORROW, "/annuler": CANCEL,
    "/cancel": CANCEL, "/absent": AWAY, "/away": AWAY, "/aide": HELP, "/help": HELP,
    "/start": HELP,
}  # fmt: skip
PERIOD_SEPARATOR = re.compile(r"\s*\.\.\s*|\s+(?:-|au|to|until|jusqu'au)\s+", re.IGNORECASE)


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


# ---------------------------------------------------------------- entry points


def respond(
    runtime: Runtime,
    session: Session,
    chat_id: str,
    text: str,
    message_id: str = "",
    now: datetime | None = None,
) -> list[str] | None:
    """Replies to a private Telegram message if it is a practitioner's command (the update
    id recorded, a repeat answered with nothing new: []); None when the patient dialog
    should take the message instead (then nothing was written)."""
    now = now or utcnow()
    practice_id = runtime.practice.id
    if message_id and already_handled(session, runtime.vault, practice_id, CHANNEL, message_id):
        linked = linked_chat(session, runtime.vault, practice_id, chat_id) is not None
        return [] if linked else None
    replies = handle(runtime, session, chat_id, text, now)
    if replies is not None and message_id:
        record_handled(session, runtime.vault, practice_id, CHANNEL, message_id, now)
    return replies


def handle(
    runtime: Runtime, session: Session, chat_id: str, text: str, now: datetime
) -> list[str] | None:
    """Replies to a practitioner command, or None when the patient dialog should run."""
    practice = runtime.practice
    command, _, args = (text or "").strip().partition(" ")
    command = command.split("@", 1)[0].lower()
    args = args.strip()
    if command == "/start" and args:
        code = redeem_code(session, practice.id, args, now)
        if code is not None:
            return _linked(runtime, session, code, chat_id, now)
    link = linked_chat(session, runtime.vault, practice.id, chat_id)
    if link is None or not command.startswith("/"):
        return None
    try:
        practice.practitioner(link.practitioner_id)
    except KeyError:  # removed from the practice file: the link no longer grants access
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
    link = link_chat(session, runtime.vault, practice, code.practitioner_id, chat_id, now)
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


def _numbered(ctx: Ctx, entries: Sequence[AgendaEntry]) -> list[str]:
    """Entries as `N. time - initials`, remembered (sealed) for `/annuler N`."""
    catalogs = ctx.runtime.catalogs
    lines = [
        ctx.t("pbot.line", n=n, line=entry_line(catalogs, ctx.practice, e, ctx.lang))
        for n, e in enumerate(entries, 1)
    ]
    ids = [e.appointment_id for e in entries]
    remember_list(ctx.session, ctx.runtime.vault, ctx.link, ids, ctx.now)
    audit_unreadable(ctx.session, ctx.practice.id, ctx.actor, entries)
    return lines


def _desk_link(ctx: Ctx, day: date) -> list[str]:
    """At `full` detail, the link to that day on the desk (where names can be read)."""
    if ctx.practitioner.summary_detail != "full":
        return []
    url = desk_day_url(ctx.runtime.settings.public_base_url, day, ctx.link.practitioner_id)
    return [link_line(ctx.runtime.catalogs, ctx.practice, url, ctx.lang)] if url else []


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
    lines += _desk_link(ctx, day)
    _audit_access(ctx, f"day={day.isoformat()} entries={len(entries)}")
    return chunks("\n".join(lines), TELEGRAM_LIMIT)


def _audit_access(ctx: Ctx, detail: str) -> None:
    audit.record(
        ctx.session, ctx.practice.id, ctx.actor, "agenda_access", ctx.link.practitioner_id, detail
    )


def _recall(ctx: Ctx) -> ListMemory:
    """The last list shown to this chat; an unreadable cell counts as no list (audited)."""
    try:
        return recall_list(ctx.runtime.vault, ctx.link, ctx.now)
    except CryptoError:
        audit.record(
            ctx.session,
            ctx.practice.id,
            ctx.actor,
            "unreadable_cell",
            ctx.link.id,
            "table=practitioner_link column=last_list",
        )
        return ListMemory()


# ---------------------------------------------------------------- /annuler N [oui]


def _cancel(ctx: Ctx, args: str) -> list[str]:
    """`/annuler N` asks for confirmation; `/annuler N oui` right after it cancels."""
    words = args.split()
    memory = _recall(ctx)
    if not words or not words[0].isdigit() or not 1 <= int(words[0]) <= len(memory.ids):
        return [ctx.t("pbot.cancel_usage")]
    number = int(words[0])
    appt_id = memory.ids[number - 1]
    appt = ctx.session.get(Appointment, appt_id)
    if (
        appt is None
        or appt.practitioner_id != ctx.link.practitioner_id
        or appt.status != "booked"
        or appt.start <= ctx.now
    ):
        return [ctx.t("pbot.cancel_gone")]
    confirmed = len(words) > 1 and words[1].lower() in YES
    if not confirmed or not pending_matches(memory, appt_id, ctx.now):
        return [_ask_confirmation(ctx, memory, appt, number)]
    clear_pending(ctx.session, ctx.runtime.vault, ctx.link, memory)
    assistant = ctx.runtime.assistant
    cancel_by_practice(
        ctx.session,
        assistant,
        ctx.practice,
        appt.id,
        ctx.now,
        by="practitioner",
        practitioner_id=ctx.link.practitioner_id,
    )
    audit.record(ctx.session, ctx.practice.id, ctx.actor, "appointment_cancel", appt.id)
    told = _notify_patient(ctx, appt)
    key = "pbot.cancel_done" if told else "pbot.cancel_done_silent"
    return [ctx.t(key, n=number, when=Moment(appt.start, "slot"))]


def _ask_confirmation(ctx: Ctx, memory: ListMemory, appt: Appointment, number: int) -> str:
    """Remember the cancellation asked for, and ask to confirm it (time and initials)."""
    set_pending(ctx.session, ctx.runtime.vault, ctx.link, memory, appt.id, ctx.now)
    entry = appointment_entry(ctx.session, ctx.runtime.vault, ctx.practice, appt.id, ctx.lang)
    who = entry.initials if entry is not None else "?"
    if entry is not None:
        audit_unreadable(ctx.session, ctx.practice.id, ctx.actor, [entry])
    return ctx.t("pbot.cancel_confirm", n=number, when=Moment(appt.start, "slot"), initials=who)


def _notify_patient(ctx: Ctx, appt: Appointment) -> bool:
    """Queue the discreet cancellation notice (date, time, practice; never the type)."""
    patient = reachable(ctx.session, appt.patient_id)
    if patient is None:
        return False
    practice = ctx.practice
    text = ctx.runtime.catalogs.text(
        Text(
            "notice.cancelled_by_practice",
            {"when": Moment(appt.start, "long"), "practice": practice.name},
        ),
        patient.lang,
        practice.tz,
    )
    return tell(ctx.session, ctx.runtime.vault, patient, text, ctx.now)


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
    if period is None:
        return [ctx.t("pbot.absent_usage")]
    start, end = period
    pid = ctx.link.practitioner_id
    try:
        add_block(ctx.session, ctx.practice, pid, start, end, ctx.now)
    except BlockError:
        return [ctx.t("pbot.absent_usage")]
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
    return chunks("\n".join(lines), TELEGRAM_LIMIT)

"""Booking: type, practitioner (or the first available), slots that honour what was asked,
name, preparation, confirmation.

A move is a booking whose draft names the appointment it replaces: the confirmation books
the new slot and cancels the old one in one transaction (effect `Book(replaces=...)`).
Preparation instructions go once, in their own message, right after the type is chosen;
confirmations never carry the type, instructions or an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.conversation import ANY_PRACTITIONER, Draft
from bot.dialog import (
    SKIP_WORDS,
    ask,
    call_us,
    find_appt,
    finish,
    menu,
    offer,
    parse_slot,
    short_name,
    slot_id,
    unexpected,
    valid_name,
)
from bot.engine import (
    AppointmentView,
    Book,
    Context,
    Effect,
    Outcome,
    SetName,
    Step,
    moment,
)
from bot.messages import Moment, Reply, Text
from bot.sanitize import clean_field
from bot.search import END_OF_DAY, PAGE, Finder, Found
from bot.slots import Interval, is_free
from bot.states import State
from bot.when import When, parse_when

MAX_ANSWER = 300


# ---------------------------------------------------------------- type and practitioner


def start_booking(
    step: Step, move: AppointmentView | None = None, wanted: When | None = None
) -> Outcome:
    """Begin a booking (or a move), keeping what the patient already asked for."""
    if move:
        draft = Draft(move=move.id, type_id=move.type_id, practitioner_id=move.practitioner_id)
        return offer_slots(step, draft)
    draft = Draft(ask=wanted)
    types = step.practice.consultation_types
    if len(types) == 1:
        return after_type(step, replace(draft, type_id=types[0].id))
    ids = [f"t:{t.id}" for t in types]
    return offer(step, State.BOOK_TYPE, [Text("book.type")], ids, draft=draft)


def on_type(step: Step) -> Outcome:
    if not step.choice or not step.choice.startswith("t:"):
        return unexpected(step)
    return after_type(step, replace(step.draft, type_id=step.choice[2:]))


def after_type(step: Step, draft: Draft) -> Outcome:
    """The practitioner question (with "first available") or the slots, with the type's
    preparation instructions when it has some: their own message by SMS; on Telegram the
    opening of that question's message (the channel never copies them into an edit)."""
    ctype = step.practice.ctype(draft.type_id)
    if len(ctype.practitioners) == 1:
        outcome = offer_slots(step, replace(draft, practitioner_id=ctype.practitioners[0]))
    else:
        ids = ["p:" + ANY_PRACTITIONER] + [f"p:{pid}" for pid in ctype.practitioners]
        outcome = offer(
            step, State.BOOK_PRACTITIONER, [Text("book.practitioner")], ids, draft=draft
        )
    instructions = _localised(step, ctype.preparation) if ctype.requires_preparation else ""
    if not instructions:
        return outcome
    note = Text("book.preparation", {"value": instructions})
    if step.inbound.buttons:  # Telegram sends one message a second per chat: open the next
        first = outcome.replies[0]  # question with them rather than a second later
        outcome.replies[0] = replace(first, texts=(note, *first.texts))
    else:  # by SMS and in the terminal, their own message, after the question
        outcome.replies.append(Reply((note,)))
    return outcome


def on_practitioner(step: Step) -> Outcome:
    if not step.choice or not step.choice.startswith("p:"):
        return unexpected(step)
    return offer_slots(step, replace(step.draft, practitioner_id=step.choice[2:]))


def _localised(step: Step, texts: dict[str, str] | None) -> str:
    texts = texts or {}
    return texts.get(step.lang) or texts.get(step.practice.locale, "")


# ---------------------------------------------------------------- slots


ANYONE_SMS_PAGE = 3  # slots that carry a practitioner's name: three fit one SMS segment


def finder(step: Step, draft: Draft) -> Finder:
    ctype = step.practice.ctype(draft.type_id)
    page = PAGE
    if draft.practitioner_id == ANY_PRACTITIONER:
        pids: Sequence[str] = ctype.practitioners
        page = ANYONE_SMS_PAGE if step.inbound.channel == "sms" else PAGE
    else:
        pids = (draft.practitioner_id,)
    return Finder(step.practice, step.ctx.now, step.ctx.busy, ctype.duration_minutes, pids, page)


def offer_slots(step: Step, draft: Draft, *before: Text, after: datetime | None = None) -> Outcome:
    """The slots that honour the request, saying what was understood only when it is what
    is offered; when nothing matches, one line saying so and the nearest slots."""
    found = finder(step, draft).find(draft.ask, after)
    if not found.slots:
        if after is None and draft.ask is None:
            params = {"days": step.practice.horizon_days, "contact": step.practice.contact}
            return menu(step, *before, Text("book.none", params))
        none = [*before, Text("book.none_then")]
        return offer(step, State.BOOK_SLOT, none, ["day", "menu"], draft=draft)
    anyone = draft.practitioner_id == ANY_PRACTITIONER
    ids = [slot_id(start, pid if anyone else None) for pid, start in found.slots]
    draft = replace(draft, last=found.slots[-1][1].astimezone(UTC))
    texts, *shorter = _slot_texts(step, draft, found, before, paging=after is not None)
    return offer(
        step,
        State.BOOK_SLOT,
        texts,
        [*ids, "later", "day"],
        draft=draft,
        shorter=tuple(shorter),
    )


def _slot_texts(
    step: Step, draft: Draft, found: Found, before: tuple[Text, ...], paging: bool
) -> list[tuple[Text, ...]]:
    """The header of a slot list, then shorter forms for one SMS segment (long names): the
    headers shrink, what was understood goes last, the slots never."""
    name = "" if draft.practitioner_id == ANY_PRACTITIONER else _pname(step, draft)
    heads = [Text("book.slots", {"practitioner": name})] if name else []
    if name:
        heads.append(Text("book.slots_who", {"practitioner": name}))
    if name and short_name(name) != name:
        heads.append(Text("book.slots_who", {"practitioner": short_name(name)}))
    heads.append(Text("book.slots_any"))
    asked = draft.ask
    if asked is None or paging or asked == When(earliest=True):
        if asked is not None and asked.earliest and not paging:
            heads = [Text("book.earliest", h.params) if h.key == "book.slots" else h for h in heads]
        return [(*before, h) for h in heads] + [before]
    what, brief = describe(step, asked), describe(step, asked, short=True)
    if found.held:
        lead = Text("book.understood", {"what": what})
        tail = [(*before, lead), (*before, Text("book.asked", {"what": brief}))]
        return [(*before, lead, h) for h in heads] + tail
    key = "book.closed" if found.closed else "book.full"
    lead = Text(key, {"what": what})
    nearest = [Text("book.nearest", {"practitioner": name})] if name else []
    nearest.append(Text("book.nearest_any"))
    tail = [(*before, Text(f"{key}_short", {"what": brief})), (*before, Text(f"{key}_min"))]
    return [(*before, lead, h) for h in nearest] + tail


def _pname(step: Step, draft: Draft) -> str:
    return step.practice.practitioner(draft.practitioner_id).name


def describe(step: Step, asked: When, short: bool = False) -> Text:
    """What the patient asked, in words: "mardi 1 décembre, vers 14:00" (short: "mar. 1 déc.")."""
    tz = step.practice.tz
    today = step.ctx.now.astimezone(tz).date()
    style = "dayshort" if short else "day"
    parts: list[Text | Moment] = []
    if asked.day and asked.last_day and short and asked.day.month == asked.last_day.month:
        span = {"from": asked.day.day, "to": _day(asked.last_day, tz, "daymonth")}
        parts.append(Text("when.range_month", span))
    elif asked.day and asked.last_day:
        edge = "daymonth" if short else "day"
        span = {"from": _day(asked.day, tz, edge), "to": _day(asked.last_day, tz, edge)}
        parts.append(Text("when.range", span))
    elif asked.day:
        parts.append(_day(asked.day, tz, style))
    if asked.window:
        parts.append(_window_text(asked.window, today, tz))
    elif asked.at:
        parts.append(Text("when.at", {"time": _clock(asked.at, today, tz)}))
    elif asked.part:
        parts.append(Text(f"when.{asked.part}"))
    if asked.earliest and not parts:
        parts.append(Text("when.earliest"))
    return Text("join", {"items": parts})


def _day(day: date, tz: ZoneInfo, style: str) -> Moment:
    return moment(datetime.combine(day, time(12), tzinfo=tz), style)


def _clock(at: time, today: date, tz: ZoneInfo) -> Moment:
    return moment(datetime.combine(today, at, tzinfo=tz), "time")


def _window_text(window: tuple[time, time], today: date, tz: ZoneInfo) -> Text:
    start, end = window
    if start == time(0):
        return Text("when.before", {"time": _clock(end, today, tz)})
    if end == END_OF_DAY:
        return Text("when.after", {"time": _clock(start, today, tz)})
    return Text("when.between", {"from": _clock(start, today, tz), "to": _clock(end, today, tz)})


def on_slot(step: Step) -> Outcome:
    choice = step.choice or ""
    if choice == "later":
        return offer_slots(step, step.draft, after=step.draft.last)
    if choice == "day":
        return ask(step, State.BOOK_DAY, Text("book.day"))
    if choice == "menu":
        return menu(step)
    if choice.startswith("s:"):
        pid, start = parse_slot(choice[2:])
        return choose_slot(step, pid or step.draft.practitioner_id, start)
    if step.text and (when := parse_when(step.text, step.lang, today(step.ctx))):
        return slots_for(step, when)
    return unexpected(step)


def today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.practice.tz).date()


def on_day(step: Step) -> Outcome:
    when = parse_when(step.text, step.lang, today(step.ctx)) if step.text else None
    if when is None:
        misses = step.conv.misses + 1
        texts = [Text("book.day_unclear")]
        if misses >= 2:
            texts.insert(0, call_us(step.practice))
        out = ask(step, State.BOOK_DAY, *texts)
        return Outcome(replace(out.conv, misses=misses), out.replies)
    return slots_for(step, when)


def slots_for(step: Step, when: When) -> Outcome:
    """Slots for what the patient just asked (it replaces any earlier request)."""
    return offer_slots(step, replace(step.draft, ask=when, last=None))


def choose_slot(step: Step, pid: str, start: datetime) -> Outcome:
    ctype = step.practice.ctype(step.draft.type_id)
    if not is_free(
        step.practice, pid, start, ctype.duration_minutes, now=step.ctx.now, busy=step.ctx.busy(pid)
    ):
        return offer_slots(step, step.draft, Text("book.taken"))
    return next_question(step, replace(step.draft, slot=start, slot_practitioner=pid))


# ---------------------------------------------------------------- name, preparation, confirm


def next_question(step: Step, draft: Draft) -> Outcome:
    """Name (once, first booking), then preparation (only if the type needs it), then confirm."""
    ctype = step.practice.ctype(draft.type_id)
    if not draft.move and not step.ctx.patient.name and not draft.name:
        return ask(step, State.BOOK_NAME, Text("book.name"), draft=draft)
    question = _localised(step, ctype.preparation_question)
    if ctype.requires_preparation and question and not draft.prep_done and not draft.move:
        texts = (Text("raw", {"value": question}), Text("book.prep_skip"))
        return ask(step, State.BOOK_PREP, *texts, draft=draft)
    return confirm(step, draft)


def on_name(step: Step) -> Outcome:
    name = valid_name(step.text)
    if name is None:
        misses = step.conv.misses + 1
        texts = [Text("book.name_again")]
        if misses >= 2:
            texts.insert(0, call_us(step.practice))
        out = ask(step, State.BOOK_NAME, *texts)
        return Outcome(replace(out.conv, misses=misses), out.replies)
    return next_question(step, replace(step.draft, name=name))


def on_prep(step: Step) -> Outcome:
    answer = clean_field(step.text)[:MAX_ANSWER]
    if not answer:
        return ask(step, State.BOOK_PREP, Text("book.prep_again"))
    skipped = step.folded in SKIP_WORDS
    return confirm(step, replace(step.draft, prep=None if skipped else answer, prep_done=True))


def _name(step: Step, draft: Draft) -> str:
    return draft.name or step.ctx.patient.name or ""


def confirm(step: Step, draft: Draft) -> Outcome:
    assert draft.slot is not None
    pname = step.practice.practitioner(draft.slot_practitioner or draft.practitioner_id).name
    shorter: tuple[tuple[Text, ...], ...] = ()
    if draft.move:
        old = find_appt(step.ctx, draft.move)
        old_start = old.start if old else draft.slot
        moved = {"old": moment(old_start, "long"), "new": moment(draft.slot, "long")}
        text = Text("book.confirm_move", {**moved, "practitioner": pname})
    else:
        name = _name(step, draft)
        text = Text(
            "book.confirm",
            {"when": moment(draft.slot, "long"), "practitioner": pname, "name": name},
        )
        brief = {"when": moment(draft.slot), "practitioner": short_name(pname), "name": name}
        shorter = ((Text("book.confirm_short", brief),),)
    ids = ["yes", "no"]
    return offer(step, State.BOOK_CONFIRM, [text], ids, draft=draft, shorter=shorter)


def on_confirm(step: Step) -> Outcome:
    if step.choice == "no":
        return menu(step, Text("book.dropped"))
    if step.choice != "yes":
        return unexpected(step)
    draft = step.draft
    assert draft.slot is not None
    ctype = step.practice.ctype(draft.type_id)
    pid = draft.slot_practitioner or draft.practitioner_id
    start = draft.slot
    # the calendar's rules only (notice, horizon, hours, closures): the agenda is checked by
    # the booking itself, in the same statement as its insert, and a slot taken meanwhile
    # raises SlotTaken there, which ends in `slot_taken` too; the name is kept only if the
    # booking is made (effects after a refused booking are not applied)
    if not is_free(
        step.practice, pid, start, ctype.duration_minutes, now=step.ctx.now, busy=no_agenda
    ):
        return slot_taken(step)
    end = start + timedelta(minutes=ctype.duration_minutes)
    effects: list[Effect] = [Book(pid, ctype.id, start, end, draft.prep, draft.move or None)]
    if draft.name:
        effects.append(SetName(draft.name))
    params = {
        "when": moment(start, "long"),
        "practice": step.practice.name,
        "address": _address(step),
        "name": _name(step, draft),
    }
    text = Text("book.moved" if draft.move else "book.done", params)
    return finish(step, [text], *effects)


def no_agenda(start: datetime, end: datetime) -> Iterable[Interval]:
    """A busy look-up that reads nothing: for checks the booking statement makes itself."""
    return ()


def _address(step: Step) -> str:
    return f", {step.practice.address}" if step.practice.address else ""


def slot_taken(step: Step) -> Outcome:
    """Someone booked the chosen slot first: say so and offer the nearest ones."""
    draft = replace(step.conv.draft, slot=None, slot_practitioner="")
    return offer_slots(step, draft, Text("book.taken"))

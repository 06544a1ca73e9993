"""Booking: type, practitioner, slots (later, another day), name, preparation, confirm.

A move is a booking with `move` set: the confirmation books the new slot and cancels
the old appointment in one transaction (effect `Book(replaces=...)`).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.dialog import (
    SKIP_WORDS,
    ask,
    find_appt,
    go,
    menu,
    offer_ids,
    parse_slot_id,
    reset,
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
    say,
)
from bot.messages import Text
from bot.slots import is_free, next_slots
from bot.when import When, parse_when

SLOTS_PER_PAGE = 5


PARTS = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(18, 0)),
    "evening": (time(17, 0), time(23, 59)),
}


def start_booking(step: Step, move: AppointmentView | None = None) -> Outcome:
    step.conv.data = (
        {"move": move.id, "type": move.type_id, "practitioner": move.practitioner_id}
        if move
        else {}
    )
    if move:
        return offer_slots(step)
    types = step.practice.consultation_types
    if len(types) == 1:
        step.conv.data["type"] = types[0].id
        return after_type(step)
    return go(step, "book.type", offer_ids(step, [Text("book.type")], [f"t:{t.id}" for t in types]))


def on_type(step: Step) -> Outcome:
    if not step.choice or not step.choice.startswith("t:"):
        return unexpected(step)
    step.conv.data["type"] = step.choice[2:]
    return after_type(step)


def after_type(step: Step) -> Outcome:
    ctype = step.practice.ctype(step.conv.data["type"])
    if len(ctype.practitioners) == 1:
        step.conv.data["practitioner"] = ctype.practitioners[0]
        return offer_slots(step)
    ids = [f"p:{pid}" for pid in ctype.practitioners]
    return go(step, "book.practitioner", offer_ids(step, [Text("book.practitioner")], ids))


def on_practitioner(step: Step) -> Outcome:
    if not step.choice or not step.choice.startswith("p:"):
        return unexpected(step)
    step.conv.data["practitioner"] = step.choice[2:]
    return offer_slots(step)


def _search(
    step: Step,
    *,
    after: datetime | None = None,
    start_from: datetime | None = None,
    window: tuple[time, time] | None = None,
) -> list[datetime]:
    data = step.conv.data
    ctype = step.practice.ctype(data["type"])
    pid = data["practitioner"]
    return next_slots(
        step.practice,
        pid,
        ctype.duration_minutes,
        now=step.ctx.now,
        busy=step.ctx.busy(pid),
        after=after,
        start_from=start_from,
        window=window,
        limit=SLOTS_PER_PAGE,
    )


def offer_slots(
    step: Step,
    *before: Text,
    after: datetime | None = None,
    start_from: datetime | None = None,
    window: tuple[time, time] | None = None,
) -> Outcome:
    """The next free slots, with "later" and "another day"."""
    slots = _search(step, after=after, start_from=start_from, window=window)
    pname = step.practice.practitioner(step.conv.data["practitioner"]).name
    if not slots and after is None and start_from is None:
        return menu(
            step,
            *before,
            Text(
                "book.none", {"days": step.practice.horizon_days, "contact": step.practice.contact}
            ),
        )
    if not slots:
        ids = ["day", "menu"]
        return go(step, "book.slot", offer_ids(step, [*before, Text("book.none_then")], ids))
    step.conv.data["last"] = slots[-1].astimezone(UTC).isoformat()
    step.conv.data["window"] = [w.isoformat() for w in window] if window else None
    ids = [slot_id(s) for s in slots] + ["later", "day"]
    texts = [*before, Text("book.slots", {"practitioner": pname})]
    return go(step, "book.slot", offer_ids(step, texts, ids))


def _window(step: Step) -> tuple[time, time] | None:
    w = step.conv.data.get("window")
    return (time.fromisoformat(w[0]), time.fromisoformat(w[1])) if w else None


def on_slot(step: Step) -> Outcome:
    choice = step.choice or ""
    if choice == "later":
        last = datetime.fromisoformat(step.conv.data["last"])
        return offer_slots(step, after=last, window=_window(step))
    if choice == "day":
        return ask(step, "book.day", Text("book.day"))
    if choice == "menu":
        return menu(step)
    if choice.startswith("s:"):
        return choose_slot(step, parse_slot_id(choice[2:]))
    if step.text and (when := parse_when(step.text, step.lang, _today(step.ctx))):
        return slots_for(step, when)
    return unexpected(step)


def _today(ctx: Context):
    return ctx.now.astimezone(ctx.practice.tz).date()


def on_day(step: Step) -> Outcome:
    when = parse_when(step.text, step.lang, _today(step.ctx)) if step.text else None
    if when is None:
        return ask(step, "book.day", Text("book.day_unclear"))
    return slots_for(step, when)


def slots_for(step: Step, when: When) -> Outcome:
    """Slots nearest to what the patient asked, saying what was understood."""
    tz = step.practice.tz
    day = when.day or _today(step.ctx)
    start_from = datetime.combine(day, when.at or time(0, 0), tzinfo=tz)
    window = PARTS.get(when.part) if when.part and not when.at else None
    understood = Text("book.understood", {"what": _describe(when, start_from)})
    return offer_slots(step, understood, start_from=start_from, window=window)


def _describe(when: When, start: datetime) -> Text:
    parts: list[Text] = []
    if when.day:
        parts.append(Text("raw", {"value": moment(start, "day")}))
    if when.at:
        parts.append(Text("when.at", {"time": moment(start, "time")}))
    elif when.part:
        parts.append(Text(f"when.{when.part}"))
    return Text("join", {"items": parts})


def choose_slot(step: Step, start: datetime) -> Outcome:
    data = step.conv.data
    ctype = step.practice.ctype(data["type"])
    pid = data["practitioner"]
    if not is_free(
        step.practice, pid, start, ctype.duration_minutes, now=step.ctx.now, busy=step.ctx.busy(pid)
    ):
        return offer_slots(step, Text("book.taken"))
    data["slot"] = start.astimezone(UTC).isoformat()
    return next_question(step)


def next_question(step: Step) -> Outcome:
    """Name (once, first booking), then preparation (only if the type needs it), then confirm."""
    data = step.conv.data
    ctype = step.practice.ctype(data["type"])
    if not data.get("move") and not step.ctx.patient.name and not data.get("name"):
        return ask(step, "book.name", Text("book.name"))
    if (
        ctype.requires_preparation
        and ctype.preparation_question
        and "prep" not in data
        and not data.get("move")
    ):
        question = ctype.preparation_question.get(step.lang) or ctype.preparation_question.get(
            step.practice.locale, ""
        )
        return ask(step, "book.prep", Text("raw", {"value": question}), Text("book.prep_skip"))
    return confirm(step)


def on_name(step: Step) -> Outcome:
    name = valid_name(step.text)
    if name is None:
        return ask(step, "book.name", Text("book.name_again"))
    step.conv.data["name"] = name
    return next_question(step)


def on_prep(step: Step) -> Outcome:
    answer = " ".join(step.text.split())[:300]
    if not answer and step.choice is None:
        return ask(step, "book.prep", Text("book.prep_again"))
    step.conv.data["prep"] = None if step.folded in SKIP_WORDS else answer
    return confirm(step)


def confirm(step: Step) -> Outcome:
    data = step.conv.data
    start = datetime.fromisoformat(data["slot"])
    pname = step.practice.practitioner(data["practitioner"]).name
    if data.get("move"):
        old = find_appt(step.ctx, data["move"])
        old_start = old.start if old else start
        text = Text(
            "book.confirm_move",
            {"old": moment(old_start, "long"), "new": moment(start, "long"), "practitioner": pname},
        )
    else:
        text = Text("book.confirm", {"when": moment(start, "long"), "practitioner": pname})
    return go(step, "book.confirm", offer_ids(step, [text], ["yes", "no"]))


def on_confirm(step: Step) -> Outcome:
    if step.choice == "no":
        return menu(step, Text("book.dropped"))
    if step.choice != "yes":
        return unexpected(step)
    data = step.conv.data
    ctype = step.practice.ctype(data["type"])
    start = datetime.fromisoformat(data["slot"])
    if not is_free(
        step.practice,
        data["practitioner"],
        start,
        ctype.duration_minutes,
        now=step.ctx.now,
        busy=step.ctx.busy(data["practitioner"]),
    ):
        return slot_taken(step)
    effects: list[Effect] = []
    if data.get("name"):
        effects.append(SetName(data["name"]))
    effects.append(
        Book(
            data["practitioner"],
            ctype.id,
            start,
            start + timedelta(minutes=ctype.duration_minutes),
            data.get("prep"),
            data.get("move"),
        )
    )
    key = "book.moved" if data.get("move") else "book.done"
    texts = [
        Text(
            key,
            {
                "when": moment(start, "long"),
                "practice": step.practice.name,
                "address": _address(step),
            },
        )
    ]
    if ctype.requires_preparation and ctype.preparation:
        prep = ctype.preparation.get(step.lang) or ctype.preparation.get(step.practice.locale, "")
        texts.append(Text("book.preparation", {"value": prep}))
    step.conv.data = {}
    step.conv.choices = []
    return Outcome(reset(step.conv), [say(*texts)], effects)


def _address(step: Step) -> str:
    return f", {step.practice.address}" if step.practice.address else ""


def slot_taken(step: Step) -> Outcome:
    """Someone booked the chosen slot first: say so and offer the next ones."""
    step.conv.data.pop("slot", None)
    return offer_slots(step, Text("book.taken"))

"""State handlers and keyword handlers: the whole dialog, as data-returning functions.

See `bot/STATES.md` for the state table and diagram. Every handler takes a Step and
returns an Outcome; none performs I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from bot.engine import (
    AppointmentView,
    Book,
    Cancel,
    Context,
    Conversation,
    Effect,
    EraseMe,
    Handler,
    OptIn,
    OptOut,
    Outcome,
    SetLanguage,
    SetName,
    Step,
    moment,
    notice_params,
    offer,
    say,
)
from bot.engine import Engine as _Engine
from bot.messages import Reply, Text
from bot.slots import is_free, next_slots
from bot.when import When, parse_when

SLOTS_PER_PAGE = 5
PARTS = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(18, 0)),
    "evening": (time(17, 0), time(23, 59)),
}
SKIP_WORDS = {"non", "no", "rien", "aucun", "nothing", "none", "-", "passer", "skip"}
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


# ---------------------------------------------------------------- choice labels


def label(cid: str, ctx: Context) -> Text:
    """The label of an offered choice id, in a form the renderer translates."""
    kind, _, arg = cid.partition(":")
    practice = ctx.practice
    if kind == "t":
        return Text("raw", {"value": practice.ctype(arg).label_for(ctx.patient.lang)})
    if kind == "p":
        return Text("raw", {"value": practice.practitioner(arg).name})
    if kind in ("s", "a"):
        start = _parse_utc(arg.split("@")[-1]) if kind == "s" else _appt_start(ctx, arg)
        return Text("raw", {"value": moment(start)}) if start else Text("choice.unknown")
    return Text(f"choice.{cid}")


def _appt_start(ctx: Context, appt_id: str) -> datetime | None:
    appt = _find_appt(ctx, appt_id)
    return appt.start if appt else None


def _find_appt(ctx: Context, appt_id: str) -> AppointmentView | None:
    return next((a for a in ctx.upcoming() if a.id == appt_id), None)


def _slot_id(start: datetime) -> str:
    return "s:" + start.astimezone(UTC).strftime("%Y%m%dT%H%M")


def _parse_utc(compact: str) -> datetime:
    return datetime.strptime(compact, "%Y%m%dT%H%M").replace(tzinfo=UTC)


def _offer(step: Step, texts: list[Text], ids: list[str]) -> Reply:
    return offer(step.conv, texts, ids, lambda cid: label(cid, step.ctx))


def _go(step: Step, state: str, reply: Reply, *effects) -> Outcome:
    step.conv.state = state
    return Outcome(step.conv, [reply], list(effects))


def _ask(step: Step, state: str, *texts: Text) -> Outcome:
    """A free-text question: no choices stay on offer."""
    step.conv.choices = []
    return _go(step, state, say(*texts))


# ---------------------------------------------------------------- main menu

MENU_IDS = ["book", "appts"]


def menu(step: Step, *before: Text) -> Outcome:
    """Reset to the main menu, optionally after some texts."""
    step.conv.data = {}
    return _go(step, "menu", _offer(step, [*before, Text("menu.prompt")], MENU_IDS))


def on_menu(step: Step) -> Outcome:
    if step.choice == "book":
        return start_booking(step)
    if step.choice == "appts":
        return list_appointments(step)
    return unexpected(step)


def unexpected(step: Step) -> Outcome:
    """Anything not understood: a short helpful line and the current choices again."""
    if not step.conv.choices:
        return menu(step, Text("unexpected"))
    ids = list(step.conv.choices)
    return _go(step, step.conv.state, _offer(step, [Text("unexpected.choose")], ids))


# ---------------------------------------------------------------- booking


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
    return _go(step, "book.type", _offer(step, [Text("book.type")], [f"t:{t.id}" for t in types]))


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
    return _go(step, "book.practitioner", _offer(step, [Text("book.practitioner")], ids))


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
        return _go(step, "book.slot", _offer(step, [*before, Text("book.none_then")], ids))
    step.conv.data["last"] = slots[-1].astimezone(UTC).isoformat()
    step.conv.data["window"] = [w.isoformat() for w in window] if window else None
    ids = [_slot_id(s) for s in slots] + ["later", "day"]
    texts = [*before, Text("book.slots", {"practitioner": pname})]
    return _go(step, "book.slot", _offer(step, texts, ids))


def _window(step: Step) -> tuple[time, time] | None:
    w = step.conv.data.get("window")
    return (time.fromisoformat(w[0]), time.fromisoformat(w[1])) if w else None


def on_slot(step: Step) -> Outcome:
    choice = step.choice or ""
    if choice == "later":
        last = datetime.fromisoformat(step.conv.data["last"])
        return offer_slots(step, after=last, window=_window(step))
    if choice == "day":
        return _ask(step, "book.day", Text("book.day"))
    if choice == "menu":
        return menu(step)
    if choice.startswith("s:"):
        return choose_slot(step, _parse_utc(choice[2:]))
    if step.text and (when := parse_when(step.text, step.lang, _today(step.ctx))):
        return slots_for(step, when)
    return unexpected(step)


def _today(ctx: Context):
    return ctx.now.astimezone(ctx.practice.tz).date()


def on_day(step: Step) -> Outcome:
    when = parse_when(step.text, step.lang, _today(step.ctx)) if step.text else None
    if when is None:
        return _ask(step, "book.day", Text("book.day_unclear"))
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
        return _ask(step, "book.name", Text("book.name"))
    if (
        ctype.requires_preparation
        and ctype.preparation_question
        and "prep" not in data
        and not data.get("move")
    ):
        question = ctype.preparation_question.get(step.lang) or ctype.preparation_question.get(
            step.practice.locale, ""
        )
        return _ask(step, "book.prep", Text("raw", {"value": question}), Text("book.prep_skip"))
    return confirm(step)


def on_name(step: Step) -> Outcome:
    name = " ".join(step.text.split())
    if not (2 <= len(name) <= 60) or len(_LETTER.findall(name)) < 2:
        return _ask(step, "book.name", Text("book.name_again"))
    step.conv.data["name"] = name
    return next_question(step)


def on_prep(step: Step) -> Outcome:
    answer = " ".join(step.text.split())[:300]
    if not answer and step.choice is None:
        return _ask(step, "book.prep", Text("book.prep_again"))
    step.conv.data["prep"] = None if step.folded in SKIP_WORDS else answer
    return confirm(step)


def confirm(step: Step) -> Outcome:
    data = step.conv.data
    start = datetime.fromisoformat(data["slot"])
    pname = step.practice.practitioner(data["practitioner"]).name
    if data.get("move"):
        old = _find_appt(step.ctx, data["move"])
        old_start = old.start if old else start
        text = Text(
            "book.confirm_move",
            {"old": moment(old_start, "long"), "new": moment(start, "long"), "practitioner": pname},
        )
    else:
        text = Text("book.confirm", {"when": moment(start, "long"), "practitioner": pname})
    return _go(step, "book.confirm", _offer(step, [text], ["yes", "no"]))


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
    return Outcome(_reset(step.conv), [say(*texts)], effects)


def _reset(conv: Conversation) -> Conversation:
    conv.state = "menu"
    return conv


def _address(step: Step) -> str:
    return f", {step.practice.address}" if step.practice.address else ""


def slot_taken(step: Step) -> Outcome:
    """Someone booked the chosen slot first: say so and offer the next ones."""
    step.conv.data.pop("slot", None)
    return offer_slots(step, Text("book.taken"))


# ---------------------------------------------------------------- my appointments


def list_appointments(step: Step, *before: Text) -> Outcome:
    appts = step.ctx.upcoming()
    step.conv.data = {}
    if not appts:
        return _go(
            step, "appts.list", _offer(step, [*before, Text("appts.none")], ["book", "menu"])
        )
    ids = [f"a:{a.id}" for a in appts] + ["book", "menu"]
    text = Text("appts.list", {"n": len(appts)}, count=len(appts))
    return _go(step, "appts.list", _offer(step, [*before, text], ids))


def on_appts(step: Step) -> Outcome:
    choice = step.choice or ""
    if choice == "book":
        return start_booking(step)
    if choice == "menu":
        return menu(step)
    if choice.startswith("a:") and (appt := _find_appt(step.ctx, choice[2:])):
        return show_appointment(step, appt)
    return unexpected(step)


def show_appointment(step: Step, appt: AppointmentView) -> Outcome:
    step.conv.data = {"appt": appt.id}
    pname = step.practice.practitioner(appt.practitioner_id).name
    text = Text("appts.one", {"when": moment(appt.start, "long"), "practitioner": pname})
    return _go(step, "appts.action", _offer(step, [text], ["move", "cancel", "appts"]))


def _too_late(step: Step, appt: AppointmentView) -> bool:
    return appt.start - step.ctx.now < timedelta(hours=step.practice.cancel_cutoff_hours)


def on_appt_action(step: Step) -> Outcome:
    appt = _find_appt(step.ctx, step.conv.data.get("appt", ""))
    if appt is None or step.choice == "appts":
        return list_appointments(step)
    if step.choice not in ("move", "cancel"):
        return unexpected(step)
    if _too_late(step, appt):
        return menu(
            step,
            Text(
                "appts.too_late",
                {"hours": step.practice.cancel_cutoff_hours, "contact": step.practice.contact},
            ),
        )
    if step.choice == "move":
        return start_booking(step, move=appt)
    return ask_cancel(step, appt)


def ask_cancel(step: Step, appt: AppointmentView) -> Outcome:
    step.conv.data = {"appt": appt.id}
    text = Text("cancel.confirm", {"when": moment(appt.start, "long")})
    return _go(step, "cancel.confirm", _offer(step, [text], ["yes", "no"]))


def on_cancel_confirm(step: Step) -> Outcome:
    appt = _find_appt(step.ctx, step.conv.data.get("appt", ""))
    if step.choice == "no" or appt is None:
        return menu(step, Text("cancel.kept"))
    if step.choice != "yes":
        return unexpected(step)
    if _too_late(step, appt):
        return menu(
            step,
            Text(
                "appts.too_late",
                {"hours": step.practice.cancel_cutoff_hours, "contact": step.practice.contact},
            ),
        )
    step.conv.data = {}
    step.conv.choices = []
    text = Text("cancel.done", {"when": moment(appt.start, "long")})
    return Outcome(_reset(step.conv), [say(text)], [Cancel(appt.id)])


# ---------------------------------------------------------------- keywords


def kw_cancel(step: Step) -> Outcome:
    """ANNULER: straight to the confirmation when there is one appointment, else the list."""
    appts = step.ctx.upcoming()
    if len(appts) == 1:
        if _too_late(step, appts[0]):
            return menu(
                step,
                Text(
                    "appts.too_late",
                    {"hours": step.practice.cancel_cutoff_hours, "contact": step.practice.contact},
                ),
            )
        return ask_cancel(step, appts[0])
    return list_appointments(step)


def kw_help(step: Step) -> Outcome:
    text = Text("help", {"contact": step.practice.contact})
    if not step.conv.choices:
        return menu(step, text)
    return _go(step, step.conv.state, _offer(step, [text], list(step.conv.choices)))


def kw_info(step: Step) -> Outcome:
    text = Text("notice.full", full_notice_params(step.ctx))
    return (
        _go(step, step.conv.state, _offer(step, [text], list(step.conv.choices)))
        if step.conv.choices
        else menu(step, text)
    )


def full_notice_params(ctx: Context) -> dict:
    p = ctx.practice
    dpo = Text("notice.dpo", {"dpo": p.dpo}) if p.dpo else Text("raw", {"value": ""})
    return {**notice_params(p), "controller": p.controller, "dpo": dpo}


def kw_stop(step: Step) -> Outcome:
    step.conv.data = {}
    step.conv.choices = []
    step.conv.state = "menu"
    return Outcome(step.conv, [say(Text("stop.done"))], [OptOut()])


def kw_start(step: Step) -> Outcome:
    outcome = menu(step, Text("start.done")) if step.ctx.patient.opted_out else menu(step)
    if step.ctx.patient.opted_out:
        outcome.effects.append(OptIn())
    return outcome


def kw_lang(step: Step) -> Outcome:
    """FR / EN: switch language; the store applies SetLanguage before rendering the reply."""
    lang = "fr" if step.folded in ("fr", "francais") else "en"
    outcome = kw_help_like(step, Text("lang.done"))
    outcome.effects.insert(0, SetLanguage(lang))
    return outcome


def kw_help_like(step: Step, text: Text) -> Outcome:
    if not step.conv.choices:
        return menu(step, text)
    return _go(step, step.conv.state, _offer(step, [text], list(step.conv.choices)))


def kw_expired(step: Step) -> Outcome:
    return kw_help_like(step, Text("expired"))


def kw_data(step: Step) -> Outcome:
    """MES DONNEES: everything held, then correct the name or erase it all."""
    step.conv.data = {}
    summary = Text("join_lines", {"items": list(step.ctx.data_summary())})
    ids = (["rename"] if step.ctx.patient.name else []) + ["erase", "menu"]
    return _go(step, "data", _offer(step, [summary], ids))


def on_data(step: Step) -> Outcome:
    if step.choice == "rename":
        return _ask(step, "rename", Text("rename.ask"))
    if step.choice == "erase":
        return kw_erase(step)
    if step.choice == "menu":
        return menu(step)
    return unexpected(step)


def on_rename(step: Step) -> Outcome:
    """Rectification of the name (the only personal field a patient gives us)."""
    name = " ".join(step.text.split())
    if not (2 <= len(name) <= 60) or len(_LETTER.findall(name)) < 2:
        return _ask(step, "rename", Text("book.name_again"))
    outcome = menu(step, Text("rename.done", {"name": name}))
    outcome.effects.append(SetName(name))
    return outcome


def kw_erase(step: Step) -> Outcome:
    step.conv.data = {}
    return _go(step, "erase.confirm", _offer(step, [Text("erase.confirm")], ["yes", "no"]))


def on_erase_confirm(step: Step) -> Outcome:
    if step.choice == "no":
        return menu(step, Text("erase.kept"))
    if step.choice != "yes":
        return unexpected(step)
    step.conv.choices = []
    return Outcome(_reset(step.conv), [say(Text("erase.done"))], [EraseMe()])


HANDLERS: dict[str, Handler] = {
    "menu": on_menu,
    "book.type": on_type,
    "book.practitioner": on_practitioner,
    "book.slot": on_slot,
    "book.day": on_day,
    "book.name": on_name,
    "book.prep": on_prep,
    "book.confirm": on_confirm,
    "appts.list": on_appts,
    "appts.action": on_appt_action,
    "cancel.confirm": on_cancel_confirm,
    "erase.confirm": on_erase_confirm,
    "data": on_data,
    "rename": on_rename,
}

KEYWORD_HANDLERS: dict[str, Handler] = {
    "menu": menu,
    "book": start_booking,
    "appts": list_appointments,
    "cancel": kw_cancel,
    "help": kw_help,
    "info": kw_info,
    "stop": kw_stop,
    "start": kw_start,
    "lang": kw_lang,
    "expired": kw_expired,
    "data": kw_data,
    "erase": kw_erase,
}


def build_engine() -> _Engine:
    """The engine with the full dialog."""
    return _Engine(HANDLERS, KEYWORD_HANDLERS, label)

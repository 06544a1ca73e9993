"""Shared pieces of the dialog: choice labels, offering choices, the main menu."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.engine import (
    AppointmentView,
    Context,
    Conversation,
    Outcome,
    Step,
    moment,
    offer,
    say,
)
from bot.messages import Reply, Text

SKIP_WORDS = {"non", "no", "rien", "aucun", "nothing", "none", "-", "passer", "skip"}


LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def label(cid: str, ctx: Context) -> Text:
    """The label of an offered choice id, in a form the renderer translates."""
    kind, _, arg = cid.partition(":")
    practice = ctx.practice
    if kind == "t":
        return Text("raw", {"value": practice.ctype(arg).label_for(ctx.patient.lang)})
    if kind == "p":
        return Text("raw", {"value": practice.practitioner(arg).name})
    if kind in ("s", "a"):
        start = parse_slot_id(arg.split("@")[-1]) if kind == "s" else _appt_start(ctx, arg)
        return Text("raw", {"value": moment(start)}) if start else Text("choice.unknown")
    return Text(f"choice.{cid}")


def _appt_start(ctx: Context, appt_id: str) -> datetime | None:
    appt = find_appt(ctx, appt_id)
    return appt.start if appt else None


def find_appt(ctx: Context, appt_id: str) -> AppointmentView | None:
    return next((a for a in ctx.upcoming() if a.id == appt_id), None)


def slot_id(start: datetime) -> str:
    return "s:" + start.astimezone(UTC).strftime("%Y%m%dT%H%M")


def parse_slot_id(compact: str) -> datetime:
    return datetime.strptime(compact, "%Y%m%dT%H%M").replace(tzinfo=UTC)


def offer_ids(step: Step, texts: list[Text], ids: list[str]) -> Reply:
    return offer(step.conv, texts, ids, lambda cid: label(cid, step.ctx))


def go(step: Step, state: str, reply: Reply, *effects) -> Outcome:
    step.conv.state = state
    return Outcome(step.conv, [reply], list(effects))


def ask(step: Step, state: str, *texts: Text) -> Outcome:
    """A free-text question: no choices stay on offer."""
    step.conv.choices = []
    return go(step, state, say(*texts))


MENU_IDS = ["book", "appts"]


def menu(step: Step, *before: Text) -> Outcome:
    """Reset to the main menu, optionally after some texts."""
    step.conv.data = {}
    return go(step, "menu", offer_ids(step, [*before, Text("menu.prompt")], MENU_IDS))


def unexpected(step: Step) -> Outcome:
    """Anything not understood: a short helpful line and the current choices again."""
    if not step.conv.choices:
        return menu(step, Text("unexpected"))
    ids = list(step.conv.choices)
    return go(step, step.conv.state, offer_ids(step, [Text("unexpected.choose")], ids))


def reset(conv: Conversation) -> Conversation:
    conv.state = "menu"
    return conv


def repeat_choices(step: Step, text: Text) -> Outcome:
    """A text, then the choices on offer again (or the main menu when none are)."""
    if not step.conv.choices:
        return menu(step, text)
    return go(step, step.conv.state, offer_ids(step, [text], list(step.conv.choices)))


def valid_name(text: str) -> str | None:
    """The name as typed, spaces tidied, or None if it cannot be one."""
    name = " ".join(text.split())
    return name if 2 <= len(name) <= 60 and len(LETTER.findall(name)) >= 2 else None

"""The patient's own settings and rights: help, notice, STOP/START, language, data, erasure.

After STOP the patient keeps their rights: INFO, MES DONNEES, SUPPRIMER (with its
confirmation) and START are answered; anything else gets one short reminder of START a
day, then silence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.conversation import Draft
from bot.dialog import ask, finish, menu, offer, repeat_choices, unexpected, valid_name
from bot.engine import (
    NOTICE_CHANNELS,
    Context,
    EraseMe,
    OptIn,
    OptOut,
    Outcome,
    SetLanguage,
    SetName,
    Step,
    notice_params,
)
from bot.messages import Reply, Text
from bot.states import State


def kw_help(step: Step) -> Outcome:
    """AIDE/HELP: the keywords, then the current choices again."""
    return repeat_choices(step, Text("help", {"contact": step.practice.contact}))


def full_notice_params(ctx: Context) -> dict[str, Any]:
    p = ctx.practice
    dpo = Text("notice.dpo", {"dpo": p.dpo}) if p.dpo else Text("raw", {"value": ""})
    return {**notice_params(p), "controller": p.controller, "dpo": dpo}


def info_texts(step: Step) -> tuple[Text, Text, Text]:
    """The full notice in three messages: who, why, on what basis, how long; who carries
    the messages on this channel, where, and what passes through them; the rights."""
    channel = step.inbound.channel if step.inbound.channel in NOTICE_CHANNELS else "console"
    params = full_notice_params(step.ctx)
    return (
        Text("notice.full", params),
        Text(f"notice.live.{channel}", params),
        Text("notice.rights", params),
    )


def kw_info(step: Step) -> Outcome:
    """INFO: the full notice (one SMS segment or two each); the conversation stays where it
    was, the choices on offer still answer to their numbers and buttons."""
    return Outcome(step.conv, [Reply((text,)) for text in info_texts(step)])


def kw_stop(step: Step) -> Outcome:
    conv = step.conv.at(State.MENU, Draft())
    return Outcome(conv, [Reply((Text("stop.done"),))], [OptOut()])


def kw_start(step: Step) -> Outcome:
    if not step.ctx.patient.opted_out:
        return menu(step)
    outcome = menu(step, Text("start.done"))
    return Outcome(replace(outcome.conv, reminded_on=""), outcome.replies, [OptIn()])


def kw_opted_out(step: Step) -> Outcome:
    """Any other text after STOP: one short reminder of START a day, else silence."""
    today = step.ctx.now.astimezone(step.practice.tz).date().isoformat()
    if step.conv.reminded_on == today:
        return Outcome(step.conv)
    conv = replace(step.conv.at(State.MENU, Draft()), reminded_on=today)
    return Outcome(conv, [Reply((Text("stopped.reminder"),))])


def kw_lang(step: Step) -> Outcome:
    """FR / EN: switch language; the store applies SetLanguage before rendering the reply."""
    lang = "fr" if step.folded in ("fr", "francais") else "en"
    outcome = repeat_choices(step, Text("lang.done"))
    return Outcome(outcome.conv, outcome.replies, [SetLanguage(lang)])


def kw_expired(step: Step) -> Outcome:
    return repeat_choices(step, Text("expired"))


def kw_media(step: Step) -> Outcome:
    """A picture, a voice note, a sticker: the bot reads text only."""
    key = "media.buttons" if step.inbound.buttons and step.conv.choices else "media"
    return repeat_choices(step, Text(key))


def kw_data(step: Step) -> Outcome:
    """MES DONNEES: everything held (in messages of their own), then correct the name or
    erase it."""
    summary = [
        Reply((Text("join_lines", {"items": list(lines)}),)) for lines in step.ctx.data_summary()
    ]
    ids = ["rename"] if step.ctx.patient.name else []
    ids.append("erase")
    if not step.ctx.patient.opted_out:
        ids.append("menu")
    outcome = offer(step, State.DATA, [Text("mydata.prompt")], ids, draft=Draft())
    return Outcome(outcome.conv, [*summary, *outcome.replies])


def on_data(step: Step) -> Outcome:
    if step.choice == "rename":
        return ask(step, State.RENAME, Text("rename.ask"))
    if step.choice == "erase":
        return offer(step, State.ERASE_CONFIRM, [Text("erase.confirm")], ["yes", "no"])
    if step.choice == "menu":
        return menu(step)
    return unexpected(step)


def on_rename(step: Step) -> Outcome:
    """Rectification of the name (the only personal field a patient gives us)."""
    name = valid_name(step.text)
    if name is None:
        return ask(step, State.RENAME, Text("book.name_again"))
    return _back(step, Text("rename.done", {"name": name}), SetName(name))


def kw_erase(step: Step) -> Outcome:
    return offer(step, State.ERASE_CONFIRM, [Text("erase.confirm")], ["yes", "no"], draft=Draft())


def on_erase_confirm(step: Step) -> Outcome:
    if step.choice == "no":
        return _back(step, Text("erase.kept"))
    if step.choice != "yes":
        return unexpected(step)
    return finish(step, [Text("erase.done")], EraseMe(), booked=False)


def _back(step: Step, text: Text, *effects: SetName) -> Outcome:
    """The menu after a rights request; after STOP, just the answer."""
    if step.ctx.patient.opted_out:
        return finish(step, [text], *effects, booked=False)
    outcome = menu(step, text)
    return Outcome(outcome.conv, outcome.replies, list(effects))

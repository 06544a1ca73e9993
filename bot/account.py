"""The patient's own settings and rights: help, notice, STOP/START, language, data, erasure."""

from __future__ import annotations

from bot.dialog import ask, go, menu, offer_ids, repeat_choices, reset, unexpected, valid_name
from bot.engine import (
    Context,
    EraseMe,
    OptIn,
    OptOut,
    Outcome,
    SetLanguage,
    SetName,
    Step,
    notice_params,
    say,
)
from bot.messages import Text


def kw_help(step: Step) -> Outcome:
    """AIDE/HELP: the keywords, then the current choices again."""
    return repeat_choices(step, Text("help", {"contact": step.practice.contact}))


def kw_info(step: Step) -> Outcome:
    """INFO: the full privacy notice, then the current choices again."""
    return repeat_choices(step, Text("notice.full", full_notice_params(step.ctx)))


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
    outcome = repeat_choices(step, Text("lang.done"))
    outcome.effects.insert(0, SetLanguage(lang))
    return outcome


def kw_expired(step: Step) -> Outcome:
    return repeat_choices(step, Text("expired"))


def kw_data(step: Step) -> Outcome:
    """MES DONNEES: everything held, then correct the name or erase it all."""
    step.conv.data = {}
    summary = Text("join_lines", {"items": list(step.ctx.data_summary())})
    ids = (["rename"] if step.ctx.patient.name else []) + ["erase", "menu"]
    return go(step, "data", offer_ids(step, [summary], ids))


def on_data(step: Step) -> Outcome:
    if step.choice == "rename":
        return ask(step, "rename", Text("rename.ask"))
    if step.choice == "erase":
        return kw_erase(step)
    if step.choice == "menu":
        return menu(step)
    return unexpected(step)


def on_rename(step: Step) -> Outcome:
    """Rectification of the name (the only personal field a patient gives us)."""
    name = valid_name(step.text)
    if name is None:
        return ask(step, "rename", Text("book.name_again"))
    outcome = menu(step, Text("rename.done", {"name": name}))
    outcome.effects.append(SetName(name))
    return outcome


def kw_erase(step: Step) -> Outcome:
    step.conv.data = {}
    return go(step, "erase.confirm", offer_ids(step, [Text("erase.confirm")], ["yes", "no"]))


def on_erase_confirm(step: Step) -> Outcome:
    if step.choice == "no":
        return menu(step, Text("erase.kept"))
    if step.choice != "yes":
        return unexpected(step)
    step.conv.choices = []
    return Outcome(reset(step.conv), [say(Text("erase.done"))], [EraseMe()])

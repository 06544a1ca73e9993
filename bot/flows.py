"""The whole dialog as tables: state handlers, keyword handlers, free text.

The moves each handler may make are declared in `bot/states.py` and checked by the engine;
`bot/STATES.md` shows them. Every handler takes a Step and returns an Outcome; none
performs I/O.
"""

from __future__ import annotations

from dataclasses import replace

from bot.account import (
    kw_data,
    kw_erase,
    kw_expired,
    kw_help,
    kw_info,
    kw_lang,
    kw_media,
    kw_opted_out,
    kw_start,
    kw_stop,
    on_data,
    on_erase_confirm,
    on_rename,
)
from bot.appointments import (
    kw_cancel,
    list_appointments,
    on_appt_action,
    on_appts,
    on_cancel_confirm,
)
from bot.booking import (
    on_confirm,
    on_day,
    on_name,
    on_practitioner,
    on_prep,
    on_slot,
    on_type,
    slot_taken,
    start_booking,
)
from bot.dialog import menu, unexpected
from bot.engine import NOTICE_JOINS, Engine, Handler, Outcome, Step, notice_text
from bot.intent import free_text
from bot.states import State

__all__ = ["HANDLERS", "KEYWORD_HANDLERS", "build_engine", "slot_taken"]


FIRST_REPLY_SEGMENTS = 2  # the first reply, notice included, by SMS


def greet(step: Step) -> Outcome:
    """A greeting: a sender who has never given a name (so has no appointment to list or
    move) is asked the type at once, one SMS fewer than the menu, when that question and
    the notice still owed fit the first reply's budget; others get the menu."""
    if step.ctx.patient.name is not None:
        return menu(step)
    outcome = start_booking(step)
    first = outcome.replies[0]
    if step.ctx.patient.notice_version != step.practice.notice_version:
        if len(first.choices) > NOTICE_JOINS:  # the notice would go alone: one SMS more
            return menu(step)
        notice = notice_text(step.practice, step.inbound.channel)
        first = replace(first, texts=(notice, *first.texts))
    return outcome if step.ctx.fits(first, FIRST_REPLY_SEGMENTS) else menu(step)


def on_menu(step: Step) -> Outcome:
    if step.choice == "book":
        return start_booking(step)
    if step.choice == "appts":
        return list_appointments(step)
    return unexpected(step)


HANDLERS: dict[State, Handler] = {
    State.MENU: on_menu,
    State.BOOK_TYPE: on_type,
    State.BOOK_PRACTITIONER: on_practitioner,
    State.BOOK_SLOT: on_slot,
    State.BOOK_DAY: on_day,
    State.BOOK_NAME: on_name,
    State.BOOK_PREP: on_prep,
    State.BOOK_CONFIRM: on_confirm,
    State.APPTS_LIST: on_appts,
    State.APPTS_ACTION: on_appt_action,
    State.CANCEL_CONFIRM: on_cancel_confirm,
    State.ERASE_CONFIRM: on_erase_confirm,
    State.DATA: on_data,
    State.RENAME: on_rename,
}


KEYWORD_HANDLERS: dict[str, Handler] = {
    "menu": lambda step: menu(step),
    "hello": greet,
    "book": lambda step: start_booking(step),
    "appts": lambda step: list_appointments(step),
    "cancel": kw_cancel,
    "help": kw_help,
    "info": kw_info,
    "stop": kw_stop,
    "start": kw_start,
    "lang": kw_lang,
    "expired": kw_expired,
    "data": kw_data,
    "erase": kw_erase,
    "media": kw_media,
    "opted_out": kw_opted_out,
}


def build_engine() -> Engine:
    """The engine with the full dialog (built once per process)."""
    return Engine(HANDLERS, KEYWORD_HANDLERS, free_text)

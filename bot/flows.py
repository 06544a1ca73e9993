"""The whole dialog as two tables: state handlers and keyword handlers.

See `bot/STATES.md` for the state table and diagram. Every handler takes a Step and
returns an Outcome; none performs I/O.
"""

from __future__ import annotations

from bot.account import (
    kw_data,
    kw_erase,
    kw_expired,
    kw_help,
    kw_info,
    kw_lang,
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
from bot.engine import Engine, Handler, Outcome, Step

__all__ = ["HANDLERS", "KEYWORD_HANDLERS", "build_engine", "slot_taken"]


def on_menu(step: Step) -> Outcome:
    if step.choice == "book":
        return start_booking(step)
    if step.choice == "appts":
        return list_appointments(step)
    return unexpected(step)


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


def build_engine() -> Engine:
    """The engine with the full dialog."""
    return Engine(HANDLERS, KEYWORD_HANDLERS)

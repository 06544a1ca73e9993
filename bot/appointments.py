"""My appointments: list them, then move or cancel one (refused inside the cut-off)."""

from __future__ import annotations

from datetime import timedelta

from bot.booking import start_booking
from bot.conversation import Draft
from bot.dialog import find_appt, finish, menu, offer, unexpected
from bot.engine import AppointmentView, Cancel, Outcome, Step, moment
from bot.messages import Text
from bot.states import State


def list_appointments(step: Step, *before: Text) -> Outcome:
    appts = step.ctx.upcoming()
    if not appts:
        texts = [*before, Text("appts.none")]
        return offer(step, State.APPTS_LIST, texts, ["book", "menu"], draft=Draft())
    ids = [f"a:{a.id}" for a in appts] + ["book", "menu"]
    text = Text("appts.list", {"n": len(appts)}, count=len(appts))
    return offer(step, State.APPTS_LIST, [*before, text], ids, draft=Draft())


def on_appts(step: Step) -> Outcome:
    choice = step.choice or ""
    if choice == "book":
        return start_booking(step)
    if choice == "menu":
        return menu(step)
    if choice.startswith("a:") and (appt := find_appt(step.ctx, choice[2:])):
        return show_appointment(step, appt)
    return unexpected(step)


def show_appointment(step: Step, appt: AppointmentView) -> Outcome:
    pname = step.practice.practitioner(appt.practitioner_id).name
    text = Text("appts.one", {"when": moment(appt.start, "long"), "practitioner": pname})
    ids = ["move", "cancel", "appts"]
    return offer(step, State.APPTS_ACTION, [text], ids, draft=Draft(appt=appt.id))


def _too_late(step: Step, appt: AppointmentView) -> bool:
    return appt.start - step.ctx.now < timedelta(hours=step.practice.cancel_cutoff_hours)


def too_late_menu(step: Step) -> Outcome:
    """Inside the cut-off: no change by message, the practice contact instead."""
    params = {"hours": step.practice.cancel_cutoff_hours, "contact": step.practice.contact}
    return menu(step, Text("appts.too_late", params))


def on_appt_action(step: Step) -> Outcome:
    appt = find_appt(step.ctx, step.draft.appt)
    if appt is None or step.choice == "appts":
        return list_appointments(step)
    if step.choice not in ("move", "cancel"):
        return unexpected(step)
    if _too_late(step, appt):
        return too_late_menu(step)
    if step.choice == "move":
        return start_booking(step, move=appt)
    return ask_cancel(step, appt)


def ask_cancel(step: Step, appt: AppointmentView) -> Outcome:
    text = Text("cancel.confirm", {"when": moment(appt.start, "long")})
    return offer(step, State.CANCEL_CONFIRM, [text], ["yes", "no"], draft=Draft(appt=appt.id))


def on_cancel_confirm(step: Step) -> Outcome:
    appt = find_appt(step.ctx, step.draft.appt)
    if step.choice == "no" or appt is None:
        return menu(step, Text("cancel.kept"))
    if step.choice != "yes":
        return unexpected(step)
    if _too_late(step, appt):
        return too_late_menu(step)
    text = Text("cancel.done", {"when": moment(appt.start, "long")})
    return finish(step, [text], Cancel(appt.id))


def kw_cancel(step: Step) -> Outcome:
    """ANNULER: straight to the confirmation when there is one appointment, else the list."""
    appts = step.ctx.upcoming()
    if len(appts) == 1:
        if _too_late(step, appts[0]):
            return too_late_menu(step)
        return ask_cancel(step, appts[0])
    return list_appointments(step)

"""Free text that says what it wants, read before the state's own handler.

"Je voudrais un RDV demain matin svp" books (tomorrow morning holding), "annuler mon rdv"
cancels, "mes rendez-vous" lists; "merci", "ok" or 👍 get a short friendly answer, or
nothing at all by SMS right after a confirmation (one SMS saved). Only where the text has
no other meaning: at the menu, and for thanks just after a confirmation.
"""

from __future__ import annotations

import re

from bot.appointments import kw_cancel, list_appointments
from bot.booking import start_booking, today
from bot.dialog import repeat_choices
from bot.engine import Outcome, Step, is_thanks
from bot.messages import Reply, Text
from bot.states import State
from bot.when import parse_when

_F = re.ASCII
_CANCEL = re.compile(r"\b(?:annul\w*|cancel\w*|decommander|desister)\b", _F)
_MOVE_OR_LIST = re.compile(
    r"\b(?:mes\s+(?:rdv|rendez[\s-]?vous)|my\s+appointments?|deplacer|decaler|reporter"
    r"|changer|modifier|move|reschedule|change|quand\s+est\s+mon)\b",
    _F,
)
_BOOK = re.compile(
    r"\b(?:rdv|rendez[\s-]?vous|rendezvous|consultation|consulter|prendre|reserver|voir\s+le"
    r"|dispo\w*|creneaux?|book\w*|appointment|appt|slot|see\s+the|available|venir)\b",
    _F,
)
_FREE_STATES = frozenset({State.MENU, State.APPTS_LIST})


def free_text(step: Step) -> Outcome | None:
    """An outcome for text that says what it wants; None lets the state's handler decide."""
    if is_thanks(step.folded) and (step.conv.just_booked or step.conv.state in _FREE_STATES):
        return thanks(step)
    if step.conv.state not in _FREE_STATES:
        return None
    folded = step.folded
    if _CANCEL.search(folded):
        return kw_cancel(step)
    if _MOVE_OR_LIST.search(folded):
        return list_appointments(step)
    wanted = parse_when(step.text, step.lang, today(step.ctx))
    if wanted is not None or _BOOK.search(folded):
        return start_booking(step, wanted=wanted)
    return None


def thanks(step: Step) -> Outcome:
    """Thanks after a confirmation: nothing by SMS, a short answer elsewhere; at other
    times a short answer and the choices on offer."""
    if step.conv.just_booked:
        if step.inbound.channel == "sms":
            return Outcome(step.conv)
        return Outcome(step.conv, [Reply((Text("thanks"),))])
    return repeat_choices(step, Text("thanks.short"))

"""Shared pieces of the dialog: choice labels, offering choices, the main menu, names.

Every helper returns a new `Outcome` holding a new conversation: nothing is mutated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache

import phonenumbers

from bot.conversation import ANY_PRACTITIONER, Conversation, Draft
from bot.engine import (
    NO_WORDS,
    THANKS,
    YES_WORDS,
    AppointmentView,
    Context,
    Effect,
    Outcome,
    Step,
    fold,
    keyword_of,
    moment,
)
from bot.messages import Choice, Reply, Text
from bot.practice import Practice
from bot.sanitize import clean_field
from bot.states import State

MENU_IDS = ("book", "appts")
SKIP_WORDS = {"non", "no", "rien", "aucun", "nothing", "none", "-", "passer", "skip", "non merci"}


# ---------------------------------------------------------------- labels and ids


def label(cid: str, ctx: Context) -> Text:
    """The label of an offered choice id, in a form the renderer translates."""
    kind, _, arg = cid.partition(":")
    practice = ctx.practice
    if kind == "t":
        return Text("raw", {"value": practice.ctype(arg).label_for(ctx.patient.lang)})
    if kind == "p":
        if arg == ANY_PRACTITIONER:
            return Text("choice.any")
        return Text("raw", {"value": practice.practitioner(arg).name})
    if kind == "s":
        pid, start = parse_slot(arg)
        if pid is None:
            return Text("raw", {"value": moment(start)})
        who = short_name(practice.practitioner(pid).name)
        return Text("slot.with", {"when": moment(start), "who": who})
    if kind == "a":
        appt = find_appt(ctx, arg)
        return Text("raw", {"value": moment(appt.start)}) if appt else Text("choice.unknown")
    return Text(f"choice.{cid}")


def short_name(name: str) -> str:
    """ "Dr Anne-Sophie Lemaître-Dubois" -> "Dr Lemaître-Dubois": a title and the last name."""
    words = name.split()
    if len(words) <= 2:
        return name
    title = words[0] if fold(words[0]).rstrip(".") in ("dr", "pr", "docteur", "mme", "m") else ""
    return f"{title} {words[-1]}".strip()


def find_appt(ctx: Context, appt_id: str) -> AppointmentView | None:
    return next((a for a in ctx.upcoming() if a.id == appt_id), None)


def slot_id(start: datetime, practitioner_id: str | None = None) -> str:
    compact = start.astimezone(UTC).strftime("%Y%m%dT%H%M")
    return f"s:{practitioner_id}@{compact}" if practitioner_id else f"s:{compact}"


def parse_slot(arg: str) -> tuple[str | None, datetime]:
    """`roux@20261207T0730` or `20261207T0730` -> (practitioner id or None, UTC start)."""
    pid, _, compact = arg.rpartition("@")
    return pid or None, datetime.strptime(compact, "%Y%m%dT%H%M").replace(tzinfo=UTC)


# ---------------------------------------------------------------- replies


def offer(
    step: Step,
    state: State,
    texts: Sequence[Text],
    ids: Sequence[str],
    *effects: Effect,
    draft: Draft | None = None,
    shorter: tuple[tuple[Text, ...], ...] = (),
) -> Outcome:
    """A reply offering choices in `state`; the ids are remembered so `2` or a button maps
    back."""
    base = step.conv.offered_at(state, draft, tuple(ids))
    choices = tuple(Choice(cid, label(cid, step.ctx)) for cid in ids)
    shorter = shorter if step.inbound.channel == "sms" else ()  # an SMS segment is the budget
    reply = Reply(tuple(texts), choices, base.generation, shorter)
    return Outcome(base, [reply], list(effects))


def ask(step: Step, state: State, *texts: Text, draft: Draft | None = None) -> Outcome:
    """A free-text question: no choices stay on offer."""
    return Outcome(step.conv.at(state, draft), [Reply(tuple(texts))])


def finish(step: Step, texts: Sequence[Text], *effects: Effect, booked: bool = True) -> Outcome:
    """The end of an exchange: back to the menu with nothing on offer; thanks that follow
    get a short answer, not the menu."""
    conv = replace(step.conv.at(State.MENU, Draft()), just_booked=booked)
    return Outcome(conv, [Reply(tuple(texts))], list(effects))


def menu(step: Step, *before: Text) -> Outcome:
    """The main menu, optionally after some texts; the draft is dropped."""
    return offer(step, State.MENU, [*before, Text("menu.prompt")], MENU_IDS, draft=Draft())


def misunderstood(step: Step, keys: tuple[str, str, str]) -> tuple[Conversation, list[Text]]:
    """One more misunderstanding in a row; from the second on, the practice's phone too."""
    misses = step.conv.misses + 1
    plain, numbers, buttons = keys
    key = plain if not step.conv.choices else buttons if step.inbound.buttons else numbers
    texts = [Text(key)]
    if misses >= 2:
        texts.insert(0, call_us(step.practice))
    return replace(step.conv, misses=misses), texts


def call_us(practice: Practice) -> Text:
    if practice.phone:
        return Text("unexpected.phone", {"phone": display_phone(practice.phone)})
    return Text("unexpected.contact", {"contact": practice.contact})


@lru_cache(maxsize=16)
def display_phone(e164: str) -> str:
    """The practice number as people dial it at home ("04 78 00 00 00" in France)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


UNEXPECTED = ("unexpected", "unexpected.numbers", "unexpected.buttons")


def unexpected(step: Step) -> Outcome:
    """Anything not understood: a short apology and the current choices again (the menu
    when none are on offer); after two in a row, the practice's phone number."""
    conv, texts = misunderstood(step, UNEXPECTED)
    if not step.conv.choices:
        out = menu(step, *texts)
    else:
        out = offer(step, step.conv.state, texts, step.conv.choices)
    return Outcome(replace(out.conv, misses=conv.misses), out.replies)


def repeat_choices(step: Step, text: Text) -> Outcome:
    """A text, then the choices on offer again; at an open question (a name, a day) the
    question stays open; at the menu with nothing on offer, the main menu."""
    if not step.conv.choices and step.conv.state is not State.MENU:
        return Outcome(step.conv, [Reply((text,))])
    if not step.conv.choices:
        return menu(step, text)
    out = offer(step, step.conv.state, [text], step.conv.choices)
    return Outcome(replace(out.conv, misses=step.conv.misses), out.replies)


# ---------------------------------------------------------------- names

_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['’.\-][^\W\d_]*)*\.?$")
_NOT_NAME_TEXT = """
    rdv rendez rendez-vous rendezvous vous annuler annulation cancel deplacer move je j'
    veux voudrais voudrai aimerais souhaite souhaiterais mon ma mes my appointment
    appointments book booking merci thanks oui non yes no svp stp please bonjour bonsoir
    hello hi salut menu aide help info stop supprimer delete demain aujourd'hui tomorrow
    today lundi mardi mercredi jeudi vendredi samedi dimanche monday tuesday wednesday
    thursday friday saturday sunday matin apres-midi soir morning afternoon evening pour
    avec est suis c'est is am name nom prenom quoi pourquoi comment quand what why how
    when consultation creneau heure heures dispo disponible ok d'accord rien nothing pas
    not semaine prochaine prochain suivant suivante week next month mois whenever
    asap jour jours dans"""
_NOT_NAME_WORDS = frozenset(_NOT_NAME_TEXT.split())


def valid_name(text: str) -> str | None:
    """The name as typed, cleaned and tidied, or None when it cannot be a name: a keyword,
    a sentence ("annuler mon rdv"), digits, or fewer than two letters."""
    name = clean_field(text).strip(" .,;:!")
    folded = fold(name)
    if not 2 <= len(name) <= 60 or "?" in name or any(c.isdigit() for c in name):
        return None
    words = name.split()
    if len(words) > 5 or not all(_NAME_WORD.match(w) for w in words):
        return None
    if keyword_of(folded) or folded in YES_WORDS | NO_WORDS | THANKS:
        return None
    if any(fold(w) in _NOT_NAME_WORDS for w in words):
        return None
    return " ".join(words) if sum(c.isalpha() for c in name) >= 2 else None

"""The dialog engine: one step per inbound message, state in, outcome out.

A step never writes anything and never mutates what it is given: it returns a new
conversation, the replies and the effects (book, cancel, opt out...) as data; the store
applies them in one transaction. Every move between states is checked against the one
table in `bot/states.py` (an undeclared move raises `UndeclaredMove`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from bot.conversation import Conversation, Draft
from bot.messages import Inbound, Moment, PerLang, Reply, Text
from bot.practice import LANGUAGES, Practice
from bot.slots import BusyLookup
from bot.states import State, check_move
from bot.when import correct_word

__all__ = [
    "AppointmentView",
    "Book",
    "Cancel",
    "Context",
    "Conversation",
    "Draft",
    "Effect",
    "Engine",
    "EraseMe",
    "OptIn",
    "OptOut",
    "Outcome",
    "PatientView",
    "RecordNotice",
    "SetLanguage",
    "SetName",
    "SlotTaken",
    "State",
    "Step",
]

MAX_TEXT = 1600


# ---------------------------------------------------------------- what the engine reads


@dataclass(frozen=True)
class PatientView:
    """What the engine may know of the sender."""

    id: str
    lang: str
    name: str | None = None
    notice_version: str | None = None
    opted_out: bool = False


@dataclass(frozen=True)
class AppointmentView:
    id: str
    practitioner_id: str
    type_id: str
    start: datetime
    end: datetime


class Context(Protocol):
    """The read-only port the store implements for one step."""

    @property
    def practice(self) -> Practice: ...

    @property
    def now(self) -> datetime: ...

    @property
    def patient(self) -> PatientView: ...

    def busy(self, practitioner_id: str) -> BusyLookup: ...

    def upcoming(self) -> Sequence[AppointmentView]: ...

    def data_summary(self) -> Sequence[Sequence[Text]]:
        """Everything held about the patient (MES DONNEES), as groups of lines: one message
        each, so that none outgrows an SMS budget however many appointments there are."""
        ...

    def fits(self, reply: Reply, segments: int) -> bool:
        """Whether `reply`, rendered for this sender, keeps within `segments` SMS segments
        (always true off SMS, where there is no segment to pay)."""
        ...


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class RecordNotice:
    version: str


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class SetName:
    name: str


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


@dataclass(frozen=True)
class Book:
    """Book a slot; with `replaces`, cancel that appointment in the same transaction (a move)."""

    practitioner_id: str
    type_id: str
    start: datetime
    end: datetime
    prep_answer: str | None = None
    replaces: str | None = None


@dataclass(frozen=True)
class Cancel:
    appointment_id: str


@dataclass(frozen=True)
class EraseMe:
    pass


Effect = RecordNotice | SetLanguage | SetName | OptOut | OptIn | Book | Cancel | EraseMe


@dataclass
class Outcome:
    """What one step decided: the next conversation, the replies, the effects.

    No replies and no effects is a silent turn: nothing is sent and nothing counts as a
    contact."""

    conv: Conversation
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    @property
    def silent(self) -> bool:
        return not self.replies and not self.effects


class SlotTaken(Exception):
    """The chosen slot was booked by someone else first."""


# ---------------------------------------------------------------- input normalisation

KEYWORDS: dict[str, str] = {
    "menu": "menu",
    "0": "menu",
    "/menu": "menu",
    "/start": "hello",
    "bonjour": "hello",
    "bonsoir": "hello",
    "hello": "hello",
    "salut": "hello",
    "hi": "hello",
    "rdv": "book",
    "book": "book",
    "prendre rdv": "book",
    "/rdv": "book",
    "/book": "book",
    "mes rdv": "appts",
    "appts": "appts",
    "my appointments": "appts",
    "/appts": "appts",
    "annuler": "cancel",
    "cancel appointment": "cancel",
    "cancel": "appts",
    "aide": "help",
    "help": "help",
    "?": "help",
    "/help": "help",
    "/aide": "help",
    "info": "info",
    "infos": "info",
    "/info": "info",
    "mes donnees": "data",
    "my data": "data",
    "supprimer": "erase",
    "delete": "erase",
    "stop": "stop",
    "arret": "stop",
    "arreter": "stop",
    "stopall": "stop",
    "unsubscribe": "stop",
    "/stop": "stop",
    "start": "start",
    "unstop": "start",
    "fr": "lang:fr",
    "francais": "lang:fr",
    "en": "lang:en",
    "english": "lang:en",
    "anglais": "lang:en",
}
# Keywords whose typos are understood: never those that stop, erase or opt back in.
_FUZZY_KEYWORDS = tuple(
    k
    for k, v in KEYWORDS.items()
    if v in ("menu", "hello", "book", "appts", "cancel", "help", "info", "data") and k.isascii()
    if not k.startswith("/") and len(k) >= 4
)
YES_WORDS = {
    "oui", "o", "yes", "y", "ok", "okay", "d'accord", "daccord", "confirmer", "je confirme",
    "oui merci", "yes please", "ouais", "ouii", "oui svp", "parfait", "c'est bon", "yep", "yeah",
}  # fmt: skip
NO_WORDS = {"non", "n", "no", "nope", "non merci", "no thanks", "nan"}
THANKS = {
    "merci", "merci beaucoup", "merci bcp", "mrc", "mci", "ok", "okay", "ok merci", "d'accord",
    "daccord", "dac", "parfait", "super", "top", "cool", "genial", "tres bien", "bien recu",
    "c'est note", "note", "entendu", "nickel", "thanks", "thank you", "thx", "ty", "great",
    "perfect", "good", "fine", "got it", "noted", "bye", "au revoir", "bonne journee",
    "bonne soiree", "a bientot", "merci a vous", "merci bonne journee", "ok merci beaucoup",
    "👍", "🙏", "👌", "😊", "🙂", "😀", "😉", "❤", "❤️", "✅", "👍👍", "🙏🙏",
}  # fmt: skip
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s.!,;:'\"-]+|[\s.!,;:'\"-]+$")
_EMOJI_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form used for keywords and labels."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = _EMOJI_MODIFIERS.sub("", bare.replace("\u2019", "'")).casefold()
    return _EDGE_PUNCT.sub("", _SPACES.sub(" ", bare)).strip()


def clean(text: str | None) -> str:
    """The patient's text, cut to MAX_TEXT characters and stripped."""
    return (text or "")[:MAX_TEXT].strip()


def keyword_of(folded: str) -> str | None:
    """The keyword action of a folded text: exact, or a typo of a harmless keyword."""
    if folded in KEYWORDS:
        return KEYWORDS[folded]
    if not folded or len(folded) > 20 or not folded.replace(" ", "").isalpha():
        return None
    fixed = correct_word(folded, _FUZZY_KEYWORDS, _NOT_KEYWORDS)
    return KEYWORDS.get(fixed) if fixed != folded else None


# Real words that sit one letter away from a keyword and mean something else.
_NOT_KEYWORDS = frozenset(THANKS) | frozenset(
    {"menus", "aider", "aides", "bonjours", "hellos", "infos", "hell"}
)


def is_thanks(folded: str) -> bool:
    return folded in THANKS or folded.rstrip("!. ") in THANKS


# ---------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Step:
    """Everything one handler needs: conversation, input, context."""

    conv: Conversation
    inbound: Inbound
    ctx: Context
    text: str  # cleaned text ("" for a button)
    folded: str
    choice: str | None  # resolved choice id, if the input picked one

    @property
    def practice(self) -> Practice:
        return self.ctx.practice

    @property
    def lang(self) -> str:
        return self.ctx.patient.lang

    @property
    def draft(self) -> Draft:
        return self.conv.draft


Handler = Callable[[Step], Outcome]
FreeText = Callable[[Step], Outcome | None]

# What an opted-out patient may still do: their rights, and START.
RIGHTS_KEYWORDS = frozenset({"info", "data", "erase", "start"})
RIGHTS_STATES = frozenset({State.DATA, State.RENAME, State.ERASE_CONFIRM})


class Engine:
    """Routes one inbound message to its state handler, after global keywords."""

    def __init__(
        self,
        handlers: dict[State, Handler],
        keyword_handlers: dict[str, Handler],
        free_text: FreeText | None = None,
    ) -> None:
        self.handlers = handlers
        self.keyword_handlers = keyword_handlers
        self.free_text = free_text

    def handle(self, conv: Conversation, inbound: Inbound, ctx: Context) -> Outcome:
        text = clean(inbound.text)
        folded = fold(text)
        keyword = None
        if inbound.choice is None and not inbound.forwarded:
            keyword = keyword_of(folded)
        if ctx.patient.opted_out:
            return self._opted_out(conv, inbound, ctx, text, folded, keyword)
        if keyword == "stop":
            return self._keyword("stop", Step(conv, inbound, ctx, text, folded, None))
        outcome = self._route(conv, inbound, ctx, text, folded, keyword)
        return self._with_notice(outcome, ctx, inbound)

    # ------------------------------------------------------------ routing

    def _route(
        self,
        conv: Conversation,
        inbound: Inbound,
        ctx: Context,
        text: str,
        folded: str,
        keyword: str | None,
    ) -> Outcome:
        if inbound.choice is not None:
            choice = self._choice_from_token(conv, inbound.choice)
            if choice is None:
                return self._keyword("expired", Step(conv, inbound, ctx, "", "", None))
            return self._dispatch(Step(conv, inbound, ctx, "", "", choice))
        if keyword is None and not text:
            name = "media" if inbound.media else "help"
            return self._keyword(name, Step(conv, inbound, ctx, text, folded, None))
        if keyword is not None:
            return self._keyword(keyword, Step(conv, inbound, ctx, text, folded, None))
        choice = None if inbound.forwarded else self._choice_from_text(conv, folded, ctx)
        step = Step(conv, inbound, ctx, text, folded, choice)
        if choice is None and self.free_text is not None and not inbound.forwarded:
            outcome = self.free_text(step)
            if outcome is not None:
                return outcome
        return self._dispatch(step)

    def _keyword(self, keyword: str, step: Step) -> Outcome:
        name = keyword.split(":", 1)[0]
        outcome = self.keyword_handlers[name](step)
        check_move(step.conv.state, outcome.conv.state, by_keyword=True)
        return outcome

    def _dispatch(self, step: Step) -> Outcome:
        handler = self.handlers.get(step.conv.state) or self.handlers[State.MENU]
        outcome = handler(step)
        check_move(step.conv.state, outcome.conv.state, by_keyword=False)
        return outcome

    def _opted_out(
        self,
        conv: Conversation,
        inbound: Inbound,
        ctx: Context,
        text: str,
        folded: str,
        keyword: str | None,
    ) -> Outcome:
        """After STOP: rights and START answered; anything else one START reminder a day."""
        if keyword in RIGHTS_KEYWORDS:
            return self._keyword(keyword or "", Step(conv, inbound, ctx, text, folded, None))
        if conv.state in RIGHTS_STATES:
            if inbound.choice is not None:
                choice = self._choice_from_token(conv, inbound.choice)
            else:
                choice = None if inbound.forwarded else self._choice_from_text(conv, folded, ctx)
            if choice is not None or conv.state is State.RENAME:
                return self._dispatch(Step(conv, inbound, ctx, text, folded, choice))
        return self.keyword_handlers["opted_out"](Step(conv, inbound, ctx, text, folded, None))

    def _with_notice(self, outcome: Outcome, ctx: Context, inbound: Inbound) -> Outcome:
        """The short privacy notice before anything else when this version was not delivered:
        in the first reply when it is a short menu, else as its own message before it."""
        version = ctx.practice.notice_version
        if ctx.patient.notice_version == version or not outcome.replies:
            return outcome
        notice = notice_text(ctx.practice, inbound.channel)
        first, *rest = outcome.replies
        if 0 < len(first.choices) <= NOTICE_JOINS and not first.shorter:
            replies = [replace(first, texts=(notice, *first.texts)), *rest]
        else:
            replies = [Reply((notice,)), first, *rest]
        return Outcome(outcome.conv, replies, [RecordNotice(version), *outcome.effects])

    # ------------------------------------------------------------ choices

    @staticmethod
    def _choice_from_token(conv: Conversation, token: str) -> str | None:
        """A button token `generation.index` back to the offered choice id, or None if stale."""
        gen, _, idx = token.partition(".")
        if not (gen.isdigit() and idx.isdigit()) or int(gen) != conv.generation:
            return None
        i = int(idx)
        return conv.choices[i - 1] if 1 <= i <= len(conv.choices) else None

    def _choice_from_text(self, conv: Conversation, folded: str, ctx: Context) -> str | None:
        """`2`, `oui`/`yes`, or a type or practitioner named (in part) as an offered choice."""
        if folded.isdigit():
            n = int(folded)
            return conv.choices[n - 1] if 1 <= n <= len(conv.choices) else None
        if "yes" in conv.choices and folded in YES_WORDS:
            return "yes"
        if "no" in conv.choices and folded in NO_WORDS:
            return "no"
        return named_choice(conv.choices, folded, ctx.practice)


_TITLE_TEXT = (
    "dr dr. docteur doctor doc pr professeur mme madame mlle m. m mr mrs ms monsieur le la "
    "avec with chez l' de du"
)
_TITLES = frozenset(_TITLE_TEXT.split())
ANY_WORDS = frozenset(
    {
        "le premier disponible", "premier disponible", "le premier dispo", "premier dispo",
        "peu importe", "n'importe", "n'importe qui", "nimporte qui", "indifferent",
        "first available", "any", "anyone", "whoever", "the first available", "le premier",
        "first", "any practitioner", "pas de preference", "no preference",
    }
)  # fmt: skip


def named_choice(choices: Sequence[str], folded: str, practice: Practice) -> str | None:
    """The one offered choice the text names: a type's label or id, a practitioner's name,
    part of it ("Petit", "Dr Petit") or id, or "le premier disponible"."""
    if not folded:
        return None
    if folded in ANY_WORDS and "p:*" in choices:
        return "p:*"
    words = {w for w in folded.replace("-", " ").split() if w not in _TITLES}
    found = [c for c in choices if _names(c, folded, words, practice)]
    return found[0] if len(found) == 1 else None


def _names(choice_id: str, folded: str, words: set[str], practice: Practice) -> bool:
    kind, _, arg = choice_id.partition(":")
    if kind == "t":
        ctype = practice.ctype(arg)
        return folded in {fold(label) for label in ctype.label.values()} | {arg}
    if kind == "p" and arg != "*":
        name = fold(practice.practitioner(arg).name)
        parts = {w for w in name.replace("-", " ").split() if w not in _TITLES}
        return folded in (name, arg) or (bool(words) and words <= parts)
    return False


def notice_params(practice: Practice) -> dict[str, Any]:
    """What every notice names: the controller, retention, basis, contact and full notice."""
    return {
        "practice": practice.name,
        "days": practice.retention_days,
        "url": practice.privacy_notice_url,
        "contact": practice.contact,
        "basis": PerLang({lang: practice.legal_basis_text(lang) for lang in LANGUAGES}),
    }


NOTICE_CHANNELS = ("sms", "telegram", "console")
NOTICE_JOINS = 3  # the notice opens a reply of at most this many choices, else goes alone


def notice_text(practice: Practice, channel: str) -> Text:
    """The short notice for this channel: who receives the messages, where, and how."""
    which = channel if channel in NOTICE_CHANNELS else "console"
    return Text(f"notice.short.{which}", notice_params(practice))


def moment(value: datetime, style: str = "slot") -> Moment:
    return Moment(value, style)

"""The dialog engine: one step per inbound message, state in, outcome out.

A step never writes anything: it returns the next conversation state, the replies and
the effects (book, cancel, opt out...) as data; the store applies them in one
transaction. The states and their transitions are listed in `bot/STATES.md`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from bot.messages import Choice, Inbound, Moment, Reply, Text
from bot.practice import Practice
from bot.slots import BusyLookup

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

    def data_summary(self) -> Sequence[Text]: ...


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


# ---------------------------------------------------------------- conversation and outcome


@dataclass
class Conversation:
    """A patient's dialog position, stored (encrypted) between messages."""

    state: str = "menu"
    data: dict[str, Any] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)
    generation: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "data": self.data,
            "choices": self.choices,
            "generation": self.generation,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Conversation:
        return cls(
            raw.get("state", "menu"),
            dict(raw.get("data", {})),
            list(raw.get("choices", [])),
            int(raw.get("generation", 0)),
        )


@dataclass
class Outcome:
    conv: Conversation
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


class SlotTaken(Exception):
    """The chosen slot was booked by someone else first."""


# ---------------------------------------------------------------- input normalisation

KEYWORDS: dict[str, str] = {
    "menu": "menu",
    "0": "menu",
    "/menu": "menu",
    "/start": "menu",
    "bonjour": "menu",
    "hello": "menu",
    "salut": "menu",
    "hi": "menu",
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
YES_WORDS = {"oui", "o", "yes", "y", "ok", "d'accord", "daccord", "confirmer", "je confirme"}
NO_WORDS = {"non", "n", "no", "nope"}
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s.!,;:'\"-]+|[\s.!,;:'\"-]+$")


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form used for keywords and labels."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("\u2019", "'").casefold()
    return _EDGE_PUNCT.sub("", _SPACES.sub(" ", bare)).strip()


def clean(text: str | None) -> str:
    """The patient's text, cut to MAX_TEXT characters and stripped."""
    return (text or "")[:MAX_TEXT].strip()


# ---------------------------------------------------------------- the engine


Handler = Callable[["Step"], Outcome]


@dataclass
class Step:
    """Everything one handler needs: conversation, input, context, and helpers to answer."""

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


class Engine:
    """Routes one inbound message to its state handler, after global keywords."""

    def __init__(self, handlers: dict[str, Handler], keyword_handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.keyword_handlers = keyword_handlers

    def handle(self, conv: Conversation, inbound: Inbound, ctx: Context) -> Outcome:
        text = clean(inbound.text)
        folded = fold(text)
        keyword = KEYWORDS.get(folded) if inbound.choice is None else None
        if ctx.patient.opted_out:
            return self._opted_out(conv, inbound, ctx, keyword)
        if keyword == "stop":
            return self.keyword_handlers["stop"](Step(conv, inbound, ctx, text, folded, None))
        outcome = self._route(conv, inbound, ctx, text, folded, keyword)
        return self._with_notice(outcome, ctx)

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
                return self.keyword_handlers["expired"](Step(conv, inbound, ctx, "", "", None))
            return self._dispatch(Step(conv, inbound, ctx, "", "", choice))
        if keyword is None and not text:
            keyword = "help"  # an empty message (a picture, a sticker) gets help
        if keyword is not None:
            name = keyword.split(":", 1)[0]
            return self.keyword_handlers[name](Step(conv, inbound, ctx, text, folded, None))
        choice = self._choice_from_text(conv, folded, ctx)
        return self._dispatch(Step(conv, inbound, ctx, text, folded, choice))

    def _dispatch(self, step: Step) -> Outcome:
        handler = self.handlers.get(step.conv.state) or self.handlers["menu"]
        return handler(step)

    def _opted_out(
        self, conv: Conversation, inbound: Inbound, ctx: Context, keyword: str | None
    ) -> Outcome:
        """No message at all to an opted-out patient, except the answer to START."""
        if keyword != "start":
            return Outcome(conv)
        outcome = self.keyword_handlers["start"](Step(conv, inbound, ctx, "", "start", None))
        return self._with_notice(outcome, ctx)

    def _with_notice(self, outcome: Outcome, ctx: Context) -> Outcome:
        """Put the short privacy notice before anything else when this version was not delivered."""
        version = ctx.practice.notice_version
        if ctx.patient.notice_version == version or not outcome.replies:
            return outcome
        first = outcome.replies[0]
        notice = Text("notice.short", notice_params(ctx.practice))
        outcome.replies[0] = replace(first, texts=(notice, *first.texts))
        outcome.effects.insert(0, RecordNotice(version))
        return outcome

    @staticmethod
    def _choice_from_token(conv: Conversation, token: str) -> str | None:
        """A button token `generation.index` back to the offered choice id, or None if stale."""
        gen, _, idx = token.partition(".")
        if not (gen.isdigit() and idx.isdigit()) or int(gen) != conv.generation:
            return None
        i = int(idx)
        return conv.choices[i - 1] if 1 <= i <= len(conv.choices) else None

    def _choice_from_text(self, conv: Conversation, folded: str, ctx: Context) -> str | None:
        """`2`, `oui`/`yes`, or a type or practitioner typed in full, as an offered choice."""
        if folded.isdigit():
            n = int(folded)
            return conv.choices[n - 1] if 1 <= n <= len(conv.choices) else None
        if folded in YES_WORDS and "yes" in conv.choices:
            return "yes"
        if folded in NO_WORDS and "no" in conv.choices:
            return "no"
        return next((c for c in conv.choices if folded in _typed_names(c, ctx.practice)), None)


def _typed_names(choice_id: str, practice: Practice) -> set[str]:
    """What a patient may type instead of the number: a type's label (any language) or id,
    a practitioner's name or id."""
    kind, _, arg = choice_id.partition(":")
    if kind == "t":
        ctype = practice.ctype(arg)
        return {fold(label) for label in ctype.label.values()} | {arg}
    if kind == "p":
        return {fold(practice.practitioner(arg).name), arg}
    return set()


def notice_params(practice: Practice) -> dict[str, Any]:
    return {
        "practice": practice.name,
        "days": practice.retention_days,
        "url": practice.privacy_notice_url,
        "contact": practice.contact,
    }


def offer(
    conv: Conversation,
    texts: Sequence[Text],
    choice_ids: Sequence[str],
    labels: Callable[[str], Text],
) -> Reply:
    """A reply offering choices; the ids are remembered so `2` or a button maps back."""
    ids = list(choice_ids)
    if ids and ids != conv.choices:
        conv.generation += 1
    conv.choices = ids
    choices = tuple(Choice(cid, labels(cid)) for cid in ids)
    return Reply(tuple(texts), choices, conv.generation)


def say(*texts: Text) -> Reply:
    """A reply without choices."""
    return Reply(tuple(texts))


def moment(value: datetime, style: str = "slot") -> Moment:
    return Moment(value, style)

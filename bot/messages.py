"""Channel-neutral message types: what comes in, what goes out, what must change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """One patient message as every channel hands it to the engine."""

    channel: str  # "sms" | "telegram" | "console"
    sender: str  # phone number, chat id or console id (never logged)
    text: str | None  # what was typed (or a media caption), None for a button press
    at: datetime  # aware
    message_id: str = ""  # provider id (MessageSid, update_id), for idempotence
    choice: str | None = None  # a button token, e.g. "7.2" (menu generation 7, choice 2)
    lang_hint: str | None = None  # client language (Telegram language_code)
    media: bool = False  # a picture, sticker, voice note... came with (or instead of) text
    forwarded: bool = False  # forwarded from someone else: never a keyword of the patient

    @property
    def buttons(self) -> bool:
        """Whether this channel draws choices as buttons (wording: "choose below")."""
        return self.channel == "telegram"


@dataclass(frozen=True)
class Moment:
    """A date-time parameter, formatted per locale by the renderer (style: slot|long|day|time)."""

    value: datetime
    style: str = "slot"


@dataclass(frozen=True)
class PerLang:
    """A parameter given in every language (a practice-file wording), picked at render time."""

    values: Mapping[str, str]

    def pick(self, lang: str) -> str:
        return self.values.get(lang) or next(iter(self.values.values()), "")


@dataclass(frozen=True)
class Text:
    """A message key and its parameters, translated by the renderer."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    count: int | None = None  # plural selector when the key has plural forms


@dataclass(frozen=True)
class Choice:
    """One offered option: a stable id the engine understands, and its label."""

    id: str
    label: Text


@dataclass(frozen=True)
class Reply:
    """One message to the patient: texts (joined by newlines) and optional choices.

    `shorter` lists alternative texts, shortest last: when the reply would not fit one SMS
    segment, the renderer uses the first alternative that does (headers shrink, never the
    choices themselves).
    """

    texts: tuple[Text, ...]
    choices: tuple[Choice, ...] = ()
    generation: int = 0  # menu generation of the choices, for button tokens
    shorter: tuple[tuple[Text, ...], ...] = ()


@dataclass(frozen=True)
class Rendered:
    """A reply translated for one locale: what the channels draw."""

    text: str
    choices: tuple[tuple[str, str], ...] = ()  # (token, label)

    def as_lines(self) -> str:
        """The text with choices as `N. label` lines, for SMS and the console."""
        lines = [self.text] if self.text else []
        lines += [f"{n}. {label}" for n, (_, label) in enumerate(self.choices, 1)]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "choices": [list(c) for c in self.choices]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rendered:
        return cls(data["text"], tuple((t, lbl) for t, lbl in data.get("choices", ())))

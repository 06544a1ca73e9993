"""A patient's dialog position as frozen values: the conversation and its booking draft.

A step never mutates them: it returns a new conversation. The store keeps `to_dict()`
encrypted between messages; `from_dict()` reads it back, and a stored shape it does not
know (an older release's) restarts at the menu rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from bot.states import State
from bot.when import When

ANY_PRACTITIONER = "*"


def _iso(value: date | time | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def when_to_dict(when: When) -> dict[str, Any]:
    return {
        "day": _iso(when.day),
        "at": _iso(when.at),
        "part": when.part,
        "last_day": _iso(when.last_day),
        "window": [w.isoformat() for w in when.window] if when.window else None,
        "earliest": when.earliest,
    }


def when_from_dict(raw: dict[str, Any]) -> When:
    window = raw.get("window")
    return When(
        day=date.fromisoformat(raw["day"]) if raw.get("day") else None,
        at=time.fromisoformat(raw["at"]) if raw.get("at") else None,
        part=raw.get("part"),
        last_day=date.fromisoformat(raw["last_day"]) if raw.get("last_day") else None,
        window=(time.fromisoformat(window[0]), time.fromisoformat(window[1])) if window else None,
        earliest=bool(raw.get("earliest")),
    )


@dataclass(frozen=True)
class Draft:
    """The booking (or move, or cancellation) being put together."""

    type_id: str = ""
    practitioner_id: str = ""  # ANY_PRACTITIONER: the first available
    move: str = ""  # id of the appointment being moved
    appt: str = ""  # id of the appointment shown or being cancelled
    slot: datetime | None = None  # the chosen start (UTC)
    slot_practitioner: str = ""  # who the chosen slot is with
    name: str = ""  # given in this booking (first booking only)
    prep: str | None = None  # the preparation answer (None: skipped or not asked)
    prep_done: bool = False
    last: datetime | None = None  # the last slot offered, for "later"
    ask: When | None = None  # what the patient asked for: it holds while paging

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_id,
            "practitioner": self.practitioner_id,
            "move": self.move,
            "appt": self.appt,
            "slot": _iso(self.slot),
            "slot_practitioner": self.slot_practitioner,
            "name": self.name,
            "prep": self.prep,
            "prep_done": self.prep_done,
            "last": _iso(self.last),
            "ask": when_to_dict(self.ask) if self.ask else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Draft:
        def moment(key: str) -> datetime | None:
            value = raw.get(key)
            return datetime.fromisoformat(value).astimezone(UTC) if value else None

        return cls(
            type_id=raw.get("type") or "",
            practitioner_id=raw.get("practitioner") or "",
            move=raw.get("move") or "",
            appt=raw.get("appt") or "",
            slot=moment("slot"),
            slot_practitioner=raw.get("slot_practitioner") or "",
            name=raw.get("name") or "",
            prep=raw.get("prep"),
            prep_done=bool(raw.get("prep_done")),
            last=moment("last"),
            ask=when_from_dict(raw["ask"]) if raw.get("ask") else None,
        )


@dataclass(frozen=True)
class Conversation:
    """Where the patient is, what is on offer, and the little the dialog remembers."""

    state: State = State.MENU
    draft: Draft = field(default_factory=Draft)
    choices: tuple[str, ...] = ()
    generation: int = 0
    misses: int = 0  # misunderstandings in a row: the practice phone after two
    just_booked: bool = False  # the last reply confirmed something: "merci" needs no menu
    reminded_on: str = ""  # ISO date of the last START reminder sent while opted out

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 2,
            "state": self.state.value,
            "draft": self.draft.to_dict(),
            "choices": list(self.choices),
            "generation": self.generation,
            "misses": self.misses,
            "just_booked": self.just_booked,
            "reminded_on": self.reminded_on,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Conversation:
        generation = int(raw.get("generation", 0))
        if raw.get("v") != 2:  # an older shape: start again from the menu, nothing lost
            return cls(generation=generation)
        try:
            state = State(raw.get("state", State.MENU))
        except ValueError:
            return cls(generation=generation)
        return cls(
            state=state,
            draft=Draft.from_dict(raw.get("draft") or {}),
            choices=tuple(raw.get("choices", ())),
            generation=generation,
            misses=int(raw.get("misses", 0)),
            just_booked=bool(raw.get("just_booked")),
            reminded_on=str(raw.get("reminded_on", "")),
        )

    def at(self, state: State, draft: Draft | None = None) -> Conversation:
        """This conversation moved to `state` (and `draft`), with nothing on offer."""
        return self._moved(state, self.draft if draft is None else draft, (), self.generation)

    def offered_at(self, state: State, draft: Draft | None, ids: tuple[str, ...]) -> Conversation:
        """`at(state, draft)` with these ids on offer: a new generation when they differ
        from what was on offer before (old buttons expire)."""
        draft = self.draft if draft is None else draft
        return self._moved(state, draft, ids, self._generation_for(ids))

    def _generation_for(self, ids: tuple[str, ...]) -> int:
        return self.generation + 1 if ids and ids != self.choices else self.generation

    def _moved(
        self, state: State, draft: Draft, choices: tuple[str, ...], generation: int
    ) -> Conversation:
        """A move to another step: the misunderstandings and "just booked" start over. Built
        directly rather than with `dataclasses.replace` (several per turn, each a few times
        dearer); a test holds every field to what `replace` would give."""
        return Conversation(
            state=state,
            draft=draft,
            choices=choices,
            generation=generation,
            misses=0,
            just_booked=False,
            reminded_on=self.reminded_on,
        )

"""The conversation's moves, built field by field for speed, against `dataclasses.replace`."""

from __future__ import annotations

import uuid
from dataclasses import fields, replace
from datetime import UTC, datetime

from bot.conversation import Conversation, Draft
from bot.states import State
from store.models import new_id

# every field away from its default, so a move that dropped or reset one would show
SAMPLE = Conversation(
    state=State.BOOK_SLOT,
    draft=Draft(type_id="consult", slot=datetime(2026, 12, 7, 7, 30, tzinfo=UTC)),
    choices=("s:20261207T0730", "s:20261207T0800"),
    generation=7,
    misses=2,
    just_booked=True,
    reminded_on="2026-12-01",
)
OTHER_DRAFT = Draft(type_id="vaccin")


def test_the_sample_sets_every_field():
    """A field added to Conversation must be set here too, or the moves go untested for it."""
    default = Conversation()
    unset = [
        f.name for f in fields(Conversation) if getattr(SAMPLE, f.name) == getattr(default, f.name)
    ]
    assert unset == []


def test_at_is_replace_with_nothing_on_offer():
    for draft in (None, OTHER_DRAFT):
        moved = SAMPLE.at(State.MENU, draft)
        expected = replace(
            SAMPLE,
            state=State.MENU,
            draft=SAMPLE.draft if draft is None else draft,
            choices=(),
            misses=0,
            just_booked=False,
        )
        assert moved == expected


def _offering(conv: Conversation, ids: tuple[str, ...]) -> Conversation:
    """What offering ids did through `replace`: a new generation when they changed."""
    if ids and ids != conv.choices:
        return replace(conv, choices=ids, generation=conv.generation + 1)
    return replace(conv, choices=ids)


def test_new_ids_on_offer_are_a_new_generation_and_the_same_ids_are_not():
    fresh = ("s:20261208T0900",)
    assert SAMPLE.offered_at(State.MENU, None, fresh).generation == 8
    assert SAMPLE.offered_at(State.MENU, None, SAMPLE.choices).generation == 7
    assert SAMPLE.offered_at(State.MENU, None, ()).generation == 7


def test_offered_at_is_at_then_offering_against_what_was_on_offer():
    """What `bot.dialog.offer` did in three objects: move, keep the old offer to compare,
    then offer."""
    for draft in (None, OTHER_DRAFT):
        for ids in (("book", "appts"), SAMPLE.choices, ()):
            moved = replace(SAMPLE.at(State.MENU, draft), choices=SAMPLE.choices)
            assert SAMPLE.offered_at(State.MENU, draft, ids) == _offering(moved, ids)


def test_new_ids_are_random_uuid4_hex():
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)

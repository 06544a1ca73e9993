"""The dialog as data: the move table is enforced, the diagram is generated from it, a step
returns a new conversation and never mutates the one it was given."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.conversation import Conversation, Draft
from bot.engine import Engine, Outcome, Step
from bot.flows import HANDLERS, KEYWORD_HANDLERS, build_engine
from bot.messages import Inbound, Reply, Text
from bot.states import MOVES, State, UndeclaredMove, check_move, generated
from channels.runtime import Runtime
from store.context import StoreContext
from store.models import Patient

STATES_MD = Path(__file__).resolve().parent.parent / "bot" / "STATES.md"


def test_states_md_shows_the_table_the_engine_enforces() -> None:
    text = STATES_MD.read_text(encoding="utf-8")
    assert generated() in text, "bot/STATES.md is stale: run `python -m bot.states`"


def test_every_state_has_a_handler_and_is_reachable() -> None:
    assert set(HANDLERS) == set(State)
    targets = {m.target for m in MOVES}
    assert targets == set(State)


def test_declared_and_undeclared_moves() -> None:
    check_move(State.MENU, State.BOOK_TYPE, by_keyword=False)
    check_move(State.BOOK_NAME, State.BOOK_NAME, by_keyword=False)  # staying is no move
    check_move(State.BOOK_PREP, State.DATA, by_keyword=True)  # MES DONNEES from anywhere
    with pytest.raises(UndeclaredMove):
        check_move(State.MENU, State.BOOK_CONFIRM, by_keyword=False)
    with pytest.raises(UndeclaredMove):
        check_move(State.MENU, State.RENAME, by_keyword=True)  # no keyword goes there


@contextmanager
def context(runtime: Runtime) -> Iterator[StoreContext]:
    """The store's real engine context, on a patient of its own, in an open transaction."""
    with runtime.db.write() as session:
        patient = Patient(
            practice_id=runtime.practice.id,
            channel="console",
            address_index=uuid.uuid4().hex,
            address_enc=b"",
            lang="fr",
            notice_version=runtime.practice.notice_version,
        )
        session.add(patient)
        session.flush()
        now = runtime.assistant.clock()
        yield StoreContext(session, runtime.practice, runtime.vault, now, patient, "x")


def inbound(text: str | None, choice: str | None = None) -> Inbound:
    return Inbound("console", "x", text, datetime.now(UTC), choice=choice)


def test_a_handler_that_moves_outside_the_table_raises(runtime: Runtime) -> None:
    def rogue(step: Step) -> Outcome:
        return Outcome(step.conv.at(State.BOOK_CONFIRM), [Reply((Text("menu.prompt"),))])

    engine = Engine({**HANDLERS, State.MENU: rogue}, KEYWORD_HANDLERS)
    with context(runtime) as ctx, pytest.raises(UndeclaredMove) as caught:
        engine.handle(Conversation(), inbound("blabla"), ctx)
    assert caught.value.source is State.MENU and caught.value.target is State.BOOK_CONFIRM


def test_a_keyword_that_moves_outside_the_table_raises(runtime: Runtime) -> None:
    def rogue(step: Step) -> Outcome:
        return Outcome(step.conv.at(State.BOOK_NAME))

    engine = Engine(HANDLERS, {**KEYWORD_HANDLERS, "help": rogue})
    with context(runtime) as ctx, pytest.raises(UndeclaredMove):
        engine.handle(Conversation(), inbound("aide"), ctx)


def test_a_step_returns_a_new_conversation_and_leaves_the_old_one_alone(runtime: Runtime) -> None:
    engine = build_engine()
    conv = Conversation()
    with context(runtime) as ctx:
        outcome = engine.handle(conv, inbound("RDV"), ctx)
        assert conv == Conversation()
        assert outcome.conv.state is State.BOOK_TYPE and outcome.conv.choices
        slots = engine.handle(outcome.conv, inbound("1"), ctx)
    assert outcome.conv.state is State.BOOK_TYPE  # unchanged by the next step
    assert slots.conv.state is State.BOOK_SLOT and slots.conv.draft.type_id == "consultation"
    with pytest.raises(FrozenInstanceError):
        slots.conv.state = State.MENU  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        slots.conv.draft.type_id = "ecg"  # type: ignore[misc]


def test_the_draft_is_typed_and_survives_the_store(runtime: Runtime) -> None:
    engine = build_engine()
    with context(runtime) as ctx:
        conv = engine.handle(Conversation(), inbound("RDV"), ctx).conv
        conv = engine.handle(conv, inbound("1"), ctx).conv
        conv = engine.handle(conv, inbound("demain matin"), ctx).conv
    draft = conv.draft
    assert isinstance(draft, Draft) and draft.ask is not None and draft.ask.part == "morning"
    assert Conversation.from_dict(conv.to_dict()) == conv


def test_a_stored_conversation_of_an_older_shape_restarts_at_the_menu() -> None:
    old = {
        "state": "book.confirm",
        "data": {"slot": "2026-12-02T10:10:00+00:00"},
        "choices": ["yes", "no"],
        "generation": 4,
    }
    conv = Conversation.from_dict(old)
    assert conv.state is State.MENU and conv.choices == () and conv.generation == 4
    assert Conversation.from_dict({"v": 2, "state": "nowhere"}).state is State.MENU

"""The dialog's states and the one table of moves between them.

The engine checks every step against this table: a handler that moves the conversation
somewhere the table does not declare raises `UndeclaredMove`. The diagram in
`bot/STATES.md` is generated from the same table (`python -m bot.states` prints it) and a
test compares the two, so the picture cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where a conversation waits; the value is what the store keeps."""

    MENU = "menu"
    BOOK_TYPE = "book.type"
    BOOK_PRACTITIONER = "book.practitioner"
    BOOK_SLOT = "book.slot"
    BOOK_DAY = "book.day"
    BOOK_NAME = "book.name"
    BOOK_PREP = "book.prep"
    BOOK_CONFIRM = "book.confirm"
    APPTS_LIST = "appts.list"
    APPTS_ACTION = "appts.action"
    CANCEL_CONFIRM = "cancel.confirm"
    DATA = "data"
    RENAME = "rename"
    ERASE_CONFIRM = "erase.confirm"


@dataclass(frozen=True)
class Move:
    """One declared move: from `source` (None: any state, by keyword) to `target`."""

    source: State | None
    target: State
    label: str


class UndeclaredMove(Exception):
    """A handler tried a move the table does not declare (a bug, never the patient's fault)."""

    def __init__(self, source: State, target: State, by_keyword: bool) -> None:
        how = "by keyword" if by_keyword else "by its handler"
        super().__init__(f"undeclared move {source} -> {target} ({how})")
        self.source, self.target = source, target


S = State
MOVES: tuple[Move, ...] = (
    Move(S.MENU, S.BOOK_TYPE, "book"),
    Move(S.MENU, S.BOOK_PRACTITIONER, "book, one type"),
    Move(S.MENU, S.BOOK_SLOT, "book, one type and practitioner"),
    Move(S.MENU, S.APPTS_LIST, "my appointments"),
    Move(S.MENU, S.CANCEL_CONFIRM, "cancel said in words"),
    Move(S.BOOK_TYPE, S.BOOK_PRACTITIONER, "type done by several"),
    Move(S.BOOK_TYPE, S.BOOK_SLOT, "type"),
    Move(S.BOOK_TYPE, S.MENU, "no free slot at all"),
    Move(S.BOOK_PRACTITIONER, S.BOOK_SLOT, "practitioner or first available"),
    Move(S.BOOK_PRACTITIONER, S.MENU, "no free slot at all"),
    Move(S.BOOK_SLOT, S.BOOK_DAY, "another day"),
    Move(S.BOOK_SLOT, S.BOOK_NAME, "slot, no name yet"),
    Move(S.BOOK_SLOT, S.BOOK_PREP, "slot, preparation type"),
    Move(S.BOOK_SLOT, S.BOOK_CONFIRM, "slot"),
    Move(S.BOOK_SLOT, S.MENU, "menu"),
    Move(S.BOOK_DAY, S.BOOK_SLOT, "day understood"),
    Move(S.BOOK_DAY, S.MENU, "no free slot at all"),
    Move(S.BOOK_NAME, S.BOOK_PREP, "name, preparation type"),
    Move(S.BOOK_NAME, S.BOOK_CONFIRM, "name"),
    Move(S.BOOK_NAME, S.BOOK_SLOT, "slot taken meanwhile"),
    Move(S.BOOK_PREP, S.BOOK_CONFIRM, "answer or skip"),
    Move(S.BOOK_PREP, S.BOOK_SLOT, "slot taken meanwhile"),
    Move(S.BOOK_CONFIRM, S.MENU, "yes (Book) / no"),
    Move(S.BOOK_CONFIRM, S.BOOK_SLOT, "taken meanwhile"),
    Move(S.APPTS_LIST, S.APPTS_ACTION, "an appointment"),
    Move(S.APPTS_LIST, S.BOOK_TYPE, "book"),
    Move(S.APPTS_LIST, S.BOOK_PRACTITIONER, "book, one type"),
    Move(S.APPTS_LIST, S.BOOK_SLOT, "book, one type and practitioner"),
    Move(S.APPTS_LIST, S.MENU, "menu"),
    Move(S.APPTS_ACTION, S.BOOK_SLOT, "move"),
    Move(S.APPTS_ACTION, S.CANCEL_CONFIRM, "cancel"),
    Move(S.APPTS_ACTION, S.APPTS_LIST, "back"),
    Move(S.APPTS_ACTION, S.MENU, "inside the cut-off"),
    Move(S.CANCEL_CONFIRM, S.MENU, "yes (Cancel) / no"),
    Move(S.DATA, S.RENAME, "correct my name"),
    Move(S.DATA, S.ERASE_CONFIRM, "erase"),
    Move(S.DATA, S.MENU, "menu"),
    Move(S.RENAME, S.MENU, "SetName"),
    Move(S.ERASE_CONFIRM, S.MENU, "yes (EraseMe) / no"),
    # Keywords, from any state (staying in the same state is always allowed: help, info,
    # language, a choice repeated after something not understood).
    Move(None, S.MENU, "MENU, START, STOP"),
    Move(None, S.BOOK_TYPE, "RDV / BOOK"),
    Move(None, S.BOOK_PRACTITIONER, "RDV, one type"),
    Move(None, S.BOOK_SLOT, "RDV, one type and practitioner"),
    Move(None, S.APPTS_LIST, "MES RDV / APPTS"),
    Move(None, S.CANCEL_CONFIRM, "ANNULER, one appointment"),
    Move(None, S.DATA, "MES DONNEES / MY DATA"),
    Move(None, S.ERASE_CONFIRM, "SUPPRIMER / DELETE"),
)

_BY_HANDLER = frozenset((m.source, m.target) for m in MOVES if m.source is not None)
_BY_KEYWORD = frozenset(m.target for m in MOVES if m.source is None)


def check_move(source: State, target: State, by_keyword: bool) -> None:
    """Raise `UndeclaredMove` unless the table declares source -> target."""
    if source == target:
        return
    allowed = target in _BY_KEYWORD if by_keyword else (source, target) in _BY_HANDLER
    if not allowed:
        raise UndeclaredMove(source, target, by_keyword)


def mermaid() -> str:
    """The state diagram (Mermaid), generated from MOVES."""
    lines = ["stateDiagram-v2", "    [*] --> menu: first contact (notice first)"]
    for m in MOVES:
        source = "any" if m.source is None else m.source.value
        lines.append(f"    {source} --> {m.target.value}: {m.label}")
    return "\n".join(lines)


def table() -> str:
    """The moves as a Markdown table, generated from MOVES."""
    rows = ["| from | to | when |", "|---|---|---|"]
    for m in MOVES:
        source = "any state (keyword)" if m.source is None else f"`{m.source.value}`"
        rows.append(f"| {source} | `{m.target.value}` | {m.label} |")
    return "\n".join(rows)


GENERATED_BEGIN = "<!-- generated by `python -m bot.states`: do not edit by hand -->"
GENERATED_END = "<!-- end of generated part -->"


def generated() -> str:
    """The part of STATES.md that comes from the table."""
    return "\n".join(
        [GENERATED_BEGIN, "", table(), "", "```mermaid", mermaid(), "```", "", GENERATED_END]
    )


if __name__ == "__main__":  # pragma: no cover
    print(generated())

"""The README's example transcript is true: replayed by SMS against the example practice on
the day it shows, every SMS is exactly the one printed, within its segment budget."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bot.gsm import segments
from bot.messages import Inbound
from channels.sms import render
from tests.conftest import Clock

README = Path(__file__).resolve().parent.parent / "README.md"
MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Paris


def transcript() -> list[tuple[str, list[str]]]:
    """(what the patient sends, the SMS received) from the README's first code block."""
    block = re.search(r"```\n(> .*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block, "no transcript in the README"
    turns: list[tuple[str, list[str]]] = []
    for line in block.group(1).splitlines():
        if line.startswith("> "):
            turns.append((line[2:], []))
        elif line.startswith("< "):
            turns[-1][1].append(line[2:])
        elif line.startswith("  "):
            turns[-1][1][-1] += "\n" + line[2:]
    return turns


def test_the_readme_transcript_is_what_the_patient_receives(runtime, clock: Clock) -> None:
    clock.now = MONDAY
    turns = transcript()
    assert len(turns) >= 6
    for number, (sent, expected) in enumerate(turns):
        inbound = Inbound("sms", "+33612345678", sent, clock(), message_id=uuid.uuid4().hex)
        bodies = render(runtime.assistant.handle(inbound).replies)
        assert bodies == expected, f"turn {number} ({sent!r})"
        assert all(segments(b) <= (2 if number == 0 else 1) for b in bodies)

"""Shared fixtures: a real runtime on a temporary SQLite file, a settable clock, a transcript helper."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.messages import Inbound, Rendered
from channels.runtime import Runtime
from channels.settings import Settings
from store.crypto import generate_key
from store.service import Assistant

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "practice.example.toml"
# Wednesday 2 December 2026, 09:00 in Paris
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock the tests move by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "CRENEAU_ENV": "development",
        "CRENEAU_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'creneau.sqlite3'}",
        "CRENEAU_PRACTICE": str(EXAMPLE),
        "CRENEAU_DATA_KEYS": f"t1:{generate_key()}",
        "CRENEAU_INDEX_KEY": generate_key(),
    }
    env.update(extra)
    return env


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, clock: Clock) -> Iterator[Runtime]:
    rt = Runtime(Settings.from_env(env_for(tmp_path)))
    rt.__dict__["assistant"] = Assistant(rt.db, rt.practice, rt.vault, rt.catalogs, clock=clock)
    yield rt
    rt.db.dispose()


@dataclass
class Patient:
    """A patient on one channel, talking to the real assistant."""

    assistant: Assistant
    sender: str
    channel: str = "console"
    lang: str | None = None
    log: list[tuple[str, str]] = field(default_factory=list)

    def send(self, text: str) -> str:
        """Send text; return every reply of the turn as the console prints it."""
        inbound = Inbound(self.channel, self.sender, text, self.assistant.clock(),
                          message_id=uuid.uuid4().hex, lang_hint=self.lang)
        out = "\n\n".join(r.as_lines() for r in self.assistant.handle(inbound).replies)
        self.log.append((text, out))
        return out

    def replies(self, text: str) -> list[Rendered]:
        inbound = Inbound(self.channel, self.sender, text, self.assistant.clock(),
                          message_id=uuid.uuid4().hex, lang_hint=self.lang)
        return self.assistant.handle(inbound).replies

    def dialog(self, steps: list[tuple[str, str | list[str]]]) -> None:
        """Run a transcript: each reply must contain the expected fragment(s)."""
        for text, expected in steps:
            out = self.send(text)
            for fragment in [expected] if isinstance(expected, str) else expected:
                assert fragment in out, f"after {text!r}: {fragment!r} not in:\n{out}"


@pytest.fixture
def patient(runtime: Runtime):
    def make(sender: str = "alice", lang: str | None = None, channel: str = "console") -> Patient:
        return Patient(runtime.assistant, sender, channel, lang)

    return make

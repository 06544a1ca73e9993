"""Shared fixtures: a real runtime on a temporary SQLite file, a settable clock, transcripts.

With `CRENEAU_TEST_DATABASE_URL=postgresql+psycopg://...` (as `make test` sets for its second
pass) every test runs on PostgreSQL instead: one database created for the session, emptied
before each test that used it, dropped at the end. See tests/pg.py.
"""

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
from tests import pg

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


def database_url(tmp_path: Path) -> str:
    """The test database: a SQLite file in tmp_path, or the session's PostgreSQL database."""
    return pg.session_url() if pg.enabled() else f"sqlite:///{tmp_path / 'creneau.sqlite3'}"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "CRENEAU_ENV": "development",
        "CRENEAU_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url(tmp_path),
        "CRENEAU_PRACTICE": str(EXAMPLE),
        "CRENEAU_DATA_KEYS": f"t1:{generate_key()}",
        "CRENEAU_INDEX_KEY": generate_key(),
    }
    env.update(extra)
    return env


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: reads the SQLite file itself; skipped on PostgreSQL"
    )
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (CRENEAU_TEST_DATABASE_URL)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip what the current database cannot run."""
    backend = "postgresql" if pg.enabled() else "sqlite"
    for item in items:
        if backend == "postgresql" and item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason="reads the SQLite file; PostgreSQL pass"))
        if backend == "sqlite" and item.get_closest_marker("postgres"):
            item.add_marker(
                pytest.mark.skip(
                    reason="needs CRENEAU_TEST_DATABASE_URL "
                    "(make test sets it when PostgreSQL answers)"
                )
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    pg.drop_session_database()


@pytest.fixture(autouse=True)
def _empty_postgres() -> None:
    """On PostgreSQL, start each test on empty tables (only if a previous test used them)."""
    pg.empty_if_used()


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
        out = "\n\n".join(r.as_lines() for r in self.replies(text))
        self.log.append((text, out))
        return out

    def replies(self, text: str) -> list[Rendered]:
        inbound = Inbound(
            self.channel,
            self.sender,
            text,
            self.assistant.clock(),
            message_id=uuid.uuid4().hex,
            lang_hint=self.lang,
        )
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

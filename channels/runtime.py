"""Wiring: from settings to a ready Assistant. Built on demand, never at import time."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from functools import cached_property

from bot.i18n import Catalogs
from bot.messages import Text
from bot.practice import Practice
from bot.practice_file import load_practice
from channels.metrics import ObservedAssistant
from channels.settings import Settings
from store.db import SERVICE, Database, Timeouts
from store.models import utcnow
from store.service import Assistant
from store.vault import Vault


@dataclass
class Runtime:
    """Everything one process needs, created once from the settings. `timeouts` bound how
    long a statement waits (short for the service, longer for an operator's command)."""

    settings: Settings
    timeouts: Timeouts = SERVICE

    @classmethod
    def from_env(cls) -> Runtime:
        return cls(Settings.from_env())

    @cached_property
    def practice(self) -> Practice:
        return load_practice(self.settings.practice_file)

    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.database_url, timeouts=self.timeouts)
        db.create_all()
        return db

    @cached_property
    def vault(self) -> Vault:
        return self.settings.vault()

    @cached_property
    def catalogs(self) -> Catalogs:
        return Catalogs()

    @cached_property
    def assistant(self) -> Assistant:
        return ObservedAssistant(self.db, self.practice, self.vault, self.catalogs)


def configure_logging(level: int = logging.INFO) -> None:
    """Plain logs to stderr; the code never logs addresses, names or message texts."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in (
        "alembic.autogenerate",
        "alembic.runtime.plugins",
        "httpx",
        "telegram",
        "twilio.http_client",
        "werkzeug",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Collect young objects every 50,000 allocations rather than 700: a turn allocates a few
# thousand short-lived objects, and each full collection otherwise walks the whole heap.
GC_THRESHOLDS = (50_000, 20, 50)


def settle(runtime: Runtime) -> None:
    """Before a web process serves: build what every turn uses (store, engine, catalogs,
    locale data) and move it out of the garbage collector's sight (`gc.freeze`), so a
    turn's cost is its own work rather than re-walking these objects (~20 % of a turn);
    on SQLite, checkpoint the WAL in the background rather than in a turn."""
    runtime.assistant  # noqa: B018  (the store, the engine, the practice, the catalogs)
    runtime.db.checkpoint_in_background()  # SQLite: no turn pays a checkpoint
    for lang in runtime.catalogs.languages:
        runtime.catalogs.text(Text("menu.prompt"), lang, runtime.practice.tz)
        runtime.catalogs.moment(utcnow(), "slot", lang, runtime.practice.tz)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

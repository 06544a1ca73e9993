"""Prometheus metrics: counters kept by the processes, gauges read from the database.

Counters and the turn latency histogram live in each process (prometheus_client's
multiprocess mode under gunicorn, when PROMETHEUS_MULTIPROC_DIR is set before this module is
imported: channels/gunicorn_conf.py does it). What several machines share is read from the
database at each scrape: outbox depth and oldest age, scheduler runs, senders over the rate
limit. Labels only ever hold a channel name, a fixed outcome word or a job kind: never an
address, a name, a text or an id.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.engine import Book, Cancel
from bot.messages import Inbound
from store.db import Database, table
from store.models import utcnow
from store.ratelimit import DEFAULT_WINDOW
from store.service import Assistant, Turn

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CHANNELS = frozenset({"sms", "telegram", "console", "desk"})
JOB_KINDS = ("summary", "purge")

TURNS = Counter(
    "creneau_turns",
    "Inbound messages handled, by channel and outcome (ok, repeated, limited, unavailable, error).",
    ["channel", "outcome"],
)
TURN_SECONDS = Histogram(
    "creneau_turn_seconds",
    "Time to handle one inbound message, its transaction included.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
APPOINTMENTS = Counter(
    "creneau_appointments",
    "Appointments booked or cancelled, by channel (desk: by the practice) and action.",
    ["channel", "action"],
)
RATE_LIMITED = Counter(
    "creneau_rate_limited_messages",
    "Inbound messages over their sender's rate limit (the dialog did not run).",
    ["channel"],
)
SENDS = Counter(
    "creneau_sends",
    "Outbound sends by the outbox worker, by channel and outcome (sent, retry, permanent, "
    "unreachable).",
    ["channel", "outcome"],
)


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: label values come from fixed sets (a few
    dozen children in all), and `labels` validates and locks at every call of every turn."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found


def channel_label(channel: str) -> str:
    """A channel as a label: one of a fixed set, never free text."""
    return channel if channel in CHANNELS else "other"


# ---------------------------------------------------------------- turns


class ObservedAssistant(Assistant):
    """The assistant, counting and timing each turn (outcome words only)."""

    def handle(self, inbound: Inbound, *args: Any, **kwargs: Any) -> Turn:
        channel = channel_label(inbound.channel)
        started = time.perf_counter()
        try:
            turn = super().handle(inbound, *args, **kwargs)
        except SQLAlchemyError:
            child(TURNS, channel, "unavailable").inc()
            raise
        except Exception:
            child(TURNS, channel, "error").inc()
            raise
        finally:
            child(TURN_SECONDS, channel).observe(time.perf_counter() - started)
        child(TURNS, channel, _outcome(turn)).inc()
        if turn.limited:
            child(RATE_LIMITED, channel).inc()
        for effect in turn.effects:
            if isinstance(effect, Book):
                child(APPOINTMENTS, channel, "booked").inc()
            elif isinstance(effect, Cancel):
                child(APPOINTMENTS, channel, "cancelled").inc()
        return turn


def _outcome(turn: Turn) -> str:
    if turn.repeated:
        return "repeated"
    if turn.limited:
        return "limited"
    return "ok"


def count_send(channel: str, outcome: str) -> None:
    """One outbox send, as the worker recorded it."""
    child(SENDS, channel_label(channel), outcome).inc()


# ---------------------------------------------------------------- the database's gauges


class DatabaseCollector:
    """Gauges read from the database at each scrape (shared by every process and machine)."""

    def __init__(self, db: Database, practice_id: str) -> None:
        self.db = db
        self.practice_id = practice_id

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "creneau_database_up", "Whether the database answered this scrape's queries."
        )
        try:
            families = list(self._families())
        except SQLAlchemyError as exc:
            log.warning("metrics: database query failed: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        now = utcnow()
        depth = GaugeMetricFamily(
            "creneau_outbox_depth", "Messages in the outbox, by channel and status.",
            labels=["channel", "status"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "creneau_outbox_oldest_age_seconds",
            "Age of the oldest pending outbox message, by channel (0 when empty).",
            labels=["channel"],
        )
        runs = GaugeMetricFamily(
            "creneau_scheduler_runs",
            "Scheduled runs recorded over the last days (claims are kept 7 days), by job.",
            labels=["job"],
        )
        last = GaugeMetricFamily(
            "creneau_scheduler_last_run_timestamp_seconds",
            "When each job last ran (Unix time; absent if it never ran).",
            labels=["job"],
        )
        limited = GaugeMetricFamily(
            "creneau_rate_limited_senders",
            "Senders over the rate limit in the current window.",
        )
        outbox, claims, limits = table("outbox"), table("job_claim"), table("rate_limit")
        with self.db.read() as session:
            for channel, status, n, first in session.execute(
                select(
                    outbox.c.channel, outbox.c.status, func.count(), func.min(outbox.c.created_at)
                )
                .where(outbox.c.practice_id == self.practice_id)
                .group_by(outbox.c.channel, outbox.c.status)
            ):
                label = channel_label(channel)
                depth.add_metric([label, status if status in ("pending", "failed") else "other"], n)
                if status == "pending" and first is not None:
                    oldest.add_metric([label], max(0.0, (now - _aware(first)).total_seconds()))
            for kind, n, latest in session.execute(
                select(claims.c.kind, func.count(), func.max(claims.c.claimed_at))
                .where(claims.c.practice_id == self.practice_id)
                .group_by(claims.c.kind)
            ):
                if kind in JOB_KINDS:
                    runs.add_metric([kind], n)
                    last.add_metric([kind], _aware(latest).timestamp())
            over = session.execute(
                select(func.count())
                .select_from(limits)
                .where(
                    limits.c.practice_id == self.practice_id,
                    limits.c.notified.is_(True),
                    limits.c.window_start > now - DEFAULT_WINDOW,
                )
            ).scalar_one()
            limited.add_metric([], over)
        yield from (depth, oldest, runs, last, limited)


def _aware(value: Any) -> Any:
    """A datetime from a Core aggregate (SQLite may hand back a naive UTC one)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- the exposition


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition(database: DatabaseCollector) -> bytes:
    """Every metric in the text format: this process's (or all gunicorn workers') counters,
    then the database's gauges."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    gauges = CollectorRegistry()
    gauges.register(database)  # type: ignore[arg-type]
    return counters + generate_latest(gauges)


def mark_process_dead(pid: int) -> None:
    """Tell the multiprocess files a worker is gone (gunicorn's child_exit hook)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)

"""The outbox worker: claims due rows, sends them through each channel's Sender, records
how it went.

One asyncio loop and one sender per channel per process, created in the worker's own
thread. A claim (claimed_by, claimed_until) is taken in a writing transaction, so two
workers never send the same row; a crashed worker's claims simply expire. Each chat's
messages go out in order, at most one message per second per chat (button answers and
edits exempt) and at most 30 per second per bot. Logs carry counts and error codes only.

The limits are per process: run one worker process per bot token (a second one is safe,
it never sends a row twice, but the two do not share their pacing).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, delete, select, update

from bot.practice import Practice
from channels.metrics import count_send
from channels.outbound import Result, Sender, SendOutcome
from channels.runtime import Runtime
from store.models import Outbox, Patient, utcnow
from store.outbox import open_row

log = logging.getLogger(__name__)
EXEMPT_OPS = frozenset({"answer", "edit"})  # not counted against the per-chat pace
GLOBAL_429_CHATS = 3  # this many chats told to slow down within GLOBAL_429_WINDOW: pause all
GLOBAL_429_WINDOW = 5.0


@dataclass(frozen=True)
class Limits:
    """Pacing of one channel: messages per second overall, seconds between two to one chat."""

    per_second: float = 30.0
    per_chat_interval: float = 1.0


DEFAULT_LIMITS = {"telegram": Limits(30.0, 1.0), "sms": Limits(10.0, 1.0)}


@dataclass(frozen=True)
class WorkerConfig:
    """Everything tunable, so tests can shrink the waits."""

    poll_interval: float = 0.2
    claim_ttl: timedelta = timedelta(seconds=60)
    batch: int = 50
    max_held: int = 200
    max_in_flight: int = 16
    max_attempts: int = 10
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    stop_grace: float = 5.0
    limits: dict[str, Limits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


@dataclass
class Job:
    """One claimed row, opened."""

    id: str
    channel: str
    kind: str
    patient_id: str | None
    attempts: int
    address: str
    payload: dict[str, Any]

    @property
    def chat(self) -> str:
        return f"{self.channel}:{self.address}"

    @property
    def exempt(self) -> bool:
        return self.payload.get("op") in EXEMPT_OPS

    @property
    def lane(self) -> str:
        """Jobs of one lane go in order; answers and edits never wait behind messages."""
        return self.chat + ("#quick" if self.exempt else "")


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- quiet hours


def quiet_until(practice: Practice, now: datetime) -> datetime | None:
    """The end of the practice's quiet window if `now` is inside it, else None."""
    period = practice.quiet_hours
    if period is None or period.start == period.end:
        return None
    local = now.astimezone(practice.tz)
    t = local.time().replace(tzinfo=None)
    crosses = period.start > period.end
    inside = (t >= period.start or t < period.end) if crosses else period.start <= t < period.end
    if not inside:
        return None
    end = datetime.combine(local.date(), period.end, tzinfo=practice.tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), period.end, tzinfo=practice.tz)
    return end


# ---------------------------------------------------------------- pacing


class Pacer:
    """Reserves send times: one bucket per channel, one spacing per chat, and pauses."""

    def __init__(self, limits: dict[str, Limits], clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self._channel_next: dict[str, float] = {}
        self._chat_next: dict[str, float] = {}
        self._recent_429: dict[str, float] = {}
        self._sent: dict[str, deque[float]] = {}

    def _limits(self, channel: str) -> Limits:
        return self.limits.get(channel, Limits())

    def reserve(self, job: Job) -> float:
        """Seconds to wait before this job may go; the slot is taken at once."""
        now = self.clock()
        limits = self._limits(job.channel)
        at = now if job.exempt else max(now, self._chat_next.get(job.chat, now))
        at = max(at, self._channel_next.get(job.channel, now))
        self._channel_next[job.channel] = at + 1.0 / limits.per_second
        if not job.exempt:
            self._chat_next[job.chat] = at + limits.per_chat_interval
        return at - now

    def chat_ready_in(self, job: Job) -> float:
        """Seconds until this chat may receive again (0 if now)."""
        if job.exempt:
            return 0.0
        return max(0.0, self._chat_next.get(job.chat, 0.0) - self.clock())

    def pause(self, job: Job, seconds: float) -> None:
        """A 429: pause this chat; several chats told so at once means the whole bot."""
        now = self.clock()
        self._chat_next[job.chat] = max(self._chat_next.get(job.chat, now), now + seconds)
        self._recent_429 = {
            k: t for k, t in self._recent_429.items() if now - t < GLOBAL_429_WINDOW
        }
        self._recent_429[job.chat] = now
        if len(self._recent_429) >= GLOBAL_429_CHATS:
            current = self._channel_next.get(job.channel, now)
            self._channel_next[job.channel] = max(current, now + seconds)
            log.warning(
                "%s: flood control on several chats, pausing the channel %.0f s",
                job.channel,
                seconds,
            )

    def window_wait(self, channel: str) -> float:
        """Seconds to wait so that no second holds more than `per_second` sends, however
        the reserved slots bunched up; 0 means go now (and the send is counted)."""
        now = self.clock()
        limit = max(1, int(self._limits(channel).per_second))
        sent = self._sent.setdefault(channel, deque(maxlen=limit))
        if len(sent) == limit and now - sent[0] < 1.0:
            return 1.0 - (now - sent[0])
        sent.append(now)
        return 0.0

    def forget_idle(self) -> None:
        """Drop per-chat entries whose spacing has passed (keeps memory flat)."""
        now = self.clock()
        self._chat_next = {k: t for k, t in self._chat_next.items() if t > now}


# ---------------------------------------------------------------- the worker


class Worker:
    """Drains the outbox of every enabled channel."""

    def __init__(
        self,
        runtime: Runtime,
        senders: dict[str, Sender] | None = None,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.runtime = runtime
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or new_worker_id()
        self.clock = clock
        self.senders: dict[str, Sender] = dict(senders or {})
        self._injected = senders is not None
        self.pacer = Pacer(self.config.limits)
        self._lanes: dict[str, deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self.counts: dict[str, int] = {r.value: 0 for r in Result}

    # ------------------------------------------------------------ lifecycle

    def open_senders(self) -> None:
        """Create the senders of the enabled channels, in the running loop's thread."""
        if self._injected:
            return
        settings = self.runtime.settings
        if settings.telegram_enabled:
            from channels.telegram import TelegramSender

            self.senders["telegram"] = TelegramSender.from_settings(settings)
        if settings.sms_enabled:
            try:
                from channels.sms_sender import TwilioSender
            except ImportError:
                log.warning("SMS is configured but this build has no SMS sender")
            else:
                try:
                    self.senders["sms"] = TwilioSender(settings)  # type: ignore[assignment]
                except ValueError as exc:  # a configuration problem: one line, no traceback
                    log.error("SMS sending is off: %s", exc)

    async def run(self, stop: threading.Event) -> None:
        """Poll and send until `stop` is set; then finish or release what is held."""
        self._slots = asyncio.Semaphore(self.config.max_in_flight)
        self.open_senders()
        log.info("outbox worker started: channels=%s", ",".join(sorted(self.senders)) or "none")
        try:
            while not stop.is_set():
                if await self._tick() == 0:
                    await asyncio.sleep(self.config.poll_interval)
        finally:
            await self._shutdown()

    async def _tick(self) -> int:
        """Claim what fits and hand it to the chats' lanes; the number of rows claimed."""
        room = self.config.max_held - sum(len(q) for q in self._lanes.values()) - len(self._tasks)
        if room <= 0 or not self.senders:
            return 0
        try:
            jobs = await asyncio.to_thread(self.claim, min(self.config.batch, room))
        except Exception as exc:  # a locked or unreachable database: try again later
            log.error("outbox claim failed: %s", type(exc).__name__)
            return 0
        for job in jobs:
            self._dispatch(job)
        self.pacer.forget_idle()
        return len(jobs)

    async def _shutdown(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        left = [job for lane in self._lanes.values() for job in lane]
        self._lanes.clear()
        if left:
            self.release(left, self.clock())
        for sender in self.senders.values():
            await sender.close()
        log.info("outbox worker stopped: %s", self._summary())

    def _summary(self) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))

    # ------------------------------------------------------------ claiming

    def claim(self, limit: int) -> list[Job]:
        """Take up to `limit` due rows for this worker, in creation order."""
        now = self.clock()
        with self.runtime.db.write() as session:
            rows = self._due_rows(session, now, limit)
            rows = self._skip_unsendable(session, rows, now)
            until = now + self.config.claim_ttl
            jobs = []
            for row in rows:
                job = self._job(row)
                if job is None:
                    row.status, row.last_error = "failed", "undecryptable"
                else:
                    row.claimed_by, row.claimed_until = self.worker_id, until
                    jobs.append(job)
                session.add(row)
            return jobs

    def _due_rows(self, session: Session, now: datetime, limit: int) -> list[Outbox]:
        query = (
            select(Outbox)
            .where(
                Outbox.practice_id == self.runtime.practice.id,
                Outbox.status == "pending",
                Outbox.next_attempt_at <= now,
                col(Outbox.channel).in_(list(self.senders)),
                or_(col(Outbox.claimed_until).is_(None), col(Outbox.claimed_until) < now),
            )
            .order_by(col(Outbox.created_at), col(Outbox.id))
            .limit(limit)
        )
        if not self.runtime.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        return list(session.exec(query))

    def _skip_unsendable(self, session: Session, rows: list[Outbox], now: datetime) -> list[Outbox]:
        """Drop non-replies to opted-out patients; move quiet-hour rows to the window's end."""
        opted_out = self._opted_out(session, {r.patient_id for r in rows if r.patient_id})
        quiet_end = quiet_until(self.runtime.practice, now)
        keep = []
        for row in rows:
            if row.patient_id in opted_out and row.kind != "reply":
                session.delete(row)
            elif row.respect_quiet_hours and quiet_end is not None:
                row.next_attempt_at, row.claimed_by, row.claimed_until = quiet_end, None, None
                session.add(row)
            else:
                keep.append(row)
        return keep

    @staticmethod
    def _opted_out(session: Session, patient_ids: set[str]) -> set[str]:
        if not patient_ids:
            return set()
        query = select(Patient.id).where(
            col(Patient.id).in_(patient_ids), col(Patient.opted_out).is_(True)
        )
        return set(session.exec(query))

    def _job(self, row: Outbox) -> Job | None:
        """The row opened, or None if no key in the ring opens it."""
        try:
            address, payload = open_row(self.runtime.vault, row)
        except Exception as exc:
            log.error("outbox row cannot be opened: %s", type(exc).__name__)
            return None
        return Job(row.id, row.channel, row.kind, row.patient_id, row.attempts, address, payload)

    def release(self, jobs: list[Job], at: datetime) -> None:
        """Give claimed rows back, due at `at`, without counting an attempt."""
        ids = [j.id for j in jobs]
        with self.runtime.db.write() as session:
            session.exec(
                update(Outbox)
                .where(col(Outbox.id).in_(ids), col(Outbox.claimed_by) == self.worker_id)
                .values(claimed_by=None, claimed_until=None, next_attempt_at=at)
            )

    # ------------------------------------------------------------ sending

    def _dispatch(self, job: Job) -> None:
        """Queue the job on its chat's lane; start the lane if it is idle."""
        lane = self._lanes.get(job.lane)
        if lane is not None:
            backlog = (len(lane) + 1) * self._interval(job.channel)
            if backlog > self.config.claim_ttl.total_seconds() / 2:  # would outlive the claim
                self.release([job], self.clock() + timedelta(seconds=backlog))
            else:
                lane.append(job)
            return
        self._lanes[job.lane] = deque([job])
        task = asyncio.get_running_loop().create_task(self._run_lane(job.lane))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _interval(self, channel: str) -> float:
        return self.config.limits.get(channel, Limits()).per_chat_interval

    async def _run_lane(self, key: str) -> None:
        """Send one lane's jobs in order; after a retryable failure, give the rest back."""
        lane = self._lanes[key]
        try:
            while lane:
                job = lane.popleft()
                outcome = await self._send(job)
                if outcome.result is Result.RETRY and lane:
                    rest = list(lane)
                    lane.clear()
                    await asyncio.to_thread(self.release, rest, self._retry_at(job, outcome))
        finally:
            self._lanes.pop(key, None)

    async def _send(self, job: Job) -> SendOutcome:
        wait = self.pacer.reserve(job)
        if wait > 0:
            await asyncio.sleep(wait)
        assert self._slots is not None
        async with self._slots:
            while (pause := self.pacer.window_wait(job.channel)) > 0:
                await asyncio.sleep(pause)
            try:
                outcome = await self.senders[job.channel].send(job.address, job.payload)
            except Exception as exc:  # a sender bug must not kill the worker
                log.error("%s sender raised %s", job.channel, type(exc).__name__)
                outcome = SendOutcome(Result.RETRY, error="internal")
        if outcome.result is Result.RETRY and outcome.retry_after:
            self.pacer.pause(job, outcome.retry_after)
        await asyncio.to_thread(self._record, job, outcome)
        return outcome

    # ------------------------------------------------------------ recording

    def _backoff(self, attempts: int) -> float:
        delay = min(self.config.backoff_cap, self.config.backoff_base * 2 ** (attempts - 1))
        return delay * random.uniform(0.8, 1.0)

    def _retry_at(self, job: Job, outcome: SendOutcome) -> datetime:
        seconds = outcome.retry_after or self._backoff(job.attempts + 1)
        return self.clock() + timedelta(seconds=seconds)

    def _record(self, job: Job, outcome: SendOutcome) -> None:
        """Write the outcome: delete, reschedule or mark failed (never the content)."""
        self.counts[outcome.result.value] += 1
        count_send(job.channel, outcome.result.value)
        try:
            with self.runtime.db.write() as session:
                self._apply(session, job, outcome)
        except Exception as exc:  # the claim expires and the row is tried again
            log.error("outbox outcome not recorded: %s", type(exc).__name__)

    def _apply(self, session: Session, job: Job, outcome: SendOutcome) -> None:
        mine = (col(Outbox.id) == job.id, col(Outbox.claimed_by) == self.worker_id)
        if outcome.result is Result.SENT:
            session.exec(delete(Outbox).where(*mine))
        elif outcome.result is Result.UNREACHABLE:
            if job.patient_id:
                session.exec(
                    update(Patient)
                    .where(col(Patient.id) == job.patient_id)
                    .values(unreachable=True)
                )
            session.exec(delete(Outbox).where(*mine))
            log.info("%s: recipient unreachable (%s)", job.channel, outcome.error)
        elif outcome.result is Result.PERMANENT or job.attempts + 1 >= self.config.max_attempts:
            _log_give_up(job, outcome, self.config.max_attempts)
            session.exec(
                update(Outbox)
                .where(*mine)
                .values(
                    status="failed",
                    attempts=job.attempts + 1,
                    claimed_by=None,
                    claimed_until=None,
                    last_error=(outcome.error or outcome.result.value)[:200],
                )
            )
        else:
            retry_at = self._retry_at(job, outcome)
            log.info(
                "%s %s %s: attempt %d of %d failed (%s), retry in %.0f s",
                job.channel,
                job.kind,
                job.id,
                job.attempts + 1,
                self.config.max_attempts,
                outcome.error or outcome.result.value,
                (retry_at - self.clock()).total_seconds(),
            )
            session.exec(
                update(Outbox)
                .where(*mine)
                .values(
                    attempts=job.attempts + 1,
                    next_attempt_at=retry_at,
                    claimed_by=None,
                    claimed_until=None,
                    last_error=(outcome.error or "")[:200],
                )
            )


def _log_give_up(job: Job, outcome: SendOutcome, max_attempts: int) -> None:
    """A message the worker stops trying: its row id, kind and error code, never content."""
    why = outcome.error or outcome.result.value
    if outcome.result is Result.PERMANENT:
        log.warning(
            "%s %s %s: permanent failure (%s) at attempt %d: given up",
            job.channel, job.kind, job.id, why, job.attempts + 1,
        )  # fmt: skip
    else:
        log.warning(
            "%s %s %s: given up after %d attempts (last: %s)",
            job.channel, job.kind, job.id, max_attempts, why,
        )  # fmt: skip


def run_worker(runtime: Runtime, stop: threading.Event, config: WorkerConfig | None = None) -> None:
    """Run the outbox worker in this thread, with its own event loop, until `stop` is set."""
    asyncio.run(Worker(runtime, config=config).run(stop))

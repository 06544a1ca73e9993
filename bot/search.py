"""Slots that honour what the patient asked: the day, the time, the window, the part of day.

On top of `bot.slots.next_slots` (one practitioner, earliest first), this answers the way a
receptionist does: slots on the asked day around the asked time; a part of day or a window
that holds on the following days; when nothing matches, the nearest slots and whether the
practice is closed then or only full. A search is a few bounded `next_slots` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from heapq import merge
from itertools import islice

from bot.practice import Practice
from bot.slots import BusyLookup, next_slots
from bot.when import END_OF_DAY, When

PAGE = 5
AROUND = timedelta(minutes=90)  # "vers 17h", "14h": slots within this of the time
NEAR_DAYS = 7  # how far before the asked day the nearest slots may be
POOL = 40  # at most this many candidates read for "nearest" or for one day's slots
PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(19, 0)),
    "evening": (time(17, 0), END_OF_DAY),
}

Slot = tuple[str, datetime]  # (practitioner id, local start)
Window = tuple[time, time]  # slot starts in [from, to); to 00:00 is midnight


@dataclass(frozen=True)
class Found:
    """Slots to offer; `held`: they are what was asked; `closed`: nothing matched because the
    practice is closed then (not merely full)."""

    slots: tuple[Slot, ...]
    held: bool
    closed: bool = False


def window_of(ask: When | None) -> Window | None:
    """The daily window a request sets: explicit, or its part of day, or around its time."""
    if ask is None:
        return None
    if ask.window:
        return ask.window
    if ask.part:
        return PARTS[ask.part]
    if ask.at:
        return _around(ask.at)
    return None


def _around(at: time) -> Window:
    base = datetime.combine(date(2000, 1, 1), at)
    lo = max(base - AROUND, base.replace(hour=0, minute=0))
    hi = base + AROUND
    return lo.time(), (END_OF_DAY if hi.date() != base.date() else hi.time())


class Finder:
    """Slot search for one booking: a consultation duration and the practitioners to ask."""

    def __init__(
        self,
        practice: Practice,
        now: datetime,
        busy: Callable[[str], BusyLookup],
        duration_minutes: int,
        practitioner_ids: Sequence[str],
        page: int = PAGE,
    ) -> None:
        self.page = page
        self.practice = practice
        self.now = now
        self.busy = busy
        self.duration = duration_minutes
        self.pids = tuple(practitioner_ids)
        self.tz = practice.tz

    # ------------------------------------------------------------ the search

    def find(self, ask: When | None, after: datetime | None = None) -> Found:
        """Up to a page of slots for `ask` (None: the earliest), after `after` when paging."""
        window = window_of(ask)
        if after is None and ask is not None and ask.day is None and ask.at:
            return self._around_any_day(ask.at, window)
        if after is not None or ask is None or ask.day is None:
            slots = self.slots(after=after, window=window, limit=self.page)
            if slots or after is not None:
                return Found(tuple(slots), bool(slots))
            return self._nearest(ask, window)
        first, last = ask.day, ask.last_day or ask.day
        start, end = self._midnight(first), self._midnight(last + timedelta(days=1))
        pool = self.slots(start_from=start, until=end, window=window, limit=POOL)
        if ask.at and first == last:
            pool = self._closest(pool, datetime.combine(first, ask.at, tzinfo=self.tz))
        if pool:
            return Found(tuple(pool[: self.page]), True)
        return self._nearest(ask, window)

    def _around_any_day(self, at: time, window: Window | None) -> Found:
        """ "Vers 17h": on the first day that has a slot near that time, the nearest ones."""
        pool = self.slots(window=window, limit=self._per_day(window) + self.page)
        if not pool:
            return self._nearest(When(at=at), window)
        first = self._on(pool[0])
        same_day = [s for s in pool if self._on(s) == first]
        picked = self._closest(same_day, datetime.combine(first, at, tzinfo=self.tz))
        later = [s for s in pool if self._on(s) != first][: self.page - len(picked)]
        return Found(tuple(picked + later), True)

    def _nearest(self, ask: When | None, window: Window | None) -> Found:
        """Nothing matched: the slots nearest to the asked moment, before or after it,
        keeping the time of day if any slot has it, and whether the practice is closed then."""
        today = self.now.astimezone(self.tz).date()
        day = ask.day if ask and ask.day else today
        at = (ask.at if ask else None) or (window[0] if window else time(0))
        anchor = datetime.combine(day, at, tzinfo=self.tz)
        pool = self._both_sides(anchor, window) if window else []
        if not pool:
            pool = self._both_sides(anchor, None)
        last = (ask.last_day or ask.day) if ask and ask.day else None
        closed = not self._open(day, last, window)
        return Found(tuple(self._closest(pool, anchor)), False, closed)

    def _both_sides(self, anchor: datetime, window: Window | None) -> list[Slot]:
        """A page of slots after `anchor`, and the last page before it on the nearest day
        that has some (within NEAR_DAYS): each search bounded to one day."""
        after = self.slots(start_from=max(anchor, self.now), window=window, limit=self.page)
        today = self.now.astimezone(self.tz).date()
        day = anchor.astimezone(self.tz).date()
        for back in range(NEAR_DAYS + 1):
            d = day - timedelta(days=back)
            if d < today:
                break
            end = min(anchor, self._midnight(d + timedelta(days=1)))
            before = self.slots(start_from=self._midnight(d), until=end, window=window, limit=POOL)
            if before:
                return before[-self.page :] + after
        return after

    def _closest(self, pool: list[Slot], anchor: datetime) -> list[Slot]:
        """The page of slots nearest to `anchor`, in time order."""
        nearest = sorted(pool, key=lambda s: abs((s[1] - anchor).total_seconds()))[: self.page]
        return sorted(nearest, key=lambda s: (s[1], s[0]))

    def slots(
        self,
        *,
        start_from: datetime | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        window: Window | None = None,
        limit: int = PAGE,
    ) -> list[Slot]:
        """The earliest free slots of every practitioner, merged in time order, each starting
        inside `window`."""
        wide = self._wide(window)
        per_practitioner = [
            [
                (pid, start)
                for start in next_slots(
                    self.practice,
                    pid,
                    self.duration,
                    now=self.now,
                    busy=self.busy(pid),
                    after=after,
                    start_from=start_from,
                    window=wide,
                    limit=limit,
                    until=until,
                )
                if self._starts_in(start, window)
            ]
            for pid in self.pids
        ]
        ordered = merge(*per_practitioner, key=lambda s: (s[1], self.pids.index(s[0])))
        return list(islice(ordered, limit))

    # ------------------------------------------------------------ helpers

    def _per_day(self, window: Window | None) -> int:
        """How many slots one day can hold in `window`: enough to read a whole day's."""
        if window is None:
            return POOL
        lo = window[0].hour * 60 + window[0].minute
        hi = 24 * 60 if window[1] == END_OF_DAY else window[1].hour * 60 + window[1].minute
        return min(POOL, (hi - lo) // self.duration + 2)

    def _wide(self, window: Window | None) -> Window | None:
        """A start window widened by one duration: `next_slots` wants the slot to end in it."""
        if window is None:
            return None
        if window[1] == END_OF_DAY:
            return window
        end = datetime.combine(date(2000, 1, 1), window[1]) + timedelta(minutes=self.duration)
        return window[0], END_OF_DAY if end.day != 1 else end.time()

    def _starts_in(self, start: datetime, window: Window | None) -> bool:
        if window is None:
            return True
        local = start.astimezone(self.tz).time()
        return window[0] <= local and (window[1] == END_OF_DAY or local < window[1])

    def _on(self, slot: Slot) -> date:
        return slot[1].astimezone(self.tz).date()

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def _open(self, first: date, last: date | None, window: Window | None) -> bool:
        """Whether any asked practitioner works on those days (the next two weeks when no day
        was asked) at those hours."""
        end = last or first + timedelta(days=13)
        day = first
        while day <= end and day <= first + timedelta(days=62):
            if not self.practice.is_closed(day) and any(
                self._works(pid, day, window) for pid in self.pids
            ):
                return True
            day += timedelta(days=1)
        return False

    def _works(self, pid: str, day: date, window: Window | None) -> bool:
        doctor = self.practice.practitioner(pid)
        if any(day in r for r in doctor.absences):
            return False
        lo, hi = window or (time(0), END_OF_DAY)
        return any(
            (hi == END_OF_DAY or p.start < hi) and (p.end == time(0) or lo < p.end)
            for p in doctor.hours.get(day.weekday(), ())
        )

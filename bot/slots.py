"""Free-slot search: pure functions over a Practice and a busy-interval lookup.

Opening hours are local wall-clock times, but all arithmetic is done on UTC instants, so a slot
always lasts exactly its duration of real time, even on daylight-saving days. The busy lookup is
called lazily, one bounded window at a time, so the cost depends on the searched range and not on
the number of stored appointments.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from bot.practice import Practice, Practitioner

Interval = tuple[datetime, datetime]  # aware datetimes, [start, end)
BusyLookup = Callable[[datetime, datetime], Iterable[Interval]]

_TICK = timedelta(microseconds=1)  # datetime resolution: "strictly after x" is ">= x + _TICK"


# --- small helpers ---------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    """value as a UTC instant; naive datetimes are refused (their meaning is ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _duration(minutes: int) -> timedelta:
    if minutes <= 0:
        raise ValueError("duration_minutes must be positive")
    return timedelta(minutes=minutes)


def _practitioner(practice: Practice, practitioner_id: str) -> Practitioner:
    try:
        return practice.practitioner(practitioner_id)
    except KeyError:
        raise KeyError(f"unknown practitioner {practitioner_id!r}") from None


def _bounds(practice: Practice, now: datetime) -> tuple[datetime, datetime]:
    """Earliest and latest allowed slot start (UTC) given min notice and horizon."""
    now_utc = _utc(now, "now")
    return (
        now_utc + timedelta(hours=practice.min_notice_hours),
        now_utc + timedelta(days=practice.horizon_days),
    )


def _is_working_day(practice: Practice, doctor: Practitioner, day: date) -> bool:
    return not practice.is_closed(day) and not any(day in r for r in doctor.absences)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort intervals and merge those that overlap or touch; empty ones are dropped."""
    merged: list[Interval] = []
    for start, end in sorted(iv for iv in intervals if iv[0] < iv[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- wall-clock ranges as UTC intervals ---------------------------------------------------------


def _offset_at(tz: ZoneInfo, instant: datetime) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _transition(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant in (lo, hi] whose UTC offset differs from lo's (binary search)."""
    before = _offset_at(tz, lo)
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _offset_at(tz, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def _wall_spans(tz: ZoneInfo, day: date, start: time, end: time) -> list[Interval]:
    """The UTC intervals during which the local wall clock reads a time in [start, end) of `day`.

    Usually one interval. In the spring gap the non-existent part is simply absent; in the autumn
    fold a range inside the repeated hour yields two intervals. `end == 00:00` means midnight at
    the end of the day.
    """
    lo_wall = datetime.combine(day, start)
    hi_wall = datetime.combine(day + timedelta(days=1) if end == time(0) else day, end)
    if hi_wall <= lo_wall:
        return []
    walls = (lo_wall, hi_wall)
    offsets = {wall.replace(tzinfo=tz, fold=fold).utcoffset() for wall in walls for fold in (0, 1)}
    spans: list[Interval] = []
    for offset in offsets:
        if offset is None:
            continue
        a = (lo_wall - offset).replace(tzinfo=UTC)
        b = (hi_wall - offset).replace(tzinfo=UTC)
        first_ok = _offset_at(tz, a) == offset
        last_ok = _offset_at(tz, b - _TICK) == offset
        if first_ok and last_ok:
            spans.append((a, b))
        elif first_ok:
            spans.append((a, _transition(tz, a, b - _TICK)))
        elif last_ok:
            spans.append((_transition(tz, a, b - _TICK), b))
    return _merge(spans)


def _day_spans(tz: ZoneInfo, doctor: Practitioner, day: date) -> list[Interval]:
    """The practitioner's opening periods on `day`, as sorted UTC intervals (not merged)."""
    spans = [
        span
        for period in doctor.hours.get(day.weekday(), ())
        for span in _wall_spans(tz, day, period.start, period.end)
    ]
    return sorted(spans)


# --- busy intervals, fetched one bounded window at a time ----------------------------------------


class _BusyStream:
    """Busy intervals for a forward scan: fetched lazily in windows of at most `chunk`, merged.

    Queries must come with non-decreasing start instants (the scan never moves backwards).
    """

    def __init__(self, lookup: BusyLookup, chunk: timedelta, limit: datetime) -> None:
        self._lookup = lookup
        self._chunk = chunk
        self._limit = limit
        self._loaded_to: datetime | None = None
        self._items: list[Interval] = []
        self._index = 0

    def _load(self, start: datetime, end: datetime) -> None:
        """Make sure every busy interval overlapping [start, end) is known."""
        while self._loaded_to is None or self._loaded_to < end:
            lo = start if self._loaded_to is None else max(self._loaded_to, start)
            hi = min(lo + self._chunk, max(self._limit, end))
            fetched = [
                (_utc(s, "busy interval start"), _utc(e, "busy interval end"))
                for s, e in self._lookup(lo, hi)
            ]
            self._items = _merge(self._items[self._index :] + fetched)
            self._index = 0
            self._loaded_to = hi

    def first_overlap(self, start: datetime, end: datetime) -> Interval | None:
        """The earliest busy interval overlapping [start, end), if any."""
        self._load(start, end)
        while self._index < len(self._items) and self._items[self._index][1] <= start:
            self._index += 1
        if self._index < len(self._items) and self._items[self._index][0] < end:
            return self._items[self._index]
        return None


# --- candidate generation ------------------------------------------------------------------------


def _scan_period(
    t: datetime,
    pieces: list[Interval],
    duration: timedelta,
    lowest: datetime,
    highest: datetime,
    busy: _BusyStream,
) -> Generator[datetime, None, datetime]:
    """Free starts in one opening period: step by `duration`, jump to the end of busy intervals.

    `t` is the period start; `pieces` are the parts of the period a slot may occupy (the whole
    period, or its intersection with the requested window). Candidates before a lower bound are
    skipped by jumping, with the same result as walking the grid one step at a time. Returns the
    final position, so the caller never scans backwards.
    """
    for piece_start, piece_end in pieces:
        floor = max(lowest, piece_start)
        if floor >= piece_end or t >= piece_end:  # nothing to offer here; later pieces rescan
            continue
        while True:
            if t < floor:
                target = t + -((t - floor) // duration) * duration  # first grid point >= floor
                blocker = busy.first_overlap(t, min(target + duration, piece_end))
                if blocker is not None:  # walking would have jumped to its end, off the grid
                    t = blocker[1]
                    continue
                if target > highest or target + duration > piece_end:
                    break
                t = target
                continue
            if t > highest or t + duration > piece_end:
                break
            blocker = busy.first_overlap(t, t + duration)
            if blocker is not None:
                t = blocker[1]
                continue
            yield t
            t += duration
    return t


def _window_pieces(
    tz: ZoneInfo, day: date, span: Interval, window: tuple[time, time] | None
) -> list[Interval]:
    """The parts of an opening span that lie inside the daily window (the whole span if none)."""
    if window is None:
        return [span]
    pieces = []
    for w_start, w_end in _wall_spans(tz, day, *window):
        start, end = max(span[0], w_start), min(span[1], w_end)
        if start < end:
            pieces.append((start, end))
    return pieces


def _free_starts(
    practice: Practice,
    doctor: Practitioner,
    duration: timedelta,
    lowest: datetime,
    highest: datetime,
    window: tuple[time, time] | None,
    busy: _BusyStream,
) -> Iterator[datetime]:
    """All free slot starts in [lowest, highest], ascending, as UTC instants (lazy)."""
    tz = practice.tz
    cursor = datetime.min.replace(tzinfo=UTC)  # never scan backwards, even in odd zones
    day, last_day = lowest.astimezone(tz).date(), highest.astimezone(tz).date()
    while day <= last_day:
        if _is_working_day(practice, doctor, day):
            for span in _day_spans(tz, doctor, day):
                if span[0] > highest:
                    return
                if span[1] <= lowest:  # each period has its own grid: skipping it changes nothing
                    continue
                pieces = _window_pieces(tz, day, span, window)
                cursor = yield from _scan_period(
                    max(span[0], cursor), pieces, duration, lowest, highest, busy
                )
                cursor = max(cursor, span[0])
        day += timedelta(days=1)


def _check_window(window: tuple[time, time] | None) -> None:
    if window is not None and window[1] != time(0) and window[0] >= window[1]:
        raise ValueError("window must satisfy from < to")


# --- public API --------------------------------------------------------------------------------


def next_slots(
    practice: Practice,
    practitioner_id: str,
    duration_minutes: int,
    *,
    now: datetime,
    busy: BusyLookup,
    after: datetime | None = None,
    start_from: datetime | None = None,
    limit: int = 5,
    window: tuple[time, time] | None = None,
    chunk_days: int = 7,
    until: datetime | None = None,
) -> list[datetime]:
    """The earliest `limit` free start times (aware, in practice.tz), ascending.

    after: only slots strictly after it ("later": pass the last slot offered).
    start_from: only slots at or after it ("another day": a local moment to search from).
    window: (from, to) local times; a slot must start in [from, to) and end by `to`.
    until: only slots starting strictly before it (a bounded search: one day, one week).
    Slots are laid on a grid from each period start, stepping by the duration and restarting at
    the end of each busy interval; `busy` is called once per window of at most `chunk_days` days.
    """
    duration = _duration(duration_minutes)
    if chunk_days < 1:
        raise ValueError("chunk_days must be at least 1")
    _check_window(window)
    doctor = _practitioner(practice, practitioner_id)
    lowest, highest = _bounds(practice, now)
    if start_from is not None:
        lowest = max(lowest, _utc(start_from, "start_from"))
    if after is not None:
        lowest = max(lowest, _utc(after, "after") + _TICK)
    if until is not None:
        highest = min(highest, _utc(until, "until") - _TICK)
    if limit <= 0 or lowest > highest:
        return []
    stream = _BusyStream(busy, timedelta(days=chunk_days), highest + duration)
    starts = _free_starts(practice, doctor, duration, lowest, highest, window, stream)
    return [t.astimezone(practice.tz) for t in islice(starts, limit)]


def is_free(
    practice: Practice,
    practitioner_id: str,
    start: datetime,
    duration_minutes: int,
    *,
    now: datetime,
    busy: BusyLookup,
) -> bool:
    """Whether [start, start + duration) is still bookable (re-checked inside the booking).

    Checks notice, horizon, closures, absences, opening hours and busy intervals; the slot need
    not lie on the grid `next_slots` would use today (an offered slot stays bookable even if a
    cancellation since then moved the grid).
    """
    duration = _duration(duration_minutes)
    doctor = _practitioner(practice, practitioner_id)
    lowest, highest = _bounds(practice, now)
    begin = _utc(start, "start")
    end = begin + duration
    if not lowest <= begin <= highest:
        return False
    day = begin.astimezone(practice.tz).date()
    if not _is_working_day(practice, doctor, day):
        return False
    if not any(a <= begin and end <= b for a, b in _day_spans(practice.tz, doctor, day)):
        return False
    return not any(
        _utc(s, "busy interval start") < end and begin < _utc(e, "busy interval end")
        for s, e in busy(begin, end)
    )

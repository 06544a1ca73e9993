"""Slot search: examples, daylight-saving cases and property tests (bot/slots.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.practice import ConsultationType, DateRange, Period, Practice, Practitioner
from bot.slots import Interval, is_free, next_slots

PARIS = ZoneInfo("Europe/Paris")
MORNING = Period(time(8, 30), time(12, 0))
AFTERNOON = Period(time(14, 0), time(18, 30))
WEEK_HOURS = {0: (MORNING, AFTERNOON), 1: (MORNING,), 3: (MORNING, AFTERNOON), 4: (MORNING,)}


def make_practice(
    hours: dict[int, tuple[Period, ...]] | None = None,
    *,
    closed: tuple[DateRange, ...] = (),
    absences: tuple[DateRange, ...] = (),
    min_notice_hours: int = 2,
    horizon_days: int = 60,
) -> Practice:
    doctor = Practitioner(
        id="roux",
        name="Dr Anne Roux",
        hours=WEEK_HOURS if hours is None else hours,
        absences=absences,
    )
    ctype = ConsultationType(
        id="consultation",
        label={"fr": "Consultation", "en": "Consultation"},
        duration_minutes=20,
        practitioners=("roux",),
    )
    return Practice(
        name="Cabinet des Lilas",
        timezone="Europe/Paris",
        locale="fr",
        controller="Dr Anne Roux, 3 rue des Lilas, 69003 Lyon",
        contact="cabinet@example.org",
        privacy_notice_url="https://example.org/confidentialite",
        practitioners=(doctor,),
        consultation_types=(ctype,),
        min_notice_hours=min_notice_hours,
        horizon_days=horizon_days,
        closed=closed,
    )


class Busy:
    """A BusyLookup over a fixed list that records every call."""

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        self.intervals = list(intervals)
        self.calls: list[tuple[datetime, datetime]] = []

    def __call__(self, start: datetime, end: datetime) -> list[Interval]:
        self.calls.append((start, end))
        return [(s, e) for s, e in self.intervals if s < end and start < e]


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


def hm(slots: list[datetime]) -> list[str]:
    return [s.strftime("%a %H:%M") for s in slots]


# Monday 2026-03-02, a week with no daylight-saving change.
MONDAY_EARLY = local(2026, 3, 2, 6, 0)


# --- examples ------------------------------------------------------------------------------------


def test_first_slots_of_an_empty_week() -> None:
    slots = next_slots(make_practice(), "roux", 20, now=MONDAY_EARLY, busy=Busy())
    assert hm(slots) == ["Mon 08:30", "Mon 08:50", "Mon 09:10", "Mon 09:30", "Mon 09:50"]
    assert all(s.tzinfo == PARIS for s in slots)


def test_lunch_break_is_skipped() -> None:
    now = local(2026, 3, 2, 9, 0)  # notice: from 11:00
    slots = next_slots(make_practice(), "roux", 20, now=now, busy=Busy(), limit=6)
    assert hm(slots) == [
        "Mon 11:10",
        "Mon 11:30",
        "Mon 14:00",
        "Mon 14:20",
        "Mon 14:40",
        "Mon 15:00",
    ]


def test_slot_must_fit_before_period_end() -> None:
    now = local(2026, 3, 2, 9, 0)
    slots = next_slots(make_practice(), "roux", 45, now=now, busy=Busy(), limit=2)
    # 08:30 + 45 min steps: 11:30 would end 12:15, past the end of the morning.
    assert hm(slots) == ["Mon 14:00", "Mon 14:45"]


def test_closed_day_and_days_without_hours() -> None:
    practice = make_practice(closed=(DateRange(date(2026, 3, 2), date(2026, 3, 3)),))
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), limit=1)
    assert slots == [local(2026, 3, 5, 8, 30)]  # Tue closed too, no hours on Wednesday


def test_absence_day() -> None:
    practice = make_practice(absences=(DateRange(date(2026, 3, 2), date(2026, 3, 2)),))
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), limit=1)
    assert slots == [local(2026, 3, 3, 8, 30)]


def test_min_notice_stays_on_the_grid() -> None:
    now = local(2026, 3, 2, 7, 1)  # notice: from 09:01
    slots = next_slots(make_practice(), "roux", 20, now=now, busy=Busy(), limit=2)
    assert hm(slots) == ["Mon 09:10", "Mon 09:30"]


def test_horizon() -> None:
    practice = make_practice(horizon_days=1)
    now = local(2026, 3, 2, 9, 0)
    slots = next_slots(practice, "roux", 20, now=now, busy=Busy(), limit=100)
    assert slots[-1] == local(2026, 3, 3, 8, 50)  # the last grid start <= now + 1 day
    assert len(slots) == 2 + 13 + 2


def test_busy_intervals_shift_the_grid() -> None:
    busy = Busy(
        [
            (local(2026, 3, 2, 8, 30), local(2026, 3, 2, 8, 50)),
            (local(2026, 3, 2, 9, 0), local(2026, 3, 2, 9, 25)),
        ]
    )
    slots = next_slots(make_practice(), "roux", 20, now=MONDAY_EARLY, busy=busy, limit=3)
    assert hm(slots) == ["Mon 09:25", "Mon 09:45", "Mon 10:05"]


def test_busy_interval_spanning_days() -> None:
    busy = Busy([(local(2026, 3, 1), local(2026, 3, 5, 10, 0))])
    slots = next_slots(make_practice(), "roux", 20, now=MONDAY_EARLY, busy=busy, limit=2)
    assert slots == [local(2026, 3, 5, 10, 0), local(2026, 3, 5, 10, 20)]


def test_after_is_exclusive_and_continues_the_grid() -> None:
    practice = make_practice()
    first = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), limit=3)
    later = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), after=first[-1])
    assert hm(later)[:2] == ["Mon 09:30", "Mon 09:50"]
    off_grid = next_slots(
        practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), after=local(2026, 3, 2, 9, 35)
    )
    assert off_grid[0] == local(2026, 3, 2, 9, 50)


def test_start_from_is_inclusive() -> None:
    practice = make_practice()
    start = local(2026, 3, 5, 14, 0)
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), start_from=start)
    assert slots[0] == start
    slots = next_slots(
        practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), start_from=local(2026, 3, 3)
    )
    assert slots[0] == local(2026, 3, 3, 8, 30)


def test_until_is_exclusive_and_bounds_the_search() -> None:
    practice = make_practice()
    day, next_day = local(2026, 3, 3), local(2026, 3, 4)
    one_day = next_slots(
        practice,
        "roux",
        20,
        now=MONDAY_EARLY,
        busy=Busy(),
        start_from=day,
        until=next_day,
        limit=99,
    )
    assert one_day and all(day <= s < next_day for s in one_day)
    cut = next_slots(
        practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), start_from=day, until=one_day[2]
    )
    assert cut == one_day[:2]


def test_window_filters_without_moving_the_grid() -> None:
    practice = make_practice()
    afternoon = (time(12, 0), time(23, 59))
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), window=afternoon)
    assert slots[0] == local(2026, 3, 2, 14, 0)
    narrow = (time(9, 0), time(10, 0))
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=Busy(), window=narrow)
    assert hm(slots) == ["Mon 09:10", "Mon 09:30", "Tue 09:10", "Tue 09:30", "Thu 09:10"]


def test_window_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        next_slots(
            make_practice(), "roux", 20, now=MONDAY_EARLY, busy=Busy(), window=(time(12), time(8))
        )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        next_slots(make_practice(), "roux", 20, now=datetime(2026, 3, 2, 6), busy=Busy())


def test_unknown_practitioner() -> None:
    with pytest.raises(KeyError):
        next_slots(make_practice(), "nobody", 20, now=MONDAY_EARLY, busy=Busy())


def test_no_busy_call_beyond_what_is_needed() -> None:
    busy = Busy()
    next_slots(make_practice(), "roux", 20, now=MONDAY_EARLY, busy=busy, chunk_days=2)
    assert len(busy.calls) == 1
    assert busy.calls[0][1] - busy.calls[0][0] <= timedelta(days=2)


def test_busy_is_queried_in_chunks_over_long_gaps() -> None:
    practice = make_practice(absences=(DateRange(date(2026, 3, 2), date(2026, 3, 25)),))
    busy = Busy()
    slots = next_slots(practice, "roux", 20, now=MONDAY_EARLY, busy=busy, limit=1, chunk_days=3)
    assert slots == [local(2026, 3, 26, 8, 30)]
    assert len(busy.calls) == 1  # absent days are not looked up at all
    assert all(e - s <= timedelta(days=3) for s, e in busy.calls)


def test_is_free() -> None:
    practice = make_practice()
    taken = Busy([(local(2026, 3, 2, 9, 0), local(2026, 3, 2, 9, 20))])
    assert is_free(practice, "roux", local(2026, 3, 2, 8, 30), 20, now=MONDAY_EARLY, busy=taken)
    assert is_free(practice, "roux", local(2026, 3, 2, 9, 20), 20, now=MONDAY_EARLY, busy=taken)
    assert not is_free(practice, "roux", local(2026, 3, 2, 8, 50), 20, now=MONDAY_EARLY, busy=taken)
    assert not is_free(
        practice, "roux", local(2026, 3, 2, 11, 50), 20, now=MONDAY_EARLY, busy=taken
    )
    assert not is_free(practice, "roux", local(2026, 3, 2, 7, 30), 20, now=MONDAY_EARLY, busy=taken)
    assert not is_free(practice, "roux", local(2026, 3, 4, 9, 0), 20, now=MONDAY_EARLY, busy=taken)
    late = local(2026, 3, 2, 7, 0)  # notice ends at 09:00
    assert not is_free(practice, "roux", local(2026, 3, 2, 8, 50), 20, now=late, busy=Busy())
    far = make_practice(horizon_days=2)
    assert not is_free(far, "roux", local(2026, 3, 5, 8, 30), 20, now=MONDAY_EARLY, busy=Busy())


# --- daylight saving ----------------------------------------------------------------------------

NIGHT = {6: (Period(time(1, 0), time(4, 0)),)}  # Sundays 01:00-04:00


def test_spring_forward_night_has_two_real_hours() -> None:
    practice = make_practice(NIGHT)
    now = local(2026, 3, 28, 12, 0)
    slots = next_slots(practice, "roux", 20, now=now, busy=Busy(), limit=10)
    assert hm(slots) == [
        "Sun 01:00", "Sun 01:20", "Sun 01:40", "Sun 03:00", "Sun 03:20", "Sun 03:40",
        "Sun 01:00", "Sun 01:20", "Sun 01:40", "Sun 02:00",
    ]  # fmt: skip
    assert slots[3].astimezone(UTC) - slots[2].astimezone(UTC) == timedelta(minutes=20)


def test_autumn_back_night_has_four_real_hours() -> None:
    practice = make_practice(NIGHT)
    now = local(2026, 10, 24, 12, 0)
    slots = next_slots(practice, "roux", 60, now=now, busy=Busy(), limit=5)
    assert [s.strftime("%H:%M%z") for s in slots] == [
        "01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100", "01:00+0100",
    ]  # fmt: skip


def test_period_starting_in_the_spring_gap() -> None:
    practice = make_practice({6: (Period(time(2, 30), time(5, 0)),)})
    now = local(2026, 3, 28, 12, 0)
    slots = next_slots(practice, "roux", 30, now=now, busy=Busy(), limit=4)
    assert [s.strftime("%d %H:%M") for s in slots] == [
        "29 03:00",
        "29 03:30",
        "29 04:00",
        "29 04:30",
    ]


def test_period_inside_the_autumn_fold_happens_twice() -> None:
    practice = make_practice({6: (Period(time(2, 15), time(2, 45)),)})
    now = local(2026, 10, 24, 12, 0)
    slots = next_slots(practice, "roux", 30, now=now, busy=Busy(), limit=3)
    assert [s.strftime("%d %H:%M%z") for s in slots] == [
        "25 02:15+0200", "25 02:15+0100", "01 02:15+0100",
    ]  # fmt: skip


# --- properties ----------------------------------------------------------------------------------

DST_DAYS = [datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC)]
NIGHT_PERIODS = [
    tuple(Period(time(*a), time(*b)) for a, b in periods)
    for periods in [
        [((1, 0), (4, 0))],
        [((2, 30), (3, 30))],
        [((1, 0), (2, 30)), ((2, 30), (5, 0))],
        [((2, 15), (2, 45))],
        [((1, 30), (2, 15)), ((2, 45), (3, 15))],
        [((0, 0), (23, 55))],
    ]
]
BOUNDARIES = [0, 60, 90, 120, 135, 150, 165, 180, 210, 240, 480, 510, 720, 840, 1110, 1435]


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[Period, ...]:
    """0-3 sorted, non-overlapping periods, biased towards the night hours DST plays with."""
    minutes = st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 287).map(lambda m: m * 5))
    cuts = sorted(draw(st.lists(minutes, min_size=0, max_size=6, unique=True)))
    pairs = list(zip(cuts[0::2], cuts[1::2], strict=False))
    return tuple(Period(time(a // 60, a % 60), time(b // 60, b % 60)) for a, b in pairs)


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    base = draw(st.sampled_from(DST_DAYS))
    now = base + timedelta(minutes=draw(st.integers(-6 * 24 * 60, 2 * 24 * 60)))
    hours = {wd: draw(day_hours()) for wd in range(7)}
    hours = {wd: periods for wd, periods in hours.items() if periods}
    sunday = draw(st.none() | st.sampled_from(NIGHT_PERIODS))
    if sunday is not None:  # DST changes happen on Sunday nights
        hours[6] = sunday
    today = now.astimezone(PARIS).date()

    def ranges() -> st.SearchStrategy[tuple[DateRange, ...]]:
        one = st.tuples(st.integers(0, 12), st.integers(0, 3)).map(
            lambda p: DateRange(today + timedelta(p[0]), today + timedelta(p[0] + p[1]))
        )
        return st.lists(one, max_size=2).map(tuple)

    busy = draw(
        st.lists(
            st.tuples(st.integers(-600, 12 * 24 * 60), st.integers(1, 300)).map(
                lambda p: (
                    now + timedelta(minutes=p[0]),
                    now + timedelta(minutes=p[0] + p[1]),
                )
            ),
            max_size=15,
        )
    )
    window = draw(
        st.none()
        | st.tuples(st.integers(0, 23), st.integers(1, 24)).map(
            lambda p: (time(min(p)), time(max(p) % 24)) if p[0] != p[1] else None
        )
    )
    return {
        "practice": make_practice(
            hours,
            closed=draw(ranges()),
            absences=draw(ranges()),
            min_notice_hours=draw(st.integers(1, 24)),
            horizon_days=draw(st.integers(1, 14)),
        ),
        "now": now,
        "busy": busy,
        "duration": draw(st.sampled_from([5, 15, 20, 30, 45, 60, 90]) | st.integers(1, 120)),
        "limit": draw(st.integers(1, 8)),
        "chunk_days": draw(st.integers(1, 7)),
        "window": window,
    }


def enclosing_period(practice: Practice, slot: datetime, duration: timedelta) -> Period | None:
    """The period whose wall-clock range holds every instant of the slot (checked per minute)."""
    day = slot.astimezone(PARIS).date()
    instants = [slot + timedelta(minutes=m) for m in range(duration // timedelta(minutes=1))]
    instants.append(slot + duration - timedelta(microseconds=1))
    walls = [i.astimezone(PARIS) for i in instants]
    if any(w.date() != day for w in walls):
        return None
    for period in practice.practitioners[0].hours.get(day.weekday(), ()):
        if all(period.start <= w.time() < period.end for w in walls):
            return period
    return None


def in_window(slot: datetime, duration: timedelta, window: tuple[time, time]) -> bool:
    start = slot.astimezone(PARIS)
    end = (slot.astimezone(UTC) + duration).astimezone(PARIS)
    if start.time() < window[0]:
        return False
    if window[1] == time(0):
        return end.date() == start.date() or end.time() == time(0)
    return start.time() < window[1] and end.date() == start.date() and end.time() <= window[1]


LOTS = 300
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios())
def test_slots_respect_every_rule(case: dict) -> None:
    practice, now, duration = case["practice"], case["now"], timedelta(minutes=case["duration"])
    busy = Busy(case["busy"])
    slots = next_slots(
        practice,
        "roux",
        case["duration"],
        now=now,
        busy=busy,
        limit=case["limit"],
        window=case["window"],
        chunk_days=case["chunk_days"],
    )
    assert len(slots) <= case["limit"]
    assert all(e - s <= timedelta(days=case["chunk_days"]) and s < e for s, e in busy.calls)
    doctor = practice.practitioners[0]
    utc = [s.astimezone(UTC) for s in slots]
    for earlier, later in pairwise(utc):
        assert earlier + duration <= later  # sorted, non-overlapping in real time
    for slot, start in zip(slots, utc, strict=True):
        end = start + duration
        assert slot.tzinfo == PARIS
        assert (end - start).total_seconds() == case["duration"] * 60
        assert start >= now + timedelta(hours=practice.min_notice_hours)
        assert start <= now + timedelta(days=practice.horizon_days)
        day = slot.date()
        assert not practice.is_closed(day)
        assert not any(day in r for r in doctor.absences)
        assert enclosing_period(practice, start, duration) is not None
        assert not any(s < end and start < e for s, e in case["busy"])
        if case["window"]:
            assert in_window(start, duration, case["window"])
        assert is_free(practice, "roux", slot, case["duration"], now=now, busy=Busy(case["busy"]))


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(1, 6))
def test_later_continues_where_the_offer_stopped(case: dict, more: int) -> None:
    practice, now = case["practice"], case["now"]

    def search(limit: int, after: datetime | None = None) -> list[datetime]:
        return next_slots(
            practice,
            "roux",
            case["duration"],
            now=now,
            busy=Busy(case["busy"]),
            after=after,
            limit=limit,
            window=case["window"],
            chunk_days=case["chunk_days"],
        )

    first = search(case["limit"])
    if len(first) < case["limit"]:
        return
    assert first + search(more, after=first[-1]) == search(case["limit"] + more)


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(0, 48 * 60))
def test_later_now_keeps_the_same_grid(case: dict, delay: int) -> None:
    """Moving `now` forward only drops slots: the grid does not depend on the search start."""
    practice = case["practice"]
    now, later_now = case["now"], case["now"] + timedelta(minutes=delay)

    def search(when: datetime) -> list[datetime]:
        return next_slots(
            practice, "roux", case["duration"], now=when, busy=Busy(case["busy"]), limit=LOTS
        )

    before, after = search(now), search(later_now)
    horizon_end = now + timedelta(days=practice.horizon_days)
    notice = later_now + timedelta(hours=practice.min_notice_hours)
    expected = [s for s in before if s >= notice]
    got = [s for s in after if s <= horizon_end]
    if len(before) == LOTS or len(after) == LOTS:  # truncated: compare the common prefix
        size = min(len(expected), len(got))
        expected, got = expected[:size], got[:size]
    assert got == expected

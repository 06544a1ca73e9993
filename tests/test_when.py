"""Tests for bot.when: the free-text day/time parser."""

from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.when import When, parse_when

SUN = date(2026, 11, 29)  # a Sunday
WED = date(2026, 12, 2)  # a Wednesday
MON = date(2026, 11, 30)  # a Monday


def d(month: int, day: int, year: int = 2026) -> date:
    """Shorthand for a date, 2026 by default."""
    return date(year, month, day)


def w(
    day: date | None = None,
    at: time | None = None,
    part: str | None = None,
    last: date | None = None,
) -> When:
    """Shorthand for an expected When."""
    return When(day=day, at=at, part=part, last_day=last)  # type: ignore[arg-type]


FRENCH: list[tuple[str, date, When]] = [
    ("aujourd'hui", SUN, w(SUN)),
    ("Aujourd’hui", SUN, w(SUN)),
    ("aujourdhui", WED, w(WED)),
    ("demain", SUN, w(d(11, 30))),
    ("DEMAIN !!", WED, w(d(12, 3))),
    ("après-demain", SUN, w(d(12, 1))),
    ("apres demain", WED, w(d(12, 4))),
    ("lundi", SUN, w(d(11, 30))),
    ("mardi", SUN, w(d(12, 1))),
    ("mercredi", WED, w(d(12, 9))),  # today excluded
    ("jeudi", WED, w(d(12, 3))),
    ("vendredi", WED, w(d(12, 4))),
    ("samedi", WED, w(d(12, 5))),
    ("dimanche", SUN, w(d(12, 6))),
    ("lundi prochain", SUN, w(d(11, 30))),
    ("Lundi prochain", WED, w(d(12, 7))),
    ("le 7 décembre", SUN, w(d(12, 7))),
    ("7 decembre", SUN, w(d(12, 7))),
    ("7 déc", SUN, w(d(12, 7))),
    ("7 déc.", SUN, w(d(12, 7))),
    ("le 1er mars", SUN, w(d(3, 1, 2027))),
    ("7/12", SUN, w(d(12, 7))),
    ("7-12", SUN, w(d(12, 7))),
    ("07/12/2027", SUN, w(d(12, 7, 2027))),
    ("7/12/27", SUN, w(d(12, 7, 2027))),
    ("le 7", SUN, w(d(12, 7))),
    ("le 29", SUN, w(SUN)),
    ("le 28", SUN, w(d(12, 28))),
    ("le 31", SUN, w(d(12, 31))),  # November has no 31st
    ("mardi 8", SUN, w(d(12, 8))),
    ("14h", SUN, w(at=time(14))),
    ("14h30", SUN, w(at=time(14, 30))),
    ("14 h", SUN, w(at=time(14))),
    ("14 heures", SUN, w(at=time(14))),
    ("14:30", SUN, w(at=time(14, 30))),
    ("à 9h", SUN, w(at=time(9))),
    ("à 9", SUN, w(at=time(9))),
    ("vers midi", SUN, w(at=time(12))),
    ("matin", SUN, w(part="morning")),
    ("le matin svp", SUN, w(part="morning")),
    ("après-midi", SUN, w(part="afternoon")),
    ("apres midi", SUN, w(part="afternoon")),
    ("aprem", SUN, w(part="afternoon")),
    ("aprèm", SUN, w(part="afternoon")),
    ("soir", SUN, w(part="evening")),
    ("en soirée", SUN, w(part="evening")),
    ("ce soir", WED, w(WED, part="evening")),
    ("cet aprem", WED, w(WED, part="afternoon")),
    ("dans 3 jours", SUN, w(d(12, 2))),
    ("dans 3j", SUN, w(d(12, 2))),
    ("dans deux jours", SUN, w(d(12, 1))),
    ("dans une semaine", SUN, w(d(12, 6))),
    ("semaine prochaine", SUN, w(d(11, 30), last=d(12, 6))),
    ("la semaine prochaine", WED, w(d(12, 7), last=d(12, 13))),
    ("la semaine prochaine", MON, w(d(12, 7), last=d(12, 13))),
    ("mardi semaine prochaine", MON, w(d(12, 8))),
    ("demain matin", SUN, w(d(11, 30), part="morning")),
    ("mardi 14h", SUN, w(d(12, 1), at=time(14))),
    ("jeudi après-midi", SUN, w(d(12, 3), part="afternoon")),
    ("le 7/12 à 10h", SUN, w(d(12, 7), at=time(10))),
    ("le 7 à 10h", SUN, w(d(12, 7), at=time(10))),
    ("le 7 décembre à 9h15", SUN, w(d(12, 7), at=time(9, 15))),
    ("  Bonjour, plutôt Mardi   APRÈS-MIDI si possible, merci !! ", SUN,
     w(d(12, 1), part="afternoon")),
    ("demain 9h 12/12", SUN, w(d(12, 12), at=time(9))),  # explicit date wins
    ("mon rdv demain", SUN, w(d(11, 30))),
]  # fmt: skip

ENGLISH: list[tuple[str, date, When]] = [
    ("today", SUN, w(SUN)),
    ("Tomorrow", SUN, w(d(11, 30))),
    ("tmrw", WED, w(d(12, 3))),
    ("day after tomorrow", SUN, w(d(12, 1))),
    ("monday", SUN, w(d(11, 30))),
    ("Wednesday", WED, w(d(12, 9))),
    ("mon", SUN, w(d(11, 30))),
    ("tue", SUN, w(d(12, 1))),
    ("tues", SUN, w(d(12, 1))),
    ("wed", SUN, w(d(12, 2))),
    ("thu", SUN, w(d(12, 3))),
    ("fri", SUN, w(d(12, 4))),
    ("sat", SUN, w(d(12, 5))),
    ("sun", SUN, w(d(12, 6))),
    ("next monday", SUN, w(d(11, 30))),
    ("next Friday", WED, w(d(12, 4))),
    ("7 december", SUN, w(d(12, 7))),
    ("december 7", SUN, w(d(12, 7))),
    ("Dec 7th", SUN, w(d(12, 7))),
    ("7th of December", SUN, w(d(12, 7))),
    ("december 7, 2027", SUN, w(d(12, 7, 2027))),
    ("7th", SUN, w(d(12, 7))),
    ("the 1st", SUN, w(d(12, 1))),
    ("on the 2nd", WED, w(d(12, 2))),
    ("7/12", SUN, w(d(12, 7))),
    ("2pm", SUN, w(at=time(14))),
    ("2 pm", SUN, w(at=time(14))),
    ("2 p.m.", SUN, w(at=time(14))),
    ("2:30pm", SUN, w(at=time(14, 30))),
    ("14:00", SUN, w(at=time(14))),
    ("at 9", SUN, w(at=time(9))),
    ("at 9.", SUN, w(at=time(9))),
    ("9am", SUN, w(at=time(9))),
    ("12am", SUN, w(at=time(0))),
    ("12pm", SUN, w(at=time(12))),
    ("noon", SUN, w(at=time(12))),
    ("morning", SUN, w(part="morning")),
    ("afternoon", SUN, w(part="afternoon")),
    ("evening", SUN, w(part="evening")),
    ("tonight", WED, w(WED, part="evening")),
    ("this afternoon", WED, w(WED, part="afternoon")),
    ("in 3 days", SUN, w(d(12, 2))),
    ("in 2 weeks", SUN, w(d(12, 13))),
    ("next week", SUN, w(d(11, 30), last=d(12, 6))),
    ("next week", WED, w(d(12, 7), last=d(12, 13))),
    ("tomorrow morning", SUN, w(d(11, 30), part="morning")),
    ("tuesday 2pm", SUN, w(d(12, 1), at=time(14))),
    ("Dec 7th at 9", SUN, w(d(12, 7), at=time(9))),
    ("thursday afternoon please", SUN, w(d(12, 3), part="afternoon")),
    ("Hi, could I come friday at 10:30am?", SUN, w(d(12, 4), at=time(10, 30))),
]

ROLLOVER: list[tuple[str, date, When]] = [
    ("7/01", d(12, 29), w(d(1, 7, 2027))),
    ("7 janvier", d(12, 29), w(d(1, 7, 2027))),
    ("jan 7", d(12, 29), w(d(1, 7, 2027))),
    ("le 5", d(12, 29), w(d(1, 5, 2027))),
    ("29/12", d(12, 29), w(d(12, 29))),  # today has not passed
    ("28/12", d(12, 29), w(d(12, 28, 2027))),
    ("mercredi", d(12, 29), w(d(12, 30))),
    ("dans 5 jours", d(12, 29), w(d(1, 3, 2027))),
]

PARTIAL: list[tuple[str, When | None]] = [
    ("31/02", None),
    ("31/02 à 14h", w(at=time(14))),
    ("30 février matin", w(part="morning")),
    ("le 32", None),
    ("13/13", None),
    ("25h", None),
    ("14h75", None),
    ("13pm", None),
    ("demain 25h", w(d(11, 30))),
    ("99:99 demain", w(d(11, 30))),
    ("dans 2h", None),  # a delay, not a time of day
    ("in 2 hours", None),
]

NOTHING = [
    "",
    "   ",
    "bonjour",
    "Hello!",
    "3",
    "12",
    "oui",
    "ok merci",
    "option 3",
    "🙂👍",
    "zq" * 800,
    "mon",  # French possessive, not Monday
    "I may come",
    "2 hommes",
]


@pytest.mark.parametrize(("text", "today", "expected"), FRENCH)
def test_french(text: str, today: date, expected: When) -> None:
    assert parse_when(text, "fr", today) == expected


@pytest.mark.parametrize(("text", "today", "expected"), ENGLISH)
def test_english(text: str, today: date, expected: When) -> None:
    assert parse_when(text, "en", today) == expected


@pytest.mark.parametrize(("text", "today", "expected"), FRENCH + ENGLISH)
def test_language_independent(text: str, today: date, expected: When) -> None:
    other = "en" if (text, today, expected) in FRENCH else "fr"
    if text.split()[0].lower() == "mon":
        pytest.skip("'mon' is ambiguous in French")
    assert parse_when(text, other, today) == expected


@pytest.mark.parametrize(("text", "today", "expected"), ROLLOVER)
def test_year_rollover(text: str, today: date, expected: When) -> None:
    assert parse_when(text, "fr", today) == expected


@pytest.mark.parametrize(("text", "expected"), PARTIAL)
def test_invalid_parts_are_dropped(text: str, expected: When | None) -> None:
    assert parse_when(text, "fr", SUN) == expected


@pytest.mark.parametrize("text", NOTHING)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_nothing_understood(text: str, lang: str) -> None:
    if text == "mon" and lang == "en":
        pytest.skip("'mon' is Monday in English")
    assert parse_when(text, lang, SUN) is None


def test_junk_then_date_is_found() -> None:
    assert parse_when("x" * 1500 + " demain 9h", "fr", SUN) == w(d(11, 30), at=time(9))


def test_result_is_frozen() -> None:
    result = parse_when("demain", "fr", SUN)
    assert result is not None
    with pytest.raises(AttributeError):
        result.day = SUN  # type: ignore[misc]


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=300), lang=st.sampled_from(["fr", "en", "de", ""]), today=st.dates())
def test_never_raises(text: str, lang: str, today: date) -> None:
    result = parse_when(text, lang, today)
    if result is not None:
        assert not result.empty
        assert result.part in (None, "morning", "afternoon", "evening")
        assert result.last_day is None or (result.day is not None and result.last_day > result.day)
        assert result.window is None or result.window[0] != result.window[1]


WORDS = st.sampled_from(
    ["demain", "le", "7", "/", "12", "à", "14h", "mardi", "dec", "7th", "at", "9", "pm", "soir",
     "dans", "jours", "31", "02", ":", "-", "next", "week", "2027", "mon", "'", "  "]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(words=st.lists(WORDS, max_size=12), today=st.dates())
def test_never_raises_on_plausible_text(words: list[str], today: date) -> None:
    parse_when(" ".join(words), "fr", today)
    parse_when("".join(words), "en", today)

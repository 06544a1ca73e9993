"""A corpus of what patients really write when asked for a day, in French and English, each
with the reading a receptionist would make, read at several reference days: an ordinary
Monday and Wednesday, and the eves of both clock changes (Europe/Paris).

Expectations are written relative to the reference day in a small notation (see `expect`),
so one line checks the same phrase on every reference day.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from bot.when import END_OF_DAY, When, parse_when

REFERENCES = {
    "mon": date(2026, 11, 30),  # an ordinary Monday
    "wed": date(2026, 12, 2),  # an ordinary Wednesday
    "spring-eve": date(2027, 3, 27),  # Saturday before the clocks go forward (28 March 2027)
    "autumn-eve": date(2026, 10, 24),  # Saturday before the clocks go back (25 October 2026)
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# (phrase, language, expected reading). Notation, space separated:
#   +N          the reference day plus N days ("+0" today)
#   wd:tue      the next Tuesday, today excluded;  wd+7:tue  the one after
#   wdi:tue     the next Tuesday, today included ("ce mardi")
#   nwd:tue     the Tuesday of next week
#   md:12-25    the next 25 December (today included)
#   dom:7       the next 7th of a month (today included)
#   week:this | week:next | weekend | month:1 | month:1:early | month:1:late | month:next
#   @14:30      near this time;  [10:00-12:00]  starts in this window (24:00: midnight)
#   morning | afternoon | evening;  earliest
CORPUS: list[tuple[str, str, str]] = [
    # --- relative days, SMS spellings and typos
    ("demain", "fr", "+1"),
    ("Demain !", "fr", "+1"),
    ("dem", "fr", "+1"),
    ("demin", "fr", "+1"),
    ("2m1", "fr", "+1"),
    ("2main", "fr", "+1"),
    ("dmain svp", "fr", "+1"),
    ("demain stp", "fr", "+1"),
    ("aujourd'hui", "fr", "+0"),
    ("aujourdhui", "fr", "+0"),
    ("auj", "fr", "+0"),
    ("ajd si possible", "fr", "+0"),
    ("après-demain", "fr", "+2"),
    ("apres demain", "fr", "+2"),
    ("dans 3 jours", "fr", "+3"),
    ("dans deux jours", "fr", "+2"),
    ("dans huit jours", "fr", "+7"),
    ("dans 15 jours", "fr", "+14"),
    ("dans une semaine", "fr", "+7"),
    ("dans 2 semaines", "fr", "+14"),
    ("tomorrow", "en", "+1"),
    ("tmrw", "en", "+1"),
    ("2moro", "en", "+1"),
    ("tommorow", "en", "+1"),
    ("today", "en", "+0"),
    ("day after tomorrow", "en", "+2"),
    ("in 3 days", "en", "+3"),
    ("in two weeks", "en", "+14"),
    ("in a week", "en", "+7"),
    # --- weekdays, typos, this/next/the one after
    ("lundi", "fr", "wd:mon"),
    ("lundii", "fr", "wd:mon"),
    ("mardi", "fr", "wd:tue"),
    ("mercredi", "fr", "wd:wed"),
    ("mecredi", "fr", "wd:wed"),
    ("mercerdi", "fr", "wd:wed"),
    ("jeudi", "fr", "wd:thu"),
    ("jedi", "fr", "wd:thu"),
    ("jeudii", "fr", "wd:thu"),
    ("vendredi", "fr", "wd:fri"),
    ("vendredie", "fr", "wd:fri"),
    ("vendrdi", "fr", "wd:fri"),
    ("samedi", "fr", "wd:sat"),
    ("samdi", "fr", "wd:sat"),
    ("dimanche", "fr", "wd:sun"),
    ("lundi prochain", "fr", "wd:mon"),
    ("jeudi prochain", "fr", "wd:thu"),
    ("ce jeudi", "fr", "wdi:thu"),
    ("lundi en huit", "fr", "wd+7:mon"),
    ("jeudi en huit", "fr", "wd+7:thu"),
    ("pas ce lundi mais le suivant", "fr", "wd+7:mon"),
    ("pas ce vendredi, celui d'après", "fr", "wd+7:fri"),
    ("mardi de la semaine prochaine", "fr", "nwd:tue"),
    ("mardi semaine prochaine", "fr", "nwd:tue"),
    ("vendredi semaine pro", "fr", "nwd:fri"),
    ("monday", "en", "wd:mon"),
    ("tuesday", "en", "wd:tue"),
    ("wednesday", "en", "wd:wed"),
    ("wensday", "en", "wd:wed"),
    ("thursday", "en", "wd:thu"),
    ("thurs", "en", "wd:thu"),
    ("friday", "en", "wd:fri"),
    ("fri", "en", "wd:fri"),
    ("next monday", "en", "wd:mon"),
    ("not this friday but the one after", "en", "wd+7:fri"),
    ("tuesday next week", "en", "nwd:tue"),
    # --- dates
    ("le 7", "fr", "dom:7"),
    ("le 15", "fr", "dom:15"),
    ("le 28", "fr", "dom:28"),
    ("le 7 décembre", "fr", "md:12-07"),
    ("le 25 decembre", "fr", "md:12-25"),
    ("25 déc", "fr", "md:12-25"),
    ("le 1er mars", "fr", "md:03-01"),
    ("3 avril", "fr", "md:04-03"),
    ("7/12", "fr", "md:12-07"),
    ("07/12", "fr", "md:12-07"),
    ("15-01", "fr", "md:01-15"),
    ("mardi 8", "fr", "dom:8"),
    ("lundi 14 décembre", "fr", "md:12-14"),
    ("the 7th", "en", "dom:7"),
    ("December 7", "en", "md:12-07"),
    ("Dec 25th", "en", "md:12-25"),
    ("7th of December", "en", "md:12-07"),
    ("on the 15th", "en", "dom:15"),
    ("March 1st", "en", "md:03-01"),
    # --- times: hours, halves, quarters, words
    ("14h", "fr", "@14:00"),
    ("14 h", "fr", "@14:00"),
    ("14h30", "fr", "@14:30"),
    ("14 h 30", "fr", "@14:30"),
    ("14:30", "fr", "@14:30"),
    ("à 9h", "fr", "@09:00"),
    ("à 9", "fr", "@09:00"),
    ("à 2h", "fr", "@14:00"),
    ("à 5h", "fr", "@17:00"),
    ("9h et demie", "fr", "@09:30"),
    ("9h et demi", "fr", "@09:30"),
    ("14h et quart", "fr", "@14:15"),
    ("15h moins le quart", "fr", "@14:45"),
    ("15h moins quart", "fr", "@14:45"),
    ("10h trois quarts", "fr", "@10:45"),
    ("quatorze heures", "fr", "@14:00"),
    ("neuf heures", "fr", "@09:00"),
    ("neuf heures et demie", "fr", "@09:30"),
    ("onze heures et quart", "fr", "@11:15"),
    ("deux heures de l'après-midi", "fr", "@14:00"),
    ("dix heures du matin", "fr", "@10:00"),
    ("cinq heures du soir", "fr", "@17:00"),
    ("midi", "fr", "@12:00"),
    ("vers midi", "fr", "@12:00"),
    ("midi et demi", "fr", "@12:30"),
    ("vers 17h", "fr", "@17:00"),
    ("vers 9h30", "fr", "@09:30"),
    ("aux alentours de 16h", "fr", "@16:00"),
    ("2pm", "en", "@14:00"),
    ("2 pm", "en", "@14:00"),
    ("2 p.m.", "en", "@14:00"),
    ("2:30pm", "en", "@14:30"),
    ("9am", "en", "@09:00"),
    ("at 9", "en", "@09:00"),
    ("at 3", "en", "@15:00"),
    ("around 5pm", "en", "@17:00"),
    ("about 10", "en", "@10:00"),
    ("half past two", "en", "@14:30"),
    ("half past nine", "en", "@09:30"),
    ("quarter past 9", "en", "@09:15"),
    ("quarter to 5", "en", "@16:45"),
    ("10 o'clock", "en", "@10:00"),
    ("noon", "en", "@12:00"),
    # --- windows
    ("avant 10h", "fr", "[00:00-10:00]"),
    ("avant midi", "fr", "[00:00-12:00]"),
    ("avant 9h30", "fr", "[00:00-09:30]"),
    ("après 16h", "fr", "[16:00-24:00]"),
    ("apres 17h", "fr", "[17:00-24:00]"),
    ("à partir de 15h", "fr", "[15:00-24:00]"),
    ("dès 14h", "fr", "[14:00-24:00]"),
    ("pas avant 10h", "fr", "[10:00-24:00]"),
    ("entre 14h et 16h", "fr", "[14:00-16:00]"),
    ("entre 14 et 16h", "fr", "[14:00-16:00]"),
    ("entre 2h et 4h", "fr", "[14:00-16:00]"),
    ("entre 9h et 11h", "fr", "[09:00-11:00]"),
    ("de 10h à 12h", "fr", "[10:00-12:00]"),
    ("10h-12h", "fr", "[10:00-12:00]"),
    ("10-12h", "fr", "[10:00-12:00]"),
    ("10h à 12h", "fr", "[10:00-12:00]"),
    ("entre midi et 14h", "fr", "[12:00-14:00]"),
    ("before 10am", "en", "[00:00-10:00]"),
    ("before noon", "en", "[00:00-12:00]"),
    ("after 4pm", "en", "[16:00-24:00]"),
    ("after 5", "en", "[17:00-24:00]"),
    ("from 3pm", "en", "[15:00-24:00]"),
    ("between 2 and 4pm", "en", "[14:00-16:00]"),
    ("between 9 and 11", "en", "[09:00-11:00]"),
    ("from 10 to 12", "en", "[10:00-12:00]"),
    # --- parts of day
    ("matin", "fr", "morning"),
    ("le matin", "fr", "morning"),
    ("plutôt le matin", "fr", "morning"),
    ("après-midi", "fr", "afternoon"),
    ("aprem", "fr", "afternoon"),
    ("l'aprèm", "fr", "afternoon"),
    ("en soirée", "fr", "evening"),
    ("en fin de matinée", "fr", "morning [10:00-12:00]"),
    ("en début d'après-midi", "fr", "afternoon [12:00-15:00]"),
    ("en fin d'après-midi", "fr", "afternoon [16:00-24:00]"),
    ("tôt le matin", "fr", "morning [00:00-10:00]"),
    ("pas le matin", "fr", "afternoon [12:00-24:00]"),
    ("morning", "en", "morning"),
    ("in the afternoon", "en", "afternoon"),
    ("early afternoon", "en", "afternoon [12:00-15:00]"),
    ("late morning", "en", "morning [10:00-12:00]"),
    ("not in the morning", "en", "afternoon [12:00-24:00]"),
    # --- day and time together
    ("demain 14h", "fr", "+1 @14:00"),
    ("demain à 9h", "fr", "+1 @09:00"),
    ("demain matin", "fr", "+1 morning"),
    ("demain aprem", "fr", "+1 afternoon"),
    ("2m1 matin", "fr", "+1 morning"),
    ("dem 14h", "fr", "+1 @14:00"),
    ("demain avant 10h", "fr", "+1 [00:00-10:00]"),
    ("demain après 16h", "fr", "+1 [16:00-24:00]"),
    ("demain entre 14h et 16h", "fr", "+1 [14:00-16:00]"),
    ("jeudi après-midi", "fr", "wd:thu afternoon"),
    ("jedi aprem", "fr", "wd:thu afternoon"),
    ("jeudi 14h", "fr", "wd:thu @14:00"),
    ("jeudi vers 10h", "fr", "wd:thu @10:00"),
    ("mardi matin", "fr", "wd:tue morning"),
    ("lundi 9h et demie", "fr", "wd:mon @09:30"),
    ("vendredi 10h-12h", "fr", "wd:fri [10:00-12:00]"),
    ("le 7 à 10h", "fr", "dom:7 @10:00"),
    ("le 7/12 à 10h", "fr", "md:12-07 @10:00"),
    ("le 25 décembre au matin", "fr", "md:12-25 morning"),
    ("ce soir", "fr", "+0 evening"),
    ("cet aprem", "fr", "+0 afternoon"),
    ("ce matin", "fr", "+0 morning"),
    ("tomorrow 2pm", "en", "+1 @14:00"),
    ("tomorrow morning", "en", "+1 morning"),
    ("tomorrow before 10am", "en", "+1 [00:00-10:00]"),
    ("thursday afternoon", "en", "wd:thu afternoon"),
    ("thursday pm", "en", "wd:thu afternoon"),
    ("sat am", "en", "wd:sat morning"),
    ("mon pm", "en", "wd:mon afternoon"),
    ("friday at 10:30am", "en", "wd:fri @10:30"),
    ("this afternoon", "en", "+0 afternoon"),
    ("tonight", "en", "+0 evening"),
    # --- weeks, weekends, months
    ("cette semaine", "fr", "week:this"),
    ("dans la semaine", "fr", "week:this"),
    ("la semaine prochaine", "fr", "week:next"),
    ("semaine pro", "fr", "week:next"),
    ("la semaine prochaine le matin", "fr", "week:next morning"),
    ("ce week-end", "fr", "weekend"),
    ("en janvier", "fr", "month:1"),
    ("en mai", "fr", "month:5"),
    ("début janvier", "fr", "month:1:early"),
    ("fin janvier", "fr", "month:1:late"),
    ("mi-février", "fr", "month:2:mid"),
    ("le mois prochain", "fr", "month:next"),
    ("this week", "en", "week:this"),
    ("next week", "en", "week:next"),
    ("next week in the afternoon", "en", "week:next afternoon"),
    ("this weekend", "en", "weekend"),
    ("in January", "en", "month:1"),
    ("in May", "en", "month:5"),
    ("early March", "en", "month:3:early"),
    ("next month", "en", "month:next"),
    # --- whenever
    ("n'importe quand", "fr", "earliest"),
    ("nimporte quand", "fr", "earliest"),
    ("le plus tôt possible", "fr", "earliest"),
    ("au plus tôt", "fr", "earliest"),
    ("dès que possible", "fr", "earliest"),
    ("au plus vite svp", "fr", "earliest"),
    ("quand vous voulez", "fr", "earliest"),
    ("peu importe", "fr", "earliest"),
    ("le premier dispo", "fr", "earliest"),
    ("asap", "en", "earliest"),
    ("as soon as possible", "en", "earliest"),
    ("whenever", "en", "earliest"),
    ("anytime", "en", "earliest"),
    ("first available", "en", "earliest"),
    # --- whole sentences
    ("Bonjour, je voudrais un rendez-vous demain matin svp", "fr", "+1 morning"),
    ("Est-ce possible jeudi vers 14h ?", "fr", "wd:thu @14:00"),
    ("plutôt mardi après-midi si possible, merci !!", "fr", "wd:tue afternoon"),
    ("je peux passer après 17h", "fr", "[17:00-24:00]"),
    ("mon rdv demain", "fr", "+1"),
    ("Hi, could I come friday at 10:30am?", "en", "wd:fri @10:30"),
    ("any chance tomorrow afternoon?", "en", "+1 afternoon"),
]

NOTHING: list[tuple[str, str]] = [
    ("bonjour", "fr"),
    ("merci", "fr"),
    ("ok", "fr"),
    ("oui", "fr"),
    ("3", "fr"),
    ("Paul Martin", "fr"),
    ("mon rendez-vous", "fr"),
    ("voir le docteur", "fr"),
    ("2 personnes", "fr"),
    ("dans 2h", "fr"),
    ("I may come", "en"),
    ("in 2 hours", "en"),
    ("main", "fr"),
    ("voir", "fr"),
    ("👍", "fr"),
]


def _t(text: str) -> time:
    return END_OF_DAY if text == "24:00" else time.fromisoformat(text)


def _next_weekday(ref: date, name: str, include_today: bool = False) -> date:
    ahead = (WEEKDAYS.index(name) - ref.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return ref + timedelta(days=ahead)


def _month(ref: date, month: int, edge: str = "") -> tuple[date, date | None]:
    year = ref.year if month >= ref.month else ref.year + 1
    first = date(year, month, 1)
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    if edge == "early":
        last = date(year, month, 10)
    elif edge == "mid":
        first, last = date(year, month, 11), date(year, month, 20)
    elif edge == "late":
        first = date(year, month, 21)
    if last < ref:
        return _month(date(year + 1, 1, 1), month, edge)
    first = max(first, ref)
    return first, (last if last > first else None)


def _day_of_month(ref: date, n: int) -> date:
    year, month = ref.year, ref.month
    while True:
        try:
            candidate = date(year, month, n)
        except ValueError:
            candidate = None
        if candidate and candidate >= ref:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def expect(spec: str, ref: date) -> When:
    """The reading that `spec` (the notation above) means on `ref`."""
    day = last = at = window = part = None
    earliest = False
    for token in spec.split():
        if token.startswith("+"):
            day = ref + timedelta(days=int(token[1:]))
        elif token.startswith(("wd:", "wdi:", "wd+7:")):
            kind, name = token.split(":")
            day = _next_weekday(ref, name, include_today=kind == "wdi")
            day += timedelta(days=7 if kind == "wd+7" else 0)
        elif token.startswith("nwd:"):
            day = _next_weekday(ref, "mon") + timedelta(days=WEEKDAYS.index(token[4:]))
        elif token.startswith("md:"):
            month, dom = map(int, token[3:].split("-"))
            day = date(ref.year, month, dom)
            day = day if day >= ref else date(ref.year + 1, month, dom)
        elif token.startswith("dom:"):
            day = _day_of_month(ref, int(token[4:]))
        elif token == "week:this":
            day, last = ref, ref + timedelta(days=6 - ref.weekday())
            last = last if last > day else None
        elif token == "week:next":
            day = _next_weekday(ref, "mon")
            last = day + timedelta(days=6)
        elif token == "weekend":
            day = ref if ref.weekday() >= 5 else _next_weekday(ref, "sat")
            last = day + timedelta(days=1) if day.weekday() == 5 else None
        elif token == "month:next":
            first = date(ref.year + ref.month // 12, ref.month % 12 + 1, 1)
            day, last = first, _month(first, first.month)[1]
        elif token.startswith("month:"):
            _, month, *edge = token.split(":")
            day, last = _month(ref, int(month), edge[0] if edge else "")
        elif token.startswith("@"):
            at = _t(token[1:])
        elif token.startswith("["):
            lo, hi = token.strip("[]").split("-")
            window = (_t(lo), _t(hi))
        elif token in ("morning", "afternoon", "evening"):
            part = token
        elif token == "earliest":
            earliest = True
        else:
            raise ValueError(token)
    return When(day=day, at=at, part=part, last_day=last, window=window, earliest=earliest)  # type: ignore[arg-type]


def test_the_corpus_is_large_and_bilingual() -> None:
    assert len(CORPUS) >= 200
    assert len({p for p, _, _ in CORPUS}) == len(CORPUS)
    langs = [lang for _, lang, _ in CORPUS]
    assert langs.count("en") >= 60 and langs.count("fr") >= 120


@pytest.mark.parametrize("ref", list(REFERENCES), ids=list(REFERENCES))
@pytest.mark.parametrize(("phrase", "lang", "spec"), CORPUS, ids=[p for p, _, _ in CORPUS])
def test_a_receptionist_would_read_it_so(phrase: str, lang: str, spec: str, ref: str) -> None:
    today = REFERENCES[ref]
    assert parse_when(phrase, lang, today) == expect(spec, today)


@pytest.mark.parametrize(("phrase", "lang"), NOTHING, ids=[p for p, _ in NOTHING])
def test_no_day_is_invented(phrase: str, lang: str) -> None:
    for today in REFERENCES.values():
        assert parse_when(phrase, lang, today) is None


def test_the_eve_of_a_clock_change_reads_plain_dates() -> None:
    """The parser works on calendar days and wall-clock times: on the eve of the spring
    change, "demain 2h30" is the 28th at 02:30 (a time that does not exist in Paris that
    night; the slot search, not the parser, knows the practice is closed then)."""
    eve = REFERENCES["spring-eve"]
    assert parse_when("demain 2h30 du matin", "fr", eve) == When(
        day=date(2027, 3, 28), at=time(2, 30)
    )
    assert parse_when("lundi 9h", "fr", eve) == When(day=date(2027, 3, 29), at=time(9))

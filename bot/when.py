"""Read the day and time a patient asks for, the way a receptionist would.

Pure: no I/O, stdlib only, every pattern compiled once at import. French and English are
both understood whatever ``lang`` is, except where a word is ambiguous (``mon`` is "my" in
French, so it is a Monday only outside French). Numeric dates are read day first
(``7/12`` is 7 December).

The text goes through four passes: normalised (case, accents, apostrophes); typos and SMS
spellings of the few words that matter here corrected (a small edit distance, and never
one valid word into another); times rewritten as ``@HHMM`` marks (``9h et demie``,
``quatorze heures``, ``quarter to 5``, ``midi``); then windows (``avant 10h``, ``entre 14h
et 16h``, ``10h-12h``), days and ranges (``le 7``, ``lundi en huit``, ``cette semaine``,
``en janvier``), parts of day and "whenever" are read off the marked text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from typing import Literal

Part = Literal["morning", "afternoon", "evening"]

__all__ = ["Part", "When", "correct_word", "edit_distance", "parse_when"]

END_OF_DAY = time(0, 0)  # a window ending at midnight


@dataclass(frozen=True)
class When:
    """What the patient asked for.

    ``day`` None means from the earliest day; with ``last_day`` it is a range of days (a
    week, a month). ``at`` is a time to be near; ``window`` limits the start time on every
    day (``avant 10h`` is 00:00-10:00, ``après 16h`` 16:00-00:00); ``part`` is a part of
    day; ``earliest`` says "whenever, as soon as possible".
    """

    day: date | None = None
    at: time | None = None
    part: Part | None = None
    last_day: date | None = None
    window: tuple[time, time] | None = None
    earliest: bool = False

    @property
    def empty(self) -> bool:
        return (
            self.day is None
            and self.at is None
            and self.part is None
            and self.window is None
            and not self.earliest
        )


# ------------------------------------------------------------------ vocabulary

_MONTHS: dict[str, int] = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4,
    "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9,
    "octobre": 10, "novembre": 11, "decembre": 12,
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip

_WEEKDAYS: dict[str, int] = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5,
    "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
    "lun": 0, "mer": 2, "jeu": 3, "ven": 4, "sam": 5, "dim": 6, "vend": 4, "merc": 2,
}  # fmt: skip
# Short forms that are also ordinary words: weekdays only next to a date or time word.
_WEAK_WEEKDAYS = frozenset({"mer", "jeu", "sam", "dim", "sun", "sat", "wed", "lun", "ven"})

_NUMBER_WORDS: dict[str, int] = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
    "quinze": 15, "seize": 16, "dix-sept": 17, "dix-huit": 18, "dix-neuf": 19, "vingt": 20,
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_HOUR_WORDS: dict[str, int] = {k: v for k, v in _NUMBER_WORDS.items() if k not in ("a", "an")}

# SMS spellings: replaced whole, before anything else.
_ALIASES: dict[str, str] = {
    "2m1": "demain", "2main": "demain", "dem1": "demain", "dmain": "demain", "dem": "demain",
    "dmn": "demain", "demin": "demain", "2mn": "demain",
    "auj": "aujourdhui", "ajd": "aujourdhui", "ojd": "aujourdhui", "aujd": "aujourdhui",
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrow": "tomorrow", "2moro": "tomorrow",
    "2morrow": "tomorrow", "2day": "today", "tdy": "today",
    "aprem": "apresmidi", "aprm": "apresmidi",
    "sem": "semaine", "pro": "prochaine", "proch": "prochaine", "prochain": "prochaine",
    "prochainement": "bientot",
}  # fmt: skip

# Words that may be corrected towards (typos of them are understood).
_TARGETS: tuple[str, ...] = (
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "janvier", "fevrier", "avril", "juillet", "septembre", "octobre", "novembre", "decembre",
    "january", "february", "april", "august", "september", "october", "november", "december",
    "demain", "aujourdhui", "tomorrow", "today", "matin", "matinee", "morning", "afternoon",
    "evening", "soiree", "semaine", "prochaine", "suivant", "suivante", "weekend",
    "apresmidi", "possible", "quand", "importe", "whenever", "heures", "heure",
)  # fmt: skip
# Ordinary words that look like typos of a target and must stay as they are.
_VALID_WORDS = """main mars mari maris matins marin mardis lundis jeudis samedis dimanches mercredis
    vendredis demi demie demis domaine demande demander demandes demain semaines heure heures
    dans date dates mois jour jours jeune juin juil juillet mai mais mari lunettes lune
    tout toute toujours voudrais voudrait pourrais possible possibles impossible matinal
    matinale soir soirs soiree week weeks when where what monde manger morne mourning
    today todays toda tuesdays mondays fridays sundays saturdays apres avant entre vers quand
    importe nimporte quel quelle quelles semaine prochain prochaine suivant suivante suivants
    rendez vous merci bonjour bonsoir salut annuler annule deplacer moins quart fin debut
    mois month months voir pour jour four hour your noir avoir savoir cours quoi plus tard
    bien quant suivent suivants possibly wherever weekends evenings mornings todays domain
    martin mardon mathieu mutin satin latin heurt soin soins fois dois vous nous date"""
_VALID: frozenset[str] = frozenset(_VALID_WORDS.split())
_ALL_VOCAB: frozenset[str] = (
    frozenset(_MONTHS) | frozenset(_WEEKDAYS) | frozenset(_TARGETS) | _VALID
)


# ------------------------------------------------------------------ edit distance


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (adjacent transpositions count one), capped at ``limit``."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) >= limit:
            return limit
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def _allowed_distance(word: str) -> int:
    return 0 if len(word) < 4 else 1 if len(word) < 7 else 2


def correct_word(word: str, targets: Iterable[str], valid: frozenset[str] = frozenset()) -> str:
    """``word`` itself when it is known, else the one target within a small edit distance;
    ties and valid words are never corrected (never from one real word to another)."""
    targets = tuple(targets)
    if word in targets or word in valid:
        return word
    budget = _allowed_distance(word)
    if budget == 0:
        return word
    best: list[str] = []
    best_d = budget + 1
    for target in targets:
        if abs(len(target) - len(word)) > budget:
            continue
        dist = edit_distance(word, target, budget + 1)
        if dist < best_d:
            best, best_d = [target], dist
        elif dist == best_d:
            best.append(target)
    return best[0] if len(best) == 1 and best_d <= budget else word


@lru_cache(maxsize=4096)
def _fix(word: str) -> str:
    """One token, SMS spelling or typo corrected."""
    if word in _ALIASES:
        return _ALIASES[word]
    if not word.isalpha() or word in _ALL_VOCAB:
        return word
    return correct_word(word, _TARGETS, _ALL_VOCAB)


_WORD = re.compile(r"[a-z0-9]+", re.ASCII)


def _normalise(raw: str) -> str:
    """Lowercase, accents stripped, apostrophes unified, a few compounds glued, typos fixed
    (not in capitalised words after the first: "Paul Martin" stays a name)."""
    for quote in "’‘`´ʼ":
        raw = raw.replace(quote, "'")
    decomposed = unicodedata.normalize("NFKD", raw)
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _RX_GLUE.sub(lambda m: _GLUE.get(_glue_key(m[0].lower()), m[0]), text)
    proper = {m.start() for m in _RX_PROPER.finditer(text) if m.start() > 0}
    text = text.lower()
    return _WORD.sub(lambda m: m[0] if m.start() in proper else _fix(m[0]), text)


_RX_PROPER = re.compile(r"(?<![\w'])[A-Z][a-z]+", re.ASCII)


_GLUE: dict[str, str] = {
    "apres midi": "apresmidi",
    "apres-midi": "apresmidi",
    "ap midi": "apresmidi",
    "aujourd'hui": "aujourdhui",
    "aujourd hui": "aujourdhui",
    "week end": "weekend",
    "week-end": "weekend",
    "n'importe": "nimporte",
    "n importe": "nimporte",
    "o'clock": "oclock",
    "a.m.": "am",
    "p.m.": "pm",
    "a.m": "am",
    "p.m": "pm",
    "apres demain": "apresdemain",
    "apres-demain": "apresdemain",
}


def _glue_key(found: str) -> str:
    """The table key of a matched compound: spaces tidied, none around a hyphen."""
    return re.sub(r"\s*-\s*", "-", re.sub(r"\s+", " ", found))


_RX_GLUE = re.compile(
    "|".join(
        sorted(
            (re.escape(k).replace(r"\ ", r"\s+") for k in _GLUE),
            key=len,
            reverse=True,
        )
    ).replace(r"\-", r"\s*-\s*"),
    re.IGNORECASE,
)


def _alt(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first so prefixes never win."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_F = re.ASCII
_MONTH = _alt(_MONTHS)
_WEEKDAY = _alt(_WEEKDAYS)
_HOURWORD = _alt(_HOUR_WORDS)
_ORD = r"(?:st|nd|rd|th|er|eme|e)"
_NOT_BEFORE = r"(?<![\d/:\-.@])"

# ------------------------------------------------------------------ times as @HHMM marks

_MERIDIEM = (
    r"(?:\s*(?P<mer>am|pm|du\s+matin|de\s+l\s*'?\s*apresmidi|du\s+soir|in\s+the\s+morning"
    r"|in\s+the\s+(?:afternoon|evening)))?"
)
_RX_HOUR_WORDS = re.compile(r"\b(" + _HOURWORD + r")\s+(?=heures?\b)", _F)
_FRAC = (
    r"(?:\s*(?P<frac>et\s+demie?|et\s+quart|et\s+trois\s+quarts?|moins\s+(?:le\s+)?quart"
    r"|demie?|trois\s+quarts?))?"
)
_RX_DASH_RANGE = re.compile(
    r"(?P<pre>\b(?:de|from|entre|between)\s+)?(?<![\d/:.\-@])\b(?P<h1>\d{1,2})"
    r"(?P<hh>\s*h\s*(?P<m1>\d{2})?)?\s*(?P<sep>-|a|to|au|et|and)\s*"
    r"(?P<h2>\d{1,2})\s*h(?:\s*(?P<m2>\d{2}))?(?![a-z\d])",
    _F,
)
_RX_CLOCK = re.compile(
    r"(?<![\d/:.@])(?<!\d-)\b(?P<h>\d{1,2})"
    r"(?:\s*(?:h|heures?)(?![a-z])\s*(?P<m1>\d{2}(?![\d/\-]))?|:(?P<m2>\d{2})(?!\d)"
    r"|\s*(?=am\b|pm\b)|\s*oclock\b)" + _FRAC + _MERIDIEM,
    _F,
)
_RX_NOON = re.compile(
    r"\b(?P<w>midi|noon|midday|minuit|midnight)(?:\s+(?P<frac>et\s+demie?|et\s+quart|moins\s+"
    r"(?:le\s+)?quart))?\b",
    _F,
)
_RX_PAST = re.compile(
    r"\b(?P<frac>half|quarter)\s+(?P<rel>past|to)\s+(?P<h>\d{1,2}|"
    + _HOURWORD
    + r")\b"
    + _MERIDIEM,
    _F,
)
_NOT_A_TIME_AFTER = (
    r"(?![\d/:\-]|\.\d|\s*(?:" + _ORD + r"|jours?|j|days?|semaines?|weeks?|mois|months?|h|heures?"
    r"|hours?|ans?|years?|personnes?|people|" + _MONTH + r")\b)"
)
# A bare hour after a word that announces a time (``à 9``, ``avant 10``, ``between 2``).
_RX_BARE = re.compile(
    r"(?P<pre>\b(?:a|at|vers|around|about|avant|before|apres|after|des|from|by|entre|between"
    r"|jusqu'?a|until|till|partir\s+de)\s+|@\s*)"
    r"(?P<h>\d{1,2}|" + _HOURWORD + r")" + _NOT_A_TIME_AFTER + _MERIDIEM + r"(?![a-z])",
    _F,
)
# The second hour of a range (``entre 2 et 4``, ``between 10 and 12``).
_RX_BARE_SECOND = re.compile(
    r"(?P<pre>@\d{4}x?\s*(?:et|and|to|a|-|jusqu'?a|until)\s*)"
    r"(?P<h>\d{1,2}|" + _HOURWORD + r")" + _NOT_A_TIME_AFTER + _MERIDIEM + r"(?![a-z])",
    _F,
)
_RX_DURATION_BEFORE = re.compile(r"\b(?:dans|in|sous|within|pendant|for)\s*$", _F)
_FRACTION_MINUTES = {"demi": 30, "demie": 30, "quart": 15}


def _hour_value(raw: str) -> int:
    return int(raw) if raw.isdigit() else _HOUR_WORDS.get(raw, -1)


def _apply(hour: int, minute: int, frac: str | None, mer: str | None) -> tuple[int, int] | None:
    """Hour and minute with a fraction (et demie, moins le quart) and a meridiem applied."""
    if frac:
        word = frac.split()[-1]
        if frac.startswith("moins"):
            hour, minute = hour - 1, 45
        elif word.startswith("quart") and frac.startswith("trois"):
            minute = 45
        else:
            minute = _FRACTION_MINUTES.get(word, minute)
    if mer:
        pm = mer == "pm" or "apresmidi" in mer or "soir" in mer or "afternoon" in mer
        pm = pm or "evening" in mer
        if not 0 <= hour <= 12:
            return None
        if pm and hour < 12:
            hour += 12
        elif not pm and hour == 12:
            hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return hour, minute


def _mark(hour: int, minute: int, explicit: bool) -> str:
    """A time mark; ``explicit`` (minutes or a meridiem given) keeps early hours as they are."""
    return f" @{hour:02d}{minute:02d}{'x' if explicit else ''} "


_INVALID = " @bad "


def _clock_sub(m: re.Match[str]) -> str:
    if _RX_DURATION_BEFORE.search(m.string, 0, m.start()):
        return " "  # ``dans 2h``: a delay, not a time of day
    found = _apply(int(m["h"]), int(m["m1"] or m["m2"] or 0), m["frac"], m["mer"])
    if found is None:
        return _INVALID
    return _mark(*found, explicit=bool(m["mer"]) or m["h"].startswith("0") or int(m["h"]) > 12)


def _dash_sub(m: re.Match[str]) -> str:
    if m["sep"] != "-" and not m["pre"] and not m["hh"]:
        return m[0]  # "le 7 à 10h": a day, then a time
    first = _apply(int(m["h1"]), int(m["m1"] or 0), None, None)
    second = _apply(int(m["h2"]), int(m["m2"] or 0), None, None)
    if first is None or second is None:
        return _INVALID
    head = m["pre"] or ""
    return head + _mark(*first, explicit=False) + " - " + _mark(*second, explicit=int(m["h2"]) > 12)


def _noon_sub(m: re.Match[str]) -> str:
    hour = 12 if m["w"] in ("midi", "noon", "midday") else 0
    found = _apply(hour, 0, m["frac"], None)
    return _mark(*found, explicit=True) if found else _INVALID


def _past_sub(m: re.Match[str]) -> str:
    hour = _hour_value(m["h"])
    if hour < 0:
        return m[0]
    minute = 30 if m["frac"] == "half" else 15
    if m["rel"] == "to":
        hour, minute = hour - 1, 60 - minute
    found = _apply(hour, minute, None, m["mer"])
    return _mark(*found, explicit=bool(m["mer"])) if found else _INVALID


def _bare_sub(m: re.Match[str]) -> str:
    hour = _hour_value(m["h"])
    found = _apply(hour, 0, None, m["mer"]) if hour >= 0 else None
    if found is None:
        return m[0]
    return m["pre"] + _mark(*found, explicit=bool(m["mer"]))


def _mark_times(text: str) -> str:
    """Every time expression as an ``@HHMM`` mark (``x`` when its meridiem is certain)."""
    text = _RX_HOUR_WORDS.sub(lambda m: f"{_HOUR_WORDS[m[1]]} ", text)
    text = _RX_PAST.sub(_past_sub, text)
    text = _RX_NOON.sub(_noon_sub, text)
    text = _RX_DASH_RANGE.sub(_dash_sub, text)
    text = _RX_CLOCK.sub(_clock_sub, text)
    text = _RX_BARE.sub(_bare_sub, text)
    return _RX_BARE_SECOND.sub(_bare_sub, text)


_RX_MARK = r"@(?P<{0}>\d{{4}}x?)"


def _time_of(mark: str, afternoon_bias: bool = True) -> time:
    """A mark as a time; an uncertain 1-6 is read as the afternoon (``à 2h`` is 14:00)."""
    hour, minute = int(mark[:2]), int(mark[2:4])
    if afternoon_bias and not mark.endswith("x") and 1 <= hour <= 6:
        hour += 12
    return time(hour, minute)


# ------------------------------------------------------------------ windows and targets

_BEFORE = r"(?:avant|before|jusqu'?a|until|till|au\s+plus\s+tard\s+a|by)"
_AFTER = r"(?:apres|after|a\s+partir\s+de|des|from|pas\s+avant|not\s+before|later\s+than)"
_AROUND = r"(?:vers|around|about|aux?\s+alentours\s+de|environ|approx)"
_RX_BETWEEN = re.compile(
    r"(?:\b(?:entre|between|de|from)\s+)?@(?P<a>\d{4}x?)\s*(?:et|and|a|to|-|jusqu'?a|until)\s*"
    r"@(?P<b>\d{4}x?)",
    _F,
)
_RX_BEFORE = re.compile(r"\b" + _BEFORE + r"\s+@(?P<a>\d{4}x?)", _F)
_RX_AFTER = re.compile(r"\b" + _AFTER + r"\s+@(?P<a>\d{4}x?)", _F)
_RX_AROUND = re.compile(r"\b" + _AROUND + r"\s+@(?P<a>\d{4}x?)", _F)
_RX_ANY_MARK = re.compile(r"@(?P<a>\d{4}x?)", _F)
_RX_BAD = re.compile(r"@bad", _F)


def _pair(a: str, b: str) -> tuple[time, time] | None:
    """``entre 2 et 4pm``: the second hour's meridiem carries over to the first."""
    end = _time_of(b)
    start = _time_of(a, afternoon_bias=False)
    if not a.endswith("x") and start.hour < 12 <= end.hour and start.hour + 12 < end.hour + 1:
        start = time(start.hour + 12, start.minute)
    elif not a.endswith("x") and 1 <= start.hour <= 6:
        start = _time_of(a)
    return (start, end) if start < end else None


def _find_window(text: _Marked) -> tuple[tuple[time, time] | None, time | None]:
    """(window, target time) from the marks: ranges, avant/après, vers, a plain time."""
    for m in text.take(_RX_BETWEEN):
        return _pair(m["a"], m["b"]), None
    for m in text.take(_RX_AFTER):
        start = _time_of(m["a"])
        return ((start, END_OF_DAY) if start > time(0) else None), None
    for m in text.take(_RX_BEFORE):
        end = _time_of(m["a"])
        return ((time(0), end) if end > time(0) else None), None
    for m in text.take(_RX_AROUND):
        return None, _time_of(m["a"])
    for m in text.take(_RX_ANY_MARK):
        return None, _time_of(m["a"])
    text.take(_RX_BAD)
    return None, None


# ------------------------------------------------------------------ parts of day

_RX_PART = re.compile(
    r"(?:\b(?P<this>ce|cet|cette|this)\s+)?"
    r"(?:\b(?P<edge>debut|fin|tot|early|late|end\s+of|start\s+of)\s+(?:de\s+|d\s*'?\s*|du\s+|"
    r"la\s+|le\s+|l\s*'?\s*|in\s+the\s+|the\s+)?(?:la\s+|l\s*'?\s*)?)?"
    r"\b(?:"
    r"(?P<morning>matinee|matin|morning|am)"
    r"|(?P<afternoon>apresmidi|afternoon|pm)"
    r"|(?P<evening>soiree|soir|evening)"
    r"|(?P<tonight>tonight|tonite)"
    r")\b",
    _F,
)
_EDGE_WINDOWS: dict[tuple[str, str], tuple[time, time]] = {
    ("morning", "start"): (time(0), time(10)),
    ("morning", "end"): (time(10), time(12)),
    ("afternoon", "start"): (time(12), time(15)),
    ("afternoon", "end"): (time(16), END_OF_DAY),
    ("evening", "start"): (time(17), time(19)),
    ("evening", "end"): (time(19), END_OF_DAY),
}
_RX_NOT_PART = re.compile(
    r"\b(?:pas|not|sauf|except|no)\s+(?:le\s+|l\s*'?\s*|en\s+|in\s+the\s+|the\s+)?"
    r"(?P<part>matin|matinee|morning|apresmidi|afternoon|soir|evening)s?\b",
    _F,
)


def _find_part(text: _Marked) -> tuple[Part | None, bool, tuple[time, time] | None]:
    """The part of day, whether said of today (``ce soir``), and an edge window
    (``fin de matinée``, ``early afternoon``); ``pas le matin`` is the afternoon."""
    for m in text.take(_RX_NOT_PART):
        if m["part"] in ("matin", "matinee", "morning"):
            return "afternoon", False, (time(12), END_OF_DAY)
        return "morning", False, (time(0), time(12))
    for m in text.take(_RX_PART):
        if m["tonight"]:
            return "evening", True, None
        part: Part = "morning" if m["morning"] else "afternoon" if m["afternoon"] else "evening"
        edge = m["edge"]
        window = None
        if edge:
            side = "start" if edge.startswith(("debut", "tot", "early", "start")) else "end"
            window = _EDGE_WINDOWS[(part, side)]
        return part, m["this"] is not None, window
    return None, False, None


# ------------------------------------------------------------------ days

_RX_ISO = re.compile(r"(?<![\d/:\-.@])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/:\-])", _F)
_RX_NUMERIC = re.compile(
    _NOT_BEFORE + r"(\d{1,2})[/\-](\d{1,2})(?:[/\-](\d{4}|\d{2}))?(?![\d/:\-])", _F
)
_RX_DAY_MONTH = re.compile(
    _NOT_BEFORE
    + r"(\d{1,2})\s*"
    + _ORD
    + r"?\s*(?:(?:de|of)\s+)?("
    + _MONTH
    + r")(?![a-z])\.?(?:\s+(\d{4})\b)?",
    _F,
)
_RX_MONTH_DAY = re.compile(
    r"\b("
    + _MONTH
    + r")\.?\s*(?:the\s+)?(\d{1,2})"
    + _ORD
    + r"?(?![a-z\d/:\-])(?:,?\s+(\d{4})\b)?",
    _F,
)
_RX_ORDINAL = re.compile(
    r"(?:\b(?:le|the|du|on)\s+|\b(?:" + _WEEKDAY + r")\.?\s+)(\d{1,2})" + _ORD + r"?"
    r"(?![a-z\d/:\-])"
    r"|" + _NOT_BEFORE + r"\b(\d{1,2})(?:st|nd|rd|th|er|eme)(?![a-z\d])",
    _F,
)
_NUMWORD = _alt(_NUMBER_WORDS)
_RX_RELATIVE = re.compile(
    r"\b(?:"
    r"(?P<d2>apresdemain|day\s+after\s+tomorrow)"
    r"|(?P<d1>demain|tomorrow|tomorow|tommorow|tommorrow)"
    r"|(?P<d0>aujourdhui|today|tonight|tonite|ce\s+jour)"
    r"|(?:dans|in)\s+(?P<n>\d{1,3}|" + _NUMWORD + r")\s*"
    r"(?:(?P<days>jours?|j|days?)|(?P<weeks>semaines?|weeks?|wks?))"
    r")\b",
    _F,
)
_RX_THIS_WEEK = re.compile(r"\b(?:cette\s+semaine|this\s+week|dans\s+la\s+semaine)\b", _F)
_RX_NEXT_WEEK = re.compile(
    r"\b(?:(?:la\s+)?semaine\s+(?:prochaine|suivante|d\s*'?\s*apres)|next\s+week"
    r"|(?:la\s+)?semaine\s+qui\s+vient)\b",
    _F,
)
_RX_WEEKEND = re.compile(r"\b(?:(?:ce|le|this|the)\s+)?weekend\b", _F)
_RX_THIS_MONTH = re.compile(r"\b(?:ce\s+mois(?:\s*-?\s*ci)?|this\s+month)\b", _F)
_RX_NEXT_MONTH = re.compile(r"\b(?:(?:le\s+)?mois\s+prochaine?|next\s+month)\b", _F)
_RX_IN_MONTH = re.compile(
    r"\b(?:(?P<edge>debut|fin|mi|early|late|mid|end\s+of|start\s+of)\s*-?\s*(?:de\s+|d\s*'?\s*)?)?"
    r"(?P<pre>(?:en|in|au\s+mois\s+d\s*'?\s*|au\s+mois\s+de|pour|during)\s+)?(?P<m>"
    + _MONTH
    + r")\b(?!\s*\d)",
    _F,
)
_AMBIGUOUS_MONTHS = frozenset(
    {"may", "mar", "jan", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "fev", "avr",
     "juil", "janv", "fevr", "mai", "mars"}
)  # fmt: skip
_RX_WEEKDAY = re.compile(r"\b(?P<this>ce|this\s+)?\s*\b(?P<wd>" + _WEEKDAY + r")\b", _F)
_RX_AFTER_NEXT = re.compile(
    r"\b(?:le\s+suivant|la\s+suivante|celui\s+d\s*'?\s*apres|the\s+(?:one\s+)?after"
    r"|the\s+following(?:\s+one)?|en\s+huit|the\s+next\s+one|l\s*'?\s*autre)\b",
    _F,
)
_RX_NOT_THIS = re.compile(r"\b(?:pas|not)\s+(?:ce|cette|this)\s+(?P<wd>" + _WEEKDAY + r")\b", _F)
_RX_EARLIEST = re.compile(
    r"\b(?:(?:le\s+)?plus\s+(?:tot|vite)(?:\s+possible)?|des\s+que\s+possible|au\s+plus\s+vite"
    r"|nimporte\s+quand|nimporte\s+quel\s+jour|quand\s+vous\s+(?:voulez|pouvez)|peu\s+importe"
    r"|asap|as\s+soon\s+as\s+(?:possible|you\s+can)|whenever|anytime|any\s+time|any\s+day"
    r"|first\s+available|earliest(?:\s+possible)?|premier\s+(?:creneau\s+)?dispo(?:nible)?"
    r"|rapidement|urgent|vite)\b",
    _F,
)


class _Marked:
    """Normalised, marked text whose matched spans are blanked so later patterns cannot
    reuse them."""

    def __init__(self, raw: str) -> None:
        self.s = _mark_times(_normalise(raw))

    def take(self, rx: re.Pattern[str]) -> list[re.Match[str]]:
        """All matches of ``rx``, in text order; their spans are then blanked."""
        found = list(rx.finditer(self.s))
        for m in found:
            self.blank(m.start(), m.end())
        return found

    def blank(self, start: int, end: int) -> None:
        self.s = self.s[:start] + " " * (end - start) + self.s[end:]


class _Invalid(Exception):
    """An explicit date that does not exist (``31/02``)."""


def _make_date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise _Invalid from exc


def _yearless(month: int, day: int, today: date) -> date:
    """This year's ``day/month``, or next year's when it has passed."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _Invalid


def _with_year(month: int, day: int, year: str | None, today: date) -> date:
    if year is None:
        return _yearless(month, day, today)
    y = int(year)
    return _make_date(y + 2000 if y < 100 else y, month, day)


def _day_of_month(day: int, today: date) -> date:
    """``le 7``: this month's 7th, or the next month that has one if it has passed."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate: date | None = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise _Invalid


def _safe(build: Callable[..., date], *args: object) -> date | None:
    try:
        return build(*args)
    except _Invalid:
        return None


def _first_or_invalid(hits: list[tuple[int, date | None]]) -> date | None:
    if not hits:
        return None
    first = min(hits, key=lambda h: h[0])[1]
    if first is None:
        raise _Invalid
    return first


def _explicit_date(text: _Marked, today: date) -> date | None:
    hits: list[tuple[int, date | None]] = []
    for m in text.take(_RX_ISO):
        hits.append((m.start(), _safe(_make_date, int(m[1]), int(m[2]), int(m[3]))))
    for m in text.take(_RX_DAY_MONTH):
        hits.append((m.start(), _safe(_with_year, _MONTHS[m[2]], int(m[1]), m[3], today)))
    for m in text.take(_RX_MONTH_DAY):
        hits.append((m.start(), _safe(_with_year, _MONTHS[m[1]], int(m[2]), m[3], today)))
    for m in text.take(_RX_NUMERIC):
        hits.append((m.start(), _safe(_with_year, int(m[2]), int(m[1]), m[3], today)))
    return _first_or_invalid(hits)


def _ordinal_date(text: _Marked, today: date) -> date | None:
    hits: list[tuple[int, date | None]] = []
    for m in _RX_ORDINAL.finditer(text.s):
        group = 1 if m[1] else 2
        text.blank(*m.span(group))
        hits.append((m.start(group), _safe(_day_of_month, int(m[group]), today)))
    return _first_or_invalid(hits)


def _next_weekday(weekday: int, today: date, include_today: bool = False) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def _relative_date(text: _Marked, today: date) -> date | None:
    for m in text.take(_RX_RELATIVE):
        if m["d2"]:
            return today + timedelta(days=2)
        if m["d1"]:
            return today + timedelta(days=1)
        if m["d0"]:
            return today
        n = int(m["n"]) if m["n"].isdigit() else _NUMBER_WORDS[m["n"]]
        if m["days"] and m[0].startswith("dans") and n in (8, 15):
            n -= 1  # "dans huit jours" is a week, "dans quinze jours" two
        return today + timedelta(days=n * (7 if m["weeks"] else 1))
    return None


Range = tuple[date, date]


def _month_bounds(year: int, month: int) -> Range:
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def _month_range(month: int, edge: str | None, today: date) -> Range | None:
    """A month by name (this year's, or next year's once passed), or part of it."""
    year = today.year if month >= today.month else today.year + 1
    first, last = _month_bounds(year, month)
    if edge in ("debut", "early", "start of"):
        last = date(year, month, 10)
    elif edge in ("mi", "mid"):
        first, last = date(year, month, 11), date(year, month, 20)
    elif edge in ("fin", "late", "end of"):
        first = date(year, month, 21)
    if last < today:
        return _month_range(month, edge, date(year + 1, 1, 1))
    return max(first, today), last


def _range(text: _Marked, today: date) -> Range | None:
    """A span of days: this/next week, the weekend, this/next month, a month by name."""
    monday_next = _next_weekday(0, today)
    if text.take(_RX_NEXT_WEEK):
        return monday_next, monday_next + timedelta(days=6)
    if text.take(_RX_THIS_WEEK):
        return today, today + timedelta(days=6 - today.weekday())
    if text.take(_RX_WEEKEND):
        saturday = _next_weekday(5, today, include_today=True)
        if today.weekday() == 6:
            return today, today
        return saturday, saturday + timedelta(days=1)
    if text.take(_RX_NEXT_MONTH):
        return _month_bounds(today.year + (today.month == 12), today.month % 12 + 1)
    if text.take(_RX_THIS_MONTH):
        return _month_range(today.month, None, today)
    for m in _RX_IN_MONTH.finditer(text.s):
        if m["m"] in _AMBIGUOUS_MONTHS and not (m["edge"] or m["pre"]):
            continue  # "I may come": a verb; "en mai" or "in May" is the month
        text.blank(*m.span())
        return _month_range(_MONTHS[m["m"]], m["edge"], today)
    return None


def _weekday_date(text: _Marked, today: date, lang: str, in_next_week: bool) -> date | None:
    """``mardi``, ``ce lundi``, ``lundi en huit``, ``pas ce lundi mais le suivant``."""
    skipped = text.take(_RX_NOT_THIS)
    skip = bool(skipped)
    after_next = bool(text.take(_RX_AFTER_NEXT))
    for m in _RX_WEEKDAY.finditer(text.s):
        word = m["wd"]
        if word == "mon" and lang.lower().startswith("fr"):
            continue  # "mon rendez-vous": a possessive, not Monday.
        if word in _WEAK_WEEKDAYS and not _near_time_words(text.s, m):
            continue
        text.blank(*m.span())
        weekday = _WEEKDAYS[word]
        if in_next_week:
            return _next_weekday(0, today) + timedelta(days=weekday)
        day = _next_weekday(weekday, today, include_today=bool(m["this"]))
        if skip or after_next:
            day += timedelta(days=7)
        return day
    if skipped:  # "pas ce lundi mais le suivant": the one after
        return _next_weekday(_WEEKDAYS[skipped[0]["wd"]], today) + timedelta(days=7)
    return None


_RX_CONTEXT = re.compile(
    r"@\d{4}|\b(?:am|pm|morning|afternoon|evening|matin|apresmidi|soir|next|prochaine|"
    r"suivant|\d{1,2})\b",
    _F,
)


def _near_time_words(s: str, m: re.Match[str]) -> bool:
    """A short weekday (``sat``, ``mer``) counts only beside a time or date word, or alone."""
    rest = (s[: m.start()] + " " + s[m.end() :]).strip()
    return not rest or bool(_RX_CONTEXT.search(s, max(0, m.start() - 12), m.end() + 14))


# ------------------------------------------------------------------ entry point


def parse_when(text: str, lang: str, today: date) -> When | None:
    """What the patient asked for; None when the text holds no day, time, window, part of
    day or "whenever"."""
    t = _Marked(text[:2000])
    earliest = bool(t.take(_RX_EARLIEST))
    window, at = _find_window(t)
    part, said_of_today, part_window = _find_part(t)
    window = window or part_window
    next_week = bool(_RX_NEXT_WEEK.search(t.s)) and bool(_RX_WEEKDAY.search(t.s))
    day: date | None = None
    last: date | None = None
    try:
        day = _explicit_date(t, today) or _ordinal_date(t, today) or _relative_date(t, today)
        if day is None:
            day = _weekday_date(t, today, lang, next_week)
            if day is not None and next_week:
                t.take(_RX_NEXT_WEEK)
        if day is None and (span := _range(t, today)) is not None:
            day, last = span
            if last <= day:
                last = None
    except (_Invalid, OverflowError, ValueError):
        day, last = None, None
    if day is None and said_of_today:
        day = today
    found = When(day=day, at=at, part=part, last_day=last, window=window, earliest=earliest)
    if found.empty:
        return None
    if earliest and (day or at or part or window):
        found = When(day=day, at=at, part=part, last_day=last, window=window, earliest=False)
    return found

"""Issue 11, as patients tried it: every example a transcript over the real engine and store.

The clock is Monday 30 November 2026, 09:00 in Paris. In the example practice Dr Anne Roux
works Monday and Thursday all day, Tuesday, Wednesday and Friday mornings (Friday
afternoon too), and is away from 24 to 31 December; the practice is closed on 25 December.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from channels.runtime import Runtime
from channels.settings import Settings
from store.service import Assistant
from tests.conftest import Clock, Patient, env_for

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MAISON = Path(__file__).resolve().parent / "practices" / "maison.toml"
SLOT = re.compile(r"^\d+\. (\w+)\.? (\d+) (\w+)\.? (\d\d):(\d\d)", re.M)


@pytest.fixture
def monday(clock: Clock) -> Clock:
    clock.now = MONDAY
    return clock


@pytest.fixture
def at_the_day_prompt(patient, monday):
    """A patient who asked for a consultation and then "another day"."""

    def make(name: str = "alice", lang: str | None = None, channel: str = "console") -> Patient:
        p = patient(name, lang=lang, channel=channel)
        p.send("RDV" if lang != "en" else "BOOK")
        p.send("1")
        assert "Quel jour" in p.send("7") or lang == "en"
        return p

    return make


def slots(out: str) -> list[tuple[str, int, time]]:
    """(weekday, day of month, time) of every slot line of a reply."""
    return [(wd, int(d), time(int(h), int(m))) for wd, d, _, h, m in SLOT.findall(out)]


def understood(out: str) -> bool:
    return "Compris" in out or "Understood" in out


# ---------------------------------------------------------------- the request holds


def test_tomorrow_afternoon_closed_says_so_and_offers_the_nearest(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("demain 14h")
    assert not understood(out)
    assert "Désolé, mardi 1 décembre, vers 14:00: le cabinet est fermé." in out
    offered = slots(out)
    assert len(offered) == 5 and all(day != 1 for _, day, _ in offered)
    assert all(time(12, 30) <= t <= time(15, 30) for _, _, t in offered)  # still about 14:00


def test_around_five_gives_slots_around_five(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("vers 17h")
    assert "Compris: vers 17:00." in out
    offered = slots(out)
    assert offered and all(time(15, 30) <= t <= time(18, 30) for _, _, t in offered)
    assert time(17, 0) in [t for _, _, t in offered]


def test_christmas_is_closed_and_said_so(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("le 25 decembre")
    assert not understood(out)
    assert "vendredi 25 décembre: le cabinet est fermé" in out
    assert slots(out) and all(day == 23 for _, day, _ in slots(out))  # the nearest, before


def test_before_ten_means_starting_before_ten(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("avant 10h")
    assert "Compris: avant 10:00." in out
    assert slots(out) and all(t < time(10) for _, _, t in slots(out))


def test_between_two_and_four_pm(at_the_day_prompt) -> None:
    out = at_the_day_prompt(lang="en").send("between 2 and 4pm")
    assert "Understood: between 14:00 and 16:00." in out
    assert slots(out) and all(time(14) <= t < time(16) for _, _, t in slots(out))


@pytest.mark.parametrize(
    ("asked", "near"),
    [("9h et demie", time(9, 30)), ("14h et quart", time(14, 15)), ("quatorze heures", time(14))],
)
def test_halves_quarters_and_hours_in_words(at_the_day_prompt, asked: str, near: time) -> None:
    out = at_the_day_prompt().send(asked)
    assert f"Compris: vers {near:%H:%M}." in out
    minutes = [abs(t.hour * 60 + t.minute - near.hour * 60 - near.minute) for _, _, t in slots(out)]
    assert minutes and max(minutes) <= 90 and min(minutes) <= 10


def test_ten_to_twelve(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("10h-12h")
    assert "Compris: entre 10:00 et 12:00." in out
    assert all(time(10) <= t < time(12) for _, _, t in slots(out))


def test_this_week_and_in_january(at_the_day_prompt) -> None:
    alice = at_the_day_prompt()
    out = alice.send("cette semaine")
    assert "Compris: du lundi 30 novembre au dimanche 6 décembre." in out
    assert all(day in (30, 1, 2, 3, 4) for _, day, _ in slots(out))
    alice.send("7")
    out = alice.send("en janvier")
    assert "Compris: du vendredi 1 janvier au dimanche 31 janvier." in out
    assert [m for *_, m in SLOT.findall(out)] and "janv" in out and "déc" not in out


def test_saturday_morning_keeps_the_morning(at_the_day_prompt) -> None:
    out = at_the_day_prompt(lang="en").send("sat am")
    assert "Sorry, Saturday 5 December, morning: the practice is closed." in out
    assert slots(out) and all(t < time(12) for _, _, t in slots(out))


def test_not_this_monday_but_the_next(at_the_day_prompt) -> None:
    out = at_the_day_prompt().send("pas ce lundi mais le suivant")
    assert "Compris: lundi 14 décembre." in out
    assert {day for _, day, _ in slots(out)} == {14}


def test_a_part_of_day_holds_on_later_pages(at_the_day_prompt) -> None:
    alice = at_the_day_prompt()
    alice.send("l'après-midi")
    for _ in range(3):
        out = alice.send("6")  # later
        assert slots(out) and all(t >= time(12) for _, _, t in slots(out))


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("demin", 1),
        ("2m1", 1),
        ("dem", 1),
        ("lundii", 7),
        ("jedi", 3),
        ("mecredi", 2),
        ("vendredie", 4),
    ],
)
def test_sms_spellings_and_typos(at_the_day_prompt, typed: str, day: int) -> None:
    out = at_the_day_prompt().send(typed)
    assert understood(out), out
    assert slots(out) and {d for _, d, _ in slots(out)} == {day}


@pytest.mark.parametrize(
    "whenever",
    ["n'importe quand", "le plus tôt possible", "dès que possible", "asap", "whenever"],
)
def test_whenever_means_the_earliest(at_the_day_prompt, whenever: str) -> None:
    out = at_the_day_prompt().send(whenever)
    assert "pas compris" not in out
    assert slots(out)[0] == ("lun", 30, time(11, 10))  # the first free slot after 2 h notice


# ---------------------------------------------------------------- intent, kindness, names


def test_a_first_message_that_says_what_it_wants(patient, monday) -> None:
    alice = patient("alice")
    out = alice.send("Je voudrais un rendez-vous demain matin svp")
    assert out.index("https://example.org/confidentialite") < out.index("Pour quel type de RDV ?")
    out = alice.send("1")
    assert "Compris: mardi 1 décembre, le matin." in out
    assert {d for _, d, _ in slots(out)} == {1} and all(t < time(12) for *_, t in slots(out))


@pytest.mark.parametrize(
    ("first", "expected"),
    [("Je voudrais annuler mon rdv", "aucun RDV à venir"), ("mes rendez-vous ?", "aucun RDV")],
)
def test_first_message_cancel_or_list(patient, monday, first: str, expected: str) -> None:
    out = patient("alice").send(first)
    assert "confidentialite" in out and expected in out


def test_a_sentence_is_not_a_name_and_the_name_is_repeated(patient, monday) -> None:
    alice = patient("alice")
    for text in ("RDV", "1", "1"):
        alice.send(text)
    sentences = ("annuler mon rdv", "un rendez-vous demain", "la semaine prochaine", "next week")
    for not_a_name in (*sentences, "dans quinze jours", "12345", "oui", "merci"):
        assert "il me faut un nom et prénom" in alice.send(not_a_name)
    assert "RDV: prendre RDV" in alice.send("?")  # help keeps the question open
    out = alice.send("Paul Martin")
    assert "au nom de Paul Martin ?" in out
    assert alice.send("oui").startswith("RDV confirmé: lundi 30 novembre à 11:10")


@pytest.mark.parametrize("thanks", ["merci", "ok", "👍", "👍🏽", "Merci beaucoup !", "thanks"])
def test_thanks_after_a_confirmation(patient, monday, thanks: str) -> None:
    console = patient("alice")
    sms = patient("+33612345678", channel="sms")
    for p in (console, sms):
        for text in ("RDV", "1", "1", "Paul Martin", "oui"):
            p.send(text)
    out = console.send(thanks)
    assert out == "Avec plaisir. À bientôt !"
    assert sms.replies(thanks) == []  # nothing by SMS: one paid message saved


def test_sorry_and_the_practice_phone_after_two_misunderstandings(patient, monday) -> None:
    alice = patient("alice")
    alice.send("Bonjour")
    first = alice.send("blabla")
    assert first.startswith("Désolé, je n'ai pas compris.") and "04 78 00 00 00" not in first
    second = alice.send("blibli")
    assert "Appelez le cabinet au 04 78 00 00 00" in second
    alice.send("1")
    assert "04 78" not in alice.send("1")  # understood again: the count starts over


def test_telegram_wording_for_buttons(patient, monday) -> None:
    nadia = patient("123456", channel="telegram")
    nadia.send("/start")
    out = nadia.send("blabla")
    assert "Choisissez ci-dessous" in out and "numéro" not in out


def test_the_name_question_has_its_accent(patient, monday) -> None:
    alice = patient("alice")
    for text in ("RDV", "1"):
        alice.send(text)
    assert alice.send("1") == "À quel nom ?"


# ---------------------------------------------------------------- several practitioners


@pytest.fixture
def maison(tmp_path: Path, monday: Clock) -> Iterator[Runtime]:
    rt = Runtime(Settings.from_env(env_for(tmp_path, CRENEAU_PRACTICE=str(MAISON))))
    rt.__dict__["assistant"] = Assistant(rt.db, rt.practice, rt.vault, rt.catalogs, clock=monday)
    yield rt
    rt.db.dispose()


@pytest.mark.parametrize("named", ["Petit", "Dr Petit", "dr. petit", "avec le Dr Marc Petit", "3"])
def test_a_practitioner_named_in_part(maison: Runtime, named: str) -> None:
    alice = Patient(maison.assistant, "alice")
    alice.send("RDV")
    assert "1. Le premier disponible" in alice.send("1")
    out = alice.send(named)
    assert out.startswith("Prochains créneaux avec Dr Marc Petit:")
    assert {wd for wd, _, _ in slots(out)} <= {"mar", "mer", "sam"}


def test_the_first_available_of_several(maison: Runtime) -> None:
    alice = Patient(maison.assistant, "alice")
    alice.send("RDV")
    alice.send("1")
    out = alice.send("le premier disponible")
    assert "Dr Lemaître-Dubois" in out and "Dr Roux" in out  # each slot says with whom
    alice.send("2")  # 11:10 with Dr Roux
    assert "avec Dr Anne Roux, au nom de Paul Martin" in alice.send("Paul Martin")


def test_an_ambiguous_first_name_is_not_guessed(maison: Runtime) -> None:
    alice = Patient(maison.assistant, "alice")
    alice.send("RDV")
    alice.send("1")
    assert "Désolé, je n'ai pas compris" in alice.send("Anne")  # two Annes


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("anuler", "aucun RDV à venir"),
        ("menuu", "Que souhaitez-vous faire ?"),
        ("aidee", "MES RDV: voir"),
    ],
)
def test_typos_of_harmless_keywords(patient, monday, typed: str, expected: str) -> None:
    alice = patient("alice")
    alice.send("Bonjour")
    assert expected in alice.send(typed)


@pytest.mark.parametrize("typed", ["stopp", "supprimmer", "strat"])
def test_typos_never_stop_erase_or_restart(patient, monday, typed: str) -> None:
    alice = patient("alice")
    alice.send("Bonjour")
    out = alice.send(typed)
    assert out.startswith("Désolé, je n'ai pas compris.")
    assert "Pour quel type" in alice.send("RDV")  # still opted in, nothing erased

"""The SMS budget (COMPLIANCE §3): every patient-facing catalog text, rendered in both
languages with realistic values, stays within 2 segments and in GSM-7 once folded; the
replies the dialog really sends are 1 segment where they can (slot lists always), the
first reply (notice and menu) at most 2, with the example practice and with a practitioner
whose name is long. Segments are counted as Twilio counts them (`bot.gsm.segments`)."""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.account import full_notice_params
from bot.engine import notice_params
from bot.gsm import encoding, segments, to_gsm7
from bot.i18n import LOCALES_DIR, Catalogs
from bot.messages import Inbound, Moment, Text
from bot.practice import Practice
from bot.practice_file import load_practice
from channels.runtime import Runtime
from channels.settings import Settings
from channels.sms import render
from store.service import Assistant
from tests.conftest import Clock, env_for

LANGS = ("fr", "en")
NEVER_MORE = 2
# Date formats, and texts for practitioners (daily summary, practitioner bot commands).
NOT_PATIENT_FACING = ("fmt.", "summary.", "pbot.", "practitioner.", "agenda.", "desk.")
ROOT = Path(__file__).resolve().parent.parent
PRACTICE_FILE = ROOT / "practice.example.toml"

# Mid-December and mid-August, on a Wednesday (the longest French weekday name).
DECEMBER = datetime(2026, 12, 16, 7, 30, tzinfo=UTC)
AUGUST = datetime(2027, 8, 18, 12, 30, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs()


@pytest.fixture(scope="module")
def practice() -> Practice:
    """The example practice, with long but realistic names, addresses and links."""
    base = load_practice(PRACTICE_FILE)
    return replace(
        base,
        name="Maison de santé Saint-Exupéry",
        controller="Dr Anne-Sophie Roux, 12 av. Jean Jaurès, 69007 Lyon",
        contact="secretariat@msp-saint-exupery.fr",
        dpo="dpo@msp-saint-exupery.fr",
        address="12 avenue Jean Jaurès, 69007 Lyon",
        privacy_notice_url="https://www.msp-saint-exupery.fr/confidentialite",
        retention_days=365,
    )


def params(practice: Practice, when: datetime) -> dict[str, Any]:
    """A realistic value for every placeholder the catalogs use."""
    ecg = practice.ctype("ecg")
    at = Moment(when, "time")
    return {
        **full_notice_params(_Ctx(practice)),  # practice, days, url, contact, basis, dpo...
        "practitioner": "Dr Anne-Sophie Lemaître-Dubois",
        "who": "Dr Lemaître-Dubois",
        "when": Moment(when, "long"),
        "old": Moment(DECEMBER, "long"),
        "new": Moment(AUGUST, "long"),
        "address": f", {practice.address}",
        "value": ecg.preparation["fr"] if ecg.preparation else "",
        "hours": 48,
        "n": 12,
        "name": "Marie-Christine Delacroix-Fontaine",
        "what": Text("join", {"items": [Moment(when, "day"), Text("when.at", {"time": at})]}),
        "time": Moment(when, "time"),
        "date": Moment(when, "date"),
        "from": Moment(DECEMBER, "day"),
        "to": Moment(AUGUST, "day"),
        "phone": "04 78 00 00 00",
        "version": practice.notice_version,
        "type": "Électrocardiogramme",
        "until": Moment(when, "slot"),
        "conversation": 1,
        "queued": 2,
        "messages": 14,
        "events": 3,
    }


class _Ctx:
    """The one attribute of an engine context that the notice parameters read."""

    def __init__(self, practice: Practice) -> None:
        self.practice = practice


def catalog_messages(lang: str) -> Iterator[tuple[str, list[str], bool]]:
    """(key, translations, plural?) of every entry of one catalog."""
    with (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple | list) else message.id
        texts = (
            list(message.string) if isinstance(message.string, tuple | list) else [message.string]
        )
        yield key, texts, isinstance(message.id, tuple | list)


def patient_keys(lang: str) -> list[str]:
    return sorted(k for k, _, _ in catalog_messages(lang) if not k.startswith(NOT_PATIENT_FACING))


def placeholders(texts: list[str]) -> set[str]:
    return {field for text in texts for _, field, _, _ in string.Formatter().parse(text) if field}


def sms(catalogs: Catalogs, practice: Practice, text: Text, lang: str) -> str:
    """What the SMS channel would send for one text: rendered, then folded to GSM-7."""
    return to_gsm7(catalogs.text(text, lang, practice.tz))


def test_every_catalog_has_the_same_keys() -> None:
    fr, en = (set(patient_keys(lang)) for lang in LANGS)
    assert fr - en == set(), "keys missing in English"
    assert en - fr == set(), "keys missing in French"


def test_every_placeholder_has_a_realistic_value(practice: Practice) -> None:
    known = set(params(practice, DECEMBER))
    for lang in LANGS:
        for key, texts, _ in catalog_messages(lang):
            if key.startswith(NOT_PATIENT_FACING):
                continue
            missing = placeholders(texts) - known
            assert not missing, f"{lang} {key}: add realistic values for {missing} to params()"


def rendered(
    catalogs: Catalogs, practice: Practice, lang: str, when: datetime
) -> Iterator[tuple[str, str]]:
    """(key, SMS text) of every patient-facing entry, each plural form included."""
    values = params(practice, when)
    for key, texts, plural in catalog_messages(lang):
        if key.startswith(NOT_PATIENT_FACING):
            continue
        used = {k: v for k, v in values.items() if k in placeholders(texts)}
        for count in (1, 2, 12) if plural else (None,):
            body = sms(catalogs, practice, Text(key, used, count), lang)
            assert body != key, f"{lang} {key}: no translation"
            yield key, body


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("when", [DECEMBER, AUGUST], ids=["december", "august"])
def test_no_patient_text_is_ever_more_than_two_segments(
    catalogs: Catalogs, practice: Practice, lang: str, when: datetime
) -> None:
    too_long = {
        key: f"{segments(body)} segments, {len(body)} chars: {body}"
        for key, body in rendered(catalogs, practice, lang, when)
        if segments(body) > NEVER_MORE
    }
    assert not too_long, "\n".join(f"{k}: {v}" for k, v in too_long.items())


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("when", [DECEMBER, AUGUST], ids=["december", "august"])
def test_every_text_is_gsm7_after_folding(
    catalogs: Catalogs, practice: Practice, lang: str, when: datetime
) -> None:
    for key, body in rendered(catalogs, practice, lang, when):
        assert encoding(body) == "GSM-7", f"{lang} {key}: {body!r}"


@pytest.mark.parametrize("channel", ["sms", "telegram", "console"])
def test_short_notice_names_everything_the_patient_must_know(
    catalogs: Catalogs, practice: Practice, channel: str
) -> None:
    receiver = {
        "sms": (["Twilio (USA, DPF, clauses types)"], ["Twilio (USA, DPF, standard clauses)"]),
        "telegram": (
            ["Telegram (hors UE, sans contrat de sous-traitance)"],
            ["Telegram (outside the EU, no processing agreement)"],
        ),
        "console": (["sans intermédiaire"], ["no intermediary"]),
    }[channel]
    required = {
        "fr": [
            "Maison de santé Saint-Exupéry",
            "gère vos RDV",
            "base: " + practice.legal_basis_text("fr"),
            "365 j",
            *receiver[0],
            "INFO",
            "MES DONNEES",
            "SUPPRIMER",
            "STOP",
            practice.contact,
            practice.privacy_notice_url,
        ],
        "en": [
            "Maison de santé Saint-Exupéry",
            "handles your bookings",
            "basis: " + practice.legal_basis_text("en"),
            "365 days",
            *receiver[1],
            "INFO",
            "MY DATA",
            "DELETE",
            "STOP",
            practice.contact,
            practice.privacy_notice_url,
        ],
    }
    for lang, words in required.items():
        text = Text(f"notice.short.{channel}", notice_params(practice))
        notice = sms(catalogs, practice, text, lang)
        for word in words:
            assert to_gsm7(word) in notice, f"{lang} notice.short.{channel} lacks {word!r}"


# ---------------------------------------------------------------- the replies really sent


def _runtime(tmp_path: Path, practice_file: Path) -> Runtime:
    rt = Runtime(Settings.from_env(env_for(tmp_path, CRENEAU_PRACTICE=str(practice_file))))
    clock = Clock(MONDAY)
    rt.__dict__["assistant"] = Assistant(rt.db, rt.practice, rt.vault, rt.catalogs, clock=clock)
    return rt


LONG_NAME = "Dr Anne-Sophie Lemaître-Dubois de la Roche-Guyon"

# Every kind of reply, reached by SMS in one conversation: (what is sent, what it is).
SCRIPT = {
    "fr": [
        ("Bonjour", "first"),  # the notice and the types
        ("2", "two"),  # ECG: preparation instructions, then the slots
        ("7", "one"),  # another day?
        ("demain 14h", "slots"),  # closed then: the nearest
        ("7", "one"),
        ("jeudi matin", "slots"),
        ("6", "slots"),  # later
        ("7", "one"),
        ("le 25 décembre", "slots"),
        ("7", "one"),
        ("la semaine prochaine", "slots"),
        ("7", "one"),
        ("n'importe quand", "slots"),
        ("blabla", "two"),  # not understood: the list again
        ("blibli", "two"),  # and the phone
        ("1", "one"),  # the name?
        ("annuler mon rdv", "one"),
        ("Marie-Christine Delacroix-Fontaine", "two"),  # the preparation question
        ("Kardegic 75", "one"),  # confirm?
        ("oui", "one"),  # done
        ("merci", "none"),
        ("MES RDV", "one"),
        ("1", "one"),
        ("1", "slots"),  # move: slots
        ("1", "one"),  # confirm the move
        ("oui", "one"),
        ("ANNULER", "one"),
        ("oui", "one"),
        ("MES DONNEES", "two"),
        ("3", "one"),
        ("AIDE", "one"),
        ("INFO", "two"),
        ("EN", "one"),
        ("FR", "one"),
        ("STOP", "one"),
        ("RDV", "one"),  # the START reminder
        ("START", "one"),
        ("SUPPRIMER", "one"),
        ("non", "one"),
    ],
}
SCRIPT["en"] = [
    (
        {
            "Bonjour": "Hello",
            "demain 14h": "tomorrow 2pm",
            "jeudi matin": "thursday morning",
            "le 25 décembre": "25 December",
            "la semaine prochaine": "next week",
            "n'importe quand": "whenever",
            "annuler mon rdv": "cancel my appointment",
            "oui": "yes",
            "non": "no",
            "merci": "thanks",
            "MES RDV": "APPTS",
            "ANNULER": "APPTS",
            "MES DONNEES": "MY DATA",
            "AIDE": "HELP",
            "FR": "EN",
            "RDV": "BOOK",
            "SUPPRIMER": "DELETE",
        }.get(text, text),
        kind,
    )
    for text, kind in SCRIPT["fr"]
]
SCRIPT["en"][27] = ("1", "one")  # APPTS lists, then the appointment
SCRIPT["en"].insert(28, ("2", "one"))  # cancel it


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("practitioner", ["example", "long name"])
def test_every_reply_sent_keeps_its_budget(tmp_path: Path, lang: str, practitioner: str) -> None:
    source = PRACTICE_FILE.read_text(encoding="utf-8")
    if practitioner == "long name":
        source = source.replace('name = "Dr Anne Roux"', f'name = "{LONG_NAME}"')
    practice_file = tmp_path / "practice.toml"
    practice_file.write_text(source, encoding="utf-8")
    rt = _runtime(tmp_path, practice_file)
    try:
        assistant = rt.assistant
        sender = "+33612345678"
        problems = []
        for text, kind in SCRIPT[lang]:
            inbound = Inbound(
                "sms", sender, text, assistant.clock(), message_id=uuid.uuid4().hex, lang_hint=lang
            )
            bodies = render(assistant.handle(inbound).replies)
            counts = [segments(b) for b in bodies]
            if kind == "none":
                ok = not bodies
            elif kind == "two":
                ok = bool(bodies) and all(c <= NEVER_MORE for c in counts)
            elif kind == "first":
                ok = counts == [1] or counts == [2]
            else:  # "one" and "slots": every message of the turn in one segment
                ok = bool(bodies) and all(c == 1 for c in counts)
            if kind == "slots":
                ok = ok and any("1. " in b and ("Plus tard" in b or "Later" in b) for b in bodies)
            if not ok:
                problems.append(f"{text!r} ({kind}): {counts}\n" + "\n---\n".join(bodies))
        assert not problems, "\n\n".join(problems)
    finally:
        rt.db.dispose()


@pytest.mark.parametrize(
    ("lang", "first"),
    [("fr", "Je voudrais un rendez-vous demain matin svp"), ("en", "I'd like to book tomorrow")],
)
def test_a_first_message_with_an_intent_stays_within_two_segments(
    tmp_path: Path, lang: str, first: str
) -> None:
    rt = _runtime(tmp_path, PRACTICE_FILE)
    try:
        inbound = Inbound(
            "sms", "+33612345678", first, MONDAY, message_id=uuid.uuid4().hex, lang_hint=lang
        )
        [body] = render(rt.assistant.handle(inbound).replies)
        assert segments(body) <= 2 and "confidentialite" in body
    finally:
        rt.db.dispose()


# ---------------------------------------------------------------- the greeting's first reply


def _greeting(rt: Runtime, channel: str, sender: str, lang: str) -> list[str]:
    assistant = rt.assistant
    inbound = Inbound(
        channel, sender, "Bonjour", assistant.clock(), message_id=uuid.uuid4().hex, lang_hint=lang
    )
    return render(assistant.handle(inbound).replies)


@pytest.mark.parametrize("lang", LANGS)
def test_a_greeting_asks_the_type_only_when_it_fits_the_first_reply(
    tmp_path: Path, lang: str
) -> None:
    """A newcomer's greeting asks the type at once when notice and types fit two segments
    (the example practice); with a long type label it shows the menu by SMS instead,
    within the budget, and still the types on Telegram (no segment to pay there)."""
    example = _runtime(tmp_path / "example", PRACTICE_FILE)
    long_file = tmp_path / "long.toml"
    long_file.write_text(
        PRACTICE_FILE.read_text(encoding="utf-8")
        .replace('fr = "Consultation"', 'fr = "Consultation de médecine générale"')
        .replace('en = "Consultation"', 'en = "General practice consultation"'),
        encoding="utf-8",
    )
    long = _runtime(tmp_path / "long", long_file)
    try:
        types = "Pour quel type de RDV ?" if lang == "fr" else "What kind of appointment?"
        menu = "1. Prendre RDV" if lang == "fr" else "1. Book"
        [first] = _greeting(example, "sms", "+33612345678", lang)
        assert types in first and segments(first) == 2
        [first] = _greeting(long, "sms", "+33612345678", lang)
        assert menu in first and types not in first and segments(first) <= 2
        [tg] = _greeting(long, "telegram", "424242", lang)
        assert tg.startswith(long.practice.name) and types in tg
    finally:
        example.db.dispose()
        long.db.dispose()


SHORT_TYPE = """
[[consultation_types]]
id = "{id}"
label = {{ fr = "{id}", en = "{id}" }}
duration_minutes = 20
practitioners = ["roux"]
requires_preparation = false
"""


@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_a_greeting_shows_the_menu_when_the_types_would_push_the_notice_alone(
    tmp_path: Path, channel: str
) -> None:
    """Four types or more would send the notice as a message of its own: the newcomer's
    greeting shows the menu with it instead; once the notice is delivered, the types."""
    many = tmp_path / "many.toml"
    extra = "".join(SHORT_TYPE.format(id=name) for name in ("vaccin", "suivi"))
    many.write_text(PRACTICE_FILE.read_text(encoding="utf-8") + extra, encoding="utf-8")
    rt = _runtime(tmp_path, many)
    sender = "+33612345678" if channel == "sms" else "424242"
    try:
        [first] = _greeting(rt, channel, sender, "fr")
        assert first.startswith(rt.practice.name) and "Que souhaitez-vous faire ?" in first
        assert "Pour quel type" not in first
        [again] = _greeting(rt, channel, sender, "fr")
        assert again.startswith("Pour quel type de RDV ?") and "4. suivi" in again
    finally:
        rt.db.dispose()

"""Every patient-facing catalog text, rendered for SMS with long realistic values, stays short
(COMPLIANCE.md §3): at most 3 segments, 2 for the short notice and reminders; French folds to
GSM-7 (one stray character would turn the whole SMS into UCS-2)."""

from __future__ import annotations

import string
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
from bot.messages import Choice, Moment, Reply, Text
from bot.practice import Practice
from bot.practice_file import load_practice
from channels.sms import render

LANGS = ("fr", "en")
MAX_SEGMENTS = 3
SHORT_SEGMENTS = 2  # the notice before the first question, and reminders
SHORT_KEYS = ("notice.short",)
SHORT_PREFIXES = ("reminder.",)
# Date formats, and texts for practitioners (daily summary, practitioner bot commands).
NOT_PATIENT_FACING = ("fmt.", "summary.", "pbot.", "practitioner.", "agenda.")
PRACTICE_FILE = Path(__file__).resolve().parent.parent / "practice.example.toml"

# Mid-December and mid-August, on a Wednesday (the longest French weekday name).
DECEMBER = datetime(2026, 12, 16, 7, 30, tzinfo=UTC)
AUGUST = datetime(2027, 8, 18, 12, 30, tzinfo=UTC)


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
        **full_notice_params(_Ctx(practice)),  # practice, days, url, contact, controller, dpo
        "practitioner": "Dr Anne-Sophie Lemaître-Dubois",
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


def limit_for(key: str) -> int:
    return SHORT_SEGMENTS if key in SHORT_KEYS or key.startswith(SHORT_PREFIXES) else MAX_SEGMENTS


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
def test_every_patient_text_fits_its_segments(
    catalogs: Catalogs, practice: Practice, lang: str, when: datetime
) -> None:
    too_long = {
        key: f"{segments(body)} segments, {len(body)} chars: {body}"
        for key, body in rendered(catalogs, practice, lang, when)
        if segments(body) > limit_for(key)
    }
    assert not too_long, "\n".join(f"{k}: {v}" for k, v in too_long.items())


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("when", [DECEMBER, AUGUST], ids=["december", "august"])
def test_every_text_is_gsm7_after_folding(
    catalogs: Catalogs, practice: Practice, lang: str, when: datetime
) -> None:
    for key, body in rendered(catalogs, practice, lang, when):
        assert encoding(body) == "GSM-7", f"{lang} {key}: {body!r}"


def test_short_notice_names_everything_the_patient_must_know(
    catalogs: Catalogs, practice: Practice
) -> None:
    required = {
        "fr": [
            "Maison de santé Saint-Exupéry",
            "RDV",
            "base",
            "365 j",
            "opérateur",
            "INFO",
            "MES DONNEES",
            "SUPPRIMER",
            "STOP",
            practice.contact,
            practice.privacy_notice_url,
        ],
        "en": [
            "Maison de santé Saint-Exupéry",
            "appointments",
            "basis",
            "365 days",
            "provider",
            "INFO",
            "MY DATA",
            "DELETE",
            "STOP",
            practice.contact,
            practice.privacy_notice_url,
        ],
    }
    for lang, words in required.items():
        notice = sms(catalogs, practice, Text("notice.short", notice_params(practice)), lang)
        for word in words:
            assert to_gsm7(word) in notice, f"{lang} notice.short lacks {word!r}"


@pytest.mark.parametrize("lang", LANGS)
def test_composed_replies_stay_within_three_segments(
    catalogs: Catalogs, practice: Practice, lang: str
) -> None:
    """The busiest real replies: first contact, the ECG question, the ECG confirmation."""
    values = params(practice, AUGUST)
    ecg = practice.ctype("ecg")
    question = (ecg.preparation_question or {}).get(lang, "")
    preparation = (ecg.preparation or {}).get(lang, "")
    menu = (Choice("book", Text("choice.book")), Choice("appts", Text("choice.appts")))
    replies = [
        Reply((Text("notice.short", notice_params(practice)), Text("menu.prompt")), menu),
        Reply((Text("raw", {"value": question}), Text("book.prep_skip"))),
        Reply((Text("book.done", values), Text("book.preparation", {"value": preparation}))),
    ]
    for reply in replies:
        body = render([catalogs.render(reply, lang, practice.tz)])
        assert segments(body) <= MAX_SEGMENTS, body
        assert not body.endswith("..."), body

"""The desk's own dictionary: every key used exists in both languages; what it sends to
patients stays discreet, in GSM-7 and within the SMS budget."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.gsm import encoding, segments, to_gsm7
from channels.desk import i18n

DESK = Path(__file__).resolve().parent.parent / "channels" / "desk"
USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


def used_keys() -> set[str]:
    found: set[str] = set()
    for path in [*DESK.glob("*.py"), *DESK.glob("templates/desk/*.html")]:
        found |= set(USED.findall(path.read_text()))
    return found


def test_every_key_used_is_defined_in_both_languages():
    keys = used_keys()
    assert len(keys) > 50
    assert sorted(keys - set(i18n.WORDS)) == []
    for key, (fr, en) in i18n.WORDS.items():
        assert fr.strip() and en.strip(), key


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("key", ["sms.booked", "sms.moved"])
def test_patient_messages_are_discreet_gsm7_and_short(key, lang):
    when = i18n.when(
        datetime(2026, 12, 7, 7, 30, tzinfo=UTC), "long", lang, ZoneInfo("Europe/Paris")
    )
    text = to_gsm7(
        i18n.t(key, lang, practice="Cabinet des Lilas", practitioner="Dr Anne Roux", when=when)
    )
    assert "08:30" in text and "Dr Anne Roux" in text and "Cabinet des Lilas" in text
    assert encoding(text) == "GSM-7" and segments(text) == 1


def test_unknown_export_fields_are_shown_under_their_own_name():
    assert i18n.field("notice_at", "fr") == "Information reçue le"
    assert i18n.field("some_new_field", "en") == "Some new field"
    tz = ZoneInfo("Europe/Paris")
    assert i18n.value("2026-12-07T07:30:00+00:00", "fr", tz) == "7 déc. 2026 08:30"
    assert i18n.value(None, "fr", tz) == "–" and i18n.value(True, "en", tz) == "yes"

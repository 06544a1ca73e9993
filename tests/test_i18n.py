"""Catalogs: every key in both languages, French plural forms, GSM-7 friendly words."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from bot.gsm import encoding, to_gsm7
from bot.i18n import Catalogs
from bot.messages import Moment, Text

ROOT = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")


def catalog(lang: str):
    with open(ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


def keys(lang: str) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog(lang) if m.id}


def engine_keys() -> set[str]:
    """Every literal message key the engine uses (Text("...") calls in bot/)."""
    found = set()
    for path in (ROOT / "bot").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "Text"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found - {"raw", "join", "join_lines"}


def test_both_languages_have_the_same_keys():
    assert keys("fr") == keys("en")


def test_every_engine_key_is_translated():
    missing = engine_keys() - keys("fr")
    assert not missing


def test_french_has_three_plural_forms_filled():
    fr = catalog("fr")
    assert fr.num_plurals == 3
    plural = [m for m in fr if m.id and not isinstance(m.id, str)]
    assert plural and all(len(m.string) == 3 and all(m.string) for m in plural)
    cats = Catalogs()
    for n, expected in ((0, "0 RDV"), (1, "1 RDV"), (2, "2 RDV"), (1_000_000, "1000000 de RDV")):
        assert expected in cats.text(Text("appts.list", {"n": n}, count=n), "fr", PARIS)


def test_placeholders_match_between_languages():
    fr = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog("fr") if m.id}
    for m in catalog("en"):
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        en_text = m.string if isinstance(m.string, str) else m.string[0]
        fr_text = fr[key] if isinstance(fr[key], str) else fr[key][0]
        assert set(re.findall(r"{(\w+)}", en_text)) == set(re.findall(r"{(\w+)}", fr_text)), key


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_templates_avoid_non_gsm_punctuation(lang):
    for m in catalog(lang):
        if not m.id or str(m.id).startswith("fmt."):
            continue
        for s in [m.string] if isinstance(m.string, str) else m.string:
            assert "’" not in s and "\u00a0" not in s and "\u202f" not in s, m.id
            assert encoding(to_gsm7(s)) == "GSM-7", (m.id, s)


def test_dates_in_practice_time_zone():
    cats = Catalogs()
    summer = datetime(2026, 7, 6, 6, 30, tzinfo=UTC)  # 08:30 in Paris (UTC+2)
    winter = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # 08:30 in Paris (UTC+1)
    assert cats.moment(summer, "slot", "fr", PARIS) == "lun. 6 juil. 08:30"
    assert cats.moment(winter, "long", "fr", PARIS) == "lundi 7 décembre à 08:30"
    assert cats.moment(winter, "long", "en", PARIS) == "Monday 7 December at 08:30"
    assert cats.text(Text("raw", {"value": Moment(winter)}), "en", PARIS) == "Mon 7 Dec 08:30"


def test_remembered_dates_follow_the_instant_the_zone_and_the_language():
    """Formatted dates are remembered per process: the same instant written in another
    zone reads the same, another practice zone or language does not."""
    cats = Catalogs()
    at = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    same_instant = at.astimezone(ZoneInfo("America/New_York"))
    for _ in range(2):  # the second round is answered from what was remembered
        assert cats.moment(at, "slot", "fr", PARIS) == "lun. 7 déc. 08:30"
        assert cats.moment(same_instant, "slot", "fr", PARIS) == "lun. 7 déc. 08:30"
        assert cats.moment(at, "slot", "fr", ZoneInfo("Indian/Reunion")) == "lun. 7 déc. 11:30"
        assert cats.moment(at, "slot", "en", PARIS) == "Mon 7 Dec 08:30"
        assert cats.moment(at + timedelta(days=1), "slot", "fr", PARIS) == "mar. 8 déc. 08:30"

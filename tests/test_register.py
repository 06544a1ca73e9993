"""The processing register (Art. 30) and the full notice (Art. 13), in French and English."""

from __future__ import annotations

import dataclasses

import pytest

from bot.practice_file import load_practice
from channels.register import full_notice, register_text
from channels.settings import Settings
from tests.conftest import EXAMPLE, env_for

PRACTICE = load_practice(EXAMPLE)

REGISTER_ITEMS = {
    "fr": [
        "Responsable de traitement",
        "Sous-traitant",
        "Finalités",
        "Base légale",
        "Personnes concernées",
        "Catégories de données",
        "Destinataires",
        "Sous-traitants ultérieurs",
        "Transferts hors de l'Union européenne",
        "Durées de conservation",
        "Mesures de sécurité",
        "index aveugle",
    ],
    "en": [
        "Controller",
        "Processor",
        "Purposes",
        "Legal basis",
        "Data subjects",
        "Categories of data",
        "Recipients",
        "Sub-processors",
        "Transfers outside the European Union",
        "Retention",
        "Security measures",
        "blind index",
    ],
}
NOTICE_ITEMS = {
    "fr": [
        "Responsable de traitement",
        "Contact pour exercer vos droits",
        "DPO",
        "Finalités",
        "Base légale",
        "Destinataires",
        "Transferts",
        "Durées de conservation",
        "accès",
        "rectification",
        "effacement",
        "limitation",
        "opposer",
        "portabilité",
        "CNIL",
        "Caractère obligatoire",
        "Décision automatisée",
        "MES DONNEES",
        "SUPPRIMER",
        "STOP",
    ],
    "en": [
        "Controller",
        "Contact to exercise your rights",
        "DPO",
        "Purposes",
        "Legal basis",
        "Recipients",
        "Transfers",
        "Retention",
        "access",
        "rectification",
        "erasure",
        "restriction",
        "object",
        "portability",
        "CNIL",
        "Whether the data is required",
        "Automated decisions",
        "MY DATA",
        "DELETE",
        "STOP",
    ],
}
COMMON = [
    "Art. 6(1)(b)",
    "Art. 6(1)(e)",
    "Art. 9(2)(h)",
    "Dr Anne Roux, 3 rue des Lilas",
    "cabinet@example.org",
    "30",
    "365",
]


@pytest.fixture
def plain(tmp_path) -> Settings:
    return Settings.from_env(env_for(tmp_path))


@pytest.fixture
def both(tmp_path) -> Settings:
    return Settings.from_env(
        env_for(
            tmp_path, TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="x", TELEGRAM_BOT_TOKEN="1:abc"
        )
    )


def _norm(text: str) -> str:
    return text.replace("art. ", "Art. ")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_register_has_every_item(lang, both):
    text = _norm(register_text(PRACTICE, both, lang))
    for item in [
        *REGISTER_ITEMS[lang],
        *COMMON,
        "AES-256-GCM",
        "HMAC",
        "rotation",
        "HDS",
        "Twilio",
        "Telegram",
        PRACTICE.ctype("ecg").label_for(lang),
        "dpo@example.org",
    ]:
        assert item in text, item
    assert PRACTICE.ctype("consultation").label_for("fr") not in text  # no preparation there


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_notice_has_every_article_13_item(lang, both):
    text = _norm(full_notice(PRACTICE, both, lang))
    for item in [
        *NOTICE_ITEMS[lang],
        *COMMON,
        "dpo@example.org",
        PRACTICE.privacy_notice_url,
        PRACTICE.notice_version,
        "Twilio",
        "Telegram",
    ]:
        assert item in text, item


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_only_configured_subprocessors_are_named(lang, plain):
    for text in (register_text(PRACTICE, plain, lang), full_notice(PRACTICE, plain, lang)):
        assert "Twilio" not in text and "Telegram FZ" not in text
        assert "sqlite" in text or "HDS" in text


def test_no_dpo_and_no_preparation(plain):
    bare = dataclasses.replace(
        PRACTICE,
        dpo="",
        consultation_types=tuple(
            t for t in PRACTICE.consultation_types if not t.requires_preparation
        ),
    )
    fr, en = full_notice(bare, plain, "fr"), register_text(bare, plain, "en")
    assert "aucun désigné" in fr and "no reason for the visit is asked" in en
    assert "preparation answer: until" not in en

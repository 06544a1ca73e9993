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
        "Auprès du cabinet",
        "DPO",
        "finalités",
        "Base légale",
        "Qui reçoit vos données",
        "Transferts",
        "Combien de temps",
        "accès",
        "rectification",
        "effacement",
        "limitation",
        "opposer",
        "portabilité",
        "CNIL",
        "Est-ce obligatoire",
        "Décision automatisée",
        "MES DONNEES",
        "SUPPRIMER",
        "STOP",
    ],
    "en": [
        "Controller",
        "With the practice",
        "DPO",
        "purposes",
        "Legal basis",
        "Who receives your data",
        "Transfers",
        "How long",
        "access",
        "rectification",
        "erasure",
        "restriction",
        "object",
        "portability",
        "CNIL",
        "Is it required",
        "Automated decisions",
        "MY DATA",
        "DELETE",
        "STOP",
    ],
}
COMMON = [
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


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_register_has_every_item(lang, both):
    text = register_text(PRACTICE, both, lang)
    for item in [
        *REGISTER_ITEMS[lang],
        *COMMON,
        PRACTICE.legal_basis_text(lang),
        PRACTICE.operator.name,
        PRACTICE.operator.contact,
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
    prep_line = next(
        line
        for line in text.splitlines()
        if "preparation question, only" in line or "préparation, seulement" in line
    )
    assert PRACTICE.ctype("ecg").label_for(lang) in prep_line
    assert PRACTICE.ctype("consultation").label_for(lang) not in prep_line  # no question there


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_notice_has_every_article_13_item(lang, both):
    text = full_notice(PRACTICE, both, lang)
    for item in [
        *NOTICE_ITEMS[lang],
        *COMMON,
        PRACTICE.legal_basis_text(lang),
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
    assert "answer to the preparation question" not in en

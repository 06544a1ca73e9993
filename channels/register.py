"""The record of processing (GDPR Art. 30(1)) and the full privacy notice (Art. 13), built
from the practice file and the settings, in French and English.

Both are documents of the processor kit (`channels.kit`, templates in `docs/compliance/`):
`creneau register` prints them, `/confidentialite` serves the notice, `--kit` writes them
with the rest; one wording, wherever it is read.
"""

from __future__ import annotations

from bot.practice import Practice
from channels import kit
from channels.settings import Settings

LANGS = kit.LANGS


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def register_text(practice: Practice, settings: Settings, lang: str) -> str:
    """The practice's register entry (Art. 30(1)), naming the processor and sub-processors."""
    return kit.render_markdown("registre-traitement", _lang(lang), practice, settings)


def full_notice(practice: Practice, settings: Settings, lang: str) -> str:
    """The full Art. 13 notice for patients (every item of the article)."""
    return kit.render_markdown("information-patients", _lang(lang), practice, settings)


ALTERNATES = {
    "fr": ("/privacy", "en", "English version"),
    "en": ("/confidentialite", "fr", "Version française"),
}


def notice_page(practice: Practice, settings: Settings, lang: str) -> str:
    """The full notice as an HTML page, readable on a phone, linking its other language."""
    lang = _lang(lang)
    return kit.render_html(
        "information-patients", lang, practice, settings, alternate=ALTERNATES[lang]
    )

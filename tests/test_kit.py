"""The processor kit: `creneau register --kit DIR` writes every document, each stating the
practice file's own values (not only the right headings), the sub-processors actually
configured and one legal basis; the HTML keeps a practice file's markup as text."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.practice import LEGAL_BASIS_TEXT
from bot.practice_file import load_practice
from channels import kit
from channels.cli import data as cli_data
from channels.settings import Settings
from tests.conftest import EXAMPLE, env_for

# Values no template could contain by chance: each must come from the practice file.
VALUES = {
    "name": "Cabinet Quinconce & Fils",
    "controller": "Dr Zoé Quinconce, 7 impasse Vérif, 13001 Marseille",
    "contact": "rgpd@quinconce.example",
    "dpo": "dpo-quinconce@example.org",
    "operator": "Opérateur Vérifiable SARL",
    "operator_address": "99 quai Témoin, 33000 Bordeaux",
    "operator_contact": "contact@operateur-verif.example",
    "host": "Hébergeur Témoin (offre HDS, Roubaix)",
    "days": 42,
}
TWILIO = "Twilio Inc."
TELEGRAM = "Telegram"


def practice_file(tmp_path: Path, basis: str = "contract", operator: bool = True) -> Path:
    """The example practice file with the VALUES above (and the chosen legal basis)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    swaps = {
        'name = "Cabinet des Lilas"': f'name = "{VALUES["name"]}"',
        'controller = "Dr Anne Roux, 3 rue des Lilas, 69003 Lyon"': (
            f'controller = "{VALUES["controller"]}"'
        ),
        'contact = "cabinet@example.org"': f'contact = "{VALUES["contact"]}"',
        'dpo = "dpo@example.org"': f'dpo = "{VALUES["dpo"]}"',
        "retention_days = 30": f"retention_days = {VALUES['days']}",
        'legal_basis = "public_interest"': f'legal_basis = "{basis}"',
        'name = "Exemple Services SAS"': f'name = "{VALUES["operator"]}"',
        'address = "10 rue de l\'Exemple, 69001 Lyon"': (
            f'address = "{VALUES["operator_address"]}"'
        ),
        'contact = "support@exemple-services.example"': (
            f'contact = "{VALUES["operator_contact"]}"'
        ),
        'host = "Exemple Hébergement SAS, Lyon (offre HDS)"': f'host = "{VALUES["host"]}"',
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    if not operator:
        text = re.sub(r"\[operator\].*?\n\n", "", text, flags=re.S)
    path = tmp_path / "practice.toml"
    path.write_text(text, encoding="utf-8")
    return path


def settings_for(tmp_path: Path, practice: Path, sms: bool, telegram: bool) -> Settings:
    extra = {"CRENEAU_PRACTICE": str(practice)}
    if sms:
        extra |= {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x"}
    if telegram:
        extra |= {"TELEGRAM_BOT_TOKEN": "1:abc"}
    return Settings.from_env(env_for(tmp_path, **extra))


def html_text(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def run_kit(tmp_path: Path, settings_env: dict[str, str], out: Path) -> CliRunner:
    @click.group()
    def root() -> None:
        """A stand-in for channels.cli.main."""

    cli_data.attach(root)
    result = CliRunner().invoke(root, ["register", "--kit", str(out)], env=settings_env)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(("sms", "telegram"), [(True, True), (False, False), (True, False)])
def test_register_kit_writes_every_document_with_the_practice_values(tmp_path, sms, telegram):
    path = practice_file(tmp_path)
    env = env_for(tmp_path, CRENEAU_PRACTICE=str(path))
    if sms:
        env |= {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x"}
    if telegram:
        env |= {"TELEGRAM_BOT_TOKEN": "1:abc"}
    out = tmp_path / "kit"
    run_kit(tmp_path, env, out)
    expected = {
        f"{d.name}.{lang}.{ext}"
        for d in (*kit.DOCUMENTS, kit.INDEX)
        for lang in d.langs
        for ext in ("md", "html")
    }
    assert {p.name for p in out.iterdir()} == expected
    practice = load_practice(path)
    for doc in kit.DOCUMENTS:
        for lang in doc.langs:
            md = (out / f"{doc.name}.{lang}.md").read_text(encoding="utf-8")
            page = (out / f"{doc.name}.{lang}.html").read_text(encoding="utf-8")
            for text in (md, html_text(page)):
                where = f"{doc.name}.{lang}"
                for key in ("name", "controller", "operator", "host"):
                    assert VALUES[key] in text, (where, key)
                assert f"{VALUES['days']} " in text, where
                assert practice.legal_basis_text(lang) in text, where
                assert (TWILIO in text) == sms, where
                assert (TELEGRAM in text) == telegram, where
            assert page.startswith("<!doctype html>") and f'<html lang="{lang}">' in page


def test_the_notice_and_registers_name_everyone_with_contacts(tmp_path):
    path = practice_file(tmp_path)
    settings = settings_for(tmp_path, path, sms=True, telegram=True)
    practice = load_practice(path)
    for name, lang in [
        ("information-patients", "fr"),
        ("information-patients", "en"),
        ("registre-traitement", "fr"),
        ("registre-traitement", "en"),
        ("registre-sous-traitant", "fr"),
        ("accord-sous-traitance", "fr"),
    ]:
        text = kit.render_markdown(name, lang, practice, settings)
        for key in ("contact", "dpo", "operator_address", "operator_contact"):
            assert VALUES[key] in text, (name, lang, key)


@pytest.mark.parametrize("basis", ["contract", "public_interest", "legitimate_interest", ""])
def test_one_legal_basis_everywhere(tmp_path, basis):
    """Every document prints the practice's one basis in the same words, and no other."""
    practice = load_practice(practice_file(tmp_path, basis=basis))
    settings = settings_for(tmp_path, EXAMPLE, sms=True, telegram=True)
    others = {
        lang: [t for key, t in LEGAL_BASIS_TEXT[lang].items() if key != basis]
        for lang in LEGAL_BASIS_TEXT
    }
    for doc in kit.DOCUMENTS:
        for lang in doc.langs:
            text = kit.render_markdown(doc.name, lang, practice, settings)
            assert practice.legal_basis_text(lang) in text, doc.name
            for other in others[lang]:
                assert other not in text, (doc.name, other)
            for article in ("6(1)(b)", "6.1.b", "6(1)(e)", "6.1.e", "6(1)(f)", "6.1.f"):
                if article not in practice.legal_basis_text(lang):
                    assert article not in text, (doc.name, article)


def test_missing_values_are_visible_blanks(tmp_path):
    """Without [operator], the documents say what is to be filled in, never a made-up name."""
    practice = load_practice(practice_file(tmp_path, basis="", operator=False))
    settings = settings_for(tmp_path, EXAMPLE, sms=False, telegram=False)
    agreement = kit.render_markdown("accord-sous-traitance", "fr", practice, settings)
    assert "[à compléter : nom de l'exploitant]" in agreement
    assert "[à compléter : hébergeur certifié HDS" in agreement
    assert "à préciser par le cabinet" in agreement
    assert "le fichier du cabinet ne la précise pas encore" in agreement
    notice = kit.render_markdown("information-patients", "en", practice, settings)
    assert "no message leaves the host" in notice and "Twilio" not in notice


def test_html_keeps_the_practice_files_markup_as_text(tmp_path):
    practice = load_practice(practice_file(tmp_path))
    hostile = dataclasses.replace(
        practice, name="Cabinet <script>alert(1)</script>", controller="Dr O'Neil & Fils"
    )
    settings = settings_for(tmp_path, EXAMPLE, sms=True, telegram=False)
    for doc in kit.DOCUMENTS:
        for lang in doc.langs:
            page = kit.render_html(doc.name, lang, hostile, settings)
            assert "<script>" not in page and "&lt;script&gt;" in page
            assert "&amp;amp;" not in page and "&amp;#" not in page  # escaped once
            assert "Dr O'Neil &amp; Fils" in page


def test_preparation_types_are_named_with_their_question(tmp_path):
    """The documents name the types that ask a question, with the question itself."""
    practice = load_practice(EXAMPLE)
    settings = settings_for(tmp_path, EXAMPLE, sms=True, telegram=True)
    ecg = practice.ctype("ecg")
    for lang in ("fr", "en"):
        notice = kit.render_markdown("information-patients", lang, practice, settings)
        assert ecg.preparation_question and ecg.preparation_question[lang] in notice
        assert ecg.label_for(lang) in notice
    guide = kit.render_markdown("guide-cabinet", "fr", practice, settings)
    for t in practice.consultation_types:
        prep = "oui" if t.requires_preparation else "non"
        assert f"| `{t.id}` | {t.label_for('fr')} | {prep} |" in guide

"""The kit's commands and page: the notice at /confidentialite and /privacy, breach-report
with a discovery time (deadline, CNIL facts, drafts with the counts), wipe after a fresh
export only; and the practice guide's account of bookings for someone else."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import click
import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import select

from channels.cli import data as cli_data
from channels.web import create_app
from store.models import AuditEvent, Patient, utcnow
from tests.conftest import env_for

PHONE, NAME, PREP = "+33612345678", "Héloïse Vasseur-Quintal", "Kardegic soixante-quinze"
CHAT, NAME_T = "987654321", "Télégram Utilisateur"
SECRETS = [PHONE, "612345678", NAME, PREP, CHAT, NAME_T, "Kardegic"]


@pytest.fixture
def cli(runtime, tmp_path):
    @click.group()
    def root() -> None:
        """A stand-in for channels.cli.main."""

    cli_data.attach(root)
    env = env_for(
        tmp_path,
        CRENEAU_DATA_KEYS=runtime.settings.data_keys,
        CRENEAU_INDEX_KEY=runtime.settings.index_key,
        CRENEAU_OPERATOR="alice",
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="x",
    )

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(root, list(args), env=env, input=input)

    return run


@pytest.fixture
def seeded(patient, runtime, clock):
    with time_machine.travel(clock.now, tick=False):
        p = patient(PHONE, channel="sms")
        for text in ("RDV", "2", "1", NAME, PREP, "1"):
            p.send(text)
        t = patient(CHAT, channel="telegram")
        for text in ("RDV", "1", "1", NAME_T, "1"):
            t.send(text)
    return runtime


def actions(runtime) -> list[str]:
    with runtime.db.read() as s:
        return [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.at))]


# ---------------------------------------------------------------- the notice page


@pytest.mark.parametrize(
    ("path", "lang", "heading", "other"),
    [
        ("/confidentialite", "fr", "Vos droits", "/privacy"),
        ("/privacy", "en", "Your rights", "/confidentialite"),
    ],
)
def test_the_notice_page_is_the_full_notice(runtime, path, lang, heading, other):
    client = create_app(runtime).test_client()
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Language"] == lang
    page = response.get_data(as_text=True)
    practice = runtime.practice
    assert f'<html lang="{lang}">' in page and 'name="viewport"' in page
    for value in (
        heading,
        practice.controller,
        practice.contact,
        practice.legal_basis_text(lang),
        practice.operator.name,
        practice.notice_version,
        f'href="{other}"',
    ):
        assert value in html.unescape(page), value
    assert client.post(path).status_code == 405


# ---------------------------------------------------------------- breach report


def test_breach_report_with_a_discovery_time_prints_the_deadline_and_drafts(seeded, cli):
    res = cli("breach-report", "--discovered", "2026-12-01T09:00")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "mardi 1 décembre 2026 à 09:00 (Europe/Paris)" in out
    assert (
        "échéance de notification à la CNIL (72 heures) : **vendredi 4 décembre 2026 à 09:00" in out
    )
    # the counts, in the CNIL facts and in both drafts
    assert out.count("2 patients (1 par SMS, 1 par Telegram)") == 3  # facts, drafts
    assert out.count("2 rendez-vous (date, heure, praticien, type de consultation), dont 1 ") == 2
    assert "réponses enregistrées aux messages reçus" in out and "journal d'audit" in out
    assert "Twilio (États-Unis)" in out and "1 patients par SMS" in out
    assert "À envoyer à 2 patients" in out
    assert "notification d'une violation de données personnelles par le sous-traitant" in out
    assert "Exemple Services SAS" in out and "support@exemple-services.example" in out
    assert "prévenir les 2 patients" in out
    for secret in SECRETS:
        assert secret not in out
    assert actions(seeded).count("breach_report") == 1


def test_breach_deadline_is_72_elapsed_hours_across_a_dst_change(seeded, cli):
    # Summer time starts on Sunday 28 March 2027 in Paris: 72 h after Friday 09:00 is 10:00.
    res = cli("breach-report", "--discovered", "2027-03-26T09:00", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["discovered"] == "2027-03-26T09:00:00+01:00"
    assert report["notify_cnil_by"] == "2027-03-29T10:00:00+02:00"


def test_breach_report_counts_stored_replies_and_audit_events(seeded, cli, clock):
    with time_machine.travel(clock.now, tick=False):
        assert cli("audit").exit_code == 0  # one audit event in the period
    res = cli("breach-report", "--from", "2026-12-01", "--to", "2026-12-03", "--json")
    report = json.loads(res.output)
    assert report["stored_replies"] == 11  # one per message the two patients sent
    assert report["audit_events"] == 1
    assert any("audit log" in c for c in report["data_categories"])
    assert any("replies given" in c for c in report["data_categories"])


def test_breach_report_needs_a_period_or_a_discovery(seeded, cli):
    assert cli("breach-report").exit_code == 2
    assert cli("breach-report", "--from", "2026-12-01").exit_code == 2
    assert cli("breach-report", "--discovered", "hier").exit_code == 2


# ---------------------------------------------------------------- wipe


def patients(runtime) -> int:
    with runtime.db.read() as s:
        return len(s.exec(select(Patient)).all())


def test_wipe_refuses_without_a_fresh_export(seeded, cli, tmp_path):
    res = cli("wipe", "--confirm", "Cabinet des Lilas")
    assert res.exit_code == 1 and "no export-all in the last 24 hours" in res.output
    assert patients(seeded) == 2
    with time_machine.travel(utcnow() - timedelta(days=2), tick=False):
        assert cli("export-all", str(tmp_path / "old.zip")).exit_code == 0
    res = cli("wipe", "--confirm", "Cabinet des Lilas")
    assert res.exit_code == 1 and patients(seeded) == 2  # a two-day-old export is not enough
    assert cli("export-all", str(tmp_path / "all.zip")).exit_code == 0
    res = cli("wipe", "--confirm", "Cabinet des Lilas")
    assert res.exit_code == 0, res.output
    assert patients(seeded) == 0 and actions(seeded) == ["wipe"]


def test_wipe_with_force_deletes_and_says_so(seeded, cli):
    res = cli("wipe", "--force", "--confirm", "Cabinet des Lilas")
    assert res.exit_code == 0, res.output
    assert patients(seeded) == 0
    assert actions(seeded) == ["wipe", "wipe_without_export"]
    assert "wipe_without_export" in res.output


# ---------------------------------------------------------------- the guide's account


def test_the_name_is_asked_once_per_phone_as_the_guide_says(patient, runtime):
    """The practice guide says: one phone, one name, asked at the first booking only; a
    second booking (for someone else) does not ask again but its confirmation question
    recalls the name; MES DONNEES corrects it."""
    from channels import kit

    guide = kit.render_markdown("guide-cabinet", "fr", runtime.practice, runtime.settings)
    assert "Le nom est demandé une seule fois" in guide
    assert "la question de confirmation rappelle le nom enregistré" in guide
    p = patient(PHONE, channel="sms")
    first = [p.send(t) for t in ("RDV", "1", "1")]
    assert "nom" in first[-1].lower()
    p.send("Paul Martin")
    p.send("1")
    second = [p.send(t) for t in ("RDV", "1", "2")]
    assert not any("quel nom" in r.lower() for r in second)
    assert "au nom de Paul Martin ?" in second[-1]  # the question recalls the name held
    assert "Paul Martin" not in p.send("1")  # the confirmation left on the phone names no one
    data = p.send("MES DONNEES")
    assert "Paul Martin" in data and "nom" in data.lower()

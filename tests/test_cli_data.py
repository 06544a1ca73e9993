"""The data-lifecycle commands, end to end through click, with their audit events."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import click
import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import select

from channels.cli import data as cli_data
from store.crypto import generate_key
from store.models import Appointment, AuditEvent, Patient
from tests.conftest import env_for

PHONE, NAME, PREP = "+33612345678", "Héloïse Vasseur-Quintal", "Kardegic soixante-quinze"
CHAT, NAME_T = "987654321", "Télégram Utilisateur"
SECRETS = [PHONE, "612345678", NAME, PREP, CHAT, NAME_T, "Kardegic"]


@pytest.fixture
def cli(runtime, tmp_path):
    """Run a command as `creneau ...` would, on the runtime's database and keys."""

    @click.group()
    def root() -> None:
        """A stand-in for channels.cli.main."""

    cli_data.attach(root)
    env = env_for(
        tmp_path,
        CRENEAU_DATA_KEYS=runtime.settings.data_keys,
        CRENEAU_INDEX_KEY=runtime.settings.index_key,
        LOGNAME="desk",
        USER="desk",
    )

    def run(*args: str, input: str | None = None, extra: dict[str, str] | None = None):
        return CliRunner().invoke(root, list(args), env={**env, **(extra or {})}, input=input)

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


def audit_events(runtime) -> list[AuditEvent]:
    with runtime.db.read() as s:
        return list(s.exec(select(AuditEvent).order_by(AuditEvent.at)))


def assert_no_personal_data(runtime) -> None:
    for e in audit_events(runtime):
        text = " ".join(filter(None, [e.actor, e.action, e.subject, e.detail]))
        for secret in SECRETS:
            assert secret not in text


def test_patient_export_to_stdout_and_file(seeded, cli, tmp_path):
    res = cli("patient", "export", "--phone", "06 12 34 56 78")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["patient"]["name"] == NAME and data["appointments"][0]["prep"] == PREP
    out = tmp_path / "p.json"
    res = cli("patient", "export", "--telegram", CHAT, "--out", str(out))
    assert res.exit_code == 0 and json.loads(out.read_text())["patient"]["name"] == NAME_T
    assert out.stat().st_mode & 0o077 == 0
    events = [e for e in audit_events(seeded) if e.action == "patient_export"]
    assert len(events) == 2 and {e.actor for e in events} == {"cli:desk"}
    assert all(e.subject and len(e.subject) == 32 for e in events)  # pseudonymous id
    assert_no_personal_data(seeded)


def test_patient_lookup_errors_echo_no_value(seeded, cli):
    res = cli("patient", "export", "--phone", "+33600000000")
    assert res.exit_code == 1 and "no patient" in res.output and "600000000" not in res.output
    res = cli("patient", "export", "--phone", "not-a-number")
    assert res.exit_code == 2 and "not-a-number" not in res.output
    res = cli("patient", "export", "--phone", PHONE, "--telegram", CHAT)
    assert res.exit_code == 2
    assert [e.detail for e in audit_events(seeded) if e.action == "patient_lookup"] == ["not found"]


def test_patient_erase_asks_then_erases(seeded, cli):
    res = cli("patient", "erase", "--phone", PHONE, input="n\n")
    assert res.exit_code == 1 and "Aborted" in res.output
    with seeded.db.read() as s:
        assert len(s.exec(select(Patient)).all()) == 2
    res = cli("patient", "erase", "--phone", PHONE, input="y\n")
    assert res.exit_code == 0, res.output
    assert "cancelled=1" in res.output
    res = cli("patient", "erase", "--telegram", CHAT, "--yes")
    assert res.exit_code == 0, res.output
    with seeded.db.read() as s:
        assert s.exec(select(Patient)).all() == []
        assert all(a.patient_id is None and a.prep_enc is None for a in s.exec(select(Appointment)))
    erasures = [e for e in audit_events(seeded) if e.action == "erasure"]
    assert len(erasures) == 2 and {e.actor for e in erasures} == {"cli:desk"}
    assert_no_personal_data(seeded)


def test_purge_dry_run_then_real(seeded, cli, clock):
    with time_machine.travel(clock.now + timedelta(days=45), tick=False):
        res = cli("purge", "--dry-run")
        assert res.exit_code == 0 and "Would delete" in res.output
        assert "appointments: 2" in res.output and "patients: 2" in res.output
        with seeded.db.read() as s:
            assert len(s.exec(select(Patient)).all()) == 2
        res = cli("purge")
    assert res.exit_code == 0 and "patients: 2" in res.output
    with seeded.db.read() as s:
        assert s.exec(select(Patient)).all() == []
    events = [e for e in audit_events(seeded) if e.action == "purge"]
    assert len(events) == 1 and events[0].actor == "cli:desk"


def test_keys_rotate_reports_counts_and_failures(seeded, cli):
    ring = f"n:{generate_key()},{seeded.settings.data_keys}"
    res = cli("keys", "rotate", "--batch-size", "2", extra={"CRENEAU_DATA_KEYS": ring})
    assert res.exit_code == 0, res.output
    assert "primary key: n" in res.output and "failed: 0" in res.output
    assert "patient.name: 2" in res.output and "older keys can be removed" in res.output
    with seeded.db.write() as s:
        p = s.exec(select(Patient)).first()
        p.name_enc = p.name_enc[:-1] + bytes([p.name_enc[-1] ^ 1])
        pid = p.id
    res = cli("keys", "rotate", "--verify", extra={"CRENEAU_DATA_KEYS": ring})
    assert res.exit_code == 1
    assert "failed in patient.name: 1" in res.output
    assert f"e.g. patient.name row {pid}" in res.output
    assert [e.actor for e in audit_events(seeded) if e.action == "key_rotation"] == ["cli:desk"] * 2
    assert_no_personal_data(seeded)


def test_audit_lists_events_and_is_audited(seeded, cli):
    cli("patient", "export", "--phone", PHONE)
    res = cli("audit", "--since", "2000-01-01")
    assert res.exit_code == 0 and "patient_export" in res.output and "cli:desk" in res.output
    assert "audit_read" in [e.action for e in audit_events(seeded)]
    assert cli("audit", "--since", "2999-01-01").output == ""


def test_register_prints_entry_then_notice(seeded, cli):
    res = cli("register", "--lang", "en")
    assert res.exit_code == 0
    assert res.output.index("Record of processing") < res.output.index("How your data")
    assert "Registre des activités" in cli("register").output  # the practice's language


def test_export_all_then_wipe(seeded, cli, tmp_path):
    target = tmp_path / "all.zip"
    res = cli("export-all", str(target))
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(target) as zf:
        names = {p["name"] for p in json.loads(zf.read("patient.json"))}
    assert names == {NAME, NAME_T}
    res = cli("wipe", input="Cabinet des Lilacs\n")
    assert res.exit_code == 1 and "nothing deleted" in res.output
    res = cli("wipe", "--confirm", "Cabinet des Lilas")
    assert res.exit_code == 0, res.output
    assert "patient: 2" in res.output and "Kept: one audit event 'wipe'" in res.output
    events = audit_events(seeded)
    assert [(e.action, e.actor) for e in events] == [("wipe", "cli:desk")]
    assert_no_personal_data(seeded)


def test_breach_report(seeded, cli):
    res = cli("breach-report", "--from", "2026-12-01", "--to", "2026-12-02")
    assert res.exit_code == 0, res.output
    assert "patients: 2" in res.output and "appointments_with_preparation_answer: 1" in res.output
    res = cli("breach-report", "--from", "2026-12-01", "--to", "2026-12-02", "--json")
    assert json.loads(res.output)["patients_by_channel"] == {"sms": 1, "telegram": 1}
    for secret in SECRETS:
        assert secret not in res.output
    assert cli("breach-report", "--from", "2026-12-05", "--to", "2026-12-01").exit_code == 2
    assert [e.action for e in audit_events(seeded)].count("breach_report") == 2


def test_export_all_refuses_to_overwrite_and_fails_on_unreadable_values(seeded, cli, tmp_path):
    target = tmp_path / "all.zip"
    target.write_text("an earlier export")
    res = cli("export-all", str(target))
    assert res.exit_code == 1 and "exists: choose another name, or pass --force" in res.output
    assert target.read_text() == "an earlier export"
    with seeded.db.write() as s:
        p = s.exec(select(Patient)).first()
        p.name_enc = p.name_enc[:-1] + bytes([p.name_enc[-1] ^ 1])
        pid = p.id
    res = cli("export-all", str(target), "--force")
    assert res.exit_code == 1
    assert "failed in patient.name: 1" in res.output and f"patient.name row {pid}" in res.output
    assert "1 value(s) could not be decrypted" in res.output
    with zipfile.ZipFile(target) as zf:  # the rest is handed back all the same
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["unreadable"] == [{"table": "patient", "column": "name", "row_id": pid}]
    assert_no_personal_data(seeded)

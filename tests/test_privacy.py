"""Nothing personal in clear: not in the SQLite file, not in the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

NAMES = ["Héloïse Vasseur-Quintal", "Barnabé Lenormand"]
PHONES = ["+33612345678", "+33798765432"]
PREP = "Kardegic soixante-quinze milligrammes"


def _book(patient, sender: str, name: str, ecg: bool, channel: str) -> None:
    p = patient(sender, channel=channel)
    for text in ("RDV", "2" if ecg else "1", "1", name):
        p.send(text)
    if ecg:
        p.send(PREP)
    assert "RDV confirm" in p.send("1")


@pytest.fixture
def seeded(patient, caplog):
    caplog.set_level(logging.DEBUG)
    _book(patient, PHONES[0], NAMES[0], ecg=True, channel="sms")
    _book(patient, PHONES[1], NAMES[1], ecg=False, channel="sms")
    _book(patient, "987654321", "Télégram Utilisateur", ecg=False, channel="telegram")
    return caplog


def _database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("creneau.sqlite3*"))


def _forms(value: str) -> list[bytes]:
    forms = {
        value,
        value.lower(),
        value.upper(),
        value.removeprefix("+33").lstrip("0"),
        "0" + value.removeprefix("+33") if value.startswith("+33") else value,
    }
    out = []
    for f in forms:
        out += [f.encode("utf-8"), f.encode("utf-16-le")]
    return out


@pytest.mark.sqlite_only
def test_sqlite_file_holds_no_personal_value_in_clear(seeded, runtime, tmp_path):
    runtime.db.dispose()  # flush WAL pages to the files we scan
    data = _database_bytes(tmp_path)
    assert len(data) > 10_000
    for value in [*NAMES, *PHONES, PREP, "987654321", "Utilisateur", "Kardegic"]:
        for form in _forms(value):
            assert form not in data, f"{value!r} found in clear in the database file"


def test_logs_hold_no_personal_value(seeded):
    text = "\n".join(r.getMessage() + str(r.args) for r in seeded.records)
    for value in [*NAMES, *PHONES, PREP, "987654321", "Kardegic", "Paul"]:
        assert value not in text


def test_ciphertext_moved_to_another_row_does_not_decrypt(seeded, runtime):
    from sqlmodel import select

    from store.crypto import CryptoError
    from store.models import Patient

    with runtime.db.read() as s:
        a, b = s.exec(select(Patient).where(Patient.channel == "sms")).all()  # no row order on PG
    with pytest.raises(CryptoError):
        runtime.vault.open("patient", "name", b.id, a.name_enc)
    assert runtime.vault.open("patient", "name", a.id, a.name_enc) in NAMES

"""Key rotation: batch by batch, resumable, tamper-evident; the old key can go afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import select

from store import lifecycle
from store.crypto import CryptoError, KeyRing, aad, generate_key
from store.models import AuditEvent, Patient
from store.rotation import count_sealed, rotate, sealed_cells
from store.service import Assistant
from store.vault import Vault

NAMES = ["Alice Martin", "Bruno Petit", "Chloé Durand", "Denis Moreau"]


class Interrupted(Exception):
    """Raised by a progress callback to stop a rotation after one batch."""


@pytest.fixture
def seeded(patient, runtime):
    for n, name in enumerate(NAMES):
        p = patient(f"+3361234567{n}", channel="sms")
        for text in ("RDV", "2" if n == 0 else "1", str(n + 1), name):
            p.send(text)
        if n == 0:
            p.send("Kardegic")
        assert "RDV confirm" in p.send("1")
    return runtime


def ring_vault(runtime, setting: str) -> Vault:
    return Vault(KeyRing.from_setting(setting), runtime.vault.index)


@pytest.fixture
def ring_b(runtime):
    """B first (encrypts), then the test's key A (still decrypts)."""
    b = f"b:{generate_key()}"
    return b, ring_vault(runtime, f"{b},{runtime.settings.data_keys}")


def cells(runtime) -> list[tuple[str, str, str, bytes]]:
    """Every ciphertext: (table, column, row id, token)."""
    out = []
    with runtime.db.read() as s:
        for cell in sealed_cells():
            query = sa_select(cell.table.c.id, cell.column).where(cell.column.is_not(None))
            out += [(cell.table.name, cell.name, rid, tok) for rid, tok in s.execute(query)]
    return out


def test_sealed_cells_match_how_the_code_seals():
    assert {c.label for c in sealed_cells()} >= {
        "patient.address",
        "patient.name",
        "appointment.prep",
        "patient.conversation",
        "processed_message.reply",
        "outbox.address",
        "outbox.payload",
    }


def test_rotate_interrupted_resumed_then_old_key_removed(seeded, ring_b):
    b, vault = ring_b
    before = cells(seeded)
    total = len(before)
    assert total == count_sealed(seeded.db) > 20
    # replies kept by provider-id records, paged by their (composite) message key
    assert sum(table == "processed_message" for table, *_ in before) > 2 * 3
    assert {k for *_, tok in before for k in [vault.ring.key_id(tok)]} == {"t1"}

    def stop(n: int) -> None:
        raise Interrupted()

    with pytest.raises(Interrupted):
        rotate(seeded.db, vault, batch_size=3, progress=stop)
    done = [c for c in cells(seeded) if vault.ring.is_current(c[3])]
    assert len(done) == 3  # the first batch is committed, the rest untouched

    seen: list[int] = []
    result = rotate(seeded.db, vault, batch_size=3, progress=seen.append)
    assert result["rotated"] == total - 3 and result["current"] == 3
    assert result["failed"] == 0 and sum(seen) == total
    assert rotate(seeded.db, vault, batch_size=5)["rotated"] == 0  # idempotent

    only_b = ring_vault(seeded, b)
    for table, column, rid, tok in cells(seeded):
        assert only_b.ring.key_id(tok) == "b"
        only_b.ring.decrypt(tok, aad(table, column, rid))  # everything reads under B alone
    with seeded.db.read() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "key_rotation")).all()
    assert len(events) == 2 and "rotated=" in events[0].detail

    assistant = Assistant(
        seeded.db, seeded.practice, only_b, seeded.catalogs, clock=seeded.assistant.clock
    )
    from tests.conftest import Patient as Talker

    out = Talker(assistant, "+33612345670", "sms").send("MES DONNEES")
    assert NAMES[0] in out and "+33612345670" in out


def _tamper(runtime, pid: str) -> bytes:
    """Flip the last byte of a patient's name ciphertext in the database."""
    with runtime.db.write() as s:
        token = s.get(Patient, pid).name_enc
        bad = token[:-1] + bytes([token[-1] ^ 1])
        s.exec(update(Patient).where(Patient.id == pid).values(name_enc=bad))
    return bad


def test_tampered_ciphertext_is_reported_and_never_returned(seeded, ring_b):
    _, vault = ring_b
    with seeded.db.read() as s:
        victim = s.exec(select(Patient)).first()
    bad = _tamper(seeded, victim.id)
    result = rotate(seeded.db, vault, batch_size=3)
    assert result["failures"] == [
        {
            "table": "patient",
            "column": "name",
            "row_id": victim.id,
            "reason": "ciphertext failed authentication (tampered or moved)",
        }
    ]
    assert result["rotated"] == count_sealed(seeded.db) - 1
    with seeded.db.read() as s:
        row = s.get(Patient, victim.id)
        assert row.name_enc == bad  # left untouched
        data = lifecycle.export_patient(s, vault, seeded.practice, row)
    assert data["patient"]["name"] is None
    assert data["unreadable"] == [f"patient.name:{victim.id}"]
    assert data["patient"]["address"]  # the rest still reads
    with pytest.raises(CryptoError):
        vault.open("patient", "name", victim.id, bad)


def test_verify_authenticates_current_ciphertexts_too(seeded, ring_b):
    _, vault = ring_b
    rotate(seeded.db, vault)
    with seeded.db.read() as s:
        victim = s.exec(select(Patient)).first()
    _tamper(seeded, victim.id)
    assert rotate(seeded.db, vault)["failed"] == 0  # current: skipped without a check
    result = rotate(seeded.db, vault, verify=True)
    assert [(f["table"], f["column"], f["row_id"]) for f in result["failures"]] == [
        ("patient", "name", victim.id)
    ]


def test_unknown_key_is_reported_not_fatal(seeded):
    other = ring_vault(seeded, f"c:{generate_key()}")  # A removed too early
    result = rotate(seeded.db, other)
    assert result["rotated"] == 0 and result["failed"] == count_sealed(seeded.db)
    assert "unknown key id" in result["failures"][0]["reason"]

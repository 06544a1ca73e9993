"""The data lifecycle: export, erasure without a trace, retention purge, end-of-contract
export and wipe."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select

from store import lifecycle
from store.models import (
    Appointment,
    AuditEvent,
    Patient,
    RateLimit,
)
from store.outbox import enqueue
from store.ratelimit import sender_key

PHONE_A, NAME_A = "+33612345678", "Héloïse Vasseur-Quintal"
PHONE_B, NAME_B = "+33798765432", "Barnabé Lenormand"
CHAT_C, NAME_C = "987654321", "Télégram Utilisateur"
PREP = "Kardegic soixante-quinze milligrammes"


def book(
    patient, sender: str, name: str | None, ecg: bool = False, channel: str = "sms", slot: str = "1"
) -> None:
    """One booking through the real dialog (the name is asked at the first booking only)."""
    p = patient(sender, channel=channel)
    for text in ("RDV", "2" if ecg else "1", slot):
        p.send(text)
    if name:
        p.send(name)
    if ecg:
        p.send(PREP)
    assert "RDV confirm" in p.send("1")


def find(runtime, channel: str, raw: str) -> Patient:
    with runtime.db.read() as s:
        found = lifecycle.find_patient(s, runtime.vault, runtime.practice, channel, raw)
    assert found is not None
    return found


def all_rows(runtime) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as column -> value."""
    with runtime.db.read() as s:
        return {
            t.name: [dict(r._mapping) for r in s.execute(sa_select(t))]
            for t in SQLModel.metadata.sorted_tables
        }


@pytest.fixture(autouse=True)
def wall(clock):
    """The wall clock at the test clock (rows' default timestamps use the wall clock)."""
    with time_machine.travel(clock.now, tick=False) as traveller:
        yield traveller


@pytest.fixture
def seeded(patient, runtime):
    book(patient, PHONE_A, NAME_A, ecg=True)
    book(patient, "06 12 34 56 78", None, slot="2")  # same patient, national format
    book(patient, PHONE_B, NAME_B)
    book(patient, CHAT_C, NAME_C, channel="telegram")
    return runtime


# ------------------------------------------------------------------ export


def test_find_patient_uses_the_blind_index(seeded):
    a = find(seeded, "sms", "0612345678")
    assert a.channel == "sms"
    with seeded.db.read() as s:
        assert (
            lifecycle.find_patient(s, seeded.vault, seeded.practice, "sms", "+33600000000") is None
        )
        assert (
            lifecycle.find_patient(s, seeded.vault, seeded.practice, "telegram", CHAT_C) is not None
        )


def test_export_patient_holds_every_field(seeded, clock):
    a = find(seeded, "sms", PHONE_A)
    with seeded.db.write() as s:
        consult_row = s.exec(
            select(Appointment).where(
                Appointment.patient_id == a.id, Appointment.type_id == "consultation"
            )
        ).one()
        seeded.assistant.cancel(s, None, consult_row.id, clock(), by="patient")
    with seeded.db.read() as s:
        data = lifecycle.export_patient(s, seeded.vault, seeded.practice, s.get(Patient, a.id))
    json.dumps(data)  # serialisable
    held = data["patient"]
    for column in Patient.__table__.c:
        assert column.name.removesuffix("_enc") in held, column.name
    assert held["address"] == PHONE_A and held["name"] == NAME_A and held["lang"] == "fr"
    assert held["notice_version"] == seeded.practice.notice_version and held["notice_at"]
    assert held["opted_out"] is False and held["unreachable"] is False
    assert len(data["appointments"]) == 2
    for appt in data["appointments"]:
        for column in Appointment.__table__.c:
            assert column.name.removesuffix("_enc") in appt, column.name
    ecg, consult = sorted(data["appointments"], key=lambda x: x["type_id"] != "ecg")
    assert ecg["prep"] == PREP and ecg["practitioner"] == "Dr Anne Roux"
    assert consult["prep"] is None
    assert {x["status"] for x in data["appointments"]} == {"booked", "cancelled"}
    assert data["conversation"]["present"] is True
    assert data["processed_message_ids"] > 0 and data["unreadable"] == []
    assert NAME_B not in json.dumps(data)


# ------------------------------------------------------------------ erasure


def _traces(runtime, patient: Patient) -> list[bytes | str]:
    """Every value that ties rows or bytes to this patient, as held right now."""
    address = runtime.vault.open("patient", "address", patient.id, patient.address_enc)
    values: list[bytes | str] = [
        patient.id,
        patient.address_index,
        sender_key(runtime.vault, runtime.practice.id, "sms", address),
    ]
    for rows in all_rows(runtime).values():
        for row in rows:
            if patient.id in row.values():
                values += [v for k, v in row.items() if k.endswith("_enc") and v]
    return values


def _file_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("creneau.sqlite3*"))


@pytest.fixture
def insecure(runtime):
    """SQLite builds without SECURE_DELETE by default (Debian's has it on): act like one."""
    from sqlalchemy import event

    if not runtime.db.is_sqlite:
        return runtime

    @event.listens_for(runtime.db.engine, "connect")
    def _off(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

    runtime.db.engine.dispose()
    return runtime


def test_erasure_leaves_no_trace_and_others_untouched(insecure, seeded, clock, tmp_path):
    a = find(seeded, "sms", PHONE_A)
    others = [find(seeded, "sms", PHONE_B), find(seeded, "telegram", CHAT_C)]
    with seeded.db.write() as s:
        key = sender_key(seeded.vault, seeded.practice.id, "sms", PHONE_A)
        s.add(RateLimit(practice_id=seeded.practice.id, key=key, count=3))
    traces = _traces(seeded, a)
    assert len(traces) > 8
    before = all_rows(seeded)
    with seeded.db.write() as s:
        counts = lifecycle.erase(
            s, seeded.vault, seeded.practice, s.get(Patient, a.id), clock(), actor="cli:test"
        )
    lifecycle.compact(seeded.db)
    assert counts == {
        "cancelled": 2,
        "deleted_appointments": 0,
        "rate_limit": 1,
        "withdrawn_summaries": 0,
    }
    after = all_rows(seeded)
    for table, rows in after.items():
        for row in rows:
            for value in row.values():
                assert value not in traces, f"a trace of the erased patient in {table}"
    for other in others:  # untouched, row for row
        for table in ("patient", "appointment", "processed_message"):
            key_col = "id" if table == "patient" else "patient_id"
            was = [r for r in before[table] if r[key_col] == other.id]
            assert was and was == [r for r in after[table] if r[key_col] == other.id]
    seeded.db.dispose()
    data = _file_bytes(tmp_path)  # SQLite only (PostgreSQL: dead tuples go with vacuum)
    assert bool(data) == seeded.db.is_sqlite
    for value in [*traces, NAME_A, PHONE_A, PREP, "612345678"]:
        raw = value if isinstance(value, bytes) else value.encode()
        assert raw not in data, "a trace of the erased patient in the database file"
    assert NAME_B.encode() not in data  # still sealed, but still there:
    with seeded.db.read() as s:
        b = s.get(Patient, others[0].id)
        assert seeded.vault.open("patient", "name", b.id, b.name_enc) == NAME_B


def test_erased_patient_starts_afresh(seeded, patient, clock):
    a = find(seeded, "sms", PHONE_A)
    with seeded.db.write() as s:
        lifecycle.erase(s, seeded.vault, seeded.practice, s.get(Patient, a.id), clock(), "t")
    out = patient(PHONE_A, channel="sms").send("Bonjour")
    assert seeded.practice.privacy_notice_url in out  # unknown again: notice first


# ------------------------------------------------------------------ retention purge


def _expected(rows: dict[str, list[dict[str, Any]]], practice, now) -> dict[str, set[str]]:
    """The ids of every row the policy keeps at `now`, computed independently."""
    cutoff = now - timedelta(days=practice.retention_days)
    appts = {r["id"] for r in rows["appointment"] if r["end"] >= cutoff}
    live = {r["patient_id"] for r in rows["appointment"] if r["id"] in appts}
    return {
        "appointment": appts,
        "patient": {
            r["id"] for r in rows["patient"] if r["last_contact_at"] >= cutoff or r["id"] in live
        },
        "conversation": {  # on the patient's row, dropped after 24 h without a message
            r["id"]
            for r in rows["patient"]
            if r["conversation_enc"] is not None
            and r["conversation_at"] >= now - timedelta(hours=24)
        },
        "processed_message": {  # keyed hashes live as long as patient data may
            r["id"]
            for r in rows["processed_message"]
            if r["created_at"]
            >= now - timedelta(days=practice.horizon_days + practice.retention_days)
        },
        "outbox": {  # sent, or past its use after 48 h whatever its status
            r["id"] for r in rows["outbox"] if r["created_at"] >= now - timedelta(hours=48)
        },
        "reply": {  # a stored reply (and the link to the patient) only for 48 h
            r["id"]
            for r in rows["processed_message"]
            if r["reply_enc"] is not None and r["created_at"] >= now - timedelta(hours=48)
        },
        "audit_event": {
            r["id"]
            for r in rows["audit_event"]
            if r["at"] >= now - timedelta(days=practice.audit_retention_days)
        },
        "prep": {
            r["id"]
            for r in rows["appointment"]
            if r["id"] in appts
            and r["prep_enc"] is not None
            and r["end"] > now
            and r["status"] == "booked"
        },
    }


def _purge_and_check(runtime, now) -> dict[str, int]:
    before = all_rows(runtime)
    expected = _expected(before, runtime.practice, now)
    with runtime.db.write() as s:
        dry = lifecycle.purge(s, runtime.practice, now, dry_run=True)
    assert all_rows(runtime) == before  # a dry run changes nothing
    with runtime.db.write() as s:
        counts = lifecycle.purge(s, runtime.practice, now)
    assert counts == dry
    after = all_rows(runtime)
    for table, ids in expected.items():
        if table == "prep":
            kept = {r["id"] for r in after["appointment"] if r["prep_enc"] is not None}
        elif table == "conversation":
            kept = {r["id"] for r in after["patient"] if r["conversation_enc"] is not None}
        elif table == "reply":
            kept = {r["id"] for r in after["processed_message"] if r["reply_enc"] is not None}
        else:
            kept = {
                r["id"]
                for r in after[table]
                if table != "audit_event" or r["action"] != "purge" or r["at"] < now
            }
            kept &= {r["id"] for r in before[table]}
        assert kept == ids, f"{table}: kept {len(kept)}, policy keeps {len(ids)}"
    return counts


def test_purge_follows_the_policy_over_time(seeded, patient, clock, wall):
    rt, t0 = seeded, clock()
    with rt.db.write() as s:
        s.add(
            AuditEvent(
                practice_id=rt.practice.id,
                actor="system",
                action="old",
                at=t0 - timedelta(days=400),
            )
        )
        for status in ("failed", "pending"):
            row = enqueue(
                s,
                rt.vault,
                practice_id=rt.practice.id,
                channel="telegram",
                address=CHAT_C,
                payload={"k": "v"},
                kind="summary",
            )
            row.status, row.created_at = status, t0
    with rt.db.read() as s:
        ends = sorted(a.end for a in s.exec(select(Appointment)))
        prep_end = s.exec(select(Appointment).where(Appointment.type_id == "ecg")).one().end
    counts = _purge_and_check(rt, t0)
    assert counts["audit_events"] == 1 and sum(counts.values()) == 1

    counts = _purge_and_check(rt, prep_end + timedelta(minutes=1))
    assert counts["preparation_answers"] == 1

    clock.now = t0 + timedelta(hours=25)
    wall.move_to(clock.now)
    talker = patient("555000", channel="telegram")  # contact only, no appointment
    talker.send("Bonjour")
    counts = _purge_and_check(rt, clock.now)
    assert counts["conversations"] == 3 and counts["patients"] == 0

    counts = _purge_and_check(rt, t0 + timedelta(hours=49))
    assert counts["processed_messages"] == 0 and counts["stored_replies"] > 0
    assert counts["failed_messages"] == 1 and counts["unsent_messages"] == 1

    retention = timedelta(days=rt.practice.retention_days)
    assert ends[-1] < clock.now  # every appointment is over before the talker's contact
    counts = _purge_and_check(rt, ends[0] + retention - timedelta(seconds=1))
    assert counts["appointments"] == 0 and counts["patients"] == 0
    counts = _purge_and_check(rt, ends[-1] + retention + timedelta(seconds=1))
    assert counts["appointments"] == len(ends) and counts["patients"] == 3
    counts = _purge_and_check(rt, clock.now + retention - timedelta(seconds=1))
    assert counts["patients"] == 0  # the talker was in touch within the retention period
    counts = _purge_and_check(rt, clock.now + retention + timedelta(seconds=1))
    assert counts["patients"] == 1
    rows = all_rows(rt)
    assert not rows["patient"] and not rows["appointment"]
    assert rows["outbox"] == []
    assert all(
        r["patient_id"] is None and r["reply_enc"] is None for r in rows["processed_message"]
    )
    with rt.db.read() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "purge")).all()
    assert len(events) == 8 and all("=" in e.detail and e.subject is None for e in events)


def test_purge_unlinked_appointments_of_erased_patients(seeded, clock):
    a = find(seeded, "sms", PHONE_A)
    with seeded.db.write() as s:
        lifecycle.erase(s, seeded.vault, seeded.practice, s.get(Patient, a.id), clock(), "t")
    with seeded.db.read() as s:
        unlinked = s.exec(select(Appointment).where(Appointment.patient_id == None)).all()  # noqa: E711
    assert len(unlinked) == 2
    _purge_and_check(seeded, max(x.end for x in unlinked) + timedelta(days=31))
    with seeded.db.read() as s:
        assert not s.exec(select(Appointment)).all()


# ------------------------------------------------------------------ end of contract


def test_export_all_then_wipe(seeded, tmp_path, clock):
    seen: list[int] = []
    target = tmp_path / "export.zip"
    with seeded.db.read() as s:
        total = sum(lifecycle.count_rows(s, seeded.practice).values())
        result = lifecycle.export_all(
            s, seeded.vault, seeded.practice, target, progress=seen.append, now=clock()
        )
    assert sum(seen) == total and result["unreadable"] == []
    assert target.stat().st_mode & 0o077 == 0
    with zipfile.ZipFile(target) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        tables = {t: json.loads(zf.read(f"{t}.json")) for t in manifest["tables"]}
    assert manifest["tables"] == {t: len(rows) for t, rows in tables.items()}
    patients = {p["name"]: p for p in tables["patient"]}
    assert set(patients) == {NAME_A, NAME_B, NAME_C}
    assert patients[NAME_A]["address"] == PHONE_A and patients[NAME_C]["address"] == CHAT_C
    assert PREP in [a["prep"] for a in tables["appointment"]]
    assert all(isinstance(p["conversation"], dict) for p in tables["patient"])
    assert all("address_enc" not in p for p in tables["patient"])

    with seeded.db.write() as s:
        counts = lifecycle.wipe(s, seeded.practice, actor="cli:test")
    assert counts["patient"] == 3 and counts["appointment"] == 4
    rows = all_rows(seeded)
    assert [r["action"] for r in rows["audit_event"]] == ["wipe"]
    assert all(not v for k, v in rows.items() if k != "audit_event")
    assert "patient=3" in rows["audit_event"][0]["detail"]


def test_purge_bookkeeping_rows(runtime, clock):
    """Scheduler claims, link codes, blocks and rate-limit counters do not outlive their use."""
    from store.models import Block, JobClaim, LinkCode, RateLimit

    now, pid = clock(), runtime.practice.id
    old, fresh = now - timedelta(days=40), now - timedelta(hours=1)
    with runtime.db.write() as s:
        for at, key in ((old, "old"), (fresh, "fresh")):
            s.add(JobClaim(practice_id=pid, kind="summary", key=key, claimed_at=at))
            s.add(RateLimit(practice_id=pid, key=key, window_start=at, count=1))
            s.add(
                LinkCode(
                    practice_id=pid,
                    practitioner_id="roux",
                    code_hash=key * 8,
                    expires_at=at + timedelta(hours=24),
                    created_at=at,
                )
            )
            s.add(
                Block(
                    practice_id=pid,
                    practitioner_id="roux",
                    start=at,
                    end=at + timedelta(hours=2),
                    created_at=at,
                )
            )
    with runtime.db.write() as s:
        counts = lifecycle.purge(s, runtime.practice, now)
    assert {k: counts[k] for k in ("job_claims", "rate_limits", "link_codes", "blocks")} == {
        "job_claims": 1,
        "rate_limits": 1,
        "link_codes": 1,
        "blocks": 1,
    }
    with runtime.db.read() as s:
        for model in (JobClaim, RateLimit, LinkCode, Block):
            assert len(s.exec(select(model)).all()) == 1

"""Privacy on every path (issue 10): deleted means unrecoverable, replays never act twice,
only real senders open a record, one bad cell stays one bad cell, inputs are cleaned."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import phonenumbers
import pytest
import time_machine
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlmodel import select

from bot.sanitize import clean_field
from store import lifecycle
from store.address import AddressError, checked, normalise, presumed
from store.crypto import FORMAT, NONCE_BYTES, CryptoError
from store.models import Appointment, AuditEvent, Patient, ProcessedMessage
from store.scheduler import run_daily_purge

NAME, PHONE, PREP = "Héloïse Vasseur-Quintal", "+33612345678", "Kardegic soixante-quinze"
OTHER_NAME, OTHER_PHONE = "Barnabé Lenormand", "+33798765432"


def book(patient, sender: str, name: str, ecg: bool = False, channel: str = "sms"):
    p = patient(sender, channel=channel)
    for text in ("RDV", "2" if ecg else "1", "1", name):
        p.send(text)
    if ecg:
        p.send(PREP)
    assert "RDV confirm" in p.send("1")
    return p


@pytest.fixture(autouse=True)
def wall(clock):
    """Rows' default timestamps follow the test clock."""
    with time_machine.travel(clock.now, tick=False) as traveller:
        yield traveller


# ------------------------------------------------------------------ the key in hand


def data_keys(runtime) -> list[tuple[bytes, bytes]]:
    """(token prefix, raw key) of every data key of the deployment."""
    keys = []
    for item in runtime.settings.data_keys.split(","):
        kid, _, b64 = item.strip().partition(":")
        keys.append((FORMAT + bytes([len(kid)]) + kid.encode(), base64.b64decode(b64)))
    return keys


def recoverable_text(runtime, blob: bytes) -> str:
    """Every ciphertext found in `blob`, decrypted with the deployment's keys, as one text.

    No associated data or length is needed: AES-GCM is CTR mode underneath, so the
    keystream from the key and the nonce reveals whatever follows a token's header. This is
    what anyone holding a copy of the files and the key could read."""
    found = []
    for prefix, key in data_keys(runtime):
        start = blob.find(prefix)
        while start != -1:
            nonce = blob[start + len(prefix) : start + len(prefix) + NONCE_BYTES]
            body = blob[start + len(prefix) + NONCE_BYTES : start + len(prefix) + 4096]
            if len(nonce) == NONCE_BYTES:
                ctr = Cipher(algorithms.AES(key), modes.CTR(nonce + b"\x00\x00\x00\x02"))
                found.append(ctr.encryptor().update(body).decode("utf-8", "replace"))
            start = blob.find(prefix, start + 1)
    return "\n".join(found)


def database_files(tmp_path: Path) -> bytes:
    """The SQLite file, its WAL and its shared-memory index, as they lie on disk."""
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("creneau.sqlite3*")))


def forms(value: str) -> list[str]:
    """A value as it may appear in a decrypted cell: plain, or escaped inside JSON."""
    return [value, json.dumps(value)[1:-1]]


def readable(runtime, tmp_path: Path, value: str) -> bool:
    """Whether `value` can be read, in clear or by decrypting, from the database files."""
    blob = database_files(tmp_path)
    text = recoverable_text(runtime, blob)
    return any(f in text or f.encode() in blob for f in forms(value))


@pytest.mark.sqlite_only
def test_a_chat_erasure_leaves_nothing_readable_even_with_the_key(patient, runtime, tmp_path):
    alice = book(patient, PHONE, NAME, ecg=True)
    book(patient, OTHER_PHONE, OTHER_NAME)
    alice.send("MES DONNEES")  # the name in a stored reply too
    for value in (NAME, PHONE, PREP, OTHER_NAME):
        assert readable(runtime, tmp_path, value), f"the scan cannot find {value!r}: broken?"
    alice.send("SUPPRIMER")
    assert "dernier message" in alice.send("OUI")
    for value in (NAME, PHONE, PREP, "Kardegic"):
        assert not readable(runtime, tmp_path, value), f"{value!r} still readable after erasure"
    assert readable(runtime, tmp_path, OTHER_NAME)  # the other patient is untouched


@pytest.mark.sqlite_only
def test_the_daily_purge_leaves_nothing_readable_even_with_the_key(
    patient, runtime, tmp_path, clock, wall
):
    book(patient, PHONE, NAME, ecg=True)
    assert readable(runtime, tmp_path, NAME) and readable(runtime, tmp_path, PREP)
    with runtime.db.read() as s:
        end = max(a.end for a in s.exec(select(Appointment)))
    clock.now = end + timedelta(days=runtime.practice.retention_days, hours=1)
    wall.move_to(clock.now)
    args = (runtime.db, runtime.vault, runtime.catalogs, runtime.practice, clock.now)
    assert run_daily_purge(*args) is True
    for value in (NAME, PHONE, PREP):
        assert not readable(runtime, tmp_path, value), f"{value!r} still readable after purge"


def test_a_cancellation_drops_the_preparation_answer(patient, runtime):
    alice = book(patient, PHONE, NAME, ecg=True)
    with runtime.db.read() as s:
        assert s.exec(select(Appointment)).one().prep_enc is not None
    alice.send("ANNULER")
    assert "annulé" in alice.send("OUI")
    with runtime.db.read() as s:
        appt = s.exec(select(Appointment)).one()
    assert appt.status == "cancelled" and appt.prep_enc is None


def test_processed_ids_are_kept_as_keyed_hashes(patient, runtime):
    book(patient, PHONE, NAME)
    with runtime.db.read() as s:
        rows = s.exec(select(ProcessedMessage)).all()
    assert rows and all(len(r.external_id) == 64 for r in rows)
    assert all(not r.external_id.startswith("SM") for r in rows)


# ------------------------------------------------------------------ senders


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+33612345678", "+33612345678"),
        ("06 12 34 56 78", "+33612345678"),
        ("0692 12 34 56", "+262692123456"),  # Réunion mobile written in national form
        ("0590 27 12 34", "+590590271234"),  # Guadeloupe
        ("0033612345678", "+33612345678"),
    ],
)
def test_valid_numbers_are_read_like_libphonenumber(raw, expected):
    assert normalise("sms", raw, "FR") == expected


@pytest.mark.parametrize(
    "raw", ["A0612345678", "PHARMACIE", "36111", "+3361", "whatsapp:+33612345678", "", "0000"]
)
def test_alphanumeric_senders_and_short_codes_are_refused(raw):
    with pytest.raises(AddressError):
        normalise("sms", raw, "FR")


def example_numbers() -> list[str]:
    """libphonenumber's example number of every region and number type in E.164 form,
    with each of its neighbours (the last digit changed) that libphonenumber holds valid."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in vars(phonenumbers.PhoneNumberType).values():
            if not isinstance(kind, int):
                continue
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            for digit in "0123456789":
                neighbour = e164[:-1] + digit
                if phonenumbers.is_valid_number(phonenumbers.parse(neighbour)):
                    found.add(neighbour)
    return sorted(found)


def test_a_valid_number_in_e164_form_is_its_own_normal_form():
    """What lets a turn take an E.164 sender as it is and check only a sender it finds no
    row for: over every region's example numbers, libphonenumber's normal form of the
    E.164 string is that string, and the unchecked address is the one a check gives."""
    numbers = example_numbers()
    assert len(numbers) > 5000
    for number in numbers:
        address, verified = presumed("sms", number)
        assert address == number == normalise("sms", number, "FR")
        assert verified is (len(number) < 8)  # very short numbers are checked at once
        checked(number, "FR")  # no AddressError


@pytest.mark.parametrize("raw", ["+33012345678", "+9991234567", "+3312345"])
def test_e164_shaped_numbers_that_are_not_valid_are_refused_when_checked(raw):
    assert presumed("sms", raw) == (raw, False)
    with pytest.raises(AddressError):
        checked(raw, "FR")


@pytest.mark.parametrize("raw", [" 06 12 34 56 78", "0033612345678", "+33 6 12 34 56 78"])
def test_other_forms_are_checked_and_normalised_at_once(raw):
    assert presumed("sms", raw) == ("+33612345678", True)


@pytest.mark.parametrize("raw", ["-100123456", "0", "abc"])
def test_only_private_telegram_chats(raw):
    with pytest.raises(AddressError):
        normalise("telegram", raw)


# ------------------------------------------------------------------ one bad cell


def corrupt(runtime, model, column: str, how: str, where=None) -> str:
    """Flip a byte in, or truncate, one sealed cell; the row id."""
    with runtime.db.write() as s:
        query = select(model) if where is None else select(model).where(where)
        row = s.exec(query).first()
        token = getattr(row, column)
        bad = token[: len(token) // 2] if how == "truncate" else token[:-1] + bytes([token[-1] ^ 1])
        setattr(row, column, bad)
        s.add(row)
        return row.id


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_bad_name_cell_keeps_the_patient_rights(patient, runtime, how):
    alice = book(patient, PHONE, NAME)
    book(patient, OTHER_PHONE, OTHER_NAME)
    with runtime.db.read() as s:
        alice_id = lifecycle.find_patient(s, runtime.vault, runtime.practice, "sms", PHONE).id
    corrupt(runtime, Patient, "name_enc", how, Patient.id == alice_id)
    out = alice.send("MES DONNEES")
    assert "illisible" in out and "Cabinet des Lilas" in out
    assert "plus aucun message" in alice.send("STOP")
    with runtime.db.read() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell")).all()
    assert events and events[0].subject == alice_id and events[0].detail == "patient.name"
    with runtime.db.read() as s:
        other = s.exec(select(Patient).where(Patient.id != alice_id)).one()
        export = lifecycle.export_patient(s, runtime.vault, runtime.practice, other)
    assert export["patient"]["name"] == OTHER_NAME and export["unreadable"] == []


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_bad_conversation_cell_starts_afresh(patient, runtime, how):
    alice = patient(PHONE, channel="sms")
    alice.send("RDV")
    corrupt(runtime, Patient, "conversation_enc", how)
    assert "Que souhaitez-vous faire" in alice.send("MENU")
    with runtime.db.read() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell")).all()
    assert [e.detail for e in events] == ["patient.conversation"]
    assert "Supprimer toutes vos données" in alice.send("SUPPRIMER")
    assert "dernier message" in alice.send("OUI")


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_bad_preparation_cell_is_listed_in_the_export(patient, runtime, how):
    book(patient, PHONE, NAME, ecg=True)
    appt_id = corrupt(runtime, Appointment, "prep_enc", how)
    with runtime.db.write() as s:
        alice = s.exec(select(Patient)).one()
        export = lifecycle.export_patient(s, runtime.vault, runtime.practice, alice)
    assert export["patient"]["name"] == NAME
    assert export["unreadable"] == [f"appointment.prep:{appt_id}"]
    assert export["appointments"][0]["prep"] is None


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_every_decoding_failure_is_a_crypto_error(runtime, how):
    token = runtime.vault.seal("patient", "name", "row1", NAME)
    bad = token[: len(token) // 2] if how == "truncate" else token[:-1] + bytes([token[-1] ^ 1])
    for broken in (bad, b"", b"\x01", token[:3], b"\x02" + token[1:]):
        with pytest.raises(CryptoError):
            runtime.vault.open("patient", "name", "row1", broken)
    sealed = runtime.vault.seal("conversation", "state", "row2", "not json {")
    with pytest.raises(CryptoError):
        runtime.vault.open_json("conversation", "state", "row2", sealed)


# ------------------------------------------------------------------ MES DONNEES = the export


def test_my_data_lists_what_the_export_holds(patient, runtime):
    alice = book(patient, PHONE, NAME, ecg=True)
    alice.send("RDV")
    for text in ("1", "1"):
        alice.send(text)
    alice.send("1")  # a second appointment (consultation)
    alice.send("ANNULER")
    out = alice.send("MES DONNEES")
    with runtime.db.write() as s:
        export = lifecycle.export_patient(
            s, runtime.vault, runtime.practice, s.exec(select(Patient)).one()
        )
    assert f"Nom: {export['patient']['name']}" in out
    assert export["patient"]["address"] in out
    assert f"version {export['patient']['notice_version']}" in out
    for appt in export["appointments"]:
        assert appt["practitioner"] in out and appt["type"] in out
    held = [a for a in export["appointments"] if a["prep_held_until"]]
    assert len(held) == 1 and "réponse de préparation, effacée le" in out
    assert PREP not in out  # whether an answer is held, never the answer itself
    assert f"{export['queued_messages']} message(s) à envoyer" in out
    assert f"{export['audit_events']} ligne(s) du journal" in out
    assert "Rien d'autre n'est gardé" in out


# ------------------------------------------------------------------ inputs cleaned


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Paul\x1b]0;pwned\x07 Martin", "Paul Martin"),
        ("\x1b[31mPaul\x1b[0m Martin", "Paul Martin"),
        ("Paul\x00 Mar\x07tin", "Paul Martin"),
        ("Paul \u202eMartin\u202c", "Paul Martin"),
        ("Paul\u2066 Martin\u2069", "Paul Martin"),
        ("Zoë\tLefèvre\n", "Zoë Lefèvre"),
    ],
)
def test_control_and_bidi_characters_are_removed(raw, clean):
    assert clean_field(raw) == clean


def test_names_and_answers_are_stored_clean(patient, runtime):
    book(patient, PHONE, "Paul\x1b]0;x\x07 \u202eMartin", ecg=True)
    with runtime.db.read() as s:
        alice = s.exec(select(Patient)).one()
        appt = s.exec(select(Appointment)).one()
    name = runtime.vault.open("patient", "name", alice.id, alice.name_enc)
    assert name == "Paul Martin"
    assert runtime.vault.open("appointment", "prep", appt.id, appt.prep_enc) == PREP


# ------------------------------------------------------------------ replays


def test_a_replayed_signed_erasure_never_acts_again(tmp_path):
    from channels.runtime import Runtime
    from channels.web import create_app
    from tests.test_sms import MONDAY_7AM, Phone, make_settings

    with time_machine.travel(MONDAY_7AM, tick=False) as traveller:
        rt = Runtime(make_settings(tmp_path))
        phone = Phone(create_app(rt).test_client())
        for text in ("Bonjour", "1", "1", "1", NAME, "1"):
            phone.send(text)
        erase_forms = [phone.form("SUPPRIMER"), phone.form("OUI")]
        assert "Supprimer toutes vos données" in reply_of(phone, erase_forms[0])
        assert "dernier message" in reply_of(phone, erase_forms[1])
        traveller.shift(timedelta(days=3))
        with rt.db.write() as s:
            lifecycle.purge(s, rt.practice, MONDAY_7AM + timedelta(days=3))
        for form in erase_forms:  # captured requests, replayed with their valid signature
            assert reply_of(phone, form) == ""
        with rt.db.read() as s:
            assert s.exec(select(Patient)).all() == []
        assert "confidentialite" in phone.send("Bonjour")  # a new message is a new contact
        rt.db.dispose()


def reply_of(phone, form: dict[str, str]) -> str:
    from tests.test_sms import reply_text

    response = phone.post(form)
    assert response.status_code == 200
    return reply_text(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "sender", ["A0612345678", "PHARMACIE", "36111", "+33012345678", "+9991234567"]
)
def test_an_alphanumeric_or_short_code_sender_opens_no_record(tmp_path, sender):
    """Nor a number in E.164 form that libphonenumber holds invalid (checked once the turn
    finds no patient with it: its transaction, rate-limit count included, rolls back)."""
    from channels.runtime import Runtime
    from channels.web import create_app
    from tests.test_sms import Phone, make_settings, row_counts

    rt = Runtime(make_settings(tmp_path))
    phone = Phone(create_app(rt).test_client(), number=sender)
    assert phone.send("STOP") == ""
    assert phone.send("Bonjour") == ""
    assert all(n == 0 for n in row_counts(rt).values())
    rt.db.dispose()


def test_a_bad_address_cell_does_not_stop_the_other_reminders(patient, runtime, clock, wall):
    from store.scheduler import queue_reminders

    for sender, name in ((PHONE, NAME), (OTHER_PHONE, OTHER_NAME)):
        p = patient(sender, channel="sms")
        for text in ("RDV", "1", "lundi", "1", name):
            p.send(text)
        assert "RDV confirm" in p.send("1")
    with runtime.db.read() as s:
        bad_id = lifecycle.find_patient(s, runtime.vault, runtime.practice, "sms", PHONE).id
        first = min(a.start for a in s.exec(select(Appointment)))
    corrupt(runtime, Patient, "address_enc", "flip", Patient.id == bad_id)
    clock.now = first - timedelta(hours=12)
    wall.move_to(clock.now)
    args = (runtime.db, runtime.vault, runtime.catalogs, runtime.practice, clock.now)
    assert queue_reminders(*args) == 1  # the other patient is reminded
    with runtime.db.read() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "unreadable_cell")).all()
    assert [(e.subject, e.detail) for e in events] == [(bad_id, "patient.address")]


def test_the_end_of_contract_export_withholds_desk_credentials(patient, runtime, tmp_path, clock):
    import zipfile

    from store import desk

    book(patient, PHONE, NAME)
    with runtime.db.write() as s:
        enrolment = desk.add_user(
            s, runtime.vault, runtime.practice, "secretariat@example.org", "secretary",
            "correct horse battery staple", clock.now,
        )  # fmt: skip
    target = tmp_path / "all.zip"
    with runtime.db.read() as s:
        result = lifecycle.export_all(s, runtime.vault, runtime.practice, target, now=clock.now)
    assert result["unreadable"] == []
    with zipfile.ZipFile(target) as zf:
        users = json.loads(zf.read("desk_user.json"))
        patients = json.loads(zf.read("patient.json"))
        everything = b"".join(zf.read(n) for n in zf.namelist())
    assert users[0]["email"] == "secretariat@example.org"
    assert users[0]["password_hash"] == "withheld" and users[0]["totp"] == "withheld"
    assert enrolment.secret.encode() not in everything and b"argon2" not in everything
    assert patients[0]["name"] == NAME  # the practice's own data is handed back in clear


def test_an_erasure_withdraws_the_unsent_summaries_of_that_day(patient, runtime, clock):
    from store.models import Outbox
    from store.scheduler import queue_summary
    from tests.test_agenda import with_practitioner

    practice = with_practitioner(runtime, summary_phone="+33611111111")
    alice = book(patient, PHONE, NAME)
    with runtime.db.read() as s:
        day = s.exec(select(Appointment)).one().start.astimezone(practice.tz).date()
    doctor = practice.practitioners[0]
    with runtime.db.write() as s:
        for d in (day, day + timedelta(days=1)):
            args = (s, runtime.vault, runtime.catalogs, practice, doctor, clock.now)
            assert queue_summary(*args, day=d)
    alice.send("SUPPRIMER")
    assert "dernier message" in alice.send("OUI")
    with runtime.db.read() as s:
        left = s.exec(select(Outbox).where(Outbox.kind == "summary")).all()
    days = [
        runtime.vault.open_json("outbox", "payload", r.id, r.payload_enc)["about"] for r in left
    ]
    assert days == [{"practitioner": doctor.id, "day": (day + timedelta(days=1)).isoformat()}]

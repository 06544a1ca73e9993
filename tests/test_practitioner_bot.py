"""Practitioner commands on Telegram: linking, access control, agenda, cancel, block; the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.slots import next_slots
from channels import practitioner_bot as pbot
from channels.cli import main
from channels.cli.practitioner import COMMANDS
from channels.runtime import Runtime
from channels.settings import Settings
from store import practitioners
from store.context import busy_intervals
from store.models import Appointment, AuditEvent, Block, LinkCode, Outbox, PractitionerLink
from tests.conftest import env_for
from tests.test_agenda import PARIS_DAY, a_day, add_appt, add_patient, at, outbox

DOCTOR_CHAT = "5550001"
NOW = at(PARIS_DAY, 7)  # Monday 7 December, 07:00 in Paris


def say(runtime, text: str, chat: str = DOCTOR_CHAT, now: datetime = NOW) -> list[str] | None:
    with runtime.db.write() as session:
        return pbot.handle(runtime, session, chat, text, now)


def new_code(runtime, now: datetime = NOW) -> str:
    with runtime.db.write() as session:
        return practitioners.create_link_code(session, runtime.practice, "roux", now)


def audits(runtime, action: str | None = None) -> list[AuditEvent]:
    with runtime.db.read() as session:
        rows = list(session.exec(select(AuditEvent)))
    return [r for r in rows if action is None or r.action == action]


@pytest.fixture
def linked(runtime):
    replies = say(runtime, f"/start {new_code(runtime)}")
    assert replies and "relié à l'agenda de Dr Anne Roux" in replies[0]
    return runtime


# ---------------------------------------------------------------- linking and access


def test_unlinked_chat_gets_nothing_and_leaves_no_access_event(runtime):
    a_day(runtime)
    for text in ("/agenda", "/demain", "/annuler 1", "/absent demain", "/aide", "/start nope"):
        assert say(runtime, text) is None
    assert say(runtime, "/start") is None
    assert audits(runtime, "agenda_access") == []
    with runtime.db.read() as session:
        assert session.exec(select(Block)).first() is None


def test_link_code_is_stored_hashed_and_single_use(runtime):
    code = new_code(runtime)
    with runtime.db.read() as session:
        row = session.exec(select(LinkCode)).one()
    assert code not in row.code_hash and row.code_hash == practitioners.code_hash(code)
    assert say(runtime, f"/start {code}") is not None
    assert say(runtime, f"/start {code}", chat="999") is None  # used: the other chat is a patient
    assert say(runtime, "/agenda", chat="999") is None
    with runtime.db.read() as session:
        link = session.exec(select(PractitionerLink)).one()
    assert DOCTOR_CHAT.encode() not in link.chat_enc and DOCTOR_CHAT not in link.chat_index
    assert runtime.vault.open("practitioner_link", "chat", link.id, link.chat_enc) == DOCTOR_CHAT


def test_link_code_expires_after_24_hours(runtime):
    code = new_code(runtime)
    assert say(runtime, f"/start {code}", now=NOW + timedelta(hours=24)) is None
    fresh = new_code(runtime)
    assert say(runtime, f"/start {fresh}", now=NOW + timedelta(hours=23, minutes=59)) is not None


def test_a_new_code_replaces_the_old_one_and_relinking_moves_the_chat(runtime):
    old = new_code(runtime)
    new = new_code(runtime)
    assert say(runtime, f"/start {old}") is None
    assert say(runtime, f"/start {new}") is not None
    assert say(runtime, f"/start {new_code(runtime)}", chat="777") is not None
    assert say(runtime, "/agenda") is None  # the first chat lost access
    assert say(runtime, "/agenda", chat="777") is not None


def test_plain_text_from_a_linked_chat_goes_to_the_patient_dialog(linked):
    assert say(linked, "Bonjour") is None
    assert "/annuler N" in say(linked, "/aide")[0]
    assert "/agenda" in say(linked, "/nimporte")[0]


def test_unlink_revokes_access(linked):
    with linked.db.write() as session:
        assert practitioners.unlink(session, linked.practice, "roux") is True
    assert say(linked, "/agenda") is None


# ---------------------------------------------------------------- agenda


def test_agenda_lists_the_day_numbered_and_audits_without_personal_data(linked):
    a_day(linked)
    [text] = say(linked, "/agenda")
    assert "Dr Anne Roux - agenda du lundi 7 décembre:" in text
    assert "1. 08:30 - P.M." in text
    assert "2. 09:10 - Z.J-B.R." in text
    assert "3." not in text  # the cancelled one is not offered
    for secret in ("Paul", "Électrocardiogramme", "Consultation", "Bêtabloquant"):
        assert secret not in text  # times and initials at most, over Telegram
    [event] = audits(linked, "agenda_access")
    assert (event.actor, event.subject) == ("practitioner:roux", "roux")
    assert "P.M" not in (event.detail or "") and "Paul" not in (event.detail or "")


def test_agenda_of_other_days(linked):
    add_appt(linked, add_patient(linked), at(PARIS_DAY + timedelta(days=1), 9))
    for text in ("/demain", "/agenda demain", "/agenda 8/12", "/agenda 2026-12-08"):
        assert "1. 09:00 - P.M." in say(linked, text)[0], text
    assert "Aucun RDV" in say(linked, "/agenda")[0]
    assert "Date non comprise" in say(linked, "/agenda bientot")[0]
    assert len(audits(linked, "agenda_access")) == 5


# ---------------------------------------------------------------- /annuler N


def test_cancel_n_cancels_and_tells_the_patient_discreetly(linked):
    appts = a_day(linked)
    say(linked, "/agenda")
    [question] = say(linked, "/annuler 1")
    assert "Annuler le RDV 1 du lun. 7 déc. 08:30 (P.M.) ?" in question
    assert "/annuler 1 oui" in question and "Paul" not in question
    with linked.db.read() as session:
        assert session.get(Appointment, appts[0].id).status == "booked"  # not yet
    assert outbox(linked) == []
    [reply] = say(linked, "/annuler 1 oui")
    assert "RDV 1 du lun. 7 déc. 08:30 annulé" in reply and "prévenu" in reply
    with linked.db.read() as session:
        appt = session.get(Appointment, appts[0].id)
    assert (appt.status, appt.cancelled_by) == ("cancelled", "practitioner")
    [(row, address, payload)] = outbox(linked)
    assert (row.kind, row.channel, address, row.patient_id) == (
        "notice", "sms", "+33612345678", appts[0].patient_id)  # fmt: skip
    assert row.respect_quiet_hours
    text = payload["text"]
    assert "lundi 7 décembre à 08:30" in text and "Cabinet des Lilas" in text and "RDV" in text
    assert "lectrocardiogramme" not in text and "ECG" not in text and "Paul" not in text
    assert appt.prep_enc is None  # the preparation answer goes with the cancellation
    assert "n'est plus" in say(linked, "/annuler 1")[0]  # already cancelled
    assert [e.subject for e in audits(linked, "appointment_cancel")] == [appts[0].id]


def test_cancel_needs_a_recent_list_and_a_valid_number(linked):
    a_day(linked)
    assert "/annuler 2" in say(linked, "/annuler 1")[0]  # no list shown yet
    say(linked, "/agenda")
    for bad in ("/annuler", "/annuler 0", "/annuler 3", "/annuler deux"):
        assert "numéro" in say(linked, bad)[0]
    assert "numéro" in say(linked, "/annuler 1", now=NOW + timedelta(hours=13))[0]  # list too old


def test_cancel_of_a_console_patient_says_they_were_not_told(linked):
    alice = add_patient(linked, channel="console", address="alice")
    add_appt(linked, alice, at(PARIS_DAY, 11))
    say(linked, "/agenda")
    say(linked, "/annuler 1")
    assert "ne peut pas" in say(linked, "/annuler 1 oui")[0]
    assert outbox(linked) == []


# ---------------------------------------------------------------- /absent


def test_absent_blocks_slots_and_lists_appointments_inside(linked):
    a_day(linked)
    [reply] = say(linked, "/absent 7/12")
    assert "Période bloquée du lun. 7 déc. 00:00 au mar. 8 déc. 00:00" in reply
    assert "1. 08:30 - P.M." in reply and "2. 09:10" in reply
    assert "1." in reply and "3." not in reply
    with linked.db.read() as session:
        block = session.exec(select(Block)).one()

        def busy(lo, hi):
            return busy_intervals(session, "default", "roux", lo, hi)

        slots = next_slots(linked.practice, "roux", 20, now=NOW, busy=busy, limit=3)
    assert (block.start, block.end) == (at(PARIS_DAY, 0), at(PARIS_DAY + timedelta(days=1), 0))
    assert all(s.date() != PARIS_DAY for s in slots)
    assert "?" in say(linked, "/annuler 2")[0]  # the listed appointments can be handled
    assert "annulé" in say(linked, "/annuler 2 oui")[0]
    assert audits(linked, "block_period")[0].detail == "appointments=2"


def test_absent_with_times_and_ranges(linked):
    add_appt(linked, add_patient(linked), at(PARIS_DAY + timedelta(days=1), 15))
    cases = {
        "/absent demain 14h demain 18h": (at(date(2026, 12, 8), 14), at(date(2026, 12, 8), 18)),
        "/absent 8/12 14h 18h": (at(date(2026, 12, 8), 14), at(date(2026, 12, 8), 18)),
        "/absent 9/12 11/12": (at(date(2026, 12, 9), 0), at(date(2026, 12, 12), 0)),
        "/absent 2026-12-09T08:00 .. 2026-12-09T12:00": (
            at(date(2026, 12, 9), 8), at(date(2026, 12, 9), 12)),
        "/absent demain 14h": (at(date(2026, 12, 8), 14), at(date(2026, 12, 9), 0)),
        "/absent demain matin": (at(date(2026, 12, 8), 0), at(date(2026, 12, 8), 12)),
        "/absent demain après-midi": (at(date(2026, 12, 8), 12), at(date(2026, 12, 9), 0)),
    }  # fmt: skip
    for text, (start, end) in cases.items():
        replies = say(linked, text)
        with linked.db.write() as session:
            block = session.exec(select(Block)).one()
            session.delete(block)
        assert (block.start, block.end) == (start, end), text
        if ("demain" in text or "8/12" in text) and "matin" not in text:
            assert "1. 15:00" in replies[0], text
    assert "Aucun RDV pris" in say(linked, "/absent 9/12")[0]


def test_absent_refuses_what_it_cannot_read(linked):
    for bad in ("/absent", "/absent jamais", "/absent 9/12 14h 9/12 10h"):
        assert "Indiquez le début et la fin" in say(linked, bad)[0], bad
    with linked.db.read() as session:
        assert session.exec(select(Block)).first() is None


# ---------------------------------------------------------------- Telegram webhook helper


def test_respond_records_the_update_once(linked):
    with linked.db.write() as session:
        first = pbot.respond(linked, session, DOCTOR_CHAT, "/aide", "u1", NOW)
    with linked.db.write() as session:
        again = pbot.respond(linked, session, DOCTOR_CHAT, "/aide", "u1", NOW)
        stranger = pbot.respond(linked, session, "123", "/agenda", "u2", NOW)
    assert first and "/agenda" in first[0]
    assert again == []  # handled already: nothing new
    assert stranger is None  # the patient dialog takes it
    assert outbox(linked) == []  # the router returns replies; the Telegram channel queues them


# ---------------------------------------------------------------- command line


@pytest.fixture
def cli_env(tmp_path):
    env = env_for(tmp_path)
    rt = Runtime(Settings.from_env(env))
    for command in COMMANDS:
        if command.name not in main.commands:
            main.add_command(command)
    yield env, rt
    rt.db.dispose()


def test_cli_link_prints_a_code_that_links(cli_env):
    env, rt = cli_env
    out = CliRunner(env={**env, "TELEGRAM_BOT_USERNAME": "lilas_bot"}).invoke(
        main, ["practitioner", "link", "roux"]
    )
    assert out.exit_code == 0, out.output
    assert "https://t.me/lilas_bot?start=" in out.output
    code = out.output.split("/start ")[-1].strip()
    with rt.db.write() as session:
        assert pbot.handle(rt, session, DOCTOR_CHAT, f"/start {code}", datetime.now(UTC))
    plain = CliRunner(env=env).invoke(main, ["practitioner", "link", "roux"])
    assert "t.me" not in plain.output and "/start " in plain.output
    assert CliRunner(env=env).invoke(main, ["practitioner", "link", "nobody"]).exit_code != 0
    gone = CliRunner(env=env).invoke(main, ["practitioner", "unlink", "roux"])
    assert "roux: unlinked" in gone.output


def test_cli_agenda_prints_full_detail_and_audits(cli_env):
    env, rt = cli_env
    a_day(rt)
    out = CliRunner(env=env).invoke(main, ["agenda", "--date", "2026-12-07"])
    assert out.exit_code == 0, out.output
    assert "08:30 Électrocardiogramme - Paul Martin" in out.output
    assert "Réponse: Bêtabloquant" in out.output
    [event] = audits(rt, "agenda_access")
    assert event.actor.startswith("cli:") and event.subject == "roux"
    assert "Paul" not in (event.detail or "")


def test_cli_summary_queues_now_regardless_of_claims(cli_env):
    env, rt = cli_env
    none = CliRunner(env=env).invoke(main, ["summary"])
    assert "not queued" in none.output
    with rt.db.write() as session:
        link = PractitionerLink(practice_id="default", practitioner_id="roux", chat_enc=b"",
                                chat_index="i")  # fmt: skip
        link.chat_enc = rt.vault.seal("practitioner_link", "chat", link.id, DOCTOR_CHAT)
        session.add(link)
    for _ in range(2):
        out = CliRunner(env=env).invoke(main, ["summary", "--practitioner", "roux"])
        assert "roux: summary queued" in out.output
    with rt.db.read() as session:
        assert len(list(session.exec(select(Outbox)))) == 2


def test_cancel_yes_needs_the_question_just_before(linked):
    appts = a_day(linked)
    say(linked, "/agenda")
    assert "?" in say(linked, "/annuler 1 oui")[0]  # no question asked yet: ask it now
    assert "annulé" not in say(linked, "/annuler 2 oui")[0]  # the question was about 1
    say(linked, "/annuler 1")
    late = NOW + timedelta(minutes=11)
    assert "?" in say(linked, "/annuler 1 oui", now=late)[0]  # too late: asked again
    assert "annulé" in say(linked, "/annuler 1 oui", now=late + timedelta(minutes=1))[0]
    with linked.db.read() as session:
        assert session.get(Appointment, appts[0].id).status == "cancelled"
        assert session.get(Appointment, appts[1].id).status == "booked"


def test_full_detail_links_the_day_on_the_desk_and_never_names(linked):
    import dataclasses

    from tests.test_agenda import with_practitioner

    with_practitioner(linked, summary_detail="full")
    linked.settings = dataclasses.replace(linked.settings, public_base_url="https://c.example")
    a_day(linked)
    [text] = say(linked, "/agenda")
    assert text.endswith(
        "Détail sur le bureau: https://c.example/desk/agenda?date=2026-12-07&practitioner=roux"
    )
    assert "1. 08:30 - P.M." in text
    for secret in ("Paul", "Électrocardiogramme", "Consultation", "Bêtabloquant"):
        assert secret not in text


def test_an_unreadable_list_is_no_list_and_is_audited(linked):
    a_day(linked)
    say(linked, "/agenda")
    with linked.db.write() as session:
        link = session.exec(select(PractitionerLink)).one()
        link.last_list_enc = link.last_list_enc[:-2]
    assert "numéro" in say(linked, "/annuler 1")[0]
    [bad] = audits(linked, "unreadable_cell")
    assert (bad.subject, bad.detail) == (link.id, "table=practitioner_link column=last_list")

"""Issue 10, the dialog's side: the notice says who carries the messages on this channel,
INFO says what passes through them, confirmations stay discreet, STOP keeps the rights, a
silent turn has no effect, and names and answers are cleaned where they enter."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from bot.messages import Inbound
from store.models import Appointment, Patient
from tests.conftest import Clock

NOTICE_URL = "https://example.org/confidentialite"


@pytest.mark.parametrize(
    ("channel", "sender", "says", "never"),
    [
        ("sms", "+33612345678", "SMS: Twilio (USA, DPF, clauses types)", "Telegram"),
        ("telegram", "555111", "Telegram (hors UE, sans contrat de sous-traitance)", "Twilio"),
        ("console", "alice", "sans intermédiaire", "Twilio"),
    ],
)
def test_the_short_notice_is_truthful_per_channel(
    patient, runtime, channel: str, sender: str, says: str, never: str
) -> None:
    out = patient(sender, channel=channel).send("Bonjour")
    for fragment in (
        "Cabinet des Lilas gère vos RDV",
        "base: " + runtime.practice.legal_basis_text("fr"),
        "gardées 30 j après le RDV",
        "INFO, MES DONNEES, SUPPRIMER, STOP",
        "cabinet@example.org",
        NOTICE_URL,
    ):
        assert fragment in out
    assert says in out and never not in out


def test_info_says_what_goes_through_the_operator(patient, runtime) -> None:
    sms = patient("+33612345678", channel="sms")
    sms.send("Bonjour")
    out = sms.send("INFO")
    for fragment in (
        "Responsable: Dr Anne Roux, 3 rue des Lilas, 69003 Lyon, DPO: dpo@example.org",
        "Base: " + runtime.practice.legal_basis_text("fr"),
        "Gardés 30 j après le RDV",
        "Vos SMS passent par Twilio (USA, DPF, clauses types), dont la liste des types de RDV, "
        "votre choix, la question de préparation et votre réponse.",
        "accès, rectification, effacement, limitation, opposition, portabilité",
        "cnil.fr",
        NOTICE_URL,
    ):
        assert fragment in out
    en = patient("777", channel="telegram", lang="en")
    en.send("hello")
    out = en.send("INFO")
    assert (
        "Telegram (outside the EU, no processing agreement), including the list of visit types"
        in out
    )
    assert "Basis: " + runtime.practice.legal_basis_text("en") in out


def test_info_keeps_the_choices_on_offer(patient) -> None:
    alice = patient("alice")
    alice.send("RDV")
    alice.send("INFO")
    assert "Prochains créneaux" in alice.send("1")  # "1" is still the first type


def test_confirmations_are_discreet(patient) -> None:
    """Type, instructions and answer never in what stays on the phone afterwards."""
    alice = patient("alice")
    for text in ("RDV", "2", "1", "Alice Durand"):
        alice.send(text)
    confirm = alice.send("Kardegic 75")
    done = alice.send("1")
    listing = alice.send("MES RDV")
    shown = alice.send("1")
    alice.send("2")  # cancel
    cancelled = alice.send("oui")
    for out in (confirm, done, listing, shown, cancelled):
        for word in ("Électrocardiogramme", "ECG", "Kardegic", "Venez 10 minutes", "torse"):
            assert word not in out, out


def test_stop_keeps_the_rights(patient, runtime, clock: Clock) -> None:
    alice = patient("+33612345678", channel="sms")
    for text in ("RDV", "1", "1", "Alice Durand", "oui"):
        alice.send(text)
    assert "plus aucun message" in alice.send("STOP")
    assert "Responsable: Dr Anne Roux" in alice.send("INFO")
    data = alice.send("MES DONNEES")
    assert "Nom: Alice Durand" in data and "1. Corriger mon nom" in data and "Menu" not in data
    assert "Supprimer toutes vos données" in alice.send("SUPPRIMER")
    assert "rien n'est supprimé" in alice.send("non")
    assert "Supprimer" in alice.send("SUPPRIMER")
    assert "dernier message" in alice.send("oui")
    with runtime.db.read() as session:
        assert not list(session.exec(select(Patient)))


def test_after_stop_one_start_reminder_a_day_and_silence(patient, runtime, clock: Clock) -> None:
    alice = patient("+33612345678", channel="sms")
    alice.send("Bonjour")
    alice.send("STOP")
    reminder = "Vous avez demandé STOP: nous ne vous écrivons plus. Pour reprendre: START."
    assert alice.send("RDV") == reminder
    turns = [alice.assistant.handle(_sms(alice.sender, text, clock)) for text in ("RDV", "1", "?")]
    assert all(not t.replies and not t.effects for t in turns)  # silent: no reply, no effect
    clock.advance(days=1)
    assert alice.send("coucou") == reminder
    assert alice.send("coucou") == ""
    back = alice.send("START")
    assert "de nouveau activés" in back and "1. Prendre RDV" in back


def test_a_rename_after_stop_is_answered(patient) -> None:
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand", "oui", "STOP", "MES DONNEES"):
        alice.send(text)
    assert "Quel est votre nom correct" in alice.send("1")
    assert alice.send("Alice Dupont") == "Nom corrigé: Alice Dupont."


def _sms(sender: str, text: str, clock: Clock) -> Inbound:
    return Inbound("sms", sender, text, clock(), message_id=uuid.uuid4().hex)


def test_names_and_answers_are_cleaned_where_they_enter(patient, runtime) -> None:
    alice = patient("alice")
    for text in ("RDV", "2", "1"):
        alice.send(text)
    confirm_prep = alice.send("Alice\u202e Durand\x1b[31m")
    assert "\u202e" not in confirm_prep and "\x1b" not in confirm_prep
    alice.send("Kardegic\x07 75\u2066 mg")
    done = alice.send("oui")
    assert "RDV confirmé" in done
    with runtime.db.read() as session:
        [row] = session.exec(select(Patient)).all()
        [appt] = session.exec(select(Appointment)).all()
        name = runtime.vault.open("patient", "name", row.id, row.name_enc)
        answer = runtime.vault.open("appointment", "prep", appt.id, appt.prep_enc)
    assert name == "Alice Durand"
    assert answer == "Kardegic 75 mg"

"""Transcript tests over the real engine and a real SQLite file, in French and English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.engine import fold
from store.models import Appointment, Block, Patient

NOTICE_URL = "https://example.org/confidentialite"
HOUR = timedelta(hours=1)


def test_first_contact_gets_notice_before_anything(patient):
    alice = patient("alice")
    out = alice.send("Bonjour")
    assert out.index(NOTICE_URL) < out.index("Pour quel type de RDV ?")
    assert "Cabinet des Lilas" in out and "STOP" in out and "30 j" in out
    assert NOTICE_URL not in alice.send("MENU")  # delivered once per version


def test_a_greeting_asks_the_type_until_a_name_is_known_then_shows_the_menu(patient):
    """Someone who never gave a name has nothing to list: the greeting asks the type at
    once (one SMS fewer); once booked, a greeting shows the menu; MENU always does."""
    alice = patient("alice")
    first = alice.send("Bonjour")
    assert "1. Consultation" in first and "Prendre RDV" not in first
    assert "1. Prendre RDV" in alice.send("MENU")
    assert "1. Consultation" in alice.send("salut")
    alice.send("1")
    alice.send("1")
    alice.send("Paul Martin")
    assert "RDV confirmé" in alice.send("oui")
    again = alice.send("Bonjour")
    assert "1. Prendre RDV" in again and "2. Mes RDV" in again


def test_book_consultation_fr(patient):
    alice = patient("alice")
    alice.dialog(
        [
            ("Bonjour", ["Pour quel type de RDV ?", "1. Consultation", "2. Électrocardiogramme"]),
            (
                "1",
                [
                    "Prochains créneaux avec Dr Anne Roux:",
                    "1. mer. 2 déc. 11:10",
                    "2. mer. 2 déc. 11:30",
                    "3. jeu. 3 déc. 08:30",
                    "4. jeu. 3 déc. 08:50",
                    "6. Plus tard",
                    "7. Un autre jour",
                ],
            ),
            ("1", "À quel nom ?"),
            (
                "Paul Martin",
                [
                    "Confirmer le RDV du mercredi 2 décembre à 11:10 avec Dr Anne Roux, "
                    "au nom de Paul Martin ?",
                    "1. Oui",
                    "2. Non",
                ],
            ),
            (
                "oui",
                [
                    "RDV confirmé: mercredi 2 décembre à 11:10, Cabinet des Lilas",
                    "3 rue des Lilas",
                    "MES RDV",
                ],
            ),
            ("mes rdv", ["Vous avez 1 RDV à venir:", "1. mer. 2 déc. 11:10"]),
        ]
    )


def test_book_en_and_name_asked_once(patient):
    bob = patient("bob", lang="en")
    bob.dialog(
        [
            ("hello", ["Cabinet des Lilas handles your bookings", "What kind of appointment?"]),
            ("1", ["Next slots with Dr Anne Roux:", "1. Wed 2 Dec 11:10", "6. Later"]),
            ("2", "What name"),
            ("Bob Smith", "Confirm the appointment on Wednesday 2 December at 11:30"),
            (
                "yes",
                ["Appointment confirmed: Wednesday 2 December at 11:30", "APPTS"],
            ),
            ("BOOK", "What kind"),
            ("1", "1. Wed 2 Dec 11:10"),
            ("1", "Confirm the appointment on Wednesday 2 December at 11:10"),  # no name again
            ("no", ["no appointment booked", "What would you like to do?"]),
        ]
    )


def test_later_and_another_day(patient):
    alice = patient("alice")
    alice.send("RDV")
    alice.send("1")
    later = alice.send("6")
    assert "1. jeu. 3 déc. 09:30" in later  # after the five first slots
    ask = alice.send("7")
    assert "Quel jour" in ask
    out = alice.send("lundi 14h")
    assert "Compris: lundi 7 décembre, vers 14:00." in out
    assert "1. lun. 7 déc. 14:00" in out
    out = alice.send("n'importe quoi")
    assert "Désolé, je n'ai pas compris" in out
    out = alice.send("7")  # "Un autre jour" again
    out = alice.send("vendredi après-midi")
    assert "Compris: vendredi 4 décembre, l'après-midi." in out
    assert "1. ven. 4 déc. 14:00" in out


def test_other_day_en(patient):
    bob = patient("bob", lang="en")
    bob.send("BOOK")
    bob.send("1")
    bob.send("7")
    out = bob.send("next monday morning")
    assert "Understood: Monday 7 December, morning." in out
    assert "1. Mon 7 Dec 08:30" in out


def test_preparation_question_only_for_preparation_type(patient):
    alice = patient("alice")
    alice.send("RDV")
    slots, instructions = alice.replies("2")  # ECG: the slots, then the instructions alone
    assert slots.choices and "Venez" not in slots.text
    assert instructions.text == (
        "A savoir pour ce RDV: Venez 10 minutes en avance, sans crème sur le torse."
    )
    assert "Électrocardiogramme" not in instructions.text and not instructions.choices
    q = alice.send("1")
    assert "À quel nom" in q
    prep = alice.send("Alice Durand")
    assert "Avez-vous un traitement en cours ?" in prep
    confirm = alice.send("Kardegic 75")
    assert "Confirmer le RDV" in confirm
    done = alice.send("1")
    assert "RDV confirmé" in done and "Venez 10 minutes en avance" not in done


REASON = re.compile(r"motif|raison|reason|pourquoi|why|traitement|treatment|symptom", re.I)


def test_non_preparation_booking_never_asks_a_reason(patient):
    for lang, book in (("fr", "RDV"), ("en", "BOOK")):
        p = patient(f"noreason-{lang}", lang=lang)
        outs = [p.send(book), p.send("1"), p.send("1"), p.send("Jean Dupont"), p.send("1")]
        for out in outs[1:]:
            assert not REASON.search(out), out


def test_move_appointment(patient, runtime):
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand", "1"):
        alice.send(text)
    alice.dialog(
        [
            ("MES RDV", "1. mer. 2 déc. 11:10"),
            ("1", ["RDV du mercredi 2 décembre à 11:10", "1. Déplacer", "2. Annuler ce RDV"]),
            ("1", ["Prochains créneaux", "1. mer. 2 déc. 11:30"]),
            (
                "1",
                "Déplacer votre RDV du mercredi 2 décembre à 11:10 au mercredi 2 décembre à 11:30",
            ),
            ("1", "RDV déplacé: mercredi 2 décembre à 11:30"),
            ("MES RDV", ["Vous avez 1 RDV à venir:", "1. mer. 2 déc. 11:30"]),
        ]
    )


def test_cancel_and_cutoff(patient, clock):
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand", "1"):
        alice.send(text)
    alice.dialog(
        [
            ("ANNULER", ["Annuler le RDV du mercredi 2 décembre à 11:10 ?", "1. Oui"]),
            ("2", "RDV maintenu"),
        ]
    )
    clock.advance(hours=1, minutes=30)  # 10:30, the RDV is at 11:10: inside the 2 h cut-off
    out = alice.send("annuler")
    assert "moins de 2 h" in out and "cabinet@example.org" in out
    clock.advance(hours=-1, minutes=-30)
    alice.dialog(
        [("ANNULER", "Annuler le RDV"), ("oui", "annulé"), ("MES RDV", "aucun RDV à venir")]
    )


def test_slot_taken_meanwhile(patient, runtime):
    alice, bob = patient("alice"), patient("bob")
    for p, name in ((alice, "Alice Durand"), (bob, "Bob Martin")):
        p.send("RDV")
        p.send("1")
        p.send("1")
        p.send(name)
    assert "RDV confirmé" in alice.send("1")
    out = bob.send("1")
    assert "vient d'être pris" in out
    assert "1. mer. 2 déc. 11:30" in out
    with runtime.db.read() as session:  # a name is kept with a booking, not without
        names = [p.name_enc is not None for p in session.exec(select(Patient)).all()]
    assert sorted(names) == [False, True]
    assert "11:30 avec Dr Anne Roux, au nom de Bob Martin ?" in bob.send("1")  # name kept
    assert "RDV confirmé: mercredi 2 décembre à 11:30" in bob.send("1")


def test_a_newcomers_row_holds_what_their_first_turn_did(patient, runtime):
    """A first turn that changes only the sender's row writes it once, as the turn left
    it; one whose effects need the row first (STOP drops queued messages) writes it first."""
    patient("alice").send("Bonjour")
    patient("bob").send("STOP")
    with runtime.db.read() as session:
        rows = sorted(session.exec(select(Patient)).all(), key=lambda r: r.opted_out)
    assert len(rows) == 2
    alice, bob = rows
    assert alice.notice_version and alice.notice_at and alice.conversation_enc
    assert alice.conversation_at == alice.last_contact_at == alice.created_at
    assert not alice.opted_out and not alice.unreachable and alice.name_enc is None
    assert bob.opted_out and bob.conversation_enc is not None


def test_slot_blocked_meanwhile(patient, runtime):
    """A period the practitioner blocked after the offer is taken like a booked one."""
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand"):
        alice.send(text)
    start = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # 11:00-12:00 in Paris, over 11:10
    with runtime.db.write() as session:
        session.add(
            Block(practice_id="default", practitioner_id="roux", start=start, end=start + HOUR)
        )
    out = alice.send("1")
    assert "vient d'être pris" in out and "RDV confirmé" not in out
    with runtime.db.read() as session:
        assert session.exec(select(Appointment)).all() == []


def test_slot_freed_by_a_cancellation_can_be_booked(patient, runtime):
    """Only booked appointments hold a slot: one cancelled meanwhile leaves it free."""
    alice, bob = patient("alice"), patient("bob")
    for p, name in ((alice, "Alice Durand"), (bob, "Bob Martin")):
        for text in ("RDV", "1", "1", name):
            p.send(text)
    assert "RDV confirmé" in bob.send("1")
    bob.send("ANNULER")
    assert "annulé" in bob.send("oui")
    assert "RDV confirmé: mercredi 2 décembre à 11:10" in alice.send("1")
    with runtime.db.read() as session:
        statuses = sorted(a.status for a in session.exec(select(Appointment)).all())
    assert statuses == ["booked", "cancelled"]


def test_unexpected_input_gets_help_and_choices(patient):
    alice = patient("alice")
    alice.send("MENU")
    for odd in ("🦄", "x" * 5000, "42", "blabla"):
        out = alice.send(odd)
        assert "Désolé, je n'ai pas compris" in out and "1. Prendre RDV" in out
    assert "RDV: prendre RDV" in alice.send("")  # a picture-only message gets help


def test_stop_start(patient):
    alice = patient("alice")
    alice.send("Bonjour")
    assert "plus aucun message" in alice.send("STOP")
    assert (
        alice.send("RDV")
        == "Vous avez demandé STOP: nous ne vous écrivons plus. Pour reprendre: START."
    )
    assert alice.send("aide") == ""  # one reminder a day at most
    out = alice.send("start")
    assert "de nouveau activés" in out and "1. Prendre RDV" in out


def test_keywords_accent_and_case_insensitive(patient):
    alice = patient("alice")
    alice.send("Bonjour")
    assert "RDV: prendre RDV" in alice.send("  Aide  ")
    assert "Responsable: Dr Anne Roux" in alice.send("info")
    assert "Vos données chez Cabinet des Lilas" in alice.send("Mes Données")
    assert "aucun RDV" in alice.send("mes rdv")
    assert fold(" Arrêt ") == "arret"


def test_language_switch(patient):
    alice = patient("alice")
    alice.send("MENU")
    out = alice.send("EN")
    assert "I will now write to you in English." in out and "1. Book\n" in out
    out = alice.send("FR")
    assert "en français" in out and "1. Prendre RDV" in out


def test_old_choice_after_restart_maps_back(runtime, patient, tmp_path):
    """Offered choices live in the database: a new assistant understands `2`."""
    from store.service import Assistant

    alice = patient("alice")
    alice.send("RDV")
    fresh = Assistant(
        runtime.db, runtime.practice, runtime.vault, runtime.catalogs, clock=runtime.assistant.clock
    )
    alice.assistant = fresh
    assert "Prochains créneaux" in alice.send("1")


def test_erase_in_dialog(patient, runtime):
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand", "1"):
        alice.send(text)
    alice.dialog(
        [
            ("SUPPRIMER", "Supprimer toutes vos données ?"),
            ("non", "rien n'est supprimé"),
            ("SUPPRIMER", "Supprimer"),
            ("oui", "Ceci est notre dernier message"),
        ]
    )
    out = alice.send("Bonjour")
    assert NOTICE_URL in out  # a stranger again


def test_my_data_and_rename(patient):
    alice = patient("+33612345678", channel="sms")
    for text in ("RDV", "1", "1", "Alise Durand", "1"):
        alice.send(text)
    out = alice.send("MES DONNEES")
    for fragment in (
        "Nom: Alise Durand",
        "Contact: +33612345678",
        "Langue: français",
        "RDV mer. 2 déc. 11:10, Dr Anne Roux, Consultation",
        "version 2026-11",
        "1. Corriger mon nom",
        "2. Supprimer mes données",
    ):
        assert fragment in out
    alice.dialog(
        [
            ("1", "Quel est votre nom correct"),
            ("Alice Durand", "Nom corrigé: Alice Durand"),
            ("my data", "Nom: Alice Durand"),
        ]
    )


def test_my_data_marks_cancelled_appointments(patient):
    alice = patient("alice")
    for text in ("RDV", "1", "1", "Alice Durand", "1", "ANNULER", "oui"):
        alice.send(text)
    out = alice.send("MES DONNEES")
    assert "RDV annulé mer. 2 déc. 11:10, Dr Anne Roux, Consultation" in out


def test_my_data_en_before_any_booking(patient):
    bob = patient("bob", lang="en")
    bob.send("hello")
    out = bob.send("MY DATA")
    assert "Name: none" in out and "No appointment" in out and "Correct my name" not in out
    assert "1. Delete my data" in out


def test_a_type_typed_in_full_instead_of_its_number(patient):
    alice = patient("alice")
    alice.send("RDV")
    assert "Prochains créneaux" in alice.send("electrocardiogramme")  # accents optional
    bob = patient("bob", lang="en")
    bob.send("BOOK")
    assert "Next slots" in bob.send(" ECG ")

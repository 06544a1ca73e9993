"""The desk's words, French first and English on request, kept apart from the patient
dialog's catalogs; and dates formatted through Babel in the practice's time zone.

Patient-facing texts the desk sends (a booking's confirmation, a move) live here too, in
the patient's language, as discreet as every other notice: date, time, practice and
practitioner, never the consultation type.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

LANGS = ("fr", "en")
log = logging.getLogger(__name__)

WORDS: dict[str, tuple[str, str]] = {
    # frame
    "app.title": ("Bureau du cabinet", "Practice desk"),
    "app.skip": ("Aller au contenu", "Skip to content"),
    "nav.agenda": ("Agenda", "Agenda"),
    "nav.week": ("Semaine", "Week"),
    "nav.book": ("Prendre un RDV", "Book"),
    "nav.patients": ("Patients", "Patients"),
    "nav.calendar": ("Calendrier", "Calendar feed"),
    "nav.users": ("Utilisateurs", "Users"),
    "nav.audit": ("Journal", "Audit log"),
    "nav.logout": ("Se déconnecter", "Log out"),
    "nav.lang": ("English", "Français"),
    "nav.main": ("Navigation principale", "Main navigation"),
    "common.back": ("Retour", "Back"),
    "common.show": ("Afficher", "Show"),
    "common.cancel": ("Annuler", "Cancel"),
    "common.keep": ("Ne rien changer", "Keep it"),
    "common.confirm": ("Confirmer", "Confirm"),
    "common.delete": ("Supprimer", "Delete"),
    "common.yes": ("oui", "yes"),
    "common.no": ("non", "no"),
    "common.none": ("aucun", "none"),
    "common.print": ("Imprimer", "Print"),
    "common.unreadable": ("(illisible)", "(unreadable)"),
    "common.no_name": ("(sans nom)", "(no name)"),
    "common.reserved": ("(réservée au praticien)", "(for the practitioner only)"),
    "common.held": ("détenue", "held"),
    "common.date": ("Date", "Date"),
    "common.time": ("Heure", "Time"),
    "common.from": ("Du", "From"),
    "common.to": ("Au", "To"),
    "common.practitioner": ("Praticien", "Practitioner"),
    "common.type": ("Type", "Type"),
    "common.patient": ("Patient", "Patient"),
    "common.status": ("Statut", "Status"),
    "common.actions": ("Actions", "Actions"),
    "common.open": ("Ouvrir", "Open"),
    "common.error": ("Une erreur est survenue.", "Something went wrong."),
    "common.expired": (
        "Page expirée ou formulaire incomplet: rechargez la page et recommencez.",
        "This page expired or the form was incomplete: reload the page and try again.",
    ),
    "common.forbidden": ("Accès non autorisé.", "Not allowed."),
    "common.not_found": ("Introuvable.", "Not found."),
    # login
    "login.title": ("Connexion", "Log in"),
    "login.email": ("Adresse e-mail", "E-mail address"),
    "login.password": ("Mot de passe", "Password"),
    "login.code": (
        "Code à 6 chiffres de l'application d'authentification",
        "6-digit code from the authenticator app",
    ),
    "login.submit": ("Se connecter", "Log in"),
    "login.failed": (
        "Connexion impossible: vérifiez l'e-mail, le mot de passe et le code, ou réessayez "
        "dans 15 minutes.",
        "Could not log in: check the e-mail, the password and the code, or try again in 15 "
        "minutes.",
    ),
    "login.ended": (
        "Session terminée: reconnectez-vous.",
        "Session ended: please log in again.",
    ),
    "login.out": ("Vous êtes déconnecté.", "You are logged out."),
    # agenda
    "agenda.title": ("Agenda", "Agenda"),
    "agenda.day": ("Jour", "Day"),
    "agenda.prev": ("Jour précédent", "Previous day"),
    "agenda.next": ("Jour suivant", "Next day"),
    "agenda.today": ("Aujourd'hui", "Today"),
    "agenda.empty": ("Aucun RDV ce jour", "No appointments this day"),
    "agenda.count": ("{n} RDV", "{n} appointment(s)"),
    "agenda.cancelled": ("annulé", "cancelled"),
    "agenda.booked": ("confirmé", "booked"),
    "agenda.prep": ("Réponse de préparation", "Preparation answer"),
    "agenda.closed": ("Cabinet fermé ce jour.", "The practice is closed this day."),
    "agenda.not_working": (
        "Pas de consultation ce jour selon les horaires.",
        "No opening hours this day.",
    ),
    "week.title": ("Semaine du {day}", "Week of {day}"),
    "week.prev": ("Semaine précédente", "Previous week"),
    "week.next": ("Semaine suivante", "Next week"),
    # appointment
    "appt.title": ("Rendez-vous", "Appointment"),
    "appt.when": ("Date et heure", "Date and time"),
    "appt.phone": ("Numéro du patient", "Patient's number"),
    "appt.show_phone": ("Afficher le numéro", "Show the number"),
    "appt.phone_none": (
        "Pas de numéro de téléphone: patient sur Telegram.",
        "No phone number: the patient uses Telegram.",
    ),
    "appt.move": ("Déplacer", "Move"),
    "appt.cancel": ("Annuler le RDV", "Cancel the appointment"),
    "appt.cancel_q": (
        "Annuler ce RDV ? Le patient en est prévenu par un message discret (date et heure, "
        "sans le type).",
        "Cancel this appointment? The patient gets a discreet message (date and time, "
        "without the type).",
    ),
    "appt.cancel_yes": ("Oui, annuler le RDV", "Yes, cancel it"),
    "appt.cancelled": ("RDV annulé.", "Appointment cancelled."),
    "appt.told": ("Le patient est prévenu par message.", "The patient is told by message."),
    "appt.not_told": (
        "Le patient ne peut pas être prévenu par message: appelez-le si besoin.",
        "The patient cannot be told by message: call them if needed.",
    ),
    "appt.gone": (
        "Ce RDV n'est plus à venir ou est déjà annulé.",
        "This appointment is no longer upcoming or is already cancelled.",
    ),
    "appt.move_title": ("Déplacer le RDV", "Move the appointment"),
    "appt.move_pick": ("Choisissez le nouveau créneau", "Choose the new slot"),
    "appt.move_q": (
        "Déplacer le RDV du {old} au {new} ? Le patient en est prévenu par un message discret.",
        "Move the appointment from {old} to {new}? The patient gets a discreet message.",
    ),
    "appt.move_yes": ("Oui, déplacer le RDV", "Yes, move it"),
    "appt.moved": ("RDV déplacé au {new}.", "Appointment moved to {new}."),
    "slots.none": (
        "Aucun créneau libre ce jour: essayez un autre jour.",
        "No free slot this day: try another day.",
    ),
    "slots.pick_day": ("Voir les créneaux", "Show the slots"),
    "slots.legend": ("Créneaux libres", "Free slots"),
    # booking
    "book.title": ("Prendre un RDV pour un patient", "Book for a patient"),
    "book.name": ("Nom du patient", "Patient's name"),
    "book.phone": (
        "Téléphone (06 12 34 56 78 ou +33 6 ...)",
        "Phone (06 12 34 56 78 or +33 6 ...)",
    ),
    "book.lang": ("Langue des messages au patient", "Language of the patient's messages"),
    "book.submit": ("Réserver", "Book"),
    "book.done": (
        "RDV réservé: {when} avec {practitioner}.",
        "Booked: {when} with {practitioner}.",
    ),
    "book.sms_sent": (
        "Le patient reçoit la confirmation par SMS.",
        "The patient gets the confirmation by SMS.",
    ),
    "book.sms_notice": (
        "Premier contact: l'information sur ses données lui est envoyée d'abord.",
        "First contact: the notice on their data is sent first.",
    ),
    "book.sms_off": (
        "SMS non configuré: aucun message n'est envoyé au patient.",
        "SMS is not configured: no message is sent to the patient.",
    ),
    "book.sms_opted_out": (
        "Le patient a demandé STOP: aucun message ne lui est envoyé.",
        "The patient sent STOP: no message is sent to them.",
    ),
    "book.read_prep": (
        "À lire au patient (préparation):",
        "Read to the patient (preparation):",
    ),
    "book.err.name": (
        "Indiquez un nom (des lettres, 80 caractères au plus).",
        "Give a name (letters, 80 characters at most).",
    ),
    "book.err.phone": (
        "Ce numéro de téléphone n'est pas valide.",
        "This phone number is not valid.",
    ),
    "book.err.slot": (
        "Ce créneau n'est plus libre: choisissez-en un autre.",
        "This slot is no longer free: choose another.",
    ),
    "book.err.type": (
        "Ce praticien ne fait pas ce type de RDV.",
        "This practitioner does not do this type.",
    ),
    "book.err.gone": (
        "Ce RDV n'est plus à venir ou est déjà annulé.",
        "This appointment is no longer upcoming or is already cancelled.",
    ),
    "book.err.pick": ("Choisissez un créneau.", "Choose a slot."),
    # absences
    "abs.title": ("Absences", "Absences"),
    "abs.none": ("Aucune absence ce jour", "No absence this day"),
    "abs.file": ("(fichier du cabinet)", "(practice file)"),
    "abs.add": ("Ajouter une absence", "Add an absence"),
    "abs.start": ("Début", "Start"),
    "abs.end": ("Fin", "End"),
    "abs.whole_day": ("laisser l'heure vide: journée entière", "leave the time empty: whole day"),
    "abs.added": (
        "Absence ajoutée: aucun créneau n'y sera proposé.",
        "Absence added: no slot will be offered in it.",
    ),
    "abs.inside": (
        "{n} RDV déjà pris dans cette période, à gérer.",
        "{n} appointment(s) already booked in that period, to handle.",
    ),
    "abs.removed": ("Absence supprimée.", "Absence removed."),
    "abs.bad": (
        "Période non valide: la fin doit suivre le début, dans le futur, sur un an au plus.",
        "Invalid period: the end must follow the start, in the future, within a year.",
    ),
    "abs.remove": ("Supprimer l'absence", "Remove the absence"),
    # patients
    "pat.title": ("Demandes des patients", "Patients' requests"),
    "pat.find": ("Retrouver un patient", "Find a patient"),
    "pat.kind": ("Par", "By"),
    "pat.by_phone": ("téléphone", "phone number"),
    "pat.by_telegram": ("identifiant Telegram", "Telegram id"),
    "pat.value": ("Numéro ou identifiant", "Number or id"),
    "pat.search": ("Rechercher", "Search"),
    "pat.not_found": ("Aucun patient avec ce numéro.", "No patient with this number."),
    "pat.bad": ("Numéro non reconnu.", "Number not recognised."),
    "pat.record": ("Dossier du patient", "Patient's record"),
    "pat.export": ("Export lisible (à imprimer ou envoyer)", "Readable export (print or send)"),
    "pat.json": ("Export JSON", "JSON export"),
    "pat.rename": ("Corriger le nom", "Correct the name"),
    "pat.renamed": ("Nom corrigé.", "Name corrected."),
    "pat.erase": ("Effacer toutes ses données", "Erase all their data"),
    "pat.erase_q": (
        "Effacer toutes les données de ce patient ? Ses RDV à venir sont annulés sans message, "
        "le reste est supprimé. C'est définitif.",
        "Erase all this patient's data? Their upcoming appointments are cancelled without a "
        "message, the rest is deleted. This cannot be undone.",
    ),
    "pat.erase_yes": ("Oui, tout effacer", "Yes, erase everything"),
    "pat.erased": (
        "Données effacées ({cancelled} RDV à venir annulés, {deleted} supprimés).",
        "Data erased ({cancelled} upcoming appointments cancelled, {deleted} deleted).",
    ),
    "pat.prep_note": (
        "Les réponses de préparation ne sont lisibles que par le praticien concerné "
        "(l'export complet: `creneau patient export`).",
        "Preparation answers are readable by their practitioner only (the complete export: "
        "`creneau patient export`).",
    ),
    "export.title": ("Données détenues sur le patient", "Data held about the patient"),
    "export.intro": (
        "Export établi le {date} par {practice}, à la demande du patient (droit d'accès).",
        "Export made on {date} by {practice}, at the patient's request (right of access).",
    ),
    "export.empty": ("(vide)", "(empty)"),
    # calendar feed
    "feed.title": ("Calendrier privé", "Private calendar feed"),
    "feed.about": (
        "Une adresse secrète que votre application d'agenda peut suivre. Elle ne contient que "
        "les plages occupées, intitulées « RDV » (les initiales du patient si vous le "
        "choisissez), jamais de nom, de type ni de réponse.",
        "A secret address your calendar application can subscribe to. It holds busy times "
        "titled \u201cRDV\u201d only (the patient's initials if you choose), never a name, a "
        "type or an answer.",
    ),
    "feed.none": ("Aucun calendrier n'est créé.", "No feed exists."),
    "feed.exists": (
        "Un calendrier existe depuis le {date}. Son adresse n'est montrée qu'à la création: "
        "pour la revoir, créez-en un nouveau (l'ancienne adresse cessera de fonctionner).",
        "A feed exists since {date}. Its address is shown only when created: to see it "
        "again, create a new one (the old address stops working).",
    ),
    "feed.url": (
        "Adresse à ajouter dans votre agenda (montrée une seule fois):",
        "Address to add to your calendar (shown once):",
    ),
    "feed.initials": ("Ajouter les initiales du patient", "Add the patient's initials"),
    "feed.create": ("Créer une nouvelle adresse", "Create a new address"),
    "feed.revoke": ("Révoquer l'adresse", "Revoke the address"),
    "feed.revoked": ("Adresse révoquée.", "Address revoked."),
    "feed.with_initials": ("Avec initiales", "With initials"),
    "feed.without_initials": ("Sans initiales", "Without initials"),
    # admin
    "users.title": ("Utilisateurs du bureau", "Desk users"),
    "users.email": ("E-mail", "E-mail"),
    "users.role": ("Rôle", "Role"),
    "users.state": ("État", "State"),
    "users.active": ("actif", "active"),
    "users.disabled": ("désactivé", "disabled"),
    "users.last_login": ("Dernière connexion", "Last login"),
    "users.add": ("Ajouter un utilisateur", "Add a user"),
    "users.password": (
        "Mot de passe initial (12 caractères au moins)",
        "Initial password (12 characters at least)",
    ),
    "users.disable": ("Désactiver", "Disable"),
    "users.enable": ("Réactiver", "Enable"),
    "users.reset": ("Nouveau second facteur", "New second factor"),
    "users.enrol": (
        "À scanner dans l'application d'authentification de {email} (montré une seule fois):",
        "To scan in {email}'s authenticator app (shown once):",
    ),
    "users.done": ("Fait.", "Done."),
    "users.self": (
        "Vous ne pouvez pas désactiver votre propre compte.",
        "You cannot disable your own account.",
    ),
    "role.admin": ("administrateur", "administrator"),
    "role.secretary": ("secrétariat", "secretary"),
    "role.practitioner": ("praticien", "practitioner"),
    "audit.title": ("Journal des accès", "Audit log"),
    "audit.at": ("Quand", "When"),
    "audit.actor": ("Qui", "Who"),
    "audit.action": ("Quoi", "What"),
    "audit.subject": ("Sur", "Subject"),
    "audit.detail": ("Détail", "Detail"),
    "audit.filter": ("Filtrer", "Filter"),
    "audit.older": ("Plus anciens", "Older"),
    "audit.empty": ("Aucun événement.", "No events."),
    # messages to patients (SMS or Telegram): discreet, GSM-7 friendly
    "sms.booked": (
        "{practice}: RDV confirmé le {when} avec {practitioner}. Pour le déplacer ou "
        "l'annuler: MES RDV.",
        "{practice}: appointment confirmed on {when} with {practitioner}. To move or cancel "
        "it: APPTS.",
    ),
    "sms.moved": (
        "{practice}: votre RDV avec {practitioner} est déplacé au {when}. Pour le changer: "
        "MES RDV.",
        "{practice}: your appointment with {practitioner} is moved to {when}. To change it: APPTS.",
    ),
}

# Names of the export's fields (store.lifecycle.export_patient); a field not listed here is
# shown under its own name, humanised, so nothing held is ever hidden from the page.
FIELDS: dict[str, tuple[str, str]] = {
    "practice": ("Cabinet", "Practice"),
    "patient": ("Patient", "Patient"),
    "id": ("Identifiant", "Id"),
    "practice_id": ("Identifiant du cabinet", "Practice id"),
    "patient_id": ("Identifiant du patient", "Patient id"),
    "name": ("Nom", "Name"),
    "controller": ("Responsable du traitement", "Data controller"),
    "contact": ("Contact", "Contact"),
    "channel": ("Canal", "Channel"),
    "address": ("Numéro ou identifiant", "Number or id"),
    "address_index": ("Index de recherche (haché)", "Look-up index (hashed)"),
    "lang": ("Langue", "Language"),
    "notice_version": ("Version de l'information reçue", "Notice version received"),
    "notice_at": ("Information reçue le", "Notice received on"),
    "opted_out": ("Messages arrêtés (STOP)", "Messages stopped (STOP)"),
    "unreachable": ("Injoignable", "Unreachable"),
    "created_at": ("Créé le", "Created on"),
    "last_contact_at": ("Dernier contact", "Last contact"),
    "appointments": ("Rendez-vous", "Appointments"),
    "practitioner_id": ("Identifiant du praticien", "Practitioner id"),
    "practitioner": ("Praticien", "Practitioner"),
    "type_id": ("Identifiant du type", "Type id"),
    "type": ("Type", "Type"),
    "start": ("Début", "Start"),
    "end": ("Fin", "End"),
    "status": ("Statut", "Status"),
    "prep": ("Réponse de préparation", "Preparation answer"),
    "cancelled_at": ("Annulé le", "Cancelled on"),
    "cancelled_by": ("Annulé par", "Cancelled by"),
    "reminder_at": ("Rappel envoyé le", "Reminder sent on"),
    "conversation": ("Conversation en cours", "Conversation in progress"),
    "present": ("Présente", "Present"),
    "updated_at": ("Mise à jour", "Updated"),
    "queued_messages": ("Messages en attente d'envoi", "Messages waiting to be sent"),
    "processed_message_ids": ("Identifiants de messages traités", "Processed message ids"),
    "unreadable": ("Cellules illisibles", "Unreadable cells"),
}


def field(key: str, lang: str) -> str:
    """The label of an export field in lang; an unknown one humanised ('notice_at')."""
    pair = FIELDS.get(key)
    if pair is not None:
        return pair[0] if lang == "fr" else pair[1]
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def value(item: object, lang: str, tz: ZoneInfo) -> str:
    """One exported value as a reader wants it: yes/no, dates in the practice's zone."""
    if item is None or item == "":
        return "–"
    if isinstance(item, bool):
        return t("common.yes" if item else "common.no", lang)
    if isinstance(item, str) and len(item) >= 19 and item[4] == "-" and item[10] == "T":
        try:
            moment = datetime.fromisoformat(item)
        except ValueError:
            return item
        if moment.tzinfo is not None:
            return when(moment, "stamp", lang, tz)
    return str(item)


FORMATS = {
    "fr": {
        "long": "EEEE d MMMM 'à' HH:mm",
        "day": "EEEE d MMMM y",
        "short": "EEE d MMM",
        "time": "HH:mm",
        "stamp": "d MMM y HH:mm",
    },
    "en": {
        "long": "EEEE d MMMM 'at' HH:mm",
        "day": "EEEE d MMMM y",
        "short": "EEE d MMM",
        "time": "HH:mm",
        "stamp": "d MMM y HH:mm",
    },
}


def pick(lang: str | None, default: str) -> str:
    """A supported language: the one asked for, else the default."""
    return lang if lang in LANGS else (default if default in LANGS else "fr")


def t(key: str, lang: str, **params: object) -> str:
    """The desk text `key` in `lang`, its {params} filled."""
    pair = WORDS.get(key)
    if pair is None:
        log.warning("missing desk text key=%s", key)
        return key
    text = pair[0] if lang == "fr" else pair[1]
    return text.format(**params) if params else text


def when(value: datetime, style: str, lang: str, tz: ZoneInfo) -> str:
    """A moment in the practice's time zone ('long', 'short', 'time', 'stamp')."""
    pattern = FORMATS[pick(lang, "fr")][style]
    return format_datetime(value.astimezone(tz), pattern, tzinfo=tz, locale=lang)


def day_name(value: date, lang: str) -> str:
    """'lundi 7 décembre 2026'."""
    return format_date(value, FORMATS[pick(lang, "fr")]["day"], locale=lang)


def short_day(value: date, lang: str) -> str:
    """'lun. 7 déc.'."""
    return format_date(value, FORMATS[pick(lang, "fr")]["short"], locale=lang)

"""The record of processing (GDPR Art. 30) and the full privacy notice (Art. 13), built from the
practice file and the settings, in French and English (operator-facing long text, kept here).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from bot.practice import Practice
from channels.settings import Settings

LANGS = ("fr", "en")

T: dict[str, dict[str, str]] = {
    "fr": {
        "register_title": "Registre des activités de traitement - {name}",
        "notice_title": "Information sur le traitement de vos données - {name}",
        "controller": "Responsable de traitement",
        "contact": "Contact pour exercer vos droits",
        "dpo": "Délégué à la protection des données (DPO)",
        "no_dpo": "aucun désigné; adressez-vous au contact ci-dessus",
        "processor": "Sous-traitant",
        "processor_text": "l'exploitant du service Créneau (prise de RDV par SMS et Telegram), "
        "qui agit uniquement sur instruction du responsable de traitement",
        "purposes": "Finalités",
        "purposes_text": "gestion des rendez-vous (prise, déplacement, annulation), rappels "
        "discrets, agenda quotidien des praticiens; aucune autre utilisation (ni publicité, "
        "ni statistique sur le contenu des messages)",
        "basis": "Base légale",
        "basis_text": "art. 6(1)(b) RGPD (mesures précontractuelles et contrat de soins : "
        "gérer vos rendez-vous) ou art. 6(1)(e) (mission d'intérêt public, pour un "
        "établissement public); données de santé : art. 9(2)(h) RGPD (gestion des soins "
        "par un professionnel de santé soumis au secret professionnel)",
        "subjects": "Personnes concernées",
        "subjects_text": "patients et personnes qui écrivent au cabinet par SMS ou Telegram; "
        "praticiens du cabinet ({practitioners})",
        "categories": "Catégories de données",
        "cat_address": "adresse de contact : numéro de téléphone ou identifiant de "
        "conversation Telegram",
        "cat_name": "nom, demandé une fois, à la première prise de RDV",
        "cat_appt": "rendez-vous : praticien, type de consultation, date et heure, statut",
        "cat_prep": "réponse à la question de préparation, uniquement pour les types qui en "
        "demandent une : {types}",
        "cat_no_prep": "aucun type de consultation ne demande de préparation : aucun motif "
        "n'est demandé ni conservé",
        "cat_tech": "état de la conversation et choix proposés; identifiants techniques des "
        "messages reçus; messages en attente d'envoi",
        "cat_never": "jamais : motif de consultation (hors préparation), date de naissance, "
        "e-mail, texte libre des messages",
        "recipients": "Destinataires",
        "recipients_practice": "les praticiens du cabinet, chacun pour son agenda",
        "summary": "résumé quotidien de l'agenda envoyé à {who} par {how}, niveau de détail : "
        "{detail}",
        "detail_full": "nom complet",
        "detail_initials": "initiales",
        "detail_count": "nombre de RDV seulement",
        "subprocessors": "Sous-traitants ultérieurs",
        "host": "l'hébergeur de l'application et de la base de données ({db}), qui doit être "
        "certifié Hébergeur de Données de Santé (HDS)",
        "twilio": "Twilio Inc. (envoi et réception des SMS)",
        "telegram": "Telegram (messagerie, pour les patients qui choisissent d'écrire au "
        "cabinet sur Telegram)",
        "transfers": "Transferts hors de l'Union européenne",
        "transfers_none": "aucun : seul l'hébergeur reçoit les données",
        "transfer_twilio": "Twilio Inc. (États-Unis) : numéro de téléphone et texte des SMS; "
        "garanties : certification EU-US Data Privacy Framework (décision d'adéquation du "
        "10 juillet 2023) et clauses contractuelles types de la Commission européenne",
        "transfer_telegram": "Telegram (Telegram FZ-LLC, Émirats arabes unis, pays sans "
        "décision d'adéquation) : identifiant de conversation et texte des messages, que le "
        "patient a choisi d'échanger par Telegram; ces messages ne contiennent jamais le type "
        "de consultation, un motif ou une réponse de préparation",
        "retention": "Durées de conservation",
        "ret_patient": "adresse et nom : jusqu'à l'effacement demandé, ou {days} jours après le "
        "dernier RDV et le dernier échange",
        "ret_appt": "rendez-vous : {days} jours après sa date",
        "ret_prep": "réponse de préparation : jusqu'à la fin du rendez-vous",
        "ret_conv": "état de la conversation : 24 heures d'inactivité",
        "ret_ids": "identifiants des messages reçus : 48 heures",
        "ret_outbox": "messages en attente : jusqu'à leur envoi (48 heures en cas d'échec)",
        "ret_audit": "journal d'audit (sans donnée personnelle, identifiants pseudonymes) : "
        "{days} jours",
        "security": "Mesures de sécurité",
        "sec_items": "chiffrement de chaque donnée personnelle (AES-256-GCM), lié à sa ligne et "
        "à sa colonne; trousseau de clés avec rotation (creneau keys rotate); index aveugle "
        "(HMAC-SHA256) pour retrouver un patient sans stocker son numéro en clair; webhooks "
        "authentifiés (signature ou secret du fournisseur); journal d'audit de chaque accès "
        "aux données personnelles; la production refuse les clés de développement; journaux "
        "techniques sans numéro, nom ni texte de message; purge quotidienne automatique",
        "rights": "Vos droits",
        "rights_text": "vous pouvez demander l'accès à vos données, leur rectification, leur "
        "effacement, la limitation du traitement, vous opposer au traitement et recevoir vos "
        "données dans un format lisible (portabilité). Par message : INFO (cette "
        "information), MES DONNEES (tout ce qui est conservé, et corriger votre nom), "
        "SUPPRIMER (tout effacer), STOP ou ARRET (plus aucun message), START (reprendre). "
        "Ou auprès du cabinet : {contact}",
        "complaint": "Réclamation",
        "complaint_text": "vous pouvez introduire une réclamation auprès de la CNIL, 3 place de "
        "Fontenoy, TSA 80715, 75334 Paris Cedex 07, www.cnil.fr",
        "required": "Caractère obligatoire",
        "required_text": "votre numéro (ou identifiant Telegram) et votre nom sont nécessaires "
        "pour prendre RDV par ce service; sans eux, vous pouvez prendre RDV directement "
        "auprès du cabinet. La réponse à la question de préparation est facultative.",
        "automated": "Décision automatisée",
        "automated_text": "aucune décision automatisée ni profilage : le service propose les "
        "créneaux libres et enregistre votre choix",
        "full_at": "Cette information est aussi disponible à : {url} (version {version})",
    },
    "en": {
        "register_title": "Record of processing activities - {name}",
        "notice_title": "How your data is processed - {name}",
        "controller": "Controller",
        "contact": "Contact to exercise your rights",
        "dpo": "Data protection officer (DPO)",
        "no_dpo": "none designated; write to the contact above",
        "processor": "Processor",
        "processor_text": "the operator of the Créneau service (booking by SMS and Telegram), "
        "acting only on the controller's instructions",
        "purposes": "Purposes",
        "purposes_text": "managing appointments (booking, moving, cancelling), discreet "
        "reminders, the practitioners' daily agenda; nothing else (no marketing, no analytics "
        "on message content)",
        "basis": "Legal basis",
        "basis_text": "Art. 6(1)(b) GDPR (pre-contractual steps and the care contract: "
        "managing your appointments) or Art. 6(1)(e) (task in the public interest, for a "
        "public institution); health data: Art. 9(2)(h) GDPR (management of care by a health "
        "professional bound by professional secrecy)",
        "subjects": "Data subjects",
        "subjects_text": "patients and people who write to the practice by SMS or Telegram; "
        "the practice's practitioners ({practitioners})",
        "categories": "Categories of data",
        "cat_address": "contact address: phone number or Telegram chat id",
        "cat_name": "name, asked once, at the first booking",
        "cat_appt": "appointments: practitioner, consultation type, date and time, status",
        "cat_prep": "answer to the preparation question, only for the types that ask one: {types}",
        "cat_no_prep": "no consultation type requires preparation: no reason for the visit is "
        "asked or kept",
        "cat_tech": "conversation state and offered choices; technical ids of received "
        "messages; messages waiting to be sent",
        "cat_never": "never: reason for the visit (beyond preparation), date of birth, e-mail, "
        "free text of messages",
        "recipients": "Recipients",
        "recipients_practice": "the practice's practitioners, each for their own agenda",
        "summary": "daily agenda summary sent to {who} by {how}, level of detail: {detail}",
        "detail_full": "full names",
        "detail_initials": "initials",
        "detail_count": "number of appointments only",
        "subprocessors": "Sub-processors",
        "host": "the host of the application and its database ({db}), which must be certified "
        "for health data hosting (HDS)",
        "twilio": "Twilio Inc. (sending and receiving SMS)",
        "telegram": "Telegram (messaging, for patients who choose to write to the practice on "
        "Telegram)",
        "transfers": "Transfers outside the European Union",
        "transfers_none": "none: only the host receives the data",
        "transfer_twilio": "Twilio Inc. (United States): phone number and SMS text; "
        "safeguards: EU-US Data Privacy Framework certification (adequacy decision of "
        "10 July 2023) and the European Commission's standard contractual clauses",
        "transfer_telegram": "Telegram (Telegram FZ-LLC, United Arab Emirates, no adequacy "
        "decision): chat id and message text, which the patient chose to exchange on "
        "Telegram; these messages never contain the consultation type, a reason or a "
        "preparation answer",
        "retention": "Retention",
        "ret_patient": "address and name: until erasure is requested, or {days} days after the "
        "last appointment and the last contact",
        "ret_appt": "appointments: {days} days after their date",
        "ret_prep": "preparation answer: until the end of the appointment",
        "ret_conv": "conversation state: 24 hours of inactivity",
        "ret_ids": "ids of received messages: 48 hours",
        "ret_outbox": "messages waiting to be sent: until sent (48 hours if sending failed)",
        "ret_audit": "audit log (no personal data, pseudonymous ids): {days} days",
        "security": "Security measures",
        "sec_items": "every personal value encrypted (AES-256-GCM), bound to its row and "
        "column; key ring with rotation (creneau keys rotate); blind index (HMAC-SHA256) to "
        "find a patient without storing their number in clear; authenticated webhooks "
        "(provider signature or secret); audit log of every access to personal data; "
        "production refuses development keys; technical logs without numbers, names or "
        "message texts; automatic daily purge",
        "rights": "Your rights",
        "rights_text": "you may ask for access to your data, its rectification, its erasure, "
        "the restriction of its processing, object to the processing and receive your data in "
        "a readable format (portability). By message: INFO (this notice), MY DATA (everything "
        "held, and correct your name), DELETE (erase everything), STOP (no more messages), "
        "START (resume). Or with the practice: {contact}",
        "complaint": "Complaints",
        "complaint_text": "you may lodge a complaint with the CNIL (French data protection "
        "authority), 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, www.cnil.fr",
        "required": "Whether the data is required",
        "required_text": "your number (or Telegram id) and your name are needed to book through "
        "this service; without them you can book directly with the practice. Answering the "
        "preparation question is optional.",
        "automated": "Automated decisions",
        "automated_text": "no automated decision-making or profiling: the service offers free "
        "slots and records your choice",
        "full_at": "This notice is also at: {url} (version {version})",
    },
}


def _t(lang: str) -> dict[str, str]:
    return T[lang if lang in T else "en"]


def _section(title: str, items: list[str]) -> str:
    return "\n".join([f"{title}:", *(f"  - {item}" for item in items)])


def _prep_types(practice: Practice, lang: str) -> list[str]:
    return [t.label_for(lang) for t in practice.consultation_types if t.requires_preparation]


def _categories(practice: Practice, lang: str) -> list[str]:
    t = _t(lang)
    prep = _prep_types(practice, lang)
    prep_line = t["cat_prep"].format(types=", ".join(prep)) if prep else t["cat_no_prep"]
    return [
        t["cat_address"],
        t["cat_name"],
        t["cat_appt"],
        prep_line,
        t["cat_tech"],
        t["cat_never"],
    ]


def _summaries(practice: Practice, settings: Settings, lang: str) -> list[str]:
    """Who gets a daily agenda summary, over which channel, at which level of detail."""
    t = _t(lang)
    out = []
    for p in practice.practitioners:
        how = [
            name
            for name, on in (
                ("Telegram", p.summary_telegram_chat_id and settings.telegram_enabled),
                ("SMS", p.summary_phone and settings.sms_enabled),
            )
            if on
        ]
        if how:
            out.append(
                t["summary"].format(
                    who=p.name, how=" / ".join(how), detail=t[f"detail_{p.summary_detail}"]
                )
            )
    return out


def _recipients(practice: Practice, settings: Settings, lang: str) -> list[str]:
    return [
        _t(lang)["recipients_practice"],
        *_summaries(practice, settings, lang),
        *_subprocessors(settings, lang),
    ]


def _subprocessors(settings: Settings, lang: str) -> list[str]:
    """The host, and the messaging providers actually configured."""
    t = _t(lang)
    db = make_url(settings.database_url).get_backend_name()
    out = [t["host"].format(db="PostgreSQL" if db.startswith("postgres") else db)]
    if settings.sms_enabled:
        out.append(t["twilio"])
    if settings.telegram_enabled:
        out.append(t["telegram"])
    return out


def _transfers(settings: Settings, lang: str) -> list[str]:
    t = _t(lang)
    out = ([t["transfer_twilio"]] if settings.sms_enabled else []) + (
        [t["transfer_telegram"]] if settings.telegram_enabled else []
    )
    return out or [t["transfers_none"]]


def _retention(practice: Practice, lang: str) -> list[str]:
    t = _t(lang)
    days, audit_days = practice.retention_days, practice.audit_retention_days
    items = [t["ret_patient"].format(days=days), t["ret_appt"].format(days=days)]
    if _prep_types(practice, lang):
        items.append(t["ret_prep"])
    return [
        *items,
        t["ret_conv"],
        t["ret_ids"],
        t["ret_outbox"],
        t["ret_audit"].format(days=audit_days),
    ]


def _controller_lines(practice: Practice, lang: str) -> list[str]:
    t = _t(lang)
    return [
        f"{t['controller']}: {practice.controller}",
        f"{t['contact']}: {practice.contact}",
        f"{t['dpo']}: {practice.dpo or t['no_dpo']}",
    ]


def register_text(practice: Practice, settings: Settings, lang: str) -> str:
    """The Art. 30 register entry for this practice's use of Créneau."""
    t = _t(lang)
    names = ", ".join(p.name for p in practice.practitioners)
    parts = [
        t["register_title"].format(name=practice.name),
        "\n".join(_controller_lines(practice, lang)),
        f"{t['processor']}: {t['processor_text']}",
        f"{t['purposes']}: {t['purposes_text']}",
        f"{t['basis']}: {t['basis_text']}",
        f"{t['subjects']}: {t['subjects_text'].format(practitioners=names)}",
        _section(t["categories"], _categories(practice, lang)),
        _section(t["recipients"], _recipients(practice, settings, lang)),
        _section(t["subprocessors"], _subprocessors(settings, lang)),
        _section(t["transfers"], _transfers(settings, lang)),
        _section(t["retention"], _retention(practice, lang)),
        f"{t['security']}: {t['sec_items']}",
    ]
    return "\n\n".join(parts) + "\n"


def full_notice(practice: Practice, settings: Settings, lang: str) -> str:
    """The full Art. 13 notice (every item of COMPLIANCE §2) for patients."""
    t = _t(lang)
    parts = [
        t["notice_title"].format(name=practice.name),
        "\n".join(_controller_lines(practice, lang)),
        f"{t['purposes']}: {t['purposes_text']}",
        f"{t['basis']}: {t['basis_text']}",
        _section(t["categories"], _categories(practice, lang)),
        _section(t["recipients"], _recipients(practice, settings, lang)),
        _section(t["transfers"], _transfers(settings, lang)),
        _section(t["retention"], _retention(practice, lang)),
        f"{t['rights']}: {t['rights_text'].format(contact=practice.contact)}",
        f"{t['complaint']}: {t['complaint_text']}",
        f"{t['required']}: {t['required_text']}",
        f"{t['automated']}: {t['automated_text']}",
        t["full_at"].format(url=practice.privacy_notice_url, version=practice.notice_version),
    ]
    return "\n\n".join(parts) + "\n"

"""The processor kit: the compliance documents of `docs/compliance/`, filled from the practice
file and the settings, as Markdown and as a printable HTML page.

The templates hold the wording (French, English where the reader may not read French); this
module holds the facts they state: who the controller and the processor are, which
sub-processors are actually configured, what passes through each messaging operator, what
the practitioners' messages carry, how long each kind of data is kept. The facts come from
the code's own constants where there is one, so a document cannot drift from what runs;
`tests/test_kit_truth.py` holds the declared contents below against real messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markdown
from markupsafe import Markup
from sqlalchemy.engine import make_url

from bot.practice import MAX_RETENTION_DAYS, Practice
from channels.settings import Settings
from store import lifecycle

KIT_DIR = Path(__file__).resolve().parent.parent / "docs" / "compliance"
TEMPLATES = KIT_DIR / "templates"
LANGS = ("fr", "en")


@dataclass(frozen=True)
class Document:
    """One document of the kit: its file stem, languages and title per language."""

    name: str
    langs: tuple[str, ...]
    title: Mapping[str, str]


DOCUMENTS = (
    Document(
        "accord-sous-traitance",
        ("fr",),
        {"fr": "Accord de sous-traitance (RGPD art. 28)"},
    ),
    Document(
        "registre-traitement",
        ("fr", "en"),
        {
            "fr": "Registre des activités de traitement : fiche du cabinet (art. 30.1)",
            "en": "Record of processing activities: the practice's entry (Art. 30(1))",
        },
    ),
    Document(
        "registre-sous-traitant",
        ("fr",),
        {"fr": "Registre du sous-traitant (RGPD art. 30.2)"},
    ),
    Document(
        "analyse-impact",
        ("fr",),
        {"fr": "Analyse d'impact relative à la protection des données : trame"},
    ),
    Document("hebergement-hds", ("fr",), {"fr": "Guide d'hébergement des données de santé (HDS)"}),
    Document(
        "violation-donnees",
        ("fr",),
        {"fr": "Violation de données : procédure (art. 33 et 34)"},
    ),
    Document("conservation", ("fr",), {"fr": "Politique de conservation des données"}),
    Document(
        "information-patients",
        ("fr", "en"),
        {
            "fr": "Information sur le traitement de vos données",
            "en": "How your data is processed",
        },
    ),
    Document(
        "affiche",
        ("fr", "en"),
        {"fr": "Affiche pour la salle d'attente", "en": "Waiting-room poster"},
    ),
    Document("guide-cabinet", ("fr",), {"fr": "Guide du cabinet : bon usage de Créneau"}),
)

# ---------------------------------------------------------------- what leaves the host
# The kinds of content the documents declare (worded once in templates/_facts.*.j2): every
# kind a real booking or summary carries must be declared here and stated there.

# What passes through a messaging operator while a patient books, moves or asks something:
# the live exchange cannot hide it (the menu lists the types, the patient's answer names one).
LIVE_CONTENT = (
    "types",  # the menu of consultation types (their labels, also on the buttons)
    "choice",  # the patient's choice: a number by SMS, a button (carrying the type id) on Telegram
    "slots",  # the offered dates and times, the practitioner's name
    "name",  # the name the patient gives at the first booking (and a correction)
    "prep_instructions",  # a preparation type's instructions
    "prep_question",  # a preparation type's question
    "prep_answer",  # the patient's answer to it
    "own_data",  # at the patient's request (MES DONNEES): what is held about them
)
# What reminders and notices carry: they stay on the phone and arrive unasked.
AFTER_CONTENT = ("date", "time", "practice", "practitioner", "address")
# What the Telegram Bot API hands a bot with every message (the `from` user), and what the
# service keeps of it: the chat id (encrypted) and the language of the app.
TELEGRAM_PROFILE = ("chat_id", "first_name", "last_name", "username", "language")
# What a practitioner's daily summary (and a `/agenda` answer) carries per detail level.
SUMMARY_CONTENT: dict[str, tuple[str, ...]] = {
    "full": ("counts", "times", "initials", "desk_link"),
    "initials": ("times", "initials"),
    "count": ("counts", "times"),
}


def _hours(delta: Any) -> int:
    return int(delta.total_seconds() // 3600)


def retention(practice: Practice) -> dict[str, int]:
    """Every retention period the code applies, in days or hours (store.lifecycle)."""
    return {
        "days": practice.retention_days,
        "max_days": MAX_RETENTION_DAYS,
        "audit_days": practice.audit_retention_days,
        "conversation_hours": _hours(lifecycle.CONVERSATION_IDLE),
        "replies_hours": _hours(lifecycle.REPLY_KEEP),
        "message_ids_days": lifecycle.processed_keep(practice).days,
        "failed_hours": _hours(lifecycle.FAILED_OUTBOX_KEEP),
        "pending_hours": _hours(lifecycle.PENDING_KEEP),
        "claims_days": lifecycle.CLAIM_KEEP.days,
        "rate_limit_hours": _hours(lifecycle.RATE_LIMIT_KEEP),
    }


def _database(settings: Settings) -> str:
    backend = make_url(settings.database_url).get_backend_name()
    return "PostgreSQL" if backend.startswith("postgres") else "SQLite"


def _types(practice: Practice, lang: str) -> list[dict[str, Any]]:
    out = []
    for t in practice.consultation_types:
        question = (t.preparation_question or {}).get(lang) or (
            next(iter((t.preparation_question or {}).values()), "")
        )
        out.append(
            {
                "id": t.id,
                "label": t.label_for(lang),
                "prep": t.requires_preparation,
                "question": question,
            }
        )
    return out


def _summaries(practice: Practice, settings: Settings) -> list[dict[str, Any]]:
    """Per practitioner: where the daily summary may go, and what it carries."""
    out = []
    for p in practice.practitioners:
        channels = []
        if settings.telegram_enabled:
            channels.append("telegram")  # once linked by its one-time code
        if p.summary_phone and settings.sms_enabled:
            channels.append("sms")
        out.append(
            {
                "name": p.name,
                "detail": p.summary_detail,
                "channels": channels,
                "content": SUMMARY_CONTENT[p.summary_detail],
            }
        )
    return out


def facts(practice: Practice, settings: Settings, lang: str) -> dict[str, Any]:
    """What every template may state, in `lang` where a value has a language."""
    types = _types(practice, lang)
    return {
        "lang": lang,
        "practice": practice,
        "operator": practice.operator,
        "basis": practice.legal_basis_text(lang),
        "basis_stated": bool(practice.legal_article),
        "sms": settings.sms_enabled,
        "telegram": settings.telegram_enabled,
        "messaging": settings.sms_enabled or settings.telegram_enabled,
        "database": _database(settings),
        "types": types,
        "prep_types": [t for t in types if t["prep"]],
        "retention": retention(practice),
        "summaries": _summaries(practice, settings),
        "reminders": practice.reminder_hours_before,
        "notice_url": practice.privacy_notice_url,
        "documents": DOCUMENTS,
    }


# ---------------------------------------------------------------- rendering


def _todo(value: object, what: str = "") -> str:
    """The value, or a visible blank for the practice or the operator to fill in."""
    text = str(value or "").strip()
    return text or f"[à compléter{' : ' + what if what else ''}]"


BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")


def _text_for_html(value: object) -> object:
    """A value put in Markdown that becomes HTML: `&`, `<` and `>` as entities, once (a
    macro's output passes here again; Markdown keeps these entities as they are)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return BARE_AMPERSAND.sub("&amp;", value).replace("<", "&lt;").replace(">", "&gt;")


def _environment(html: bool) -> jinja2.Environment:
    """Templates render Markdown; for the HTML page, every value is HTML-escaped first so
    a practice file's `<` stays text once Markdown is turned into HTML."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_text_for_html if html else None,
    )
    env.filters["todo"] = _todo
    env.filters["extract"] = lambda key, mapping: mapping[key]
    return env


_ENVS: dict[bool, jinja2.Environment] = {}


def environment(html: bool = False) -> jinja2.Environment:
    """The (cached) template environment for Markdown or for HTML output."""
    if html not in _ENVS:
        if not TEMPLATES.is_dir():
            raise FileNotFoundError(
                f"the compliance templates are not at {TEMPLATES}: run from a checkout of the "
                "project (pip install -e .)"
            )
        _ENVS[html] = _environment(html)
    return _ENVS[html]


INDEX = Document("index", ("fr",), {"fr": "Kit de conformité", "en": "Compliance kit"})


def document(name: str) -> Document:
    """The kit document with that file stem (or the kit's index)."""
    return next((d for d in DOCUMENTS if d.name == name), INDEX)


def render_markdown(
    name: str, lang: str, practice: Practice, settings: Settings, html: bool = False, **extra: Any
) -> str:
    """One document (or a template of the kit) as Markdown."""
    context = {**facts(practice, settings, lang), **extra}
    return environment(html).get_template(f"{name}.{lang}.md.j2").render(context)


def to_html(text: str) -> str:
    """Markdown (with tables) as an HTML fragment."""
    return markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")


def page(
    title: str, body_html: str, lang: str, alternate: tuple[str, str, str] | None = None
) -> str:
    """A whole HTML page, readable on a phone and printable; `alternate` is (href, lang,
    label) of the same page in another language."""
    template = environment(html=True).get_template("_page.html.j2")
    return template.render(title=title, body=Markup(body_html), lang=lang, alternate=alternate)


def render_html(
    name: str,
    lang: str,
    practice: Practice,
    settings: Settings,
    alternate: tuple[str, str, str] | None = None,
    **extra: Any,
) -> str:
    """One document as a printable HTML page."""
    text = render_markdown(name, lang, practice, settings, html=True, **extra)
    title = f"{document(name).title[lang]} - {practice.name}"
    return page(title, to_html(text), lang, alternate)


def write_kit(directory: str | Path, practice: Practice, settings: Settings) -> list[Path]:
    """Write every document, Markdown and HTML, in each of its languages, and an index."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in (*DOCUMENTS, INDEX):
        for lang in doc.langs:
            md = target / f"{doc.name}.{lang}.md"
            md.write_text(render_markdown(doc.name, lang, practice, settings), encoding="utf-8")
            html = target / f"{doc.name}.{lang}.html"
            html.write_text(render_html(doc.name, lang, practice, settings), encoding="utf-8")
            written += [md, html]
    return written

"""Translation of engine replies: gettext catalogs per language, dates through Babel.

Message keys live in the engine; words live in `locales/<lang>/LC_MESSAGES/messages.po`.
The install compiles the catalogs; a missing `.mo` is compiled in memory from its `.po`
so a fresh checkout still speaks.
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime

from bot.gsm import segments, to_gsm7
from bot.messages import Moment, PerLang, Rendered, Reply, Text

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
log = logging.getLogger(__name__)


def _load(lang: str, localedir: Path) -> gettext.NullTranslations:
    mo = localedir / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po = mo.with_suffix(".po")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    if not po.exists():
        raise FileNotFoundError(f"no catalog for language {lang!r} in {localedir}")
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@cache
def _locale(lang: str) -> Locale:
    """Babel's locale data for lang, parsed once per process."""
    return Locale.parse(lang)


@lru_cache(maxsize=4096)
def _formatted(value: datetime, pattern: str, lang: str, tz: ZoneInfo) -> str:
    """A date-time in `tz` through Babel's pattern, remembered: every patient is offered
    the same few days' slots, and Babel parses the pattern and walks the locale data at
    each call."""
    return format_datetime(value.astimezone(tz), pattern, tzinfo=tz, locale=_locale(lang))


class Catalogs:
    """All languages' translations, loaded once per process."""

    def __init__(
        self, languages: tuple[str, ...] = ("fr", "en"), localedir: Path = LOCALES_DIR
    ) -> None:
        self.languages = languages
        self._tr = {lang: _load(lang, localedir) for lang in languages}

    def gettext(self, key: str, lang: str, count: int | None = None) -> str:
        tr = self._tr.get(lang) or self._tr[self.languages[0]]
        msg = tr.ngettext(key, key, count) if count is not None else tr.gettext(key)
        if msg == key:
            log.warning("missing translation key=%s lang=%s", key, lang)
        return msg

    def text(self, t: Text, lang: str, tz: ZoneInfo) -> str:
        """One Text in lang, its parameters rendered too."""
        if t.key == "raw":
            return self._param(t.params.get("value", ""), lang, tz)
        if t.key in ("join", "join_lines"):
            sep = ", " if t.key == "join" else "\n"
            parts = (self._param(i, lang, tz) for i in t.params.get("items", ()))
            return sep.join(p for p in parts if p)
        template = self.gettext(t.key, lang, t.count)
        return template.format_map(self._params(t.params, lang, tz)) if t.params else template

    def _params(self, params: Mapping[str, Any], lang: str, tz: ZoneInfo) -> dict[str, str]:
        return {k: self._param(v, lang, tz) for k, v in params.items()}

    def _param(self, value: Any, lang: str, tz: ZoneInfo) -> str:
        if isinstance(value, Text):
            return self.text(value, lang, tz)
        if isinstance(value, Moment):
            return self.moment(value.value, value.style, lang, tz)
        if isinstance(value, PerLang):
            return value.pick(lang)
        return str(value)

    def moment(self, value: datetime, style: str, lang: str, tz: ZoneInfo) -> str:
        """A date-time in the practice time zone, in the pattern the catalog gives for style."""
        return _formatted(value, self.gettext(f"fmt.{style}", lang), lang, tz)

    def render(self, reply: Reply, lang: str, tz: ZoneInfo) -> Rendered:
        """A reply as text plus (token, label) choices; tokens are `generation.index`.

        With shorter alternatives, the first form that fits one SMS segment (GSM-7 folded)
        is used: headers shrink, choices never do."""
        choices = tuple(
            (f"{reply.generation}.{i}", self.text(c.label, lang, tz))
            for i, c in enumerate(reply.choices, 1)
        )
        rendered = Rendered(self._joined(reply.texts, lang, tz), choices)
        for texts in reply.shorter:
            if segments(to_gsm7(rendered.as_lines())) <= 1:
                break
            rendered = Rendered(self._joined(texts, lang, tz), choices)
        return rendered

    def _joined(self, texts: tuple[Text, ...], lang: str, tz: ZoneInfo) -> str:
        return "\n".join(s for s in (self.text(t, lang, tz) for t in texts) if s)

"""SMS text helpers: GSM-7 folding, encoding detection and segment counting (3GPP TS 23.038).

Segments are counted as Twilio counts them: a grapheme cluster (👍🏽, 🇫🇷, 👩‍⚕️, a letter
and its combining accent) is never split across two segments, so a long message full of
emoji can take one segment more than a count by code units says.

A single non-GSM character (a typographic apostrophe, a narrow no-break space) switches a whole SMS
to UCS-2, dropping the per-segment capacity from 160 to 70 characters: folding French typography
to GSM-7 keeps replies cheap and readable on every handset.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import regex

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENDED",
    "encoding",
    "graphemes",
    "segments",
    "to_gsm7",
    "truncate_to_segments",
]

# The default alphabet, in table order (0x00-0x7F); 0x1B (ESC) is the escape to the extension
# table, not a character of its own.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# The extension table: each character costs two septets (ESC + code).
GSM7_EXTENDED: frozenset[str] = frozenset("\f^{}\\[]~|€")

GSM7_SEGMENT = 160
GSM7_CONCAT_SEGMENT = 153
UCS2_SEGMENT = 70
UCS2_CONCAT_SEGMENT = 67

ELLIPSIS = "..."

# One-to-one (or one-to-few) replacements towards GSM-7; every key is outside GSM-7.
CHAR_MAP: dict[str, str] = {
    # Lower-case letters.
    "ê": "e",
    "ë": "e",
    "ç": "c",
    "â": "a",
    "î": "i",
    "ï": "i",
    "ô": "o",
    "û": "u",
    "ÿ": "y",
    "œ": "oe",
    # Upper-case letters (É and Ç are GSM-7 and stay).
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "À": "A",
    "Â": "A",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Ÿ": "Y",
    "Œ": "OE",
    # Quotes.
    "’": "'",
    "‘": "'",
    "‚": "'",
    "′": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    # Spaces.
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    # Dashes, bullets, ellipsis.
    "\u2010": "-",
    "\u2011": "-",
    "–": "-",
    "—": "-",
    "\u2212": "-",
    "…": "...",
    "•": "-",
}

# Zero-width characters that are always dropped. U+200D (zero-width joiner) is handled apart: it
# is kept between two non-GSM characters, where it glues emoji sequences together.
_ZERO_WIDTH = "\u200b\u200c\u2060\ufeff"
_ZWJ = "\u200d"

_ZERO_WIDTH_RE = re.compile(f"[{_ZERO_WIDTH}]")
_HSPACE = " \u00a0\u202f\u2009"
_GUILLEMET_OPEN_RE = re.compile(f"«[{_HSPACE}]*")
_GUILLEMET_CLOSE_RE = re.compile(f"[{_HSPACE}]*»")
_CHAR_MAP_RE = re.compile("|".join(re.escape(key) for key in CHAR_MAP))

_BLANK_RE = re.compile(r"\s")

_GSM7 = GSM7_BASIC | GSM7_EXTENDED


def _is_gsm7(char: str) -> bool:
    """Whether one character is encodable in GSM-7 (basic or extension table)."""
    return char in _GSM7


def _drop_stray_joiners(text: str) -> str:
    """Remove every ZWJ that does not sit between two non-GSM, non-ZWJ characters (emoji)."""
    if _ZWJ not in text:
        return text

    def glues(index: int) -> bool:
        before = text[index - 1] if index > 0 else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        return all(c and c != _ZWJ and not _is_gsm7(c) for c in (before, after))

    return "".join(c for i, c in enumerate(text) if c != _ZWJ or glues(i))


def _fold_once(text: str) -> str:
    """One folding pass: normalise, drop zero-width characters, then map typography."""
    text = _ZERO_WIDTH_RE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _GUILLEMET_OPEN_RE.sub('"', text)
    text = _GUILLEMET_CLOSE_RE.sub('"', text)
    text = _CHAR_MAP_RE.sub(lambda m: CHAR_MAP[m.group()], text)
    return _drop_stray_joiners(text)


def to_gsm7(text: str) -> str:
    """Fold French typography to GSM-7 equivalents, keeping the meaning.

    Characters with no sensible GSM-7 equivalent (emoji, CJK...) are left as is: the message is
    then sent as UCS-2, which is correct. Passes repeat until stable because dropping a joiner
    can let NFC compose a new accented letter (``e`` + ZWJ + U+0302 gives ``ê``, then ``e``).
    """
    if not _NON_GSM.search(text):
        return text  # already GSM-7: nothing to fold (the usual case)
    while (folded := _fold_once(text)) != text:
        text = folded
    return text


_NON_GSM = re.compile("[^" + "".join(re.escape(c) for c in sorted(_GSM7)) + "]")
_EXTENDED = re.compile("[" + "".join(re.escape(c) for c in sorted(GSM7_EXTENDED)) + "]")


def encoding(text: str) -> Literal["GSM-7", "UCS-2"]:
    """The encoding an SMS carrying ``text`` must use."""
    return "UCS-2" if _NON_GSM.search(text) else "GSM-7"


_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """The user-perceived characters of ``text`` (Unicode extended grapheme clusters)."""
    return _GRAPHEME.findall(text)


def _cost(cluster: str, gsm: bool) -> int:
    """Septets (GSM-7, an extension character costs two) or UTF-16 code units (UCS-2)."""
    if gsm:
        return sum(2 if c in GSM7_EXTENDED else 1 for c in cluster)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in cluster)


def _units(text: str) -> list[int]:
    """Per-grapheme cost in the message's encoding: one entry per unsplittable cluster."""
    gsm = encoding(text) == "GSM-7"
    return [_cost(cluster, gsm) for cluster in graphemes(text)]


def _pack(units: list[int], capacity: int) -> int:
    """Segments needed when no cluster (an escape pair, a surrogate pair, an emoji sequence)
    may straddle two; a cluster longer than a whole segment is cut by code units."""
    count, used = 1, 0
    for cost in units:
        if cost > capacity:  # pathological (dozens of combining marks): split it
            for _ in range(cost):
                if used + 1 > capacity:
                    count, used = count + 1, 0
                used += 1
            continue
        if used + cost > capacity:
            count, used = count + 1, 0
        used += cost
    return count


def segments(text: str) -> int:
    """Number of SMS segments billed for ``text`` (an empty SMS still costs one)."""
    if "\r" not in text and not _NON_GSM.search(text):
        # GSM-7 without CR: every character is a cluster of its own, no need to find them
        extended = len(_EXTENDED.findall(text))
        septets = len(text) + extended
        if septets <= GSM7_SEGMENT:
            return 1
        if not extended:  # one septet per character: nothing can straddle two segments
            return -(-septets // GSM7_CONCAT_SEGMENT)
        return _pack([2 if c in GSM7_EXTENDED else 1 for c in text], GSM7_CONCAT_SEGMENT)
    units = _units(text)
    single, concat = (
        (GSM7_SEGMENT, GSM7_CONCAT_SEGMENT)
        if encoding(text) == "GSM-7"
        else (UCS2_SEGMENT, UCS2_CONCAT_SEGMENT)
    )
    if sum(units) <= single:
        return 1
    return _pack(units, concat)


def _with_ellipsis(text: str, length: int) -> str:
    """The first ``length`` characters, trailing blanks removed, followed by an ellipsis."""
    return text[:length].rstrip() + ELLIPSIS


def _longest_fit(text: str, max_segments: int) -> int:
    """Largest prefix length whose ellipsised form fits in ``max_segments`` (binary search).

    Cost never decreases as the prefix grows (more units, and GSM-7 can only turn into UCS-2),
    so the predicate is monotonic.
    """
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if segments(_with_ellipsis(text, mid)) <= max_segments:
            low = mid
        else:
            high = mid - 1
    return low


def _cut_point(text: str, limit: int) -> int:
    """Where to cut a prefix of at most ``limit`` characters: the last line break if it keeps at
    least half of the budget, else the last blank, else ``limit`` itself (mid-word).

    A blank exactly at ``limit`` counts: the word before it is complete.
    """
    window = text[: limit + 1]
    line = window.rfind("\n")
    if line > 0 and line * 2 >= limit and window[:line].strip():
        return line
    blanks = [m.start() for m in _BLANK_RE.finditer(window)]
    if blanks and blanks[-1] > 0 and window[: blanks[-1]].strip():
        return blanks[-1]
    return limit


def truncate_to_segments(text: str, max_segments: int) -> str:
    """Cap ``text`` at ``max_segments`` SMS segments, cutting on a line or word boundary.

    The text is returned unchanged when it already fits; otherwise it ends with "...". A single
    word longer than the budget is cut mid-word.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if segments(text) <= max_segments:
        return text
    limit = _longest_fit(text, max_segments)
    return _with_ellipsis(text, _cut_point(text, limit))

"""Cleaning what a patient or a desk user types before it is stored or shown elsewhere.

A name or a preparation answer ends up in a practitioner's agenda, a terminal (`creneau
agenda`) and a web page. Terminal escape sequences (ESC, OSC titles, BEL), NUL and the
other control characters, and the bidirectional overrides that can make "10:00" read
"00:01", have no place in them: they are removed where the text enters.
"""

from __future__ import annotations

import re
import unicodedata

# ANSI sequences as a whole (their payload would otherwise survive as text):
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and other two-character escapes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$)"  # OSC, terminated or cut short
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x9c|\x1b\\|$)"  # 8-bit OSC
    r"|\x1b[@-_]?"  # any other escape
)
# Bidirectional embeddings, overrides, isolates and marks (Unicode TR 9).
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_KEEP_FORMAT = frozenset("\u200c\u200d")  # joiners: needed by some scripts and emoji
_SPACE = re.compile(r"\s+")


def _drop(char: str) -> bool:
    """Whether a character is a control, a bidi control or an invisible format character."""
    if char in BIDI_CONTROLS:
        return True
    category = unicodedata.category(char)
    return category == "Cc" or (category == "Cf" and char not in _KEEP_FORMAT)


def clean_field(text: str) -> str:
    """`text` without escape sequences, control, bidi-override or format characters; line
    breaks and tabs become spaces, runs of spaces one, ends trimmed."""
    text = _ANSI.sub("", text)
    text = "".join(" " if c in "\t\n\r\v\f" else c for c in text)
    text = "".join(c for c in text if not _drop(c))
    return _SPACE.sub(" ", text).strip()

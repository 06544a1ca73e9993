"""Tests for bot.gsm: GSM-7 folding, encoding detection, segment counting and truncation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.gsm import (
    CHAR_MAP,
    GSM7_BASIC,
    GSM7_EXTENDED,
    encoding,
    segments,
    to_gsm7,
    truncate_to_segments,
)

EMOJI = "😀"  # outside the BMP: two UTF-16 code units
FAMILY = "👨\u200d👩\u200d👧"
FRENCH_GSM = "éèùàìòÇÄÖÑÜäöñüßÅåÆæØøÉ"

# --- Alphabet -------------------------------------------------------------------------------------


def test_alphabet_sizes() -> None:
    # 128 code points minus ESC; the extension table has 10 characters (form feed included).
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENDED) == 10
    assert not GSM7_BASIC & GSM7_EXTENDED


@pytest.mark.parametrize("char", sorted(GSM7_BASIC | GSM7_EXTENDED))
def test_every_gsm_char_is_kept(char: str) -> None:
    assert to_gsm7(char) == char
    assert encoding(char) == "GSM-7"


def test_french_gsm_letters_are_kept() -> None:
    assert to_gsm7(FRENCH_GSM) == FRENCH_GSM
    assert encoding(FRENCH_GSM) == "GSM-7"


def test_map_keys_are_not_gsm_and_values_are() -> None:
    for key, value in CHAR_MAP.items():
        assert encoding(key) == "UCS-2", key
        assert encoding(value) == "GSM-7", key


# --- Folding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("ê", "e"),
        ("ë", "e"),
        ("È", "E"),
        ("Ê", "E"),
        ("Ë", "E"),
        ("ç", "c"),
        ("â", "a"),
        ("î", "i"),
        ("ï", "i"),
        ("ô", "o"),
        ("û", "u"),
        ("À", "A"),
        ("Â", "A"),
        ("Î", "I"),
        ("Ô", "O"),
        ("Ù", "U"),
        ("Û", "U"),
        ("œ", "oe"),
        ("Œ", "OE"),
        ("’", "'"),
        ("‘", "'"),
        ("‚", "'"),
        ("′", "'"),
        ("“", '"'),
        ("”", '"'),
        ("„", '"'),
        ("«", '"'),
        ("»", '"'),
        ("a\u00a0b", "a b"),
        ("a\u202fb", "a b"),
        ("a\u2009b", "a b"),
        ("–", "-"),
        ("—", "-"),
        ("…", "..."),
        ("•", "-"),
        ("a\u200bb", "ab"),
        ("a\u200cb", "ab"),
        ("a\u200db", "ab"),
        ("a\u2060b", "ab"),
        ("\ufeffab", "ab"),
    ],
)
def test_mapping(source: str, expected: str) -> None:
    assert to_gsm7(source) == expected


@pytest.mark.parametrize("char", ["É", "Ç", "æ", "Æ", "é", "è", "ù", "à"])
def test_gsm_accents_not_folded(char: str) -> None:
    assert to_gsm7(char) == char


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("« oui »", '"oui"'),
        ("«\u00a0oui\u00a0»", '"oui"'),
        ("«\u202foui\u202f»", '"oui"'),
        ("Répondez «\u00a0OUI\u00a0» ou «\u00a0NON\u00a0».", 'Répondez "OUI" ou "NON".'),
    ],
)
def test_guillemets_drop_inner_spaces(source: str, expected: str) -> None:
    assert to_gsm7(source) == expected


def test_french_sentence() -> None:
    source = "Votre RDV chez l’ostéopathe est confirmé\u202f: jeudi 12 à 14h30 — à bientôt…"
    expected = "Votre RDV chez l'ostéopathe est confirmé : jeudi 12 à 14h30 - à bientot..."
    assert to_gsm7(source) == expected
    assert encoding(to_gsm7(source)) == "GSM-7"


def test_nfc_first() -> None:
    assert to_gsm7("e\u0301") == "é"  # decomposed é composes, and é is GSM-7
    assert to_gsm7("e\u0302") == "e"  # decomposed ê composes, then folds


def test_non_gsm_left_as_is() -> None:
    assert to_gsm7(f"Merci {EMOJI} 予約") == f"Merci {EMOJI} 予約"
    assert encoding(to_gsm7(f"Merci {EMOJI}")) == "UCS-2"


def test_zwj_kept_inside_emoji_sequence() -> None:
    assert to_gsm7(FAMILY) == FAMILY
    assert to_gsm7(f"a\u200d{EMOJI}") == f"a{EMOJI}"


# --- Encoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "GSM-7"),
        ("Bonjour", "GSM-7"),
        ("été à 10€ {ok}", "GSM-7"),
        ("Ça va", "GSM-7"),
        ("ça va", "UCS-2"),
        ("l’été", "UCS-2"),
        ("a\u00a0b", "UCS-2"),
        (EMOJI, "UCS-2"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    assert encoding(text) == expected


# --- Segments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_segment_boundaries(length: int, expected: int) -> None:
    assert segments("a" * length) == expected


@pytest.mark.parametrize(
    ("length", "expected"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_segment_boundaries(length: int, expected: int) -> None:
    assert segments("ç" * length) == expected


def test_extension_chars_count_two_septets() -> None:
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 80 + "a") == 2  # 161 septets
    assert segments("a" * 159 + "€") == 2  # 161 septets


def test_extension_escape_not_split_across_segments() -> None:
    # 152 + 2 septets would straddle the first 153-septet boundary: the € moves on.
    assert segments("a" * 152 + "€" + "a" * 152) == 3  # 306 septets, 3 once packed
    assert segments("a" * 151 + "€" + "a" * 153) == 2  # 306 septets, aligned
    assert segments("a" * 152 + "€" * 77) == 3  # 306 septets: every € segment holds 152
    assert segments("a" * 152 + "€" + "a" * 7) == 2  # 161 septets, the € opens segment 2


def test_surrogate_pairs_count_two_units() -> None:
    assert segments(EMOJI * 35) == 1  # 70 units
    assert segments(EMOJI * 35 + "a") == 2  # 71 units
    assert segments("a" * 69 + EMOJI) == 2  # 71 units


def test_surrogate_pair_not_split_across_segments() -> None:
    assert segments("a" * 66 + EMOJI + "a" * 66) == 3  # 134 units, 3 once packed
    assert segments("a" * 65 + EMOJI + "a" * 67) == 2  # 134 units, aligned
    assert segments(EMOJI * 67) == 3  # 134 units, but only 33 pairs fit in 67 units


def test_one_non_gsm_char_switches_whole_message() -> None:
    assert segments("a" * 100) == 1
    assert segments("a" * 100 + "’") == 2


# --- Truncation -----------------------------------------------------------------------------------


def test_truncate_returns_fitting_text_unchanged() -> None:
    text = "Bonjour, votre rendez-vous est confirmé."
    assert truncate_to_segments(text, 1) is text


def test_truncate_cuts_on_word_boundary() -> None:
    text = " ".join(["rendez-vous"] * 40)
    result = truncate_to_segments(text, 1)
    assert segments(result) == 1
    assert result.endswith("rendez-vous...")
    assert text.startswith(result.removesuffix("..."))
    assert len(result) > 140  # does not give away a whole word's worth too much


def test_truncate_cuts_on_line_boundary() -> None:
    text = "Créneaux disponibles :\n" + "\n".join(f"- lundi {h}h00" for h in range(8, 40))
    result = truncate_to_segments(text, 2)
    assert segments(result) <= 2
    assert result.endswith("h00...")
    assert text.startswith(result.removesuffix("...") + "\n")


def test_truncate_prefers_word_when_line_is_far_back() -> None:
    text = "Bonjour\n" + "mot " * 100
    result = truncate_to_segments(text, 1)
    assert result.endswith("mot...")
    assert len(result) > 140


def test_truncate_single_long_word_is_cut_mid_word() -> None:
    result = truncate_to_segments("x" * 500, 1)
    assert result == "x" * 157 + "..."
    assert segments(result) == 1


def test_truncate_ucs2_text() -> None:
    text = f"{EMOJI} " * 100
    result = truncate_to_segments(text, 2)
    assert segments(result) <= 2
    assert result.endswith(f"{EMOJI}...")


def test_truncate_rejects_zero_segments() -> None:
    with pytest.raises(ValueError):
        truncate_to_segments("a" * 200, 0)


# --- Properties -----------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [
        *sorted(GSM7_BASIC | GSM7_EXTENDED | set(CHAR_MAP)),
        *["\u200b", "\u200d", "\u0301", "\u0302", EMOJI, "予"],
    ]
)
_MIXED = st.one_of(st.text(_ALPHABET), st.text())


@given(_MIXED)
def test_to_gsm7_idempotent(text: str) -> None:
    once = to_gsm7(text)
    assert to_gsm7(once) == once


@given(st.text(_ALPHABET.filter(lambda c: c != "…")))
def test_to_gsm7_at_most_doubles(text: str) -> None:
    assert len(to_gsm7(text)) <= 2 * len(text)


@given(_MIXED)
def test_to_gsm7_at_most_triples(text: str) -> None:
    # "…" -> "..." is the longest mapping (and NFC never expands beyond 3 code points).
    assert len(to_gsm7(text)) <= 3 * len(text)


@given(_MIXED)
def test_to_gsm7_leaves_no_mapped_char(text: str) -> None:
    result = to_gsm7(text)
    assert not set(result) & (set(CHAR_MAP) | set("\u200b\u200c\u2060\ufeff"))


@given(_MIXED, st.integers(min_value=1, max_value=5))
def test_truncate_fits(text: str, max_segments: int) -> None:
    assert segments(truncate_to_segments(text, max_segments)) <= max_segments


# --- Twilio's segment rules: reference cases and grapheme clusters -----------------------------

DIGITS = "1234567890"

# Cases from Twilio's own segment calculator test suite (TwilioDevEd/message-segment-calculator,
# tests/index.test.js and tests/segments.test.js): body -> segments.
TWILIO_REFERENCE = [
    ("{" + (DIGITS * 16)[1:159], 1),  # 158 + an escape pair = 160 septets
    ("{" + (DIGITS * 16)[1:160], 2),
    ("😜" + (DIGITS * 7)[1:68], 1),  # 2 + 67 code units = 69
    ("😜" + (DIGITS * 8)[1:70], 2),
    ((DIGITS * 31)[:307], 3),  # 153 + 153 + 1
    ("😜" + (DIGITS * 14)[1:135], 3),  # 67 + 67 + 1 code units
]


@pytest.mark.parametrize(("body", "expected"), TWILIO_REFERENCE)
def test_segments_match_twilios_calculator(body: str, expected: int) -> None:
    assert segments(body) == expected


@pytest.mark.parametrize(
    ("cluster", "units"),
    [("👍🏽", 4), ("🇫🇷", 4), ("👩\u200d⚕️", 5), ("e\u0301", 2), (FAMILY, 8)],
)
def test_a_grapheme_cluster_is_never_split_across_segments(cluster: str, units: int) -> None:
    """A cluster that would straddle the end of a segment moves whole to the next one. The
    text is built so that, split between its first code point and the rest, it would fill
    exactly two 67-unit segments: kept whole, it needs a third."""
    assert len(cluster.encode("utf-16-le")) // 2 == units
    first = len(cluster[0].encode("utf-16-le")) // 2
    head = "x" * (67 - first)
    body = head + cluster + "x" * (2 * 67 - len(head) - units)
    assert len(body.encode("utf-16-le")) // 2 == 2 * 67
    assert segments(body) == 3


def test_graphemes_are_user_perceived_characters() -> None:
    from bot.gsm import graphemes

    assert graphemes("a👍🏽🇫🇷👩\u200d⚕️e\u0301!") == ["a", "👍🏽", "🇫🇷", "👩\u200d⚕️", "e\u0301", "!"]


def test_emoji_with_skin_tone_counts_as_one_cluster_in_a_single_segment() -> None:
    assert segments("👍🏽" * 17) == 1  # 68 code units
    assert segments("👍🏽" * 18) == 2

"""Patient addresses: checked and normalised before they are indexed or sealed.

Only a real sender opens a patient record: a phone number libphonenumber holds valid
(a number in national form from an overseas department is read in its own region), or a
private Telegram chat. Alphanumeric senders ("PHARMACIE", "A0612345678") and short codes
are refused, so they can never be taken for a patient.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# Regions whose numbers a patient of the practice's region writes in national form with
# the same trunk prefix: "0692 12 34 56" written in France is a Réunion mobile.
NATIONAL_FAMILY: dict[str, tuple[str, ...]] = {
    "FR": ("RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF"),
}
_DIALLABLE = re.compile(r"^\+?[0-9 ().\-/]{3,40}$")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class AddressError(ValueError):
    """An address that cannot be a patient's (never carries the value itself)."""


@lru_cache(maxsize=4096)
def phone_number(raw: str, region: str = "FR") -> str:
    """A valid phone number in E.164 form, or AddressError (alphanumeric, short code...).
    Cached: a patient's number is read again at every message of a conversation."""
    raw = raw.strip()
    if not _DIALLABLE.match(raw):
        raise AddressError("not a dialable phone number")
    for candidate in (region, *NATIONAL_FAMILY.get(region, ())):
        try:
            number = phonenumbers.parse(raw, candidate)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if raw.startswith("+"):
            break  # an international number has one reading only
    raise AddressError("not a valid phone number")


def normalise(channel: str, raw: str, region: str = "FR") -> str:
    """E.164 for phone numbers, the bare id for private Telegram chats and console users."""
    raw = raw.strip()
    if channel == "sms":
        return phone_number(raw, region)
    if channel == "telegram":
        if not raw.isdigit() or int(raw) <= 0:  # groups and channels have negative ids
            raise AddressError("not a private Telegram chat id")
        return str(int(raw))
    if not raw or len(raw) > 64:
        raise AddressError("empty or too long console id")
    return raw


def presumed(channel: str, raw: str, region: str = "FR") -> tuple[str, bool]:
    """The sender's address and whether it was checked. An SMS sender already in E.164
    form (as Twilio sends every phone number) is taken as it is, unchecked: a known
    patient's number was checked when the row was made, and a valid number in E.164 form
    is its own normal form (libphonenumber's example numbers of every region hold this, in
    the tests), so it finds that row; the turn runs `checked` only for a sender it finds
    no row for. That spares a returning patient's turn libphonenumber's parsing and
    validation (tens of microseconds) in a process that has not seen the number yet."""
    if channel == "sms":
        bare = raw.strip()
        if _E164.fullmatch(bare):
            return bare, False
    return normalise(channel, raw, region), True


def checked(address: str, region: str = "FR") -> None:
    """AddressError unless the presumed SMS address is a valid number in its normal form."""
    if phone_number(address, region) != address:
        raise AddressError("not a phone number in its normal form")


def index_value(channel: str, normalised: str) -> str:
    """What the blind index hashes: the channel and the normalised address."""
    return f"{channel}:{normalised}"

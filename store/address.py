"""Patient addresses: normalised before they are indexed or sealed."""

from __future__ import annotations

import phonenumbers


class AddressError(ValueError):
    """An address that cannot be a patient's (never carries the value itself)."""


def normalise(channel: str, raw: str, region: str = "FR") -> str:
    """E.164 for phone numbers, the bare id for Telegram chats and console users."""
    raw = raw.strip()
    if channel == "sms":
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise AddressError("not a phone number") from exc
        if not phonenumbers.is_possible_number(number):
            raise AddressError("not a possible phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if channel == "telegram":
        if not raw.lstrip("-").isdigit():
            raise AddressError("not a Telegram chat id")
        return str(int(raw))
    if not raw or len(raw) > 64:
        raise AddressError("empty or too long console id")
    return raw


def index_value(channel: str, normalised: str) -> str:
    """What the blind index hashes: the channel and the normalised address."""
    return f"{channel}:{normalised}"

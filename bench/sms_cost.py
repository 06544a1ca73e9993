"""SMS cost of one complete French booking with the example practice, as Twilio counts it.

The booking is replayed through the SMS webhook (Flask test client, signed requests) on a
fresh SQLite file, on the README's day (Monday 30 November 2026, 09:00 in Paris), from the
first message to the confirmation. Each TwiML `<Message>` is one SMS; its segments are
counted by `bot.gsm.segments` (GSM-7 or UCS-2, concatenation headers, as Twilio does).

    .venv/bin/python -m bench.sms_cost
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.sms_webhook import PATH, ROOT, environment
from bench.turn_plan import Signer, form

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # the README transcript's day, 09:00 Paris
BUDGET = 6
# (what the route is, what the patient sends); each ends with the booking confirmed.
ROUTES = (
    (
        "the README's booking (asks for a day at once)",
        ("Bonjour, je voudrais un rdv demain matin svp", "1", "2", "Paul Martin", "1"),
    ),
    ("starting with a plain Bonjour", ("Bonjour", "1", "2", "Paul Martin", "1")),
)


@dataclass(frozen=True)
class Booking:
    """The SMS of one booking: per patient message, the segments of each SMS answered."""

    route: str
    turns: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def total(self) -> int:
        return sum(sum(counts) for _, counts in self.turns)

    @property
    def sms(self) -> int:
        return sum(len(counts) for _, counts in self.turns)


def replay(route: str, messages: tuple[str, ...], number: str) -> Booking:
    """Send `messages` from `number` through the webhook; raise unless the last reply
    confirms the booking."""
    from bot.gsm import segments
    from channels.runtime import Runtime
    from channels.settings import Settings
    from channels.web import create_app
    from store.service import Assistant

    with tempfile.TemporaryDirectory(prefix="creneau-smscost-") as tmp:
        env = {**environment(Path(tmp)), "CRENEAU_PRACTICE": str(ROOT / "practice.example.toml")}
        runtime = Runtime(Settings.from_env(env))
        runtime.__dict__["assistant"] = Assistant(
            runtime.db, runtime.practice, runtime.vault, runtime.catalogs, clock=lambda: MONDAY
        )
        client = create_app(runtime).test_client()
        sign = Signer()
        turns, bodies = [], []
        for text in messages:
            fields = form(number, text)
            answer = client.post(PATH, data=fields, headers=sign.headers(fields))
            if answer.status_code != 200:
                raise SystemExit(f"SMS cost: {text!r} answered HTTP {answer.status_code}")
            bodies = [m.text or "" for m in ET.fromstring(answer.data).iter("Message")]
            turns.append((text, tuple(segments(b) for b in bodies)))
        runtime.db.dispose()
    if not any("RDV confirm" in b for b in bodies):
        raise SystemExit(f"SMS cost: the route {route!r} did not end booked: {bodies!r}")
    return Booking(route, tuple(turns))


def measure() -> list[Booking]:
    """Every route's booking, each from a new patient on a fresh database."""
    return [replay(route, messages, "+33612345678") for route, messages in ROUTES]


def describe(booking: Booking) -> list[str]:
    """Lines: the total against the budget, then each message and its SMS."""
    verdict = "met" if booking.total <= BUDGET else "not met"
    lines = [
        f"{booking.route}: {booking.total} segments in {booking.sms} SMS "
        f"(target <= {BUDGET}: {verdict})"
    ]
    for text, counts in booking.turns:
        shown = " + ".join(str(c) for c in counts) if counts else "no SMS"
        lines.append(f"    > {text[:46]:46s} < {shown}")
    return lines


def main() -> None:
    print("SMS cost of one complete French booking, example practice (bot.gsm.segments)")
    for booking in measure():
        print("\n".join("  " + line for line in describe(booking)))


if __name__ == "__main__":
    main()

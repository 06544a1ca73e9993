"""Whatever a patient sends, in whatever order, the real engine and store answer without an
error (and every move it makes is one the table declares), and only an opted-out patient
or thanks after a confirmation by SMS meet silence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.messages import Inbound

MESSAGES = [
    "Bonjour", "RDV", "BOOK", "1", "2", "3", "6", "7", "9", "oui", "non", "yes", "merci", "👍",
    "MES RDV", "ANNULER", "INFO", "AIDE", "MES DONNEES", "SUPPRIMER", "STOP", "START", "EN",
    "FR", "MENU", "demain 14h", "avant 10h", "le 25 décembre", "n'importe quand", "Paul Martin",
    "annuler mon rdv", "je voudrais un rdv jeudi matin", "Kardegic", "", "blabla", "Petit",
    "le premier disponible", "x" * 300, "\u202e\x1b[2J", "lundi en huit", "2m1 aprem",
]  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    script=st.lists(st.sampled_from(MESSAGES), min_size=1, max_size=14),
    channel=st.sampled_from(["sms", "telegram", "console"]),
    hours=st.integers(min_value=0, max_value=24 * 40),
)
def test_any_sequence_gets_answers_and_no_error(runtime, clock, script, channel, hours) -> None:
    assistant = runtime.assistant
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC) + timedelta(hours=hours)
    sender = (
        "+3361234" + f"{uuid.uuid4().int % 10_000:04d}"
        if channel == "sms"
        else str(uuid.uuid4().int)[:9]
    )
    opted_out = False
    for n, text in enumerate(script):
        at = clock.now = start + timedelta(minutes=n)
        turn = assistant.handle(Inbound(channel, sender, text, at, message_id=uuid.uuid4().hex))
        if text == "STOP":
            opted_out = True
        elif text == "START":
            opted_out = False
        if turn.erased:
            opted_out = False
        if not turn.replies:
            assert opted_out or text in ("merci", "👍"), (script[: n + 1], channel)

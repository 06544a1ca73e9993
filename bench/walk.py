"""Walk bench patients through the real dialog, in-process, into the state a phase needs.

Each worker process builds the web app from the same settings as the gunicorn server
(same database file or server, same keys, same practice) and posts signed webhooks
through Flask's test client: the same code path as a real request, without the network.
Every reply is checked (the slot asked is the one offered first; the confirmation
question recalls it), so a measured phase starts from patients really in that state.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from bench.sms_webhook import PATH
from bench.turn_plan import PATIENT_NAME, Patient, Signer, form

CHUNK = 100
_client: Any = None  # the Flask test client of this worker process
_sign: Signer | None = None


class Mismatch(Exception):
    """A reply that is not what this step of the dialog should answer."""


@dataclass(frozen=True)
class Stage:
    """Messages to send in order, each with a check of its reply."""

    name: str
    steps: tuple[tuple[Callable[[Patient], str], Callable[[Patient, str], None]], ...]


def start(env: dict[str, str]) -> None:
    """This process's app over the given settings (imported here, after the spawn)."""
    global _client, _sign
    from channels.runtime import Runtime
    from channels.settings import Settings
    from channels.web import create_app

    _client = create_app(Runtime(Settings.from_env(env))).test_client()
    _sign = Signer()


def say(number: str, text: str) -> str:
    """Post one signed SMS webhook in-process; the SMS bodies of the answer, joined."""
    assert _client is not None and _sign is not None
    fields = form(number, text)
    answer = _client.post(PATH, data=fields, headers=_sign.headers(fields))
    if answer.status_code != 200:
        raise Mismatch(f"HTTP {answer.status_code}")
    return "\n".join(m.text or "" for m in ET.fromstring(answer.data).iter("Message"))


# ---------------------------------------------------------------- checks of each reply


def _slot_line(p: Patient) -> re.Pattern[str]:
    return re.compile(rf"^1\. .*\b{p.day.day}\b.*\b{p.at:%H:%M}$", re.M)


def asks_type(p: Patient, reply: str) -> None:
    """The notice came with the type question, the patient's type at its number."""
    if not re.search(rf"^{p.type_no}\. {p.practitioner}$", reply, re.M | re.I):
        raise Mismatch(f"type {p.type_no} not offered: {reply[-120:]!r}")


def offers_slot(p: Patient, reply: str) -> None:
    """The slot list offers the asked day and time first."""
    if not _slot_line(p).search(reply):
        raise Mismatch(f"asked {p.day} {p.at:%H:%M}, offered {reply[:160]!r}")


def asks_name(p: Patient, reply: str) -> None:
    if "quel nom" not in reply:
        raise Mismatch(f"expected the name question: {reply[:120]!r}")


def asks_confirmation(p: Patient, reply: str) -> None:
    """The confirmation question recalls the asked slot and the name."""
    if not ("Confirmer" in reply and f" {p.day.day} " in reply and f"{p.at:%H:%M}" in reply):
        raise Mismatch(f"expected the confirmation of {p.day} {p.at:%H:%M}: {reply[:160]!r}")


def greets(p: Patient, reply: str) -> None:
    """A first contact: the notice, then the menu (the bench practice has a type per
    practitioner, too many to follow the notice in one SMS, so a greeting shows the menu)."""
    if "Droits: INFO" not in reply or "Que souhaitez-vous faire" not in reply:
        raise Mismatch(f"expected the notice and the menu: {reply[:120]!r}")


def confirms(p: Patient, reply: str) -> None:
    if "RDV confirm" not in reply:
        raise Mismatch(f"expected the booking confirmation: {reply[:120]!r}")


def opening(p: Patient) -> str:
    return p.first_message


def type_number(p: Patient) -> str:
    return str(p.type_no)


def first_choice(p: Patient) -> str:
    return "1"


def name(p: Patient) -> str:
    return PATIENT_NAME


OPENING = Stage("open with the day and time", ((opening, asks_type),))
TYPE = Stage("choose the type", ((type_number, offers_slot),))
TO_SLOT_LIST = Stage("to the slot list", OPENING.steps + TYPE.steps)
CHOOSE = Stage("choose the slot", ((first_choice, asks_name),))
NAME = Stage("give the name", ((name, asks_confirmation),))
CONFIRM = Stage("confirm", ((first_choice, confirms),))
BOOKING = (OPENING, TYPE, CHOOSE, NAME, CONFIRM)  # a whole booking, one message a stage


def walk_here(stages: Sequence[Stage], patients: Sequence[Patient]) -> list[str]:
    """Run the stages for each patient in this process (after `start`); one line per
    patient that went astray."""
    failures = []
    for p in patients:
        try:
            for stage in stages:
                for text, check in stage.steps:
                    check(p, say(p.number, text(p)))
        except Mismatch as exc:
            failures.append(f"{p.number[-4:]}: {exc}")
    return failures


def client() -> Any:
    """This process's Flask test client (after `start`)."""
    assert _client is not None, "walk.start() first"
    return _client


def require(failures: Sequence[str], stages: Sequence[Stage], count: int) -> None:
    """Stop the benchmark, saying how, if any patient went astray."""
    if failures:
        names = " then ".join(s.name for s in stages)
        raise SystemExit(
            f"{len(failures)} of {count} patients went astray ({names}):\n  "
            + "\n  ".join(failures[:5])
        )


class Walkers:
    """A pool of worker processes walking patients; `walk` stops if any went astray."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def walk(self, stages: Sequence[Stage], patients: Sequence[Patient]) -> None:
        chunks = [patients[i : i + CHUNK] for i in range(0, len(patients), CHUNK)]
        futures = [self.pool.submit(walk_here, stages, chunk) for chunk in chunks]
        require([line for f in futures for line in f.result()], stages, len(patients))


@contextmanager
def walkers(env: dict[str, str], processes: int) -> Iterator[Walkers]:
    """`processes` walkers over the app built from `env` (spawned: no inherited handles)."""
    ctx = get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=ctx, initializer=start, initargs=(env,)) as pool:
        yield Walkers(pool)

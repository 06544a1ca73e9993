"""The console channel: `creneau chat`, a patient in the terminal on the real engine and store."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from bot.messages import Inbound
from store.models import utcnow
from store.service import Assistant

PROMPT_FR = "Écrivez votre message (Ctrl-D pour quitter)."
PROMPT_EN = "Type your message (Ctrl-D to quit)."


def chat(
    assistant: Assistant,
    ident: str,
    lang: str | None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Read lines, print the replies with choices as `N. label` lines."""
    print(PROMPT_EN if lang == "en" else PROMPT_FR, file=stdout, flush=True)
    for line in stdin:
        inbound = Inbound(
            channel="console",
            sender=ident,
            text=line.rstrip("\n"),
            at=utcnow(),
            message_id=uuid.uuid4().hex,
            lang_hint=lang,
        )
        turn = assistant.handle(inbound)
        for reply in turn.replies:
            print(reply.as_lines(), file=stdout)
            print(file=stdout, flush=True)

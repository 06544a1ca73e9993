"""What the outbox worker needs from a channel: send one queued payload, say how it went."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


class Result(Enum):
    SENT = "sent"  # delivered to the provider: the row is deleted
    RETRY = "retry"  # transient (5xx, timeout, 429): retried with backoff or retry_after
    PERMANENT = "permanent"  # will never work (invalid number...): recorded, not retried
    UNREACHABLE = "unreachable"  # the patient blocked us or opted out at the carrier


@dataclass(frozen=True)
class SendOutcome:
    result: Result
    retry_after: float | None = None  # seconds, when the provider said so
    error: str | None = None  # a provider error code, never message content or address


class Sender(Protocol):
    """One channel's outbound side. Payloads are the dicts the channel itself queued."""

    channel: str

    async def send(self, address: str, payload: dict[str, Any]) -> SendOutcome: ...

    async def close(self) -> None: ...

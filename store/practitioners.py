"""What the practitioner side shares across channels (Telegram commands, the desk, the CLI):
one-time link codes and linked chats, the last list shown to a chat (for `/annuler N`),
blocked periods, and the check that a provider message was already handled.

Chat ids are sealed; only a blind index is kept in clear for the look-up; a link code is
kept as its SHA-256 only. Nothing here logs or raises with a personal value.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, delete, select

from bot.practice import Practice
from store.models import Block, LinkCode, PractitionerLink, ProcessedMessage
from store.vault import Vault

CODE_TTL = timedelta(hours=24)
LIST_TTL = timedelta(hours=12)  # `/annuler N` refers to a list shown at most this long ago
CONFIRM_TTL = timedelta(minutes=10)  # `/annuler N oui` must follow `/annuler N` this soon
MAX_BLOCK = timedelta(days=366)


# ---------------------------------------------------------------- link codes and links


def code_hash(code: str) -> str:
    """What is stored of a link code: its SHA-256, never the code."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


def chat_index(vault: Vault, practice_id: str, chat_id: str) -> str:
    """Blind index of a practitioner's chat id (its own domain, apart from patients')."""
    return vault.index(practice_id, f"practitioner-chat:{chat_id.strip()}")


def create_link_code(
    session: Session, practice: Practice, practitioner_id: str, now: datetime
) -> str:
    """A new one-time code for a practitioner, valid CODE_TTL; earlier unused codes die."""
    practice.practitioner(practitioner_id)  # KeyError for an unknown id
    session.exec(
        delete(LinkCode).where(
            col(LinkCode.practice_id) == practice.id,
            col(LinkCode.practitioner_id) == practitioner_id,
        )
    )
    code = secrets.token_urlsafe(16)  # [A-Za-z0-9_-]: valid in a t.me deep link
    session.add(
        LinkCode(
            practice_id=practice.id,
            practitioner_id=practitioner_id,
            code_hash=code_hash(code),
            expires_at=now + CODE_TTL,
            created_at=now,
        )
    )
    return code


def link_of(session: Session, practice_id: str, practitioner_id: str) -> PractitionerLink | None:
    """The practitioner's linked chat, if any."""
    return session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice_id,
            PractitionerLink.practitioner_id == practitioner_id,
        )
    ).first()


def unlink(session: Session, practice: Practice, practitioner_id: str) -> bool:
    """Forget a practitioner's chat and pending codes; True if a chat was linked."""
    session.exec(
        delete(LinkCode).where(
            col(LinkCode.practice_id) == practice.id,
            col(LinkCode.practitioner_id) == practitioner_id,
        )
    )
    link = link_of(session, practice.id, practitioner_id)
    if link is None:
        return False
    session.delete(link)
    return True


def linked_chat(
    session: Session, vault: Vault, practice_id: str, chat_id: str
) -> PractitionerLink | None:
    """The link of this chat, if it belongs to a practitioner."""
    return session.exec(
        select(PractitionerLink).where(
            PractitionerLink.practice_id == practice_id,
            PractitionerLink.chat_index == chat_index(vault, practice_id, chat_id),
        )
    ).first()


def redeem_code(session: Session, practice_id: str, code: str, now: datetime) -> LinkCode | None:
    """The valid, unused code (marked used now), or None."""
    row = session.exec(
        select(LinkCode).where(
            LinkCode.practice_id == practice_id, LinkCode.code_hash == code_hash(code)
        )
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    session.add(row)
    return row


def link_chat(
    session: Session,
    vault: Vault,
    practice: Practice,
    practitioner_id: str,
    chat_id: str,
    now: datetime,
) -> PractitionerLink:
    """Bind the chat to the practitioner, replacing any earlier link of either."""
    index = chat_index(vault, practice.id, chat_id)
    session.exec(
        delete(PractitionerLink).where(
            col(PractitionerLink.practice_id) == practice.id,
            (col(PractitionerLink.practitioner_id) == practitioner_id)
            | (col(PractitionerLink.chat_index) == index),
        )
    )
    session.flush()
    link = PractitionerLink(
        practice_id=practice.id,
        practitioner_id=practitioner_id,
        chat_enc=b"",
        chat_index=index,
        linked_at=now,
    )
    link.chat_enc = vault.seal("practitioner_link", "chat", link.id, chat_id.strip())
    session.add(link)
    session.flush()
    return link


# ---------------------------------------------------------------- the last list shown to a chat


@dataclass(frozen=True)
class ListMemory:
    """The appointment ids of the last list shown, and a cancellation awaiting its yes."""

    ids: tuple[str, ...] = ()
    pending_id: str | None = None
    pending_at: datetime | None = None


def _store_memory(vault: Vault, link: PractitionerLink, memory: ListMemory) -> None:
    value: dict[str, Any] = {"ids": list(memory.ids)}
    if memory.pending_id and memory.pending_at:
        value["pending"] = {"id": memory.pending_id, "at": memory.pending_at.isoformat()}
    link.last_list_enc = vault.seal_json("practitioner_link", "last_list", link.id, value)


def remember_list(
    session: Session, vault: Vault, link: PractitionerLink, ids: list[str], now: datetime
) -> None:
    """Remember (sealed) the appointments just listed to this chat; any pending cancel ends."""
    _store_memory(vault, link, ListMemory(tuple(ids)))
    link.last_list_at = now
    session.add(link)


def recall_list(vault: Vault, link: PractitionerLink, now: datetime) -> ListMemory:
    """The last list shown, if recent enough (CryptoError if its cell does not open)."""
    if link.last_list_enc is None or link.last_list_at is None:
        return ListMemory()
    if now - link.last_list_at > LIST_TTL:
        return ListMemory()
    raw = vault.open_json("practitioner_link", "last_list", link.id, link.last_list_enc)
    if isinstance(raw, list):  # the earlier format: the ids alone
        return ListMemory(tuple(str(i) for i in raw))
    pending = raw.get("pending") or {}
    at = datetime.fromisoformat(pending["at"]) if pending.get("at") else None
    return ListMemory(tuple(str(i) for i in raw.get("ids", ())), pending.get("id"), at)


def set_pending(
    session: Session,
    vault: Vault,
    link: PractitionerLink,
    memory: ListMemory,
    appt_id: str,
    now: datetime,
) -> None:
    """Remember that the cancellation of `appt_id` waits for its confirmation."""
    _store_memory(vault, link, ListMemory(memory.ids, appt_id, now))
    session.add(link)


def clear_pending(
    session: Session, vault: Vault, link: PractitionerLink, memory: ListMemory
) -> None:
    """Forget a pending cancellation (done, or refused)."""
    _store_memory(vault, link, ListMemory(memory.ids))
    session.add(link)


def pending_matches(memory: ListMemory, appt_id: str, now: datetime) -> bool:
    """Whether the cancellation of `appt_id` was asked for, and recently enough."""
    return (
        memory.pending_id == appt_id
        and memory.pending_at is not None
        and now - memory.pending_at <= CONFIRM_TTL
    )


# ---------------------------------------------------------------- blocked periods


class BlockError(ValueError):
    """A period that cannot be blocked: empty, in the past or longer than MAX_BLOCK."""


def add_block(
    session: Session,
    practice: Practice,
    practitioner_id: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Block:
    """Block [start, end) for a practitioner: no slot is offered inside it from now on."""
    practice.practitioner(practitioner_id)  # KeyError for an unknown id
    if not start < end or end <= now or end - start > MAX_BLOCK:
        raise BlockError("the period must end after it starts, in the future, within a year")
    block = Block(
        practice_id=practice.id,
        practitioner_id=practitioner_id,
        start=start,
        end=end,
        created_at=now,
    )
    session.add(block)
    session.flush()
    return block


def blocks_between(
    session: Session, practice_id: str, practitioner_id: str, start: datetime, end: datetime
) -> list[Block]:
    """The practitioner's blocked periods overlapping [start, end), earliest first."""
    return list(
        session.exec(
            select(Block)
            .where(
                Block.practice_id == practice_id,
                Block.practitioner_id == practitioner_id,
                col(Block.start) < end,
                col(Block.end) > start,
            )
            .order_by(col(Block.start))
        )
    )


def remove_block(
    session: Session, practice_id: str, block_id: str, practitioner_id: str | None = None
) -> Block | None:
    """Delete one blocked period (of that practitioner when given); None if not found."""
    block = session.get(Block, block_id)
    if block is None or block.practice_id != practice_id:
        return None
    if practitioner_id is not None and block.practitioner_id != practitioner_id:
        return None
    session.delete(block)
    session.flush()
    return block


# ---------------------------------------------------------------- provider message ids


def already_handled(
    session: Session, vault: Vault, practice_id: str, channel: str, message_id: str
) -> bool:
    """Whether this provider message id was already handled (a repeat has no effect); ids
    are kept as keyed hashes, like the patient dialog's."""
    found = session.exec(
        select(ProcessedMessage.id).where(
            ProcessedMessage.practice_id == practice_id,
            ProcessedMessage.channel == channel,
            ProcessedMessage.external_id == vault.message_index(practice_id, channel, message_id),
        )
    ).first()
    return found is not None


def record_handled(
    session: Session, vault: Vault, practice_id: str, channel: str, message_id: str, now: datetime
) -> None:
    """Record a provider message id (its keyed hash) as handled, in the current transaction."""
    session.add(
        ProcessedMessage(
            practice_id=practice_id,
            channel=channel,
            external_id=vault.message_index(practice_id, channel, message_id),
            created_at=now,
        )
    )

"""Audit events: who accessed or changed what, with pseudonymous ids only."""

from __future__ import annotations

import logging

from sqlmodel import Session

from store.models import AuditEvent

log = logging.getLogger(__name__)


def record(
    session: Session,
    practice_id: str,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: str | None = None,
) -> None:
    """Add one event to the current transaction."""
    session.add(
        AuditEvent(
            practice_id=practice_id, actor=actor, action=action, subject=subject, detail=detail
        )
    )


def unreadable(session: Session, practice_id: str, table: str, column: str, row_id: str) -> None:
    """Report one ciphertext that does not open (tampered, truncated or an unknown key):
    logged and audited by table, column and row id, never by content."""
    log.warning("unreadable cell %s.%s in row %s", table, column, row_id)
    record(session, practice_id, "system", "unreadable_cell", row_id, f"{table}.{column}")

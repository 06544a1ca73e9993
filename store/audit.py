"""Audit events: who accessed or changed what, with pseudonymous ids only."""

from __future__ import annotations

from sqlmodel import Session

from store.models import AuditEvent


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

"""The audit log: one row for everything a person did or tried through the console or ``biller-server users``.

Written in the same transaction as the action it records, so an action is never done without its row; an action
that was refused or failed is recorded in a transaction of its own (the caller's work was rolled back).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import AuditEntry

MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True)
class AuditOrigin:
    """Where an action came from, for its audit entry: the console's request (address, request id); none for a
    command run on the server."""

    source_address: str | None = None
    request_id: str | None = None


NO_ORIGIN = AuditOrigin()


def record_audit(
    *,
    session: Session,
    actor: str,
    action: str,
    outcome: str,
    now: dt.datetime,
    target: str | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
    source_address: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        occurred_at=now,
        actor=actor[:100],
        action=action[:48],
        outcome=outcome[:24],
        target=target[:200] if target else None,
        note=note[:MAX_NOTE_LENGTH] if note else None,
        detail=detail,
        source_address=source_address[:64] if source_address else None,
        request_id=request_id[:64] if request_id else None,
    )
    session.add(entry)
    session.flush()
    return entry


def audit_entries(
    *, session: Session, target: str | None = None, actor: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries first, optionally about one target (``bill:TEST-124``) or by one actor."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    return list(session.scalars(query))

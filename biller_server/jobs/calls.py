"""Outbound calls written down before they are sent, and completed when the answer (or the failure) is known.

Both engines (confirmations, deliveries) hand their clients a ``CallJournal`` made here: each call is inserted in
a short transaction of its own the moment the client is about to send it, so a worker killed mid-call leaves the
evidence. ``store_calls`` then completes those rows in the transaction that records the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.clients.base import CallRecord
from biller_server.clients.outbound import CallJournal
from biller_server.jobs.clock import Clock
from biller_server.persistence.database import statements_commit_alone
from biller_server.persistence.models import OutboundCall


def call_journal(*, sessions: Callable[[], Session], job_id: int, clock: Clock) -> CallJournal:
    """A journal that inserts each call (request only, no ``completed_at``) and commits before it is sent."""

    def before_send(record: CallRecord) -> int:
        with sessions() as session:
            # One statement that commits by itself on PostgreSQL: the same row, durable as soon as the INSERT
            # returns, without a BEGIN and a COMMIT of its own (two round trips of the three, on every call).
            statements_commit_alone(session)
            values = {"job_id": job_id, "created_at": clock.now(), **dataclasses.asdict(record)}
            row_id: int = session.connection().execute(_WRITE_DOWN, values).scalar_one()
            session.commit()
            return row_id

    return CallJournal(before_send)


def store_calls(
    session: Session, attempts: Iterable[tuple[int, Iterable[CallRecord], dt.datetime]], *, now: dt.datetime
) -> None:
    """Complete the rows the journals wrote with the answers; add (complete) the calls they did not write.

    ``attempts``: for each job, its id, the calls of its attempt and when the attempt started. The rows are
    completed by primary key in one statement (executemany) for every attempt of a batch, without loading them.
    """
    completed: list[dict[str, object]] = []
    for job_id, calls, started_at in attempts:
        row_id = calls.row_id if isinstance(calls, CallJournal) else (lambda _record: None)
        for call in calls:
            values = dataclasses.asdict(call)
            existing = row_id(call)
            if existing is None:
                session.add(OutboundCall(job_id=job_id, created_at=started_at, completed_at=now, **values))
                continue
            completed.append({"call_id": existing, **{name: values[name] for name in _ANSWER}, "completed_at": now})
    if completed:
        session.connection().execute(_COMPLETE, completed)


# Core statements, compiled once: the ORM's unit of work is not needed for one row written and later completed,
# and it cost as much as the rest of the call's bookkeeping (bench/RESULTS.md).
_calls = OutboundCall.__table__
_WRITE_DOWN = sa.insert(_calls).returning(_calls.c.id)
# What the answer adds to a written-down call (the SET clause: the keys of the parameters).
_ANSWER = ("response_status", "response_body", "latency_ms", "error")
_COMPLETE = sa.update(_calls).where(_calls.c.id == sa.bindparam("call_id"))

"""The ``jobs`` table as a queue: claim with a lease, finish only while the lease is still yours.

PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` lets any number of workers, on any number of hosts, claim at
once without waiting on each other or taking the same job. SQLite: the same statement without the locking
clause (SQLAlchemy leaves it out), safe because every SQLite transaction here is BEGIN IMMEDIATE, so claims are
made one writer at a time.

A claim is its own short transaction, committed before the partner is called; the answer is recorded in another
transaction. A worker that dies in between loses nothing: its lease runs out and another worker claims the job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.clients.registry import PartnerClients
from biller_server.jobs.clock import Clock
from biller_server.persistence.models import Job, JobKind, JobState

DEFAULT_LEASE = dt.timedelta(seconds=120)
Work = TypeVar("Work")
Result = TypeVar("Result")


class LeasedWorkEngine(Generic[Work, Result]):
    """Claim a due job (committed), act on it outside any transaction, record the result (if still ours).

    The confirmation engine and the delivery engine are two of these; they differ in what they claim, what the
    call does and what the result means.
    """

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        clients: PartnerClients,
        clock: Clock,
        worker_id: str,
        lease: dt.timedelta = DEFAULT_LEASE,
    ) -> None:
        self.sessions = sessions
        self.clients = clients
        self.clock = clock
        self.worker_id = worker_id
        self.lease = lease

    def run_once(self) -> bool:
        """Carry out one due job, if there is one; return whether there was."""
        work = self.claim()
        if work is None:
            return False
        self.record(work, self.call(work))
        return True

    def claim(self) -> Work | None:
        raise NotImplementedError

    def call(self, work: Work) -> Result:
        raise NotImplementedError

    def record(self, work: Work, result: Result) -> None:
        raise NotImplementedError


def claim_next_job(
    *, session: Session, kinds: Sequence[JobKind], worker_id: str, now: dt.datetime, lease: dt.timedelta
) -> Job | None:
    """Take the most overdue pending job of ``kinds`` that nobody holds; the caller commits at once."""
    query = (
        sa.select(Job)
        .where(
            Job.state == JobState.PENDING,
            Job.kind.in_(list(kinds)),
            Job.due_at <= now,
            sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at <= now),
        )
        .order_by(Job.due_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    job = session.scalars(query).first()
    if job is None:
        return None
    job.lease_owner = worker_id[:100]
    job.lease_expires_at = now + lease
    job.attempts += 1
    session.flush()
    return job


def lock_owned_job(*, session: Session, job_id: int, worker_id: str) -> Job | None:
    """Lock the job to record an answer, or None if it is no longer ours (our lease ran out and it was taken)."""
    job = session.scalars(
        sa.select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    if job.lease_owner != worker_id[:100] or job.state is not JobState.PENDING:
        return None
    return job


def reschedule(job: Job, *, due_at: dt.datetime) -> None:
    job.due_at = due_at
    _release(job)


def finish(job: Job, *, state: JobState, outcome: str, now: dt.datetime, error: str | None = None) -> None:
    job.state = state
    job.outcome = outcome
    job.finished_at = now
    if error is not None:
        job.last_error = error
    _release(job)


def _release(job: Job) -> None:
    job.lease_owner = None
    job.lease_expires_at = None


def next_due_at(*, session: Session, kinds: Sequence[JobKind]) -> dt.datetime | None:
    """When the earliest pending job of ``kinds`` falls due (held jobs count from their lease's end)."""
    due = sa.case(
        (sa.and_(Job.lease_expires_at.is_not(None), Job.lease_expires_at > Job.due_at), Job.lease_expires_at),
        else_=Job.due_at,
    )
    return session.scalar(sa.select(sa.func.min(due)).where(Job.state == JobState.PENDING, Job.kind.in_(list(kinds))))

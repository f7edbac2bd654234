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
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from biller_server.jobs.attempts import AttemptFailure, report_failed_attempt
from biller_server.jobs.clock import Clock
from biller_server.persistence.models import Job, JobKind, JobState

DEFAULT_LEASE = dt.timedelta(seconds=120)
Work = TypeVar("Work")
Result = TypeVar("Result")


class PartnerClientSource(Protocol):
    """Gives a partner's client by name (``Job.partner``) and closes them all: ``clients.registry.PartnerClients``,
    or the fakes tests hand to an engine."""

    def get(self, name: str) -> object: ...

    def close(self) -> None: ...


class LeasedWorkEngine(Generic[Work, Result]):
    """Claim a due job (committed), act on it outside any transaction, record the result (if still ours).

    The confirmation engine and the delivery engine are two of these; they differ in what they claim, what the
    call does and what the result means.
    """

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        clients: PartnerClientSource,
        clock: Clock,
        worker_id: str,
        lease: dt.timedelta = DEFAULT_LEASE,
    ) -> None:
        self.sessions = sessions
        self.clients = clients
        self.clock = clock
        self.worker_id = worker_id
        self.lease = lease
        self.failed_attempts = 0

    def run_once(self) -> bool:
        """Carry out one due job, if there is one; return whether there was."""
        work = self.claim()
        if work is None:
            return False
        result = self.call(work)
        self.record(work, result)
        failure = self.failure(work, result)
        if failure is not None:
            # After the record: the line reports an attempt already in the books (retried, or stopped).
            self.failed_attempts += 1
            report_failed_attempt(failure)
        return True

    def claim(self) -> Work | None:
        raise NotImplementedError

    def call(self, work: Work) -> Result:
        raise NotImplementedError

    def record(self, work: Work, result: Result) -> None:
        raise NotImplementedError

    def failure(self, work: Work, result: Result) -> AttemptFailure | None:
        """What went wrong with the attempt, if the partner gave no usable answer."""
        raise NotImplementedError


def claim_next_job(
    *, session: Session, kinds: Sequence[JobKind], worker_id: str, now: dt.datetime, lease: dt.timedelta
) -> Job | None:
    """Take the most overdue pending job of ``kinds`` that nobody holds; the caller commits at once."""
    jobs = claim_due_jobs(session=session, kinds=kinds, worker_id=worker_id, now=now, lease=lease, limit=1)
    return jobs[0] if jobs else None


def claim_due_jobs(
    *, session: Session, kinds: Sequence[JobKind], worker_id: str, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[Job]:
    """Take up to ``limit`` of the most overdue pending jobs of ``kinds`` that nobody holds, most overdue first;
    the caller commits at once.

    One statement (``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING``) finds, locks
    and leases them: a claim of several jobs costs what a claim of one does. Each job gets its own lease, so a
    worker that dies holding some of them loses nothing: they are claimed again when the lease runs out.
    """
    values = {
        "kinds": [JobKind(kind) for kind in kinds],
        "now": now,
        "lease_owner": worker_id[:100],
        "lease_expires_at": now + lease,
        "limit": limit,
    }
    if not session.get_bind().dialect.update_returning:
        # SQLite before 3.35 has no UPDATE ... RETURNING (SQLAlchemy knows which version it talks to).
        return _claim_by_select(session, values)
    # RETURNING gives the rows in no particular order.
    return sorted(session.scalars(_CLAIM, values), key=lambda job: (job.due_at, job.id))


def _next_due(job: Any) -> sa.Select[Any]:
    """The most overdue pending jobs of the bound ``kinds`` that nobody holds at ``now`` (``job``: Job or an alias),
    at most the bound ``limit``."""
    return (
        sa.select(job)
        .where(
            job.state == JobState.PENDING,
            job.kind.in_(sa.bindparam("kinds", expanding=True)),
            job.due_at <= sa.bindparam("now"),
            sa.or_(job.lease_expires_at.is_(None), job.lease_expires_at <= sa.bindparam("now")),
        )
        .order_by(job.due_at, job.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


# Built once: each claim only binds its values. The candidates are chosen from an alias of the table, so that the
# subquery is not correlated with the UPDATE's own table.
_candidate = orm.aliased(Job)
_CLAIM = (
    sa.update(Job)
    .where(Job.id.in_(_next_due(_candidate).with_only_columns(_candidate.id).with_for_update(skip_locked=True)))
    .values(
        lease_owner=sa.bindparam("lease_owner"),
        lease_expires_at=sa.bindparam("lease_expires_at"),
        attempts=Job.attempts + 1,
    )
    .returning(Job)
    .execution_options(populate_existing=True, synchronize_session=False)
)
_CANDIDATES = _next_due(Job).execution_options(populate_existing=True)


def _claim_by_select(session: Session, values: dict[str, Any]) -> list[Job]:
    """The same claim in two statements, for SQLite without RETURNING (one writer at a time: BEGIN IMMEDIATE)."""
    jobs = list(
        session.scalars(_CANDIDATES, {"kinds": values["kinds"], "now": values["now"], "limit": values["limit"]})
    )
    for job in jobs:
        job.lease_owner = values["lease_owner"]
        job.lease_expires_at = values["lease_expires_at"]
        job.attempts += 1
    session.flush()
    return jobs


def lock_owned_job(*, session: Session, job_id: int, worker_id: str) -> Job | None:
    """Lock the job to record an answer, or None if it is no longer ours (our lease ran out and it was taken)."""
    job = session.scalars(
        sa.select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    return job if still_owned(job, worker_id) else None


def still_owned(job: Job, worker_id: str) -> bool:
    """Whether ``worker_id``'s lease on the (locked) job still stands: nobody took it over, nobody finished it."""
    return job.lease_owner == worker_id[:100] and job.state is JobState.PENDING


def give_back(job: Job) -> None:
    """Let go of a claimed job that was never worked (its call never started): due as it was, the attempt
    not counted."""
    job.attempts = max(job.attempts - 1, 0)
    _release(job)


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


def due_jobs(*, session: Session, now: dt.datetime) -> dict[JobKind, tuple[int, float]]:
    """Per kind, the pending jobs whose time has come and how long the oldest has waited past its due time (seconds):
    the queue's depth and lag. Every kind is present (0, 0.0 when none is due)."""
    due = {kind: (0, 0.0) for kind in JobKind}
    rows = session.execute(
        sa.select(Job.kind, sa.func.count(), sa.func.min(Job.due_at))
        .where(Job.state == JobState.PENDING, Job.due_at <= now)
        .group_by(Job.kind)
    )
    for kind, count, oldest in rows:
        due[kind] = (count, max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    return due

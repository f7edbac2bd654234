"""The confirmation engine: claim a due job, ask its partner outside any transaction, record the answer.

Two kinds of job:

- ``confirm_payment``: ask the partner's status API what became of a payment, on the schedule in
  ``biller_server.jobs.schedule``.
- ``record_offline_payment``: tell Kaleidofin (Payment API) about a payment made outside BBPS, then confirm it
  with the Status API. The Payment API moves money, so it is called at most once per payment: the claim that
  precedes the call marks the job "post attempted" and commits before any byte is sent. Whatever happens after
  (timeout, refused connection, a worker killed mid-call), no later run ever posts again; it asks the Status API
  (Setu's rule: never repeat make-payment for the same context). The one exception is a call that stopped before
  any byte left (``PartnerRequestNotSent``: a missing setting, no client): the mark is taken back, so a later run
  may post, once.

An offline payment is money the lender already holds, so no answer ever reverses it: Kaleidofin saying "failed"
(to the post, or about the bill) means the posting did not land, and the payment becomes UNRESOLVED for a person.
It is confirmed only by the answer to our own post, or by a status answer that names the posting
(``KaleidofinClient.check_this_payment``), never by the bill's status alone.

A partner whose status API answers per bill rather than per payment (Kaleidofin) offers ``check_this_payment``,
which only gives a final outcome the answer can be pinned on; the engine prefers it to ``check_payment``.

A worker process's threads share a ``ConfirmationBatch``: one transaction records the answers the threads have
gathered since the last one and claims as many due jobs as the process has threads; each thread then calls for one
job at a time, outside any transaction, as before. Claiming and recording cost per transaction, not per job, so a
busy worker spends a fraction of the statements per check (bench/RESULTS.md). Nothing about a crash changes: each
claimed job has its own lease, each call is written down before it is sent, and an answer not yet recorded when
the process dies is asked for again once the lease runs out (a status read, safe to repeat; a post is never
repeated, its mark was committed with the claim).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from biller_server.clients.base import (
    CallRecord,
    Outcome,
    PartnerError,
    PartnerRejectedRequest,
    PartnerRequestNotSent,
    PartnerUnavailable,
    PaymentContext,
    StatusResult,
)
from biller_server.domain.payments.offline import system_bill_id_carries_a_payment
from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
from biller_server.domain.settlement.lines import note_partner_settlement_status
from biller_server.jobs import queue
from biller_server.jobs.attempts import AttemptFailure, attempt_failure, report_failed_attempt
from biller_server.jobs.calls import call_journal, store_calls
from biller_server.jobs.clock import Clock
from biller_server.jobs.queue import PartnerClientSource
from biller_server.jobs.schedule import next_check_at
from biller_server.persistence.models import (
    Bill,
    Channel,
    Job,
    JobKind,
    JobState,
    Payment,
    PaymentStatus,
)

logger = logging.getLogger("biller_server.jobs")

KINDS = (JobKind.CONFIRM_PAYMENT, JobKind.RECORD_OFFLINE_PAYMENT)
DEFAULT_LEASE = queue.DEFAULT_LEASE
# The "post attempted" mark in a record_offline_payment job's payload (never handed to the client).
POST_MARK_KEYS = ("post_attempted_at", "post_attempted_by")


class Step(enum.StrEnum):
    CHECK = "check"  # a status read: safe to repeat
    RESOLVE = "resolve"  # find Kaleidofin's systemBillId with Fetch Bills: safe to repeat
    POST = "post"  # Kaleidofin's Payment API: moves money, at most once


@dataclass(frozen=True)
class ClaimedWork:
    """What a claim hands to the call: everything the call needs, so no transaction stays open during it."""

    job_id: int
    kind: JobKind
    partner: str
    step: Step
    anchor_at: dt.datetime
    context: PaymentContext
    # Who holds the lease: the claiming thread's worker id. With a batch, any thread of the process may record.
    owner: str


@dataclass
class CallOutcome:
    started_at: dt.datetime
    result: StatusResult | None = None
    error: PartnerError | None = None
    calls: list[CallRecord] = field(default_factory=list)
    system_bill_id: str | None = None  # what a RESOLVE step found
    # The call stopped before any byte left for the partner: a POST step may be made again.
    nothing_sent: bool = False


class ConfirmationBatch:
    """What one worker process's threads have in hand between two transactions: jobs claimed and not yet called,
    answers got and not yet recorded.

    ``size`` jobs are claimed at a time (a worker gives its number of threads). The thread that finds no claimed
    job left records every gathered answer and claims the next jobs in one transaction (``dispatching``: one thread
    at a time); the others take claimed jobs and hand answers in under ``lock``.
    """

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self.lock = threading.Lock()
        # Idle threads wait on this between polls; jobs just claimed wake them, so that a batch is called by as
        # many threads as it has jobs instead of one after the other by the thread that claimed it.
        self.arrived = threading.Condition(self.lock)
        self.dispatching = threading.Lock()
        self.claimed: deque[ClaimedWork] = deque()
        self.answered: list[tuple[ClaimedWork, CallOutcome]] = []

    def add_claimed(self, claimed: list[ClaimedWork]) -> None:
        with self.lock:
            self.claimed.extend(claimed)
            self.arrived.notify(len(claimed))

    def wait_for_work(self, timeout: float) -> None:
        """An idle thread's pause: until jobs are claimed, ``wake_all``, or ``timeout`` seconds."""
        with self.lock:
            if not self.claimed:
                self.arrived.wait(timeout)

    def wake_all(self) -> None:
        with self.lock:
            self.arrived.notify_all()

    def take(self) -> ClaimedWork | None:
        with self.lock:
            return self.claimed.popleft() if self.claimed else None

    def hand_in(self, work: ClaimedWork, outcome: CallOutcome) -> None:
        with self.lock:
            self.answered.append((work, outcome))

    def take_answered(self) -> list[tuple[ClaimedWork, CallOutcome]]:
        with self.lock:
            answered, self.answered = self.answered, []
        return answered

    def take_claimed(self) -> list[ClaimedWork]:
        with self.lock:
            claimed = list(self.claimed)
            self.claimed.clear()
        return claimed


class ConfirmationEngine(queue.LeasedWorkEngine["ClaimedWork", "CallOutcome"]):
    """One worker thread's engine; any number of them, in any number of processes, share the queue safely.

    Without a ``batch`` each turn claims one job, calls and records it (three transactions of its own); with one,
    the threads of a process claim and record together (see the module's docstring).
    """

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        clients: PartnerClientSource,
        clock: Clock,
        worker_id: str,
        lease: dt.timedelta = DEFAULT_LEASE,
        batch: ConfirmationBatch | None = None,
    ) -> None:
        super().__init__(sessions=sessions, clients=clients, clock=clock, worker_id=worker_id, lease=lease)
        self.batch = batch

    def run_once(self) -> bool:
        """Carry out one due job, if there is one; return whether there was (with a batch: its answer may be
        recorded by a later turn of any of the process's threads, or by ``settle``)."""
        if self.batch is None:
            return super().run_once()
        work = self.batch.take()
        if work is None:
            with self.batch.dispatching:
                work = self.batch.take()  # another thread may have claimed meanwhile
                if work is None:
                    self._dispatch()
                    work = self.batch.take()
        if work is None:
            return False
        self.batch.hand_in(work, self.call(work))
        return True

    def settle(self) -> None:
        """On the way out: record the gathered answers and give back the claimed jobs nobody called."""
        if self.batch is None:
            return
        with self.batch.dispatching:
            self._record_answered(self.batch.take_answered(), claim=0)
            unworked = self.batch.take_claimed()
            if unworked:
                self._give_back(unworked)

    def claim(self) -> ClaimedWork | None:
        """Claim a due job in a short transaction of its own, committed before the partner is called."""
        while True:
            claimed, taken = self._claim(1)
            if claimed or not taken:
                return claimed[0] if claimed else None
            # The one job taken had no payment (stopped): take the next.

    def claim_many(self, limit: int) -> list[ClaimedWork]:
        """Claim up to ``limit`` due jobs in one short transaction, committed before any partner is called."""
        claimed, _taken = self._claim(limit)
        return claimed

    def _claim(self, limit: int) -> tuple[list[ClaimedWork], int]:
        """The claimed work, and how many jobs were taken (a job without a payment is taken and stopped)."""
        with self.sessions() as session, session.begin():
            claimed, taken = self._claim_in(session, limit, self.clock.now())
        for work in claimed:
            logger.debug("claimed job %s (%s, %s)", work.job_id, work.kind.value, work.step.value)
        return claimed, taken

    def _claim_in(self, session: Session, limit: int, now: dt.datetime) -> tuple[list[ClaimedWork], int]:
        jobs = queue.claim_due_jobs(
            session=session, kinds=KINDS, worker_id=self.worker_id, now=now, lease=self.lease, limit=limit
        )
        if not jobs:
            return [], 0
        # The payments with their bills and customers in one round trip: the calls need all three.
        payments = {
            payment.id: payment
            for payment in session.scalars(
                _PAYMENTS_FOR_CALLS, {"ids": [job.payment_id for job in jobs if job.payment_id is not None]}
            ).unique()
        }
        claimed = []
        for job in jobs:
            payment = payments.get(job.payment_id) if job.payment_id is not None else None
            if payment is None:
                queue.finish(job, state=JobState.STOPPED, outcome="rejected", now=now, error="the job has no payment")
                continue
            step = _step_for(job)
            if step is Step.POST:
                # Durable before the call: from this commit on, no run of this job will ever post again.
                job.payload = {**job.payload, "post_attempted_at": now.isoformat(), "post_attempted_by": self.worker_id}
            claimed.append(
                ClaimedWork(
                    job_id=job.id,
                    kind=job.kind,
                    partner=job.partner,
                    step=step,
                    anchor_at=job.anchor_at,
                    context=_context_of(payment, job),
                    owner=self.worker_id,
                )
            )
        return claimed, len(jobs)

    def call(self, work: ClaimedWork) -> CallOutcome:
        """Ask the partner. No transaction stays open: the call may take as long as its timeouts allow."""
        outcome = CallOutcome(started_at=self.clock.now())
        # Each request is written down (committed) before it is sent: see biller_server/jobs/calls.py.
        outcome.calls = call_journal(sessions=self.sessions, job_id=work.job_id, clock=self.clock)
        try:
            client: Any = self.clients.get(work.partner)
        except PartnerError as exc:
            # No client, so no request: nothing can have reached the partner.
            outcome.error, outcome.nothing_sent = exc, True
            return outcome
        try:
            if work.step is Step.POST:
                outcome.result = client.post_payment(work.context, calls=outcome.calls)
            elif work.step is Step.RESOLVE:
                outcome.system_bill_id = client.find_system_bill_id(work.context, calls=outcome.calls)
                if outcome.system_bill_id is None:
                    outcome.result = StatusResult(
                        Outcome.NOT_FOUND, raw_status="no open bill", reason="no BILL_CREATED bill in Fetch Bills"
                    )
            else:
                check = getattr(client, "check_this_payment", None) or client.check_payment
                outcome.result = check(work.context, calls=outcome.calls)
        except PartnerError as exc:
            outcome.error = exc
            outcome.nothing_sent = isinstance(exc, PartnerRequestNotSent)
        except Exception as exc:
            # A bug or an unexpected answer must not kill the worker or leave the job held: retry on the schedule.
            logger.exception("job %s: unexpected error calling %s", work.job_id, work.partner)
            outcome.error = PartnerUnavailable(f"unexpected error: {type(exc).__name__}: {exc}")
        return outcome

    def record(self, work: ClaimedWork, outcome: CallOutcome) -> None:
        """Record the calls and apply the answer, only if the job is still ours."""
        self.record_many([(work, outcome)])

    def record_many(self, answered: list[tuple[ClaimedWork, CallOutcome]]) -> None:
        """Record the calls and apply the answers in one transaction, each only if its job is still ours."""
        with self.sessions() as session, session.begin():
            self._record_in(session, answered, self.clock.now())

    def _record_in(self, session: Session, answered: list[tuple[ClaimedWork, CallOutcome]], now: dt.datetime) -> None:
        answered = sorted(answered, key=lambda item: item[0].job_id)
        # The jobs and their payments, all locked, in one round trip (in the order of the jobs' ids, as every batch
        # locks them). Locked before the calls are added: a call row's foreign key takes a share lock on the job,
        # and two workers recording one job (a lease taken over) would each wait for the other to let go of it.
        locked = {
            job.id: (job, payment)
            for job, payment in session.execute(
                _LOCK_JOBS_AND_PAYMENTS, {"job_ids": [work.job_id for work, _outcome in answered]}
            )
        }
        store_calls(session, [(work.job_id, outcome.calls, outcome.started_at) for work, outcome in answered], now=now)
        for work, outcome in answered:
            job, payment = locked[work.job_id]
            if not queue.still_owned(job, work.owner):
                # Our lease ran out and another worker took the job over: its answer counts, not ours.
                logger.warning("job %s: lease lost before the answer was recorded; answer discarded", work.job_id)
                continue
            self._apply(session, job, payment, work, outcome, now)

    def _dispatch(self) -> None:
        """Record what the batch's threads handed in and claim the next jobs, in one transaction (called under
        ``dispatching``)."""
        assert self.batch is not None
        self.batch.add_claimed(self._record_answered(self.batch.take_answered(), claim=self.batch.size))

    def _record_answered(self, answered: list[tuple[ClaimedWork, CallOutcome]], *, claim: int) -> list[ClaimedWork]:
        """Record ``answered`` and claim up to ``claim`` jobs in one transaction; report the failed attempts.

        If that transaction fails, each answer is recorded again in its own, so that one answer the books refuse
        holds back no other, and the claim is made on its own. An answer that cannot be recorded at all is lost
        with no harm done: its call is written down, and its job is asked again when the lease runs out.
        """
        claimed: list[ClaimedWork] = []
        if not answered and not claim:
            return claimed
        try:
            with self.sessions() as session, session.begin():
                now = self.clock.now()
                if answered:
                    self._record_in(session, answered, now)
                if claim:
                    claimed, _taken = self._claim_in(session, claim, now)
        except Exception:
            if len(answered) < 2:
                raise
            logger.exception("recording %d answers together failed; recording each on its own", len(answered))
            failed: Exception | None = None
            for item in answered:
                try:
                    self.record_many([item])
                except Exception as exc:
                    logger.exception("job %s: could not record its answer", item[0].job_id)
                    failed = exc
            if failed is not None:
                raise failed from None
            claimed = self.claim_many(claim) if claim else []
        for work, outcome in answered:
            failure = self.failure(work, outcome)
            if failure is not None:
                self.failed_attempts += 1
                report_failed_attempt(failure)
        return claimed

    def _give_back(self, unworked: list[ClaimedWork]) -> None:
        """Let go of claimed jobs whose call never started, so that another worker takes them at once."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            jobs = session.scalars(_LOCK_JOBS, {"job_ids": sorted(work.job_id for work in unworked)})
            works = {work.job_id: work for work in unworked}
            for job in jobs:
                if not queue.still_owned(job, works[job.id].owner):
                    continue
                if works[job.id].step is Step.POST:
                    # Not a byte was sent: take the mark back, so that the post is made (once) by whoever claims it.
                    job.payload = {key: value for key, value in job.payload.items() if key not in POST_MARK_KEYS}
                queue.give_back(job)
        logger.info("gave back %d claimed job(s) never worked (at %s)", len(unworked), now.isoformat())

    def failure(self, work: ClaimedWork, outcome: CallOutcome) -> AttemptFailure | None:
        return attempt_failure(
            job_id=work.job_id, kind=work.kind.value, partner=work.partner, error=outcome.error, calls=outcome.calls
        )

    def _apply(
        self, session: Session, job: Job, payment: Payment, work: ClaimedWork, outcome: CallOutcome, now: dt.datetime
    ) -> None:
        source = f"{work.partner}:{work.step.value}"
        error, result = outcome.error, outcome.result
        offline = work.kind is JobKind.RECORD_OFFLINE_PAYMENT
        if work.step is Step.POST and outcome.nothing_sent:
            # Not a byte left: take back the mark the claim committed, so a later run may post (once).
            job.payload = {key: value for key, value in job.payload.items() if key not in POST_MARK_KEYS}
            logger.info("job %s: the post was not sent (%s); a later run may post", work.job_id, error)
        if work.step is Step.POST and result is not None and result.receipt:
            # Kaleidofin's receipt for our posting: a later status answer naming it is about this posting.
            job.payload = {**job.payload, "posting_receipt": result.receipt}
        if isinstance(error, PartnerRejectedRequest):
            queue.finish(job, state=JobState.STOPPED, outcome="rejected", now=now, error=str(error))
            mark_payment_unresolved(
                session=session, payment=payment, source=source, reason=f"confirmation stopped: {error}", now=now
            )
            return
        # The job's last error is the last attempt's: an answer after a timeout clears it.
        job.last_error = None if error is None else str(error)
        if offline and result is not None and result.outcome is Outcome.FAILED:
            # Money already in the lender's hands: Kaleidofin's "failed" means the posting did not land. Never
            # reverse the payment on the bill; stop, and let a person post it again or ask Kaleidofin.
            said = f"{result.raw_status}" + (f": {result.reason}" if result.reason else "")
            queue.finish(job, state=JobState.STOPPED, outcome="not_posted", now=now, error=f"kaleidofin said {said}")
            mark_payment_unresolved(
                session=session,
                payment=payment,
                source=source,
                reason=f"offline payment not posted to Kaleidofin ({said}); collected, so not reversed",
                now=now,
            )
            return
        if result is not None:
            # Kaleidofin's CREDIT_RECEIVED / SETTLEMENT_SUCCESSFUL / SETTLEMENT_FAILED: where the money is.
            note_partner_settlement_status(
                session=session, payment=payment, status_word=result.raw_status, source=source, now=now
            )
        if result is not None and result.outcome.is_final:
            apply_payment_outcome(
                session=session,
                payment=payment,
                outcome=result.outcome,
                source=source,
                reason=result.reason or result.raw_status,
                reason_codes=result.reason_codes,
                now=now,
            )
            queue.finish(job, state=JobState.DONE, outcome=result.outcome.value, now=now)
            return
        found = outcome.system_bill_id if work.step is Step.RESOLVE else None
        if found is not None and system_bill_id_carries_a_payment(session, found, other_than=payment.id):
            # Kaleidofin lists the bill as unpaid, but a payment of ours is on it already: not for this posting.
            outcome.system_bill_id = None
            result = StatusResult(Outcome.NOT_FOUND, raw_status="no open bill", reason="the open bill has a payment")
        if work.step is Step.RESOLVE and outcome.system_bill_id is not None:
            job.payload = {**job.payload, "system_bill_id": outcome.system_bill_id}
            payment.partner_bill_ref = outcome.system_bill_id
            job.outcome = "resolved"
            queue.reschedule(job, due_at=now)  # post at once: the bill is known now
            return
        job.outcome = result.outcome.value if result is not None else "error"
        if payment.status in (PaymentStatus.CONFIRMED, PaymentStatus.FAILED):
            # Another source (a push notification) settled it meanwhile; nothing left to ask.
            queue.finish(job, state=JobState.DONE, outcome="superseded", now=now)
            return
        if job.payload.get("once"):
            # A person's recheck of an UNRESOLVED payment: one question, its answer shown, no new day of them.
            queue.finish(job, state=JobState.DONE, outcome=job.outcome, now=now)
            return
        due_at = next_check_at(anchor_at=work.anchor_at, after=now)
        if due_at is not None:
            queue.reschedule(job, due_at=due_at)
            return
        queue.finish(job, state=JobState.UNRESOLVED, outcome=job.outcome, now=now)
        last = f"{result.outcome.value} ({result.raw_status})" if result else f"error ({error})"
        mark_payment_unresolved(
            session=session,
            payment=payment,
            source=source,
            reason=f"no final answer from {work.partner} within a day; last: {last}",
            now=now,
        )


_LOCK_JOBS_AND_PAYMENTS = (
    sa.select(Job, Payment)
    .join(Payment, Payment.id == Job.payment_id)
    .where(Job.id.in_(sa.bindparam("job_ids", expanding=True)))
    .order_by(Job.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LOCK_JOBS = (
    sa.select(Job)
    .where(Job.id.in_(sa.bindparam("job_ids", expanding=True)))
    .order_by(Job.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PAYMENTS_FOR_CALLS = (
    sa.select(Payment)
    .where(Payment.id.in_(sa.bindparam("ids", expanding=True)))
    .options(joinedload(Payment.bill).joinedload(Bill.customer), joinedload(Payment.receipt))
)


def _step_for(job: Job) -> Step:
    if job.kind is not JobKind.RECORD_OFFLINE_PAYMENT:
        return Step.CHECK
    if job.payload.get("post_attempted_at"):
        return Step.CHECK
    if not job.payload.get("system_bill_id"):
        return Step.RESOLVE
    return Step.POST


def _context_of(payment: Payment, job: Job) -> PaymentContext:
    bill = payment.bill
    system_bill_id = job.payload.get("system_bill_id") or payment.partner_bill_ref
    extra = {key: value for key, value in job.payload.items() if key not in ("system_bill_id", "once", *POST_MARK_KEYS)}
    if payment.channel is Channel.KALEIDOFIN and payment.receipt is not None:
        # The receipt we gave Kaleidofin in fetchReceipt: a status answer naming it is about this payment.
        extra.setdefault("receipt_number", payment.receipt.receipt_number)
    return PaymentContext(
        payment_id=payment.id,
        channel=payment.channel.value,
        partner_txn_ref=payment.partner_txn_ref,
        amount_paise=payment.amount_paise,
        paid_at=payment.paid_at,
        partner_bill_id=bill.partner_bill_id,
        partner_bill_ref=None if system_bill_id is None else str(system_bill_id),
        customer_txn_ref=payment.customer_txn_ref,
        lender_customer_id=bill.customer.lender_customer_id,
        extra=extra,
    )

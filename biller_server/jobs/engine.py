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
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
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
from biller_server.jobs.attempts import AttemptFailure, attempt_failure
from biller_server.jobs.calls import call_journal, store_calls
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


@dataclass
class CallOutcome:
    started_at: dt.datetime
    result: StatusResult | None = None
    error: PartnerError | None = None
    calls: list[CallRecord] = field(default_factory=list)
    system_bill_id: str | None = None  # what a RESOLVE step found
    # The call stopped before any byte left for the partner: a POST step may be made again.
    nothing_sent: bool = False


class ConfirmationEngine(queue.LeasedWorkEngine["ClaimedWork", "CallOutcome"]):
    """One worker thread's engine; any number of them, in any number of processes, share the queue safely."""

    def claim(self) -> ClaimedWork | None:
        """Claim a due job in a short transaction of its own, committed before the partner is called."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            while True:
                job = queue.claim_next_job(
                    session=session, kinds=KINDS, worker_id=self.worker_id, now=now, lease=self.lease
                )
                if job is None:
                    return None
                # The payment with its bill and customer in one round trip: the call needs all three.
                payment = session.scalars(
                    sa.select(Payment)
                    .where(Payment.id == job.payment_id)
                    .options(joinedload(Payment.bill).joinedload(Bill.customer), joinedload(Payment.receipt))
                ).first()
                if payment is not None:
                    break
                queue.finish(job, state=JobState.STOPPED, outcome="rejected", now=now, error="the job has no payment")
            step = _step_for(job)
            if step is Step.POST:
                # Durable before the call: from this commit on, no run of this job will ever post again.
                job.payload = {**job.payload, "post_attempted_at": now.isoformat(), "post_attempted_by": self.worker_id}
            work = ClaimedWork(
                job_id=job.id,
                kind=job.kind,
                partner=job.partner,
                step=step,
                anchor_at=job.anchor_at,
                context=_context_of(payment, job),
            )
        logger.debug("claimed job %s (%s, %s)", work.job_id, work.kind.value, work.step.value)
        return work

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
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            # The job and its payment, both locked, in one round trip. Locked before the calls are added: a call
            # row's foreign key takes a share lock on the job, and two workers recording one job (a lease taken
            # over) would each wait for the other to let go of it.
            job, payment = session.execute(_LOCK_JOB_AND_PAYMENT, {"job_id": work.job_id}).one()
            store_calls(session, outcome.calls, job_id=work.job_id, started_at=outcome.started_at, now=now)
            if not queue.still_owned(job, self.worker_id):
                # Our lease ran out and another worker took the job over: its answer counts, not ours.
                logger.warning("job %s: lease lost before the answer was recorded; answer discarded", work.job_id)
                return
            self._apply(session, job, payment, work, outcome, now)

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


_LOCK_JOB_AND_PAYMENT = (
    sa.select(Job, Payment)
    .join(Payment, Payment.id == Job.payment_id)
    .where(Job.id == sa.bindparam("job_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
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

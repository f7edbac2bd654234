"""Deliveries: messages the biller owes someone (Digiledge's BillFetchResponse and its siblings, the lender's
webhook), sent at least once through the durable queue and never again once the receiver acknowledged them.

A delivery is a job whose payload holds the message (queued by ``domain.deliveries.enqueue_delivery`` in the
transaction that decided it is owed); ``Job.partner`` names who receives it, and that partner's
client (a ``Deliverer``, biller_server/clients/outbound.py) sends it with ``deliver``. A client returns normally
when the receiver acknowledged the message, raises ``PartnerUnavailable`` to try again on the engine's schedule
(5 s steps for five minutes, then 5 min steps for a day, counted from when the message was queued) and
``PartnerRejectedRequest`` to stop: the receiver says the message itself is wrong, and sending it again cannot
help.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from biller_server.clients.base import CallRecord, PartnerError, PartnerRejectedRequest, PartnerUnavailable
from biller_server.clients.outbound import OutboundMessage
from biller_server.domain.deliveries import DELIVERY_KINDS
from biller_server.jobs import queue
from biller_server.jobs.attempts import AttemptFailure, attempt_failure
from biller_server.jobs.calls import call_journal, store_calls
from biller_server.jobs.schedule import next_check_at
from biller_server.persistence.models import JobState

logger = logging.getLogger("biller_server.jobs")


@dataclass
class _SendResult:
    started_at: dt.datetime
    error: PartnerError | None = None
    calls: list[CallRecord] = field(default_factory=list)


class DeliveryEngine(queue.LeasedWorkEngine[OutboundMessage, "_SendResult"]):
    """Claims due deliveries from the shared queue; any number of them, in any number of processes."""

    def claim(self) -> OutboundMessage | None:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            job = queue.claim_next_job(
                session=session, kinds=DELIVERY_KINDS, worker_id=self.worker_id, now=now, lease=self.lease
            )
            if job is None:
                return None
            return OutboundMessage(
                job_id=job.id,
                kind=job.kind,
                receiver=job.partner,
                operation=str(job.payload.get("operation", "")),
                body=dict(job.payload.get("body") or {}),
                attempt=job.attempts,
                queued_at=job.anchor_at,
            )

    def call(self, message: OutboundMessage) -> _SendResult:
        """Hand the message to its receiver's client; each call is written down before it is sent."""
        result = _SendResult(started_at=self.clock.now())
        result.calls = call_journal(sessions=self.sessions, job_id=message.job_id, clock=self.clock)
        try:
            deliverer: Any = self.clients.get(message.receiver)
            deliverer.deliver(message, calls=result.calls)
        except PartnerError as exc:
            result.error = exc
        except Exception as exc:
            logger.exception("delivery %s: unexpected error sending to %s", message.job_id, message.receiver)
            result.error = PartnerUnavailable(f"unexpected error: {type(exc).__name__}: {exc}")
        return result

    def failure(self, message: OutboundMessage, result: _SendResult) -> AttemptFailure | None:
        return attempt_failure(
            job_id=message.job_id,
            kind=message.kind.value,
            partner=message.receiver,
            error=result.error,
            calls=result.calls,
        )

    def record(self, message: OutboundMessage, result: _SendResult) -> None:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            # Locked before the calls are added (see ConfirmationEngine.record); the calls are kept either way.
            job = queue.lock_owned_job(session=session, job_id=message.job_id, worker_id=self.worker_id)
            store_calls(session, [(message.job_id, result.calls, result.started_at)], now=now)
            if job is None:
                logger.warning("delivery %s: lease lost before the result was recorded", message.job_id)
                return
            if result.error is None:
                job.last_error = None  # delivered: an earlier attempt's error no longer describes the job
                queue.finish(job, state=JobState.DONE, outcome="delivered", now=now)
            elif isinstance(result.error, PartnerRejectedRequest):
                queue.finish(job, state=JobState.STOPPED, outcome="rejected", now=now, error=str(result.error))
            else:
                job.last_error = str(result.error)
                job.outcome = "error"
                due_at = next_check_at(anchor_at=job.anchor_at, after=now)
                if due_at is None:
                    queue.finish(job, state=JobState.UNRESOLVED, outcome="undelivered", now=now)
                else:
                    queue.reschedule(job, due_at=due_at)

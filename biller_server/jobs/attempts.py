"""Failed job attempts: each one logged as one JSON line and counted in ``biller_job_attempt_failures_total``.

An attempt fails when the partner (or the lender's webhook) gave no usable answer: the job is retried on its
schedule, so nothing is lost, but a run of failures of one class points at one cause (a URL or a key not set, the
partner down), and an operator must see it without reading every job. The class is one of a few fixed words, so
the metric's labels stay bounded whatever a partner answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from biller_server.clients.base import (
    CallRecord,
    PartnerError,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerRequestNotSent,
)
from biller_server.instruments import JOB_ATTEMPT_FAILURES

logger = logging.getLogger("biller_server.jobs")

ERROR_CLASSES = (
    "not_configured",  # a setting the partner's client needs is missing: nothing was sent
    "not_sent",  # stopped before any byte left (a missing id)
    "timeout",
    "connection_error",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "malformed_answer",
    "rejected",  # the partner refused the request itself: the job stops
    "unexpected",  # a fault of ours while calling: see the log line before it
)


@dataclass(frozen=True)
class AttemptFailure:
    job_id: int
    kind: str
    partner: str
    error_class: str
    error: str


def attempt_failure(
    *, job_id: int, kind: str, partner: str, error: PartnerError | None, calls: list[CallRecord]
) -> AttemptFailure | None:
    """The failure of an attempt that ended in ``error`` (None: the attempt got a usable answer)."""
    if error is None:
        return None
    return AttemptFailure(job_id, kind, partner, classify(error, calls), str(error))


def classify(error: PartnerError, calls: list[CallRecord]) -> str:
    """The class of a failed attempt, from the error and the last exchange it made."""
    if isinstance(error, PartnerNotConfigured):
        return "not_configured"
    if isinstance(error, PartnerRequestNotSent):
        return "not_sent"
    last = calls[-1] if calls else None
    if last is not None and last.error is not None:
        if last.error.startswith("timeout"):
            return "timeout"
        if last.response_status is None:
            return "connection_error"
        if last.error == "malformed JSON":
            return "malformed_answer"
    if last is not None and last.response_status is not None and not 200 <= last.response_status < 300:
        return f"http_{last.response_status // 100}xx" if 300 <= last.response_status < 600 else "malformed_answer"
    if isinstance(error, PartnerRejectedRequest):
        return "rejected"
    if str(error).startswith("unexpected error"):
        return "unexpected"
    return "malformed_answer" if last is not None else "not_sent"


def report_failed_attempt(failure: AttemptFailure) -> None:
    JOB_ATTEMPT_FAILURES.labels(failure.partner, failure.error_class).inc()
    logger.warning(
        "job attempt failed",
        extra={
            "fields": {
                "job_id": failure.job_id,
                "kind": failure.kind,
                "partner": failure.partner,
                "error_class": failure.error_class,
                "error": failure.error[:500],
            }
        },
    )

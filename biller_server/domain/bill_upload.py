"""Admin bill upload: load the instalments a lender's loan system says borrowers owe.

One pass over the file checks each row and streams the valid ones into a staging table; checks across rows and
the writes are then set-based (see ``bill_upload_store``). If any row is bad, nothing is written unless the
caller asked to skip bad rows. A bill that has a payment, or was cancelled, is never changed by an upload: a
row that differs from it is reported as a conflict and left alone. Uploading the same file twice changes
nothing the second time. All writes happen on the caller's session, in the caller's one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import NamedTuple

from sqlalchemy.orm import Session

from biller_server.domain.bill_upload_csv import (
    COLUMNS,
    BillCsv,
    BillRow,
    RejectedRow,
    UploadFileError,
    open_bill_csv,
    template_csv,
)
from biller_server.domain.bill_upload_store import CrossRowProblem, Staging
from biller_server.persistence.models import BillStatus

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "BillCsv",
    "BillRow",
    "Conflict",
    "RejectedRow",
    "UploadFileError",
    "UploadReport",
    "open_bill_csv",
    "template_csv",
    "upload_bills",
]

BATCH_SIZE = 5000


class Conflict(NamedTuple):
    """A row for a bill the upload may not change (it has a payment, or was cancelled) and that differs from it."""

    line: int
    partner_bill_id: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: bill {self.partner_bill_id} {self.reason}: left unchanged"


@dataclasses.dataclass
class UploadReport:
    """What an upload did, or in a dry run would do; ``rows`` is the sum of the five outcomes."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    rejected: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    dry_run: bool = False
    stopped: bool = False  # bad rows stopped the upload before any write (skip_invalid was not given)
    written: bool = False


def upload_bills(
    *,
    session: Session,
    rows: Iterable[BillRow | RejectedRow],
    now: dt.datetime,
    dry_run: bool = False,
    skip_invalid: bool = False,
    on_problem: Callable[[RejectedRow | Conflict], None] | None = None,
) -> UploadReport:
    """Upsert customers and bills from checked rows; report every rejected row and conflict to ``on_problem``."""
    problem = on_problem or (lambda _problem: None)
    staging = Staging(session)
    try:
        report = _upload(staging, rows=rows, now=now, dry_run=dry_run, skip_invalid=skip_invalid, problem=problem)
    except BaseException:
        staging.abandon()  # the caller's rollback takes the TEMP tables away with everything else
        raise
    staging.drop()
    return report


def _upload(
    staging: Staging,
    *,
    rows: Iterable[BillRow | RejectedRow],
    now: dt.datetime,
    dry_run: bool,
    skip_invalid: bool,
    problem: Callable[[RejectedRow | Conflict], None],
) -> UploadReport:
    report = UploadReport(dry_run=dry_run)
    batch: list[BillRow] = []
    for row in rows:
        report.rows += 1
        if isinstance(row, RejectedRow):
            report.rejected += 1
            problem(row)
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            staging.load(batch)
            batch.clear()
    staging.load(batch)
    staging.finish_loading()

    if staging.find_cross_row_problems():
        for cross_row in staging.cross_row_problems():
            report.rejected += 1
            problem(_rejected_for(cross_row))
        staging.remove_rejected()
    if report.rejected and not skip_invalid:
        report.stopped = True
        return report

    report.customers_created, report.customers_updated = staging.count_customers()
    report.created, report.updated, report.unchanged, report.conflicts = staging.count_bills()
    for conflict in staging.conflicts():
        reason = "is cancelled" if conflict.status == BillStatus.CANCELLED else "has a payment"
        problem(Conflict(conflict.line, conflict.partner_bill_id, reason))
    if not dry_run:
        staging.apply(now=now)
        report.written = True
    return report


def _rejected_for(problem: CrossRowProblem) -> RejectedRow:
    if problem.rule == "duplicate_bill":
        return RejectedRow(
            problem.line, (("partner_bill_id", f"{problem.partner_bill_id} is already on line {problem.first_line}"),)
        )
    reasons: list[tuple[str | None, str]] = []
    if problem.customer_name != problem.first_name:
        reasons.append(
            (
                "customer_name",
                f"customer {problem.customer_id} is {problem.first_name!r} on line {problem.first_line}",
            )
        )
    if (problem.mobile or "") != (problem.first_mobile or ""):
        first_mobile = problem.first_mobile or "no mobile"
        reasons.append(("mobile", f"customer {problem.customer_id} has {first_mobile} on line {problem.first_line}"))
    return RejectedRow(problem.line, tuple(reasons))

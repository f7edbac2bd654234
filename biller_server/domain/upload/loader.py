"""Admin bill upload: load the instalments a lender's loan system says borrowers owe.

1. Check: one pass over the file checks each row and streams the valid ones into a staging table; the checks
   across rows and the plan (what is created, changed, left alone) are then set-based (``store``).
   Nothing is written to the books in this stage; if any row is bad, nothing is written at all unless the caller
   asked to skip bad rows.
2. Write: the customers the file changes, in file order, in batches of whole customers; each batch (a customer's
   name, mobile, identifiers and all its bills in the file) is one short transaction, sized to take about
   ``transaction_seconds``, so partners' calls are served between batches. The upload's record
   (``bill_uploads``) moves on in the same transaction as each batch.

A crash in stage 1 leaves the books untouched; in stage 2, some customers written and the rest not, never a
customer half-written, and the record says so. Running the same file again finishes it: every batch is
idempotent (what was written compares as unchanged). A bill that has a payment, or was cancelled or closed, is
never changed by an upload: a row that differs from it is reported as a conflict and left alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from sqlalchemy.orm import Session

from biller_server.domain.money import rupees_indian
from biller_server.domain.upload.reader import (
    BillRow,
    RejectedRow,
    decode_record,
)
from biller_server.domain.upload.runs import UploadSource, start_upload, upload_lock
from biller_server.domain.upload.store import BillChange, ConflictRow, CrossRowProblem, CustomerChange, Staging
from biller_server.persistence.models import BillStatus, BillUpload, BillUploadState
from biller_server.persistence.types import utcnow

BATCH_SIZE = 5000  # rows staged at a time
FIRST_BATCH_ROWS = 200  # the first write transaction's size, in file rows; later ones are sized by its time
ANALYZE_AFTER_ROWS = 20_000  # bills created before the books' statistics are refreshed, then at every doubling
# On SQLite a partner call waiting for the write lock sleeps between tries, up to 100 ms at a time (SQLite's
# busy handler); the upload pauses longer than that between batches, however short the batch, so that every waiting
# call tries at least once while the lock is free. (A pause as long as the batch, 25 to 110 ms, let an unlucky call
# miss several short pauses in a row: 937 ms once, at 40 fetchBills/s during a 1M-row re-upload.)
SQLITE_PAUSE_SECONDS = 0.11

_CONFLICT_REASONS = {BillStatus.CANCELLED: "is cancelled", BillStatus.CLOSED: "is closed"}


class Conflict(NamedTuple):
    """A row for a bill the upload may not change (it has a payment, or was cancelled or closed) and that
    differs from it."""

    line: int
    partner_bill_id: str
    reason: str
    record: tuple[str, ...] = ()  # the row as it came, when the upload keeps rows (for a rejects file)

    def __str__(self) -> str:
        return f"line {self.line}: bill {self.partner_bill_id} {self.reason}: left unchanged"

    @property
    def reasons(self) -> str:
        return f"bill {self.partner_bill_id} {self.reason}: left unchanged"


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
    # How it went, not what it did (left out of comparisons): its bill_uploads row (none for a dry run), the
    # interrupted upload of the same file it finished, the customers it had to write, and in how many batches.
    upload_id: int | None = dataclasses.field(default=None, compare=False)
    resumed_id: int | None = dataclasses.field(default=None, compare=False)
    customers_to_write: int = dataclasses.field(default=0, compare=False)
    batches: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class _Progress:
    """Hooks for a person watching: checking across rows, then writing (customers written of the total)."""

    on_stage: Callable[[str], None]
    on_written: Callable[[int, int], None]


def upload_bills(
    *,
    session: Session,
    rows: Iterable[BillRow | RejectedRow],
    now: dt.datetime,
    dry_run: bool = False,
    skip_invalid: bool = False,
    on_problem: Callable[[RejectedRow | Conflict], None] | None = None,
    on_change: Callable[[BillChange | CustomerChange], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_written: Callable[[int, int], None] | None = None,
    source: UploadSource | None = None,
    transaction_seconds: float = 0.1,
    clock: Callable[[], dt.datetime] = utcnow,
) -> UploadReport:
    """Upsert customers and bills from checked rows; report every rejected row and conflict to ``on_problem``,
    and (in a dry run, or after writing) every customer and bill created or changed to ``on_change``.

    Commits: the session must stay on one connection for the whole upload (``Database.dedicated_session``). A
    real upload is recorded in ``bill_uploads`` when ``source`` says what file it reads.
    """
    problem = on_problem or (lambda _problem: None)
    progress = _Progress(on_stage or (lambda _stage: None), on_written or (lambda _done, _total: None))
    if dry_run:
        return _run(session, rows, now, True, skip_invalid, problem, on_change, progress, None, 0.0, clock)
    with upload_lock(session):
        upload = resumed = None
        if source is not None:
            upload, resumed = start_upload(session=session, source=source, now=clock())
            session.commit()  # the run is visible (bills uploads) while the file is checked
        try:
            report = _run(
                session, rows, now, False, skip_invalid, problem, on_change, progress, upload,
                transaction_seconds, clock,
            )  # fmt: skip
        except BaseException as exc:
            session.rollback()
            if upload is not None:
                _record_end(session, upload, exc)
            raise
        if upload is not None:
            report.upload_id = upload.id
            report.resumed_id = resumed.id if resumed is not None else None
        return report


def _record_end(session: Session, upload: BillUpload, exc: BaseException) -> None:
    """Say how an upload ended early; an interrupt (Ctrl-C) is resumable like a crash."""
    state = BillUploadState.FAILED if isinstance(exc, Exception) else BillUploadState.INTERRUPTED
    try:
        session.refresh(upload)
        upload.state = state
        upload.error = f"{type(exc).__name__}: {exc}"[:2000] if isinstance(exc, Exception) else None
        session.commit()
    except Exception:  # the database itself may be what failed: the next upload marks the row interrupted
        session.rollback()


def _run(
    session: Session,
    rows: Iterable[BillRow | RejectedRow],
    now: dt.datetime,
    dry_run: bool,
    skip_invalid: bool,
    problem: Callable[[RejectedRow | Conflict], None],
    on_change: Callable[[BillChange | CustomerChange], None] | None,
    progress: _Progress,
    upload: BillUpload | None,
    transaction_seconds: float,
    clock: Callable[[], dt.datetime],
) -> UploadReport:
    staging = Staging(session)
    try:
        if staging.dialect == "postgresql":
            # A million rows take longer than the per-statement limit set for API calls, and the hashes and sorts
            # over the whole file should stay in memory. Session settings: the upload spans many transactions.
            staging.execute("SET statement_timeout = 0")
            staging.execute("SET work_mem = '64MB'")
        report = _check(staging, rows, dry_run, skip_invalid, problem, progress)
        if report.stopped or dry_run:
            if dry_run and on_change is not None and not report.stopped:
                _list_changes(staging, on_change)
            session.rollback()  # only TEMP tables were written; a dry run leaves even those
            if upload is not None:
                _save(upload, report, BillUploadState.REFUSED)
                session.commit()
            return report
        report.customers_to_write = staging.plan()
        # Ends the checking transaction (on SQLite, its read snapshot). The plan is recorded in a transaction of
        # its own: on SQLite a read transaction cannot turn into a write once partners' calls have written since
        # it began (it fails at once with "database is locked" rather than waiting); a new one waits its turn.
        session.commit()
        if upload is not None:
            staging.reconnect()
            _save(upload, report, BillUploadState.APPLYING)
            upload.checked_at = clock()
            session.commit()
        _write(staging, session, report, upload, now, transaction_seconds, problem, progress)
        report.written = True
        if upload is not None:
            _save(upload, report, BillUploadState.FINISHED)
            upload.finished_at = clock()
        session.commit()
        if on_change is not None:
            staging.reconnect(deferred=True)
            _list_changes(staging, on_change)
        return report
    except BaseException:
        staging.abandon()
        raise
    finally:
        _clean_up(session, staging)


def _clean_up(session: Session, staging: Staging) -> None:
    """Drop the TEMP tables and the session settings, in a transaction of their own (best effort: the
    connection may be what failed, and then the tables went with it)."""
    try:
        session.rollback()
        staging.reconnect(deferred=True)
        staging.drop()
        if staging.dialect == "postgresql":
            staging.execute("RESET statement_timeout")
            staging.execute("RESET work_mem")
        session.commit()
    except Exception:
        session.rollback()


def _check(
    staging: Staging,
    rows: Iterable[BillRow | RejectedRow],
    dry_run: bool,
    skip_invalid: bool,
    problem: Callable[[RejectedRow | Conflict], None],
    progress: _Progress,
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

    progress.on_stage("checking across rows")
    if staging.find_cross_row_problems():
        for cross_row in staging.cross_row_problems():
            report.rejected += 1
            problem(_rejected_for(cross_row))
        staging.remove_rejected()
    if report.rejected and not skip_invalid:
        report.stopped = True
        return report

    progress.on_stage("comparing with the books")
    report.customers_created, report.customers_updated = staging.count_customers()
    report.created, report.updated, report.unchanged, report.conflicts = staging.count_bills()
    for conflict in staging.conflicts():
        problem(_conflict(conflict))
    return report


def _conflict(row: ConflictRow) -> Conflict:
    reason = _CONFLICT_REASONS.get(BillStatus(row.status), "has a payment")
    return Conflict(row.line, row.partner_bill_id, reason, decode_record(row.raw))


def _write(
    staging: Staging,
    session: Session,
    report: UploadReport,
    upload: BillUpload | None,
    now: dt.datetime,
    transaction_seconds: float,
    problem: Callable[[RejectedRow | Conflict], None],
    progress: _Progress,
) -> None:
    """Write the plan in batches of whole customers, each batch one transaction of about ``transaction_seconds``.

    Counts become what the batches really did: a bill that took a payment after the plan is a conflict, not an
    update.
    """
    report.created = report.updated = report.customers_created = report.customers_updated = 0
    total = report.customers_to_write
    progress.on_stage("writing")
    progress.on_written(0, total)
    rows_per_batch = FIRST_BATCH_ROWS
    first, written = 1, 0
    analyze_at = ANALYZE_AFTER_ROWS
    while True:
        if report.created >= analyze_at:  # the books have grown: plan the next batches on their new size
            staging.reconnect()
            staging.analyze_books()
            session.commit()
            analyze_at *= 2
        staging.reconnect()  # the batch's transaction: on SQLite, it takes the write lock now
        # Timed from when the lock is held: on SQLite the wait for it is partners' calls writing, not this batch's
        # work, and counting it would shrink the batches to one customer each while calls keep arriving.
        started = time.monotonic()
        batch = staging.next_batch(first, rows_per_batch)
        if batch is None:
            session.rollback()
            break
        last, batch_rows = batch
        counts = staging.apply_batch(first=first, last=last, now=now)
        report.created += counts.created
        report.updated += counts.updated
        report.customers_created += counts.customers_created
        report.customers_updated += counts.customers_updated
        report.conflicts += counts.late_conflicts
        report.batches += 1
        written += counts.customers
        if upload is not None:
            _save(upload, report, BillUploadState.APPLYING)
            upload.customers_written = written
            upload.customers_created, upload.customers_updated = report.customers_created, report.customers_updated
            upload.bills_created, upload.bills_updated = report.created, report.updated
            upload.batches = report.batches
        session.commit()  # the batch and its count in bill_uploads, together
        elapsed = time.monotonic() - started
        if counts.late_conflicts:
            staging.reconnect(deferred=True)
            for conflict in staging.conflicts(late=True, first=first, last=last):
                problem(_conflict(conflict))
            session.rollback()
        progress.on_written(written, total)
        first = last + 1
        # The next batch is sized by this one's pace, changing by at most 4x at a time.
        pace = batch_rows * transaction_seconds / max(elapsed, 1e-4)
        rows_per_batch = max(1, int(min(max(pace, batch_rows / 4), batch_rows * 4)))
        if staging.dialect == "sqlite" and last < total:  # not after the last batch: nothing waits on it
            time.sleep(SQLITE_PAUSE_SECONDS)


def _save(upload: BillUpload, report: UploadReport, state: BillUploadState) -> None:
    """Put the checked file's numbers on the upload's record (the batches add what they write as they go)."""
    upload.state = state
    upload.rows = report.rows
    upload.rejected = report.rejected
    upload.bills_unchanged = report.unchanged
    upload.conflicts = report.conflicts
    upload.customers_to_write = report.customers_to_write


def _list_changes(staging: Staging, on_change: Callable[[BillChange | CustomerChange], None]) -> None:
    for customer in staging.customer_changes():
        on_change(customer)
    for bill in staging.bill_changes():
        on_change(bill)


def describe_change(change: BillChange | CustomerChange) -> str:
    """One line a person reads: ``LAN-2001-05 amount 2,450.00 → 2,600.00, due 05/12 → 10/12``."""
    if isinstance(change, CustomerChange):
        if change.state == "new":
            mobile = f", mobile {change.mobile}" if change.mobile else ""
            return f"customer {change.customer_id} new: {change.name}{mobile}"
        parts = []
        if change.old_name != change.name:
            parts.append(f"name {change.old_name} → {change.name}")
        if (change.old_mobile or "") != (change.mobile or ""):
            parts.append(f"mobile {change.old_mobile or 'none'} → {change.mobile or 'none'}")
        return f"customer {change.customer_id} {', '.join(parts)}"
    if change.created:
        return (
            f"{change.partner_bill_id} new: {rupees_indian(change.amount_paise)} due {_day(change.due_date)} "
            f"({change.customer_id}, {change.name})"
        )
    parts = []
    if change.old_amount_paise != change.amount_paise:
        parts.append(f"amount {rupees_indian(change.old_amount_paise or 0)} → {rupees_indian(change.amount_paise)}")
    if change.old_due_date != change.due_date:
        parts.append(f"due {_day(change.old_due_date, change.due_date)} → {_day(change.due_date, change.old_due_date)}")
    if change.old_generated_date != change.generated_date:
        parts.append(
            f"generated {_day(change.old_generated_date, change.generated_date)} → "
            f"{_day(change.generated_date, change.old_generated_date)}"
        )
    if change.old_exactness != change.exactness:
        parts.append(f"exactness {change.old_exactness} → {change.exactness}")
    if (change.old_min_amount_paise, change.old_max_amount_paise) != (change.min_amount_paise, change.max_amount_paise):
        parts.append(f"range {_range(change.old_min_amount_paise, change.old_max_amount_paise)} → "
                     f"{_range(change.min_amount_paise, change.max_amount_paise)}")  # fmt: skip
    if change.old_name != change.name:
        parts.append(f"name {change.old_name!r} → {change.name!r}")
    if (change.old_loan_account_number or "") != (change.loan_account_number or ""):
        parts.append(f"loan {change.old_loan_account_number or 'none'} → {change.loan_account_number or 'none'}")
    if change.old_customer_id != change.customer_id:
        parts.append(f"customer {change.old_customer_id} → {change.customer_id}")
    return f"{change.partner_bill_id} {', '.join(parts)}"


def _day(day: dt.date | None, other: dt.date | None = None) -> str:
    """DD/MM, with the year when it is not the other date's (or when there is no other date)."""
    if day is None:
        return "none"
    if other is not None and other.year == day.year:
        return day.strftime("%d/%m")
    return day.strftime("%d/%m/%Y")


def _range(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return "none"
    return f"{rupees_indian(low or 0)}-{rupees_indian(high or 0)}"


def _rejected_for(problem: CrossRowProblem) -> RejectedRow:
    if problem.rule == "duplicate_bill":
        return RejectedRow(
            problem.line,
            (("partner_bill_id", f"{problem.partner_bill_id} is already on line {problem.first_line}"),),
            decode_record(problem.raw),
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
    return RejectedRow(problem.line, tuple(reasons), decode_record(problem.raw))

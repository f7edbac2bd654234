"""The record of each bill upload that wrote to the books, kept in the upload's own transaction.

Operations watch the time of the last one (biller_bill_upload_last_success_timestamp_seconds): a lender whose
daily file was not loaded offers yesterday's bills to BBPS.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.domain.upload import UploadReport
from biller_server.persistence.models import BillUpload, BillUploadState


def record_finished_upload(
    *, session: Session, report: UploadReport, file_name: str, started_at: dt.datetime, finished_at: dt.datetime
) -> BillUpload | None:
    """Add the upload's row to ``session`` if it wrote (a dry run or an upload stopped by bad rows leaves none)."""
    if not report.written:
        return None
    upload = BillUpload(
        file_name=file_name[:255],
        state=BillUploadState.FINISHED,
        started_at=started_at,
        finished_at=finished_at,
        rows=report.rows,
        rejected=report.rejected,
        bills_created=report.created,
        bills_updated=report.updated,
        bills_unchanged=report.unchanged,
        conflicts=report.conflicts,
        customers_created=report.customers_created,
        customers_updated=report.customers_updated,
    )
    session.add(upload)
    return upload


def last_successful_upload_at(session: Session) -> dt.datetime | None:
    return session.scalar(
        sa.select(sa.func.max(BillUpload.finished_at)).where(BillUpload.state == BillUploadState.FINISHED)
    )

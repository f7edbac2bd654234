"""The record of bill uploads that wrote: kept for each one, never for a dry run or an upload stopped by bad rows."""

import datetime as dt

import sqlalchemy as sa

from biller_server.domain.upload import UploadReport
from biller_server.domain.upload.log import last_successful_upload_at, record_finished_upload
from biller_server.persistence.models import BillUpload, BillUploadState

STARTED = dt.datetime(2026, 11, 2, 3, 30, tzinfo=dt.UTC)
FINISHED = STARTED + dt.timedelta(seconds=42)


def record(session, report, *, finished_at=FINISHED):
    upload = record_finished_upload(
        session=session, report=report, file_name="november.csv", started_at=STARTED, finished_at=finished_at
    )
    session.flush()
    return upload


def test_an_upload_that_wrote_is_recorded_with_its_counts(session):
    report = UploadReport(rows=3, created=2, unchanged=1, customers_created=1, written=True)

    record(session, report)

    upload = session.scalars(sa.select(BillUpload)).one()
    assert (upload.file_name, upload.state, upload.started_at, upload.finished_at) == (
        "november.csv",
        BillUploadState.FINISHED,
        STARTED,
        FINISHED,
    )
    assert (upload.rows, upload.bills_created, upload.bills_unchanged, upload.customers_created) == (3, 2, 1, 1)


def test_a_dry_run_or_a_stopped_upload_is_not_recorded(session):
    assert record(session, UploadReport(rows=1, created=1, dry_run=True)) is None
    assert record(session, UploadReport(rows=2, rejected=1, stopped=True)) is None

    assert session.scalar(sa.select(sa.func.count()).select_from(BillUpload)) == 0


def test_the_last_successful_upload_is_the_latest_finished_one(session):
    assert last_successful_upload_at(session) is None

    record(session, UploadReport(rows=1, created=1, written=True), finished_at=FINISHED - dt.timedelta(days=1))
    record(session, UploadReport(rows=1, unchanged=1, written=True))

    assert last_successful_upload_at(session) == FINISHED

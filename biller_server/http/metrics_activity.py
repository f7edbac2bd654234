"""Figures read from the books at scrape time for operations: is each partner still calling, when was the bill
file last loaded, how many bills are open and how much is owed on them; and which build is running.

Read from the database rather than kept in memory, so every API host reports the same values, a restart loses
nothing, and the bill upload (a command, not a server process) is seen as soon as it commits.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from biller_server.build import BuildInfo
from biller_server.domain.health import last_authenticated_call_at
from biller_server.domain.upload.runs import last_finished_at
from biller_server.persistence.models import Bill, BillStatus

OPEN_STATUSES = (BillStatus.OPEN, BillStatus.PARTIALLY_PAID)


class BuildInfoCollector:
    """``biller_build_info{version, commit} 1``: which build each host runs (a mixed fleet shows two series)."""

    def __init__(self, info: BuildInfo) -> None:
        self.info = info

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "biller_build_info",
            "The running build: package version and source commit; always 1.",
            labels=["version", "commit"],
        )
        build.add_metric([self.info.version, self.info.commit], 1)
        yield build


def activity_families(session: Session, *, now: dt.datetime, channels: Iterable[str]) -> Iterator[Metric]:
    silence = GaugeMetricFamily(
        "biller_inbound_seconds_since_last_call",
        "Seconds since the channel's partner last made an authenticated call (any answer); +Inf if it never has.",
        labels=["channel"],
    )
    for channel in channels:
        last = last_authenticated_call_at(session, channel)
        silence.add_metric([channel], max((now - last).total_seconds(), 0.0) if last else math.inf)
    yield silence

    upload = GaugeMetricFamily(
        "biller_bill_upload_last_success_timestamp_seconds",
        "Unix time of the last bill upload that wrote to the books (dry runs excluded); 0 if there was none.",
    )
    last_upload = last_finished_at(session=session)
    upload.add_metric([], last_upload.timestamp() if last_upload else 0)
    yield upload

    open_bills = GaugeMetricFamily(
        "biller_bills_open", "Bills offered to BBPS (OPEN or PARTIALLY_PAID), by status.", labels=["status"]
    )
    outstanding = GaugeMetricFamily(
        "biller_bills_outstanding_paise",
        "Amount still owed on the open bills, in paise (exact: divide by 100 for rupees), by status.",
        labels=["status"],
    )
    balance = sa.case((Bill.amount_paise > Bill.paid_paise, Bill.amount_paise - Bill.paid_paise), else_=0)
    figures = {status.value: (0, 0) for status in OPEN_STATUSES}
    rows = session.execute(
        sa.select(Bill.status, sa.func.count(), sa.func.coalesce(sa.func.sum(balance), 0))
        .where(Bill.status.in_(OPEN_STATUSES))
        .group_by(Bill.status)
    )
    for status, count, owed in rows:
        figures[status.value] = (count, int(owed))
    for status, (count, owed) in sorted(figures.items()):
        open_bills.add_metric([status], count)
        outstanding.add_metric([status], owed)
    yield open_bills
    yield outstanding

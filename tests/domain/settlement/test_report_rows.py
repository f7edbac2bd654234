"""The settlement report's summary and CSV rows (the CLI's first table, the console's download), and the open
breaks older than a day that Today and the metrics count."""

import datetime as dt

from biller_server.domain.settlement import (
    SETTLEMENT_CSV_HEADER,
    BreakKind,
    open_breaks_older_than_a_day,
    record_partner_settlement,
    settlement_csv_rows,
    settlement_report,
    unreconciled_older_than_a_day,
)
from biller_server.persistence.models import Channel, PaymentStatus, ReconciliationAck
from tests.factories import PaymentFactory

NOW = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 30)


def _settled(session, ref, day, amount_paise=350_000):
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref=f"KF-{ref}", status=PaymentStatus.CONFIRMED)
    record_partner_settlement(
        session=session,
        partner="kaleidofin",
        settlement_ref=ref,
        settled_on=day,
        amount_paise=amount_paise,
        payment_refs=[f"KF-{ref}"],
        source="test",
        now=NOW,
    )
    session.flush()


def _report(session, day):
    return settlement_report(session=session, day=day, never_settled_after_days=30, now=NOW)


def test_the_summary_counts_matched_each_open_kind_and_acknowledged(session):
    day = dt.date(2026, 11, 28)
    _settled(session, "UTR-A", day)
    _settled(session, "UTR-B", day, amount_paise=1_000)
    session.add(
        ReconciliationAck(break_key="settled_not_in_bank:kaleidofin:UTR-B", note="n", acked_by="a", acked_at=NOW)
    )
    session.flush()

    assert _report(session, day).summary() == [
        ("matched", 0, 0),
        ("settled_not_in_bank", 1, 350_000),
        ("acknowledged", 1, 1_000),
    ]


def test_the_csv_has_a_row_per_break_under_its_header(session):
    day = dt.date(2026, 11, 28)
    _settled(session, "UTR-A", day)

    rows = list(settlement_csv_rows(_report(session, day)))

    assert [dict(zip(SETTLEMENT_CSV_HEADER, row, strict=True)) for row in rows] == [
        {
            "day": "2026-11-28",
            "section": "break",
            "key": "settled_not_in_bank:kaleidofin:UTR-A",
            "kind": "settled_not_in_bank",
            "partner": "kaleidofin",
            "reference": "UTR-A",
            "expected_paise": 350_000,
            "received_paise": "",
            "difference_paise": "",
            "bank_date": "",
            "matched_by": "",
            "payments": "",
            "detail": "kaleidofin says it sent this for 1 payment(s); no bank credit shows it",
            "acknowledged_by": "",
            "note": "",
        }
    ]


def test_open_breaks_older_than_a_day_leave_out_yesterday_and_what_is_acknowledged(session):
    _settled(session, "UTR-YESTERDAY", TODAY - dt.timedelta(days=1))
    _settled(session, "UTR-OLD", TODAY - dt.timedelta(days=3))
    _settled(session, "UTR-ACKED", TODAY - dt.timedelta(days=4))
    session.add(
        ReconciliationAck(break_key="settled_not_in_bank:kaleidofin:UTR-ACKED", note="n", acked_by="a", acked_at=NOW)
    )
    session.flush()

    found = open_breaks_older_than_a_day(session=session, today=TODAY, never_settled_after_days=30, now=NOW)

    assert [(item.reference, item.day) for item in found] == [("UTR-OLD", TODAY - dt.timedelta(days=3))]
    counted = unreconciled_older_than_a_day(session=session, today=TODAY, never_settled_after_days=30, now=NOW)
    assert counted[BreakKind.SETTLED_NOT_IN_BANK].breaks == 1

"""The daily report's figures against a fixture day with every payment state, worked out by hand below."""

import datetime as dt

from biller_server.domain.reports.daily import Tally, daily_report, india_day_bounds, report_csv_rows, report_table
from biller_server.persistence.models import Channel, PaymentNotification, PaymentStatus
from tests.factories import BillFactory, PaymentFactory

DAY = dt.date(2026, 11, 2)  # in India: 2026-11-01T18:30Z to 2026-11-02T18:30Z
NOW = dt.datetime(2026, 11, 3, 4, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 2, 18, 30, tzinfo=dt.UTC)
MORNING = dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)  # 09:30 IST


def _payment(channel, ref, paise, status, *, paid_at=MORNING, applied=True, flagged=False):
    return PaymentFactory(
        bill=BillFactory(amount_paise=paise),
        channel=channel,
        partner_txn_ref=ref,
        amount_paise=paise,
        status=status,
        paid_at=paid_at,
        applied_to_bill=applied,
        flagged=flagged,
        flag_reason="digiledge_notification reported failed for a payment already CONFIRMED" if flagged else None,
    )


def _notification(session, ref_id, *, received_at, held, payment=None):
    session.add(
        PaymentNotification(
            received_at=received_at,
            channel=Channel.DIGILEDGE,
            ref_id=ref_id,
            fingerprint=ref_id.ljust(64, "0"),
            body={"refId": ref_id, "status": "Successful"},
            reported_status="Successful",
            payment_id=payment.id if payment is not None else None,
            outcome="unknown_payment" if held else "applied",
            ack_code=0,
            ack_status="Success",
            ack_reason="",
            needs_reconciliation=held,
        )
    )


def build_fixture_day(session):
    """Ten payments on 2026-11-02 (India) in every state, two either side of its edges, three notifications.

    kaleidofin  K1 confirmed 1000.00; K2 confirmed 250.50, flagged; K3 failed 499.99 (reversed, not applied);
                K4 received 300.00; K5 received 100.00 at 00:00 IST exactly (in the day);
                K6 confirmed 5000.00, flagged, at 23:59:59 IST the day before (not in the day)
    digiledge   D1 unresolved 750.25; D2 confirmed 1200.00; D3 failed 80.00 but still applied (an anomaly);
                D4 unresolved 60.00 at 00:00 IST the day after (not in the day)
    offline     O1 confirmed 2000.00 at 00:00 IST (an offline payment's date); O2 confirmed 10.00, not applied
    notifications: one held today (unknown refId), one applied today, one held the day before
    """
    k, d, o = Channel.KALEIDOFIN, Channel.DIGILEDGE, Channel.OFFLINE
    s = PaymentStatus
    _payment(k, "K1", 100_000, s.CONFIRMED)
    _payment(k, "K2", 25_050, s.CONFIRMED, flagged=True)
    _payment(k, "K3", 49_999, s.FAILED, applied=False)
    _payment(k, "K4", 30_000, s.RECEIVED)
    _payment(k, "K5", 10_000, s.RECEIVED, paid_at=START)
    _payment(k, "K6", 500_000, s.CONFIRMED, paid_at=START - dt.timedelta(seconds=1), flagged=True)
    _payment(d, "D1", 75_025, s.UNRESOLVED)
    d2 = _payment(d, "D2", 120_000, s.CONFIRMED)
    _payment(d, "D3", 8_000, s.FAILED)
    _payment(d, "D4", 6_000, s.UNRESOLVED, paid_at=END)
    _payment(o, "O1", 200_000, s.CONFIRMED, paid_at=START)
    _payment(o, "O2", 1_000, s.CONFIRMED, applied=False)
    _notification(session, "DL-UNKNOWN-1", received_at=MORNING, held=True)
    _notification(session, "DL-APPLIED-1", received_at=MORNING, held=False, payment=d2)
    _notification(session, "DL-UNKNOWN-0", received_at=START - dt.timedelta(hours=1), held=True)
    session.flush()


def test_the_day_is_a_calendar_day_in_india():
    assert india_day_bounds(DAY) == (START, END)


def test_figures_per_channel_and_state(session):
    build_fixture_day(session)

    report = daily_report(session=session, day=DAY, now=NOW)

    by_channel = {day.channel: day for day in report.channels}
    assert list(by_channel) == ["kaleidofin", "digiledge", "setu", "offline"]
    kaleidofin, digiledge, setu, offline = by_channel.values()
    assert setu.received == Tally(0, 0)
    assert kaleidofin.received == Tally(5, 215_049)
    assert kaleidofin.confirmed == Tally(2, 125_050)
    assert kaleidofin.failed == Tally(1, 49_999)
    assert kaleidofin.pending == Tally(2, 40_000)
    assert kaleidofin.unresolved == Tally(0, 0)
    assert digiledge.received == Tally(3, 203_025)
    assert digiledge.confirmed == Tally(1, 120_000)
    assert digiledge.failed == Tally(1, 8_000)
    assert digiledge.pending == Tally(0, 0)
    assert digiledge.unresolved == Tally(1, 75_025)
    assert offline.received == Tally(2, 201_000)
    assert offline.confirmed == Tally(2, 201_000)
    assert (offline.failed, offline.pending, offline.unresolved) == (Tally(), Tally(), Tally())
    total = report.total
    assert total.received == Tally(10, 619_074)
    assert total.confirmed == Tally(5, 446_050)
    assert total.failed == Tally(2, 57_999)
    assert total.pending == Tally(2, 40_000)
    assert total.unresolved == Tally(1, 75_025)


def test_reconciliation_explains_the_difference_to_the_paisa(session):
    build_fixture_day(session)

    rec = daily_report(session=session, day=DAY, now=NOW).reconciliation

    assert rec.confirmed == Tally(5, 446_050)
    assert rec.applied == Tally(8, 568_075)  # all but K3 (reversed) and O2
    assert rec.difference == Tally(3, 122_025)
    assert rec.awaiting_confirmation == Tally(2, 40_000)  # K4, K5
    assert rec.unresolved_applied == Tally(1, 75_025)  # D1
    assert rec.failed_still_applied == Tally(1, 8_000)  # D3
    assert rec.confirmed_not_applied == Tally(1, 1_000)  # O2
    assert (
        rec.awaiting_confirmation + rec.unresolved_applied + rec.failed_still_applied - rec.confirmed_not_applied
        == rec.difference
    )
    assert rec.flagged == Tally(1, 25_050)
    assert [(p.partner_txn_ref, p.status, p.amount_paise) for p in rec.flagged_payments] == [
        ("K2", "CONFIRMED", 25_050)
    ]
    assert [(n.ref_id, n.outcome, n.payment_id) for n in rec.held_notifications] == [
        ("DL-UNKNOWN-1", "unknown_payment", None)
    ]


def test_open_items_count_every_day(session):
    build_fixture_day(session)

    items = daily_report(session=session, day=DAY, now=NOW).open_items

    assert items.unresolved == Tally(2, 81_025)  # D1 and D4 (the day after)
    assert items.flagged == Tally(2, 525_050)  # K2 and K6 (the day before)
    assert items.held_notifications == 2


def test_an_empty_day_has_every_channel_at_zero(session):
    report = daily_report(session=session, day=dt.date(2020, 1, 1), now=NOW)

    assert [day.channel for day in report.channels] == ["kaleidofin", "digiledge", "setu", "offline"]
    assert report.total.received == Tally(0, 0)
    assert report.reconciliation.difference == Tally(0, 0)


def test_table_and_csv_show_the_same_figures(session):
    build_fixture_day(session)
    report = daily_report(session=session, day=DAY, now=NOW)

    table = report_table(report)
    rows = report_csv_rows(report)

    assert "India time (Asia/Kolkata)" in table
    assert "2026-11-02 00:00 IST to 2026-11-03 00:00 IST" in table
    kaleidofin_line = next(line for line in table.splitlines() if line.startswith("kaleidofin"))
    # received, confirmed, failed, pending, unresolved: count and amount each
    # amounts grouped the Indian way in the table, plain in the CSV
    expected = ["kaleidofin", "5", "2,150.49", "2", "1,250.50", "1", "499.99", "2", "400.00", "0", "0.00"]
    assert kaleidofin_line.split() == expected
    assert "difference (applied - confirmed)" in table and "1,220.25" in table
    assert "held notification" in table and "DL-UNKNOWN-1" in table
    assert ("payments", "total", "received", "10", "6190.74") in rows
    assert ("reconciliation", "total", "difference", "3", "1220.25") in rows
    assert ("reconciliation", "total", "held_notifications", "1", "") in rows
    assert ("open_all_days", "total", "unresolved", "2", "810.25") in rows

"""record_partner_settlement, the one door for settlement news (a report file, Setu's BILL_SETTLEMENT_STATUS
notification), and the UTRs Indian banks write into narrations."""

import datetime as dt

import pytest
import sqlalchemy as sa

from biller_server.domain.settlement import SettlementRefused, record_partner_settlement, utr_from_narration
from biller_server.domain.settlement.files import import_bank_statement
from biller_server.domain.settlement.lines import PartnerSettlement, record_partner_settlements
from biller_server.domain.upload.formats import Refused, parse_date
from biller_server.persistence.models import (
    BankEntry,
    Channel,
    PaymentEvent,
    SettlementItem,
    SettlementLine,
    SettlementState,
)
from tests.factories import PaymentFactory

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 28)


def _record(session, **values):
    arguments = {
        "session": session,
        "partner": "kaleidofin",
        "settlement_ref": "N332261234567890",
        "settled_on": DAY,
        "amount_paise": 350_000,
        "payment_refs": ["KF-1", "KF-2"],
        "source": "test",
        "now": NOW,
    } | values
    return record_partner_settlement(**arguments)


def test_one_line_covers_several_payments_and_marks_each_settled(session):
    first = PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    second = PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-2")

    recorded = _record(session)

    assert (recorded.created, recorded.changed, recorded.payment_ids) == (True, True, sorted([first.id, second.id]))
    for payment in (first, second):
        assert (payment.settlement_state, payment.settlement_ref, payment.settled_on) == (
            SettlementState.SETTLED,
            "N332261234567890",
            DAY,
        )
    assert (
        session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent).where(PaymentEvent.kind == "settled")) == 2
    )


def test_the_same_line_again_changes_nothing(session):
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    _record(session)

    again = _record(session)

    assert (again.created, again.changed) == (False, False)
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent)) == 1


def test_a_corrected_amount_replaces_the_old_and_new_references_are_added(session):
    _record(session)

    corrected = _record(session, amount_paise=349_000, payment_refs={"KF-1": 150_000, "KF-3": None})

    line = session.scalars(sa.select(SettlementLine)).one()
    assert (corrected.changed, line.amount_paise) == (True, 349_000)
    items = {item.payment_ref: item.amount_paise for item in session.scalars(sa.select(SettlementItem))}
    assert items == {"KF-1": 150_000, "KF-2": None, "KF-3": None}


def test_a_partner_that_is_a_channel_only_settles_that_channels_payments(session):
    PaymentFactory(channel=Channel.DIGILEDGE, partner_txn_ref="KF-1")

    recorded = _record(session, payment_refs=["KF-1"])

    assert (recorded.payment_ids, recorded.unknown_refs) == ([], ["KF-1"])


def test_a_line_needs_its_reference(session):
    with pytest.raises(SettlementRefused):
        _record(session, settlement_ref="  ")


@pytest.mark.parametrize(
    ("narration", "utr"),
    [
        ("NEFT-UTIBR52024112345678-SETU TECHNOLOGIES PVT LTD", "UTIBR52024112345678"),
        ("NEFT CR-KKBK0000431-SETU TECHNOLOGIES PVT LTD-LENDER FINANCE-CMS261128000A01", "CMS261128000A01"),
        ("BY TRANSFER-NEFT*HDFC0000001*N123241234567890*SETU TECH", "N123241234567890"),
        ("RTGS-UTIBR52026112300012345-KALEIDOFIN PRIVATE LIMITED", "UTIBR52026112300012345"),
        ("UPI/432112345678/LOAN EMI/asha@okaxis/AXIS BANK", "432112345678"),
        ("IMPS/P2A/633212345678/RAMESH KUMAR/SBIN0001234", "633212345678"),
        ("IMPS-633212345678-RAMESH", "633212345678"),
        ("NEFT CHGS INCL GST 1.80", None),
        ("CASH DEPOSIT BY SELF", None),
    ],
)
def test_the_utr_in_a_narration_as_indian_banks_write_it(narration, utr):
    assert utr_from_narration(narration) == utr


def test_a_statement_with_two_digit_years_as_hdfc_exports_it_is_read_this_century(session, tmp_path):
    statement = tmp_path / "hdfc.csv"
    statement.write_text(
        "Date,Narration,Chq./Ref.No.,Value Dt,Withdrawal Amt.,Deposit Amt.,Closing Balance\n"
        "28/11/26,NEFT CR-UTIB0000123-SETU TECHNOLOGIES PVT LTD-UTIBR52026112800012345,UTIBR52026112800012345,"
        '28/11/26,,"5,236.34","10,05,236.34"\n',
        encoding="utf-8",
    )

    imported = import_bank_statement(session=session, path=statement, now=NOW)

    entry = session.scalars(sa.select(BankEntry)).one()
    assert (imported.added, entry.value_date, entry.amount_paise) == (1, DAY, 523_634)


def test_a_bill_file_still_writes_its_years_in_full():
    with pytest.raises(Refused, match="write the year in full"):
        parse_date("28/11/26", "dmy")
    assert parse_date("28/11/26", "dmy", short_years=True) == DAY


def test_a_reports_lines_recorded_at_once_leave_what_recording_them_one_by_one_leaves(session):
    for ref in ("KF-1", "KF-2", "KF-3"):
        PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref=ref, amount_paise=100_000)
    lines = [
        PartnerSettlement("UTR-A", DAY, 200_000, {"KF-1": 100_000, "KF-2": 100_050}),
        PartnerSettlement("UTR-B", DAY, 100_000, ["KF-3", "KF-404"]),
        PartnerSettlement("UTR-A", DAY, 199_000, {"KF-1": 100_000}),  # corrected further down the same report
    ]

    recorded = record_partner_settlements(session=session, partner="kaleidofin", settlements=lines, source="t", now=NOW)

    assert [(r.created, r.changed, len(r.payment_ids), r.unknown_refs) for r in recorded] == [
        (True, True, 2, []),
        (True, True, 1, ["KF-404"]),
        (False, True, 1, []),
    ]
    rows = session.execute(
        sa.select(SettlementLine.settlement_ref, SettlementLine.amount_paise, SettlementItem.payment_ref,
                  SettlementItem.amount_paise, SettlementItem.payment_id.is_not(None))
        .join(SettlementItem, SettlementItem.line_id == SettlementLine.id)
        .order_by(SettlementItem.id)
    ).all()  # fmt: skip
    assert rows == [
        ("UTR-A", 199_000, "KF-1", 100_000, True),
        ("UTR-A", 199_000, "KF-2", 100_050, True),
        ("UTR-B", 100_000, "KF-3", None, True),
        ("UTR-B", 100_000, "KF-404", None, False),
    ]
    events = session.scalars(
        sa.select(PaymentEvent.detail).where(PaymentEvent.kind == "settled").order_by(PaymentEvent.id)
    )
    assert [event["utr"] for event in events] == ["UTR-A", "UTR-A", "UTR-B"]


def test_a_payment_the_session_holds_sees_its_settlement_at_once(session):
    payment = PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    session.flush()
    assert payment.events == []

    _record(session, payment_refs=["KF-1"])

    assert (payment.settlement_state, payment.settlement_ref) == (SettlementState.SETTLED, "N332261234567890")
    assert [event.kind for event in payment.events] == ["settled"]


def test_the_same_report_again_writes_nothing(session):
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    lines = [PartnerSettlement("UTR-A", DAY, 100_000, ["KF-1"]), PartnerSettlement("UTR-B", DAY, 5, ["KF-9"])]
    record_partner_settlements(session=session, partner="kaleidofin", settlements=lines, source="t", now=NOW)

    again = record_partner_settlements(session=session, partner="kaleidofin", settlements=lines, source="t", now=NOW)

    assert [(r.created, r.changed) for r in again] == [(False, False), (False, False)]
    assert (
        session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent).where(PaymentEvent.kind == "settled")) == 1
    )


def test_a_bad_line_anywhere_in_a_report_records_nothing(session):
    PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    lines = [PartnerSettlement("UTR-A", DAY, 100_000, ["KF-1"]), PartnerSettlement(" ", DAY, 5, ["KF-9"])]

    with pytest.raises(SettlementRefused):
        record_partner_settlements(session=session, partner="kaleidofin", settlements=lines, source="t", now=NOW)

    assert session.scalar(sa.select(sa.func.count()).select_from(SettlementLine)) == 0

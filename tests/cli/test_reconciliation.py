"""Settlement reconciliation, as an operator runs it: settlements import, bank import, report settlement,
settlements ack (issue 17; docs/reconciliation.md). The files are under tests/samples/settlement/."""

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from biller_server.cli import cli
from biller_server.domain.outcomes import Outcome
from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
from biller_server.persistence.models import (
    AuditEntry,
    BankEntry,
    Channel,
    PaymentEvent,
    SettlementItem,
    SettlementLine,
    SettlementState,
)
from tests.factories import BillFactory, PaymentFactory

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "settlement"
DAY = "2026-11-28"
PAID = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
# Setu's channel comes with its own branch; until then its payments are Digiledge's (any channel works: a partner
# that is not a channel name has its references looked up among every channel's payments).
SETU_CHANNEL = Channel("setu") if "setu" in {channel.value for channel in Channel} else Channel.DIGILEDGE


def _confirmed(session, ref, amount_paise, channel, paid_at=PAID):
    payment = PaymentFactory(
        bill=BillFactory(amount_paise=amount_paise),
        channel=channel,
        partner_txn_ref=ref,
        amount_paise=amount_paise,
        paid_at=paid_at,
    )
    apply_payment_outcome(session=session, payment=payment, outcome=Outcome.SUCCEEDED, source="test", now=paid_at)
    return payment


@pytest.fixture
def books(session):
    """The payments the sample files speak of, as the books hold them."""
    payments = {
        "SETU-PAY-0001": _confirmed(session, "SETU-PAY-0001", 245_000, SETU_CHANNEL),
        "SETU-PAY-0002": _confirmed(session, "SETU-PAY-0002", 180_000, SETU_CHANNEL),  # Setu says 1,800.50
        "SETU-PAY-0003": _confirmed(session, "SETU-PAY-0003", 100_000, SETU_CHANNEL),
        "SETU-PAY-0005": _confirmed(session, "SETU-PAY-0005", 120_000, SETU_CHANNEL),
        "KF-TXN-1001": _confirmed(session, "KF-TXN-1001", 150_000, Channel.KALEIDOFIN),
        "KF-TXN-1002": _confirmed(session, "KF-TXN-1002", 200_000, Channel.KALEIDOFIN),
        "KF-TXN-1003": _confirmed(session, "KF-TXN-1003", 300_000, Channel.KALEIDOFIN),
        # Confirmed on the 20th and never settled by anyone.
        "KF-TXN-0950": _confirmed(
            session, "KF-TXN-0950", 99_900, Channel.KALEIDOFIN, dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
        ),
    }
    unresolved = PaymentFactory(
        bill=BillFactory(amount_paise=50_000), channel=SETU_CHANNEL, partner_txn_ref="SETU-PAY-0004", paid_at=PAID
    )
    mark_payment_unresolved(session=session, payment=unresolved, source="test", reason="no answer", now=PAID)
    payments["SETU-PAY-0004"] = unresolved
    session.flush()
    return payments


def _invoke(runner, *args):
    return runner.invoke(cli, [str(arg) for arg in args])


def _import_all(runner):
    setu = _invoke(runner, "settlements", "import", "--partner", "setu", SAMPLES / "setu_settlement_2026-11-28.csv")
    kaleidofin = _invoke(
        runner,
        "settlements", "import", "--partner", "kaleidofin", "--columns", SAMPLES / "kaleidofin.columns",
        SAMPLES / "kaleidofin_settlement_2026-11-28.csv",
    )  # fmt: skip
    bank = _invoke(runner, "bank", "import", SAMPLES / "hdfc_statement_2026-11-28.csv")
    for result in (setu, kaleidofin, bank):
        assert result.exit_code == 0, result.output
    return setu, kaleidofin, bank


def _report(runner, day=DAY):
    result = _invoke(runner, "report", "settlement", "--date", day, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_setu_report_becomes_settlement_lines_per_utr_and_marks_each_payment_settled(runner, session, books):
    result = _invoke(runner, "settlements", "import", "--partner", "setu", SAMPLES / "setu_settlement_2026-11-28.csv")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "setu_settlement_2026-11-28.csv: 6 row(s); settlement lines: 2 new, 0 changed, 0 already imported; "
        "4 of our payment(s) covered",
        "not settled yet (skipped): 1 CREDIT_RECEIVED; 1 payment state(s) noted",
        "1 reference(s) name no payment of ours: SETU-PAY-9999",
    ]
    lines = {line.settlement_ref: line for line in session.scalars(sa.select(SettlementLine))}
    assert {ref: (line.settled_on, line.amount_paise, len(line.items)) for ref, line in lines.items()} == {
        "CMS261128000A01": (dt.date(2026, 11, 28), 523_634, 3),
        "CMS261128000A02": (dt.date(2026, 11, 28), 124_056, 2),
    }
    first = books["SETU-PAY-0001"]
    session.refresh(first)
    assert (first.settlement_state, first.settlement_ref, first.settled_on) == (
        SettlementState.SETTLED,
        "CMS261128000A01",
        dt.date(2026, 11, 28),
    )
    waiting = books["SETU-PAY-0005"]
    session.refresh(waiting)
    assert (waiting.settlement_state, waiting.settlement_ref) == (SettlementState.CREDIT_RECEIVED, None)


def test_importing_the_same_report_again_changes_nothing(runner, session, books):
    path = SAMPLES / "setu_settlement_2026-11-28.csv"
    _invoke(runner, "settlements", "import", "--partner", "setu", path)
    events = session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent))

    again = _invoke(runner, "settlements", "import", "--partner", "setu", path)

    assert "settlement lines: 0 new, 0 changed, 2 already imported" in again.output
    assert "0 payment state(s) noted" in again.output
    assert session.scalar(sa.select(sa.func.count()).select_from(PaymentEvent)) == events


def test_the_setu_documents_record_verbatim_is_read_from_the_reports_api_json(runner, session, tmp_path):
    """setu-reports.mdx's example record (its comments taken out): CREDIT_RECEIVED, so not settled yet."""
    payment = PaymentFactory(channel=SETU_CHANNEL, partner_txn_ref="517002663317996567", amount_paise=200000)
    session.flush()
    answer = {
        "status": 200,
        "success": True,
        "data": {
            "metadata": {"totalRecords": 1, "filters": {}, "previousCursor": "", "nextCursor": ""},
            "records": [
                {
                    "platformBillID": "517002663317996567",
                    "billerBillID": "fb0e9146-466a-40f1-9bd6-e8d01d4940e2",
                    "billerMCC": "Loans",
                    "platformBillStatus": "CREDIT_RECEIVED",
                    "amountTotal": 1992,
                    "deemedStatus": "NOT_DEEMED",
                    "currencyCode": "INR",
                    "amountPaid": 200000,
                    "paymentInstrument": "UPI",
                    "paymentDate": "2020-12-10T05:43:30+05:30",
                    "paymentReferenceID": "517002663317996567",
                    "paymentReceipt": "dceeb285-c4ab-49e4-a7f0-d37bdef3b906",
                    "settlementDate": "2020-12-12T10:54:30+05:30",
                    "settlementUtr": "CMS201022000BLO",
                    "primaryAccountNumber": "XXXXXXXX060510",
                    "primaryAccountIfsc": "KKBK0000431",
                    "primaryAccountName": "John Wick",
                    "primaryAccountSettlementAmount": 198384,
                    "split": "YES",
                    "splitSettlements": [
                        {
                            "date": "2020-10-22T10:54:30+05:30",
                            "utr": "CMS201023000BLO",
                            "name": "The Manager",
                            "id": "XXXXXXXX060511",
                            "ifsc": "KKBK0000431",
                            "amount": 1144,
                        }
                    ],
                    "bpcTotal": 400,
                    "bpcPercentage": 0,
                    "bpcFlat": 400,
                    "gstTotal": 72,
                    "gstPercentage": 18,
                    "gstFlat": 0,
                }
            ],
        },
    }
    path = tmp_path / "setu-reports.json"
    path.write_text(json.dumps(answer))

    result = _invoke(runner, "settlements", "import", "--partner", "setu", path)
    settled = dict(
        answer, data={"records": [dict(answer["data"]["records"][0], platformBillStatus="SETTLEMENT_SUCCESSFUL")]}
    )
    path.write_text(json.dumps(settled))
    then = _invoke(runner, "settlements", "import", "--partner", "setu", path)

    assert "1 CREDIT_RECEIVED; 1 payment state(s) noted" in result.output
    assert "settlement lines: 1 new" in then.output
    line = session.scalars(sa.select(SettlementLine)).one()
    assert (line.settlement_ref, line.settled_on, line.amount_paise) == (
        "CMS201022000BLO",
        dt.date(2020, 12, 12),
        198384,
    )
    session.refresh(payment)
    assert payment.settlement_state is SettlementState.SETTLED


def test_a_partner_file_with_its_own_columns_needs_the_map(runner, books):
    path = SAMPLES / "kaleidofin_settlement_2026-11-28.csv"
    unmapped = _invoke(runner, "settlements", "import", "--partner", "kaleidofin", path)
    mapped = _invoke(
        runner, "settlements", "import", "--partner", "kaleidofin", "--columns", SAMPLES / "kaleidofin.columns", path
    )

    assert unmapped.exit_code == 1
    assert unmapped.output.startswith("Error: kaleidofin_settlement_2026-11-28.csv: no column for payment_ref")
    assert mapped.exit_code == 0, mapped.output
    assert "settlement lines: 2 new, 0 changed, 0 already imported; 3 of our payment(s) covered" in mapped.output


def test_a_bad_row_imports_nothing_and_is_named(runner, session, tmp_path):
    path = tmp_path / "partner.csv"
    path.write_text("payment_ref,settlement_ref,settled_on,settled_amount\nP1,UTR1,28/11/2026,12.50\nP2,UTR1,soon,1\n")

    result = _invoke(runner, "settlements", "import", "--partner", "acme", path)

    assert result.exit_code == 1
    assert "line 3: 'soon' is not a date" in result.output
    assert "partner.csv: 1 row(s) cannot be read; nothing was imported" in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(SettlementLine)) == 0


def test_bank_import_reads_an_hdfc_statement_and_finds_the_utrs_in_the_narrations(runner, session):
    result = _invoke(runner, "bank", "import", SAMPLES / "hdfc_statement_2026-11-28.csv")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "hdfc_statement_2026-11-28.csv: 6 row(s); 6 entries added (credits ₹15,226.34, debits ₹11.80), "
        "0 already imported"
    )
    utrs = [entry.utr for entry in session.scalars(sa.select(BankEntry).order_by(BankEntry.id))]
    assert utrs == [
        "CMS261128000A01",
        "N332261234567890",
        "N332261234500001",
        "633212345678",
        "432112345678",
        None,
    ]


def test_bank_import_again_or_as_the_same_statement_in_excel_adds_nothing(runner, session, tmp_path):
    _invoke(runner, "bank", "import", SAMPLES / "hdfc_statement_2026-11-28.csv")

    again = _invoke(runner, "bank", "import", SAMPLES / "hdfc_statement_2026-11-28.csv")
    workbook = _invoke(runner, "bank", "import", SAMPLES / "hdfc_statement_2026-11-28.xlsx")

    assert "0 entries added" in again.output and "6 already imported" in again.output
    assert workbook.exit_code == 0, workbook.output
    assert "0 entries added" in workbook.output and "6 already imported" in workbook.output
    assert session.scalar(sa.select(sa.func.count()).select_from(BankEntry)) == 6


def test_a_statement_with_one_amount_column_and_dr_cr_is_read_with_a_column_map(runner, session, tmp_path):
    path = tmp_path / "sbi.csv"
    path.write_text(
        "Txn Date,Description,Ref No,Amount,Dr / Cr\n"
        '28 Nov 2026,BY TRANSFER-NEFT*HDFC0000001*N123241234567890*SETU TECH,N123241234567890,"1,240.56",CR\n'
        "28 Nov 2026,TO TRANSFER-CHARGES,,50.00,DR\n"
    )
    result = _invoke(runner, "bank", "import", path)

    assert result.exit_code == 0, result.output
    entries = list(session.scalars(sa.select(BankEntry).order_by(BankEntry.id)))
    assert [(e.credit, e.amount_paise, e.utr, e.value_date) for e in entries] == [
        (True, 124_056, "N123241234567890", dt.date(2026, 11, 28)),
        (False, 5_000, None, dt.date(2026, 11, 28)),
    ]


def test_report_settlement_shows_each_kind_of_break_to_the_paisa(runner, session, books):
    _import_all(runner)

    report = _report(runner)

    matched = {(m["partner"], m["utr"]): (m["amount"], m["payments"], m["matched_by"]) for m in report["matched"]}
    assert matched == {
        ("setu", "CMS261128000A01"): ("5236.34", 3, "utr"),
        ("kaleidofin", "KF-SET-20261128-01"): ("3500.00", 2, "partner+date+amount"),
    }
    breaks = {item["key"]: item for item in report["breaks"]}
    ids = {ref: payment.id for ref, payment in books.items()}
    assert set(breaks) == {
        "settled_not_in_bank:setu:CMS261128000A02",
        "amount_differs:kaleidofin:N332261234500001",
        f"amount_differs:item:{_item_id(session, 'SETU-PAY-0002')}",
        f"unknown_payment:item:{_item_id(session, 'SETU-PAY-9999')}",
        f"settled_not_confirmed:payment:{ids['SETU-PAY-0004']}",
        f"in_bank_unknown:{_entry_id(session, '633212345678')}",
        f"in_bank_unknown:{_entry_id(session, '432112345678')}",
        f"never_settled:payment:{ids['KF-TXN-0950']}",
    }
    assert breaks["settled_not_in_bank:setu:CMS261128000A02"]["expected"] == "1240.56"
    differs = breaks["amount_differs:kaleidofin:N332261234500001"]
    assert (differs["expected"], differs["received"], differs["difference"]) == ("3000.00", "2990.00", "-10.00")
    item = breaks[f"amount_differs:item:{_item_id(session, 'SETU-PAY-0002')}"]
    assert (item["expected"], item["received"], item["difference"]) == ("1800.00", "1800.50", "0.50")
    assert breaks[f"never_settled:payment:{ids['KF-TXN-0950']}"]["expected"] == "999.00"
    summary = {row["what"]: (row["count"], row["amount"]) for row in report["summary"]}
    assert summary["matched"] == (2, "8736.34")
    assert summary["in_bank_unknown"] == (2, "3500.00")
    assert summary["acknowledged"] == (0, "0.00")


def test_report_settlement_as_a_table_and_as_csv(runner, books):
    _import_all(runner)

    table = _invoke(runner, "report", "settlement", "--date", DAY).output
    csv_text = _invoke(runner, "report", "settlement", "--date", DAY, "--format", "csv").output

    assert "settlement reconciliation, 28 Nov 2026" in table
    assert "open breaks (8)" in table
    assert "5,236.34" in table
    assert "settled_not_in_bank:setu:CMS261128000A02" in csv_text


def test_an_acknowledged_break_leaves_the_open_list_but_stays_in_the_report(runner, session, books):
    _import_all(runner)
    key = "settled_not_in_bank:setu:CMS261128000A02"

    first = _invoke(runner, "settlements", "ack", key, "--note", "Setu: credited 1 Dec, UTR unchanged", "--by", "asha")
    second = _invoke(runner, "settlements", "ack", key, "--note", "again")
    report = _report(runner)

    assert first.output.strip() == f"{key} acknowledged"
    assert (
        second.output.strip()
        == f"{key} was acknowledged by asha: Setu: credited 1 Dec, UTR unchanged (nothing changed)"
    )
    assert key not in {item["key"] for item in report["breaks"]}
    [acked] = report["acknowledged"]
    assert (acked["key"], acked["acked_by"], acked["note"]) == (key, "asha", "Setu: credited 1 Dec, UTR unchanged")


def test_ack_refuses_what_is_not_a_break_key(runner):
    result = _invoke(runner, "settlements", "ack", "CMS261128000A02", "--note", "x")
    assert result.exit_code == 1
    assert "is not a break's key" in result.output


def test_a_day_with_nothing_to_reconcile_says_so(runner):
    table = _invoke(runner, "report", "settlement", "--date", "2026-10-01").output
    assert "No open breaks: the day is reconciled." in table


def test_a_credit_the_bank_dates_the_next_day_still_matches_by_utr(runner, session, books, tmp_path):
    _invoke(runner, "settlements", "import", "--partner", "setu", SAMPLES / "setu_settlement_2026-11-28.csv")
    statement = tmp_path / "next_day.csv"
    shutil.copy(SAMPLES / "hdfc_statement_2026-11-28.csv", statement)
    statement.write_text(statement.read_text(encoding="utf-8-sig").replace("28/11/2026", "30/11/2026"))
    _invoke(runner, "bank", "import", statement)

    matched = {m["utr"]: m["bank_date"] for m in _report(runner)["matched"]}

    assert matched == {"CMS261128000A01": "2026-11-30"}


def _item_id(session, ref):
    return session.scalar(sa.select(SettlementItem.id).where(SettlementItem.payment_ref == ref))


def _entry_id(session, utr):
    return session.scalar(sa.select(BankEntry.id).where(BankEntry.utr == utr))


def test_each_import_is_in_the_audit_log(runner, session, books):
    _import_all(runner)

    entries = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()

    assert [(entry.action, entry.target) for entry in entries] == [
        ("settlements.import", "file:setu_settlement_2026-11-28.csv"),
        ("settlements.import", "file:kaleidofin_settlement_2026-11-28.csv"),
        ("bank.import", "file:hdfc_statement_2026-11-28.csv"),
    ]
    assert entries[2].detail == {"added": 6, "already_imported": 0}

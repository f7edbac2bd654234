import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa

from biller_server.cli import cli
from biller_server.cli.payments import payments_group
from biller_server.clients.base import Outcome
from biller_server.domain.payments.confirmations import enqueue_payment_confirmation
from biller_server.domain.payments.outcomes import apply_payment_outcome, mark_payment_unresolved
from biller_server.persistence.models import (
    Channel,
    Job,
    JobKind,
    OutboundCall,
    Payment,
    PaymentStatus,
)
from tests.factories import BillFactory, PaymentFactory, ReceiptFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings_overrides():
    return {
        "kaleidofin_status_url": "http://127.0.0.1:9/status",
        "kaleidofin_payment_url": "http://127.0.0.1:9/payment",
    }


@pytest.fixture
def three_payments(session):
    confirmed = PaymentFactory(partner_txn_ref="TXN-CONFIRMED", channel=Channel.KALEIDOFIN)
    apply_payment_outcome(
        session=session, payment=confirmed, outcome=Outcome.SUCCEEDED, source="kaleidofin:check", now=NOW
    )
    stuck = PaymentFactory(partner_txn_ref="TXN-STUCK", channel=Channel.DIGILEDGE)
    mark_payment_unresolved(
        session=session, payment=stuck, source="digiledge:check", reason="no final answer within a day", now=NOW
    )
    waiting = PaymentFactory(partner_txn_ref="TXN-WAITING", channel=Channel.DIGILEDGE)
    session.flush()
    return confirmed, stuck, waiting


def test_list_shows_the_latest_payments_and_filters_them(runner, three_payments):
    result = runner.invoke(payments_group, ["list"])
    assert result.exit_code == 0, result.output
    assert all(ref in result.output for ref in ("TXN-CONFIRMED", "TXN-STUCK", "TXN-WAITING"))
    assert result.output.index("TXN-WAITING") < result.output.index("TXN-CONFIRMED")  # newest first

    by_status = runner.invoke(payments_group, ["list", "--status", "confirmed"])
    assert "TXN-CONFIRMED" in by_status.output and "TXN-STUCK" not in by_status.output

    by_channel = runner.invoke(payments_group, ["list", "--channel", "digiledge", "--limit", "1"])
    assert "TXN-WAITING" in by_channel.output and "TXN-STUCK" not in by_channel.output


def test_list_in_each_format(runner, three_payments):
    confirmed = three_payments[0]

    table = runner.invoke(payments_group, ["list", "--status", "confirmed"]).output.splitlines()
    rows = list(csv.DictReader(io.StringIO(runner.invoke(payments_group, ["list", "--format", "csv"]).output)))
    listed = json.loads(runner.invoke(payments_group, ["list", "--format", "json"]).output)

    assert table[0].split() == [
        "id",
        "status",
        "channel",
        "amount",
        "bill",
        "transaction",
        "paid",
        "at",
        "(IST)",
        "flagged",
    ]
    assert table[2].split()[3] == "1,000.00"
    assert [row["transaction"] for row in rows] == ["TXN-WAITING", "TXN-STUCK", "TXN-CONFIRMED"]
    assert rows[2]["amount"] == "1000.00" and rows[2]["flagged"] == "false"
    assert rows[2]["paid_at"] == confirmed.paid_at.isoformat()
    assert listed[2] == {
        "id": confirmed.id,
        "status": "CONFIRMED",
        "channel": "kaleidofin",
        "amount": "1000.00",
        "bill": confirmed.bill.partner_bill_id,
        "transaction": "TXN-CONFIRMED",
        "paid_at": confirmed.paid_at.isoformat(),
        "flagged": False,
    }


def test_unresolved_lists_only_payments_a_person_must_look_at_with_why(runner, three_payments):
    result = runner.invoke(payments_group, ["unresolved"])

    assert result.exit_code == 0, result.output
    assert "TXN-STUCK" in result.output
    assert "no final answer within a day" in result.output
    assert "TXN-CONFIRMED" not in result.output and "TXN-WAITING" not in result.output


def test_show_gives_the_confirmation_history(runner, session):
    payment = PaymentFactory(partner_txn_ref="TXN-HISTORY")
    ReceiptFactory(payment=payment, receipt_number="R-HIST-1")
    job = enqueue_payment_confirmation(session=session, payment=payment, confirm_with="payu", now=NOW)
    session.flush()
    job.attempts, job.last_error = 2, "payu status: HTTP 503"
    session.add(
        OutboundCall(
            job_id=job.id,
            created_at=NOW,
            partner="payu",
            operation="status",
            method="GET",
            url="https://bbps-sb.payu.in/v2/nbc/status/billpayment?refId=TXN-HISTORY",
            request_body=None,
            response_status=503,
            error="HTTP 503",
        )
    )
    apply_payment_outcome(
        session=session, payment=payment, outcome=Outcome.FAILED, source="payu:check", reason="Biller down", now=NOW
    )
    session.flush()

    result = runner.invoke(payments_group, ["show", str(payment.id)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for expected in (
        "transaction:     TXN-HISTORY",
        "status:          FAILED",
        "reason:          Biller down",
        "receipt:         R-HIST-1",
        "applied to bill: no",
        "paid at (IST):   2026-11-02 15:30:00",
    ):
        assert expected in lines
    job_line = next(line for line in lines if "confirm_payment" in line)
    assert job_line.split()[:5] == [str(job.id), "confirm_payment", "payu", "pending", "2"]
    assert job_line.endswith("payu status: HTTP 503")
    assert any("refId=TXN-HISTORY" in line and line.endswith("HTTP 503") for line in lines)
    event_line = next(line for line in lines if "payu:check" in line)
    assert event_line.split()[:6] == ["2026-11-02", "15:30:00", "failed", "RECEIVED", "FAILED", "payu:check"]

    shown = json.loads(runner.invoke(payments_group, ["show", str(payment.id), "--format", "json"]).output)
    assert shown["payment"]["amount"] == "1000.00"
    assert shown["payment"]["paid_at"] == "2026-11-02T10:00:00+00:00"
    assert [job["attempts"] for job in shown["jobs"]] == [2]
    assert shown["calls"][0]["answer"] == "HTTP 503"
    assert shown["events"][0]["detail"] == {"reason": "Biller down"}


def test_show_unknown_payment_fails(runner):
    result = runner.invoke(payments_group, ["show", "999999"])

    assert result.exit_code != 0
    assert "no payment 999999" in result.output


def test_record_offline_reduces_the_balance_and_queues_one_posting(runner, session):
    bill = BillFactory(partner_bill_id="LOAN-42", amount_paise=125_050)
    arguments = ["record-offline", "--bill", "LOAN-42", "--amount", "1250.50", "--transaction-id", "CASH-9"]
    arguments += ["--date", "2026-11-01", "--system-bill-id", "19"]

    result = runner.invoke(payments_group, arguments)

    assert result.exit_code == 0, result.output
    assert "recorded payment" in result.output and "1250.50" in result.output
    session.expire_all()
    payment = session.scalars(sa.select(Payment).where(Payment.partner_txn_ref == "CASH-9")).one()
    assert (payment.channel, payment.status, payment.amount_paise) == (Channel.OFFLINE, PaymentStatus.RECEIVED, 125_050)
    assert session.get(type(bill), bill.id).paid_paise == 125_050
    [job] = session.scalars(sa.select(Job).where(Job.payment_id == payment.id)).all()
    assert (job.kind, job.payload["system_bill_id"]) == (JobKind.RECORD_OFFLINE_PAYMENT, "19")

    again = runner.invoke(payments_group, arguments)
    assert again.exit_code == 0, again.output
    assert "already recorded" in again.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.payment_id == payment.id)) == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--amount", "12.345"], "more than two decimals"),
        (["--amount", "500"], "must be exactly 1000.00"),
        (["--bill", "NO-SUCH-BILL"], "NO-SUCH-BILL"),
    ],
)
def test_record_offline_refuses_what_the_bill_rules_refuse(runner, session, arguments, message):
    BillFactory(partner_bill_id="LOAN-43", amount_paise=100_000)
    base = {"--bill": "LOAN-43", "--amount": "1000", "--transaction-id": "CASH-10", "--date": "2026-11-01"}
    base.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    command = ["record-offline", "--system-bill-id", "19"] + [part for pair in base.items() for part in pair]

    result = runner.invoke(payments_group, command)

    assert result.exit_code != 0
    assert message in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0


def test_record_offline_without_a_way_to_know_the_system_bill_id_records_nothing(runner, session):
    BillFactory(partner_bill_id="LOAN-44", amount_paise=100_000)
    command = ["record-offline", "--bill", "LOAN-44", "--amount", "1000", "--transaction-id", "CASH-11"]

    result = runner.invoke(payments_group, [*command, "--date", "2026-11-01"])

    assert result.exit_code != 0
    assert "--system-bill-id" in result.output
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0


def test_help_lists_the_payments_and_worker_commands():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    assert "  payments " in result.output and "  worker " in result.output

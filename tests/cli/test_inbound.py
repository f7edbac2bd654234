"""``biller-server inbound``: did this partner call reach us, and what did we answer?"""

import datetime as dt
import json

import pytest

from biller_server.cli import cli
from biller_server.domain.india import IST
from biller_server.persistence.models import Channel, InboundMessage
from biller_server.persistence.types import utcnow
from tests.factories import PaymentFactory


def _message(session, *, channel="kaleidofin", path="/bills/fetchReceipt", body, ref=None, status=200, age_days=0):
    message = InboundMessage(
        received_at=utcnow() - dt.timedelta(days=age_days),
        channel=channel,
        method="POST",
        path=path,
        source_address="10.0.0.7",
        request_id=f"req-{path[-6:]}-{ref or 'none'}-{age_days}",
        headers={"Content-Type": "application/json", "X-API-Key": "[REDACTED]"},
        body=json.dumps(body).encode(),
        status_code=status,
        outcome="receipt_issued" if status == 200 else "rejected",
        partner_ref=ref,
    )
    session.add(message)
    session.flush()
    return message


@pytest.fixture
def log(session):
    return {
        "issued": _message(session, body={"transactionId": "TXN-777", "amount": 1000}, ref="TXN-777"),
        "refused": _message(session, body={"transactionId": "TXN-777", "amount": "abc"}, status=400),
        "other": _message(session, body={"transactionId": "TXN-888"}, ref="TXN-888"),
        "digiledge": _message(
            session, channel="digiledge", path="/digiledge/payment-notification", body={"refId": "TXN-777"}
        ),
        "old": _message(session, body={"transactionId": "TXN-777"}, ref="TXN-777", age_days=30),
    }


def _invoke(app, *args):
    result = app.test_cli_runner().invoke(cli, ["inbound", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_ref_finds_the_calls_carrying_it_even_the_refused_ones_and_its_payment(app, session, log):
    payment = PaymentFactory(partner_txn_ref="TXN-777", channel=Channel.KALEIDOFIN)

    found = json.loads(_invoke(app, "list", "--ref", "TXN-777", "--format", "json"))

    assert [message["id"] for message in found["messages"]] == [
        log[name].id
        for name in ("digiledge", "refused", "issued")  # newest first
    ]
    assert [message["outcome"] for message in found["messages"]] == ["receipt_issued", "rejected", "receipt_issued"]
    assert found["payments"] == [
        {
            "id": payment.id,
            "channel": "kaleidofin",
            "transaction": "TXN-777",
            "status": "RECEIVED",
            "amount": "1000.00",
            "bill": payment.bill.partner_bill_id,
            "flagged": False,
        }
    ]


def test_the_table_shows_times_in_india_time(app, session, log):
    output = _invoke(app, "list", "--ref", "TXN-777")

    assert output.splitlines()[0].split()[:5] == ["id", "received", "at", "(IST)", "channel"]
    issued = log["issued"]
    assert f"{issued.received_at.astimezone(IST):%Y-%m-%d %H:%M:%S}" in output


def test_channel_and_since_narrow_the_search(app, log):
    only_kaleidofin = _invoke(app, "list", "--ref", "TXN-777", "--channel", "kaleidofin")
    assert "/digiledge/payment-notification" not in only_kaleidofin
    assert "No payment has the reference 'TXN-777'." in only_kaleidofin

    since = (utcnow() - dt.timedelta(days=40)).date().isoformat()
    with_old = _invoke(app, "list", "--ref", "TXN-777", "--since", since)
    assert str(log["old"].request_id) in with_old


def test_list_without_ref_shows_the_latest(app, log):
    output = _invoke(app, "list", "--limit", "2", "--format", "csv")

    assert log["old"].request_id not in output
    assert output.splitlines()[0] == "id,received_at,channel,method,path,status,outcome,reference,request_id"
    assert len(output.splitlines()) == 3


def test_show_prints_one_message_whole(app, log):
    output = _invoke(app, "show", str(log["refused"].id))

    assert "path:              /bills/fetchReceipt" in output
    assert "status:            400" in output
    assert "X-API-Key     [REDACTED]" in output
    assert '"amount": "abc"' in output


def test_show_as_json_keeps_the_body_as_json(app, log):
    shown = json.loads(_invoke(app, "show", str(log["refused"].id), "--format", "json"))

    assert shown["message"]["body"] == {"transactionId": "TXN-777", "amount": "abc"}
    assert shown["message"]["received_at"].endswith("+00:00")
    assert {"name": "X-API-Key", "value": "[REDACTED]"} in shown["headers"]


def test_show_of_a_missing_message_fails(app):
    result = app.test_cli_runner().invoke(cli, ["inbound", "show", "999999"])

    assert result.exit_code == 1
    assert "no inbound message 999999" in result.output

"""Kaleidofin's Status API answers per bill: which answers may settle which payment, and which calls sent nothing."""

import pytest

from biller_server.clients.base import (
    Outcome,
    PartnerNotConfigured,
    PartnerRejectedRequest,
    PartnerRequestNotSent,
)
from biller_server.clients.http import Timeouts
from biller_server.clients.kaleidofin import KaleidofinClient
from tests.fakes import payloads
from tests.fakes.fixtures import payment_context
from tests.fakes.server import Reply

TIMEOUTS = Timeouts(connect=0.5, read=0.3)
OUR_RECEIPT = "R0000000042"  # the receipt we gave Kaleidofin in fetchReceipt


@pytest.fixture
def client(fake_partner):
    client = KaleidofinClient(
        status_url=f"{fake_partner.url}/status",
        payment_url=f"{fake_partner.url}/payment",
        fetch_bills_url=f"{fake_partner.url}/fetchBills",
        biller_id="LENDER01",
        timeouts=TIMEOUTS,
    )
    yield client
    client.close()


def _bbps(**overrides):
    return payment_context(extra={"receipt_number": OUR_RECEIPT}, **overrides)


def _offline(**overrides):
    values = {"channel": "offline", "partner_bill_ref": "15", "extra": {"posting_receipt": "KR-9"}}
    values.update(overrides)
    return payment_context(**values)


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (payloads.kaleidofin_status_with("PAYMENT_FAILED"), Outcome.PENDING),
        (payloads.kaleidofin_status_with("PAYMENT_ATTEMPT_FAILED"), Outcome.PENDING),
        (payloads.kaleidofin_status_naming("PAYMENT_FAILED", receipt="R-SOMEONE-ELSE"), Outcome.PENDING),
        (payloads.kaleidofin_status_naming("PAYMENT_FAILED", transaction_id="OTHER-TXN"), Outcome.PENDING),
        (payloads.kaleidofin_status_naming("PAYMENT_FAILED", receipt=OUR_RECEIPT), Outcome.FAILED),
        (payloads.kaleidofin_status_naming("PAYMENT_ATTEMPT_FAILED", transaction_id="127829461946"), Outcome.FAILED),
        # Kaleidofin told us of the payment itself (fetchReceipt): the bill's success confirms it.
        (payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL"), Outcome.SUCCEEDED),
        (payloads.KALEIDOFIN_STATUS, Outcome.PENDING),
    ],
    ids=[
        "failed-unnamed",
        "attempt-failed-unnamed",
        "failed-other-receipt",
        "failed-other-transaction",
        "failed-our-receipt",
        "attempt-failed-our-transaction",
        "successful-unnamed",
        "bill-created",
    ],
)
def test_a_bbps_payment_is_failed_only_by_an_answer_that_names_it(client, fake_partner, reply, outcome):
    fake_partner.reply("GET", "/status/15", Reply(body=reply))

    result = client.check_this_payment(_bbps(), calls=[])

    assert result.outcome is outcome
    if outcome is Outcome.PENDING and result.raw_status != "BILL_CREATED":
        assert "names neither" in result.reason


def test_the_word_for_word_mapping_is_unchanged(client, fake_partner):
    fake_partner.reply("GET", "/status/15", Reply(body=payloads.kaleidofin_status_with("PAYMENT_FAILED")))

    assert client.check_payment(_bbps(), calls=[]).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        # The bill's success may be another payment's (a BBPS payment on the same bill): not proof of our posting.
        (payloads.kaleidofin_status_with("PAYMENT_SUCCESSFUL"), Outcome.PENDING),
        (payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="R0123"), Outcome.PENDING),
        (payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="KR-9"), Outcome.SUCCEEDED),
        (payloads.kaleidofin_status_naming("CREDIT_RECEIVED", transaction_id="127829461946"), Outcome.SUCCEEDED),
        # A failure is passed on: the engine reads it as "the posting did not land", never as a reversal.
        (payloads.kaleidofin_status_with("PAYMENT_FAILED"), Outcome.FAILED),
    ],
    ids=["successful-unnamed", "successful-other-receipt", "our-receipt", "our-transaction", "failed"],
)
def test_an_offline_posting_is_confirmed_only_by_an_answer_that_names_it(client, fake_partner, reply, outcome):
    fake_partner.reply("GET", "/status/15", Reply(body=reply))

    assert client.check_this_payment(_offline(), calls=[]).outcome is outcome


def test_our_own_offline_receipt_does_not_name_a_posting(client, fake_partner):
    """Kaleidofin never saw the receipt we printed at the branch: only its own receipt for the posting counts."""
    fake_partner.reply(
        "GET", "/status/15", Reply(body=payloads.kaleidofin_status_naming("PAYMENT_SUCCESSFUL", receipt="R1"))
    )

    result = client.check_this_payment(_offline(extra={"receipt_number": "R1"}), calls=[])

    assert result.outcome is Outcome.PENDING


def test_a_post_answer_about_another_transaction_settles_nothing(client, fake_partner):
    document = payloads.KALEIDOFIN_PAYMENT.replace('"receipt": "R0123"', '"receipt": "R0123", "transactionId": "X"')
    fake_partner.reply("POST", "/payment", Reply(body=document))

    result = client.post_payment(payment_context(partner_bill_ref="19"), calls=[])

    assert result.outcome is Outcome.PENDING
    assert "names transaction 'X'" in result.reason


def test_a_post_without_its_url_sends_nothing_and_says_so(fake_partner):
    client = KaleidofinClient(status_url=f"{fake_partner.url}/status", payment_url=None, timeouts=TIMEOUTS)
    calls = []

    with pytest.raises(PartnerNotConfigured, match="BILLER_KALEIDOFIN_PAYMENT_URL") as raised:
        client.post_payment(payment_context(partner_bill_ref="19"), calls=calls)

    assert isinstance(raised.value, PartnerRequestNotSent)
    assert calls == []
    assert fake_partner.received() == []
    client.close()


def test_a_post_without_a_system_bill_id_sends_nothing_and_stops(client, fake_partner):
    calls = []

    with pytest.raises(PartnerRejectedRequest, match="no Kaleidofin systemBillId") as raised:
        client.post_payment(payment_context(partner_bill_ref=None), calls=calls)

    assert isinstance(raised.value, PartnerRequestNotSent)
    assert (calls, fake_partner.received()) == ([], [])


def test_a_post_that_reached_the_network_is_never_reported_as_not_sent(client, fake_partner):
    fake_partner.reply("POST", "/payment", Reply(status=400, body={"success": False, "statusMessage": "no"}))

    with pytest.raises(PartnerRejectedRequest) as raised:
        client.post_payment(payment_context(partner_bill_ref="19"), calls=[])

    assert not isinstance(raised.value, PartnerRequestNotSent)


def test_fetch_bills_takes_only_a_bill_kaleidofin_holds_no_payment_on(client, fake_partner):
    document = {
        "success": True,
        "statusCode": "0",
        "statusMessage": "Success",
        "bills": [
            {"systemBillId": 14, "partnerBillId": "LOAN-1", "billStatus": "PAYMENT_SUCCESSFUL"},
            {"systemBillId": 15, "partnerBillId": "LOAN-1", "billStatus": "PAYMENT_FAILED"},
            {"systemBillId": 16, "partnerBillId": "LOAN-1"},
            {"systemBillId": 21, "partnerBillId": "LOAN-1", "billStatus": "BILL_CREATED"},
        ],
    }
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=document))

    assert client.find_system_bill_id(payment_context(partner_bill_id="LOAN-1"), calls=[]) == "21"


def test_fetch_bills_with_our_bill_already_paid_finds_nothing(client, fake_partner):
    paid = payloads.KALEIDOFIN_FETCH_BILLS.replace(
        '"BILL_CREATED",\n"billAmount": 1200', '"PAYMENT_SUCCESSFUL",\n"billAmount": 1200'
    )
    assert paid != payloads.KALEIDOFIN_FETCH_BILLS
    fake_partner.reply("POST", "/fetchBills/LENDER01", Reply(body=paid))

    assert client.find_system_bill_id(payment_context(partner_bill_id="TEST-124"), calls=[]) is None

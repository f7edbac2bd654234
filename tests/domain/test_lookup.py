"""Finding anything by any reference: the same answers for the console and, later, the CLI."""

import datetime as dt

from biller_server.domain.lookup import find_inbound_messages, find_reference, message_body_text, reference_variants
from biller_server.domain.settlement import record_partner_settlement
from biller_server.persistence.models import (
    BankEntry,
    Channel,
    ChannelBillReference,
    InboundMessage,
    PaymentNotification,
)
from tests.factories import BillFactory, CustomerFactory, PaymentFactory, ReceiptFactory

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
LONG_AGO = NOW - dt.timedelta(days=30)


def message(session, *, body=b"{}", partner_ref=None, received_at=NOW, channel="kaleidofin"):
    row = InboundMessage(
        channel=channel,
        method="POST",
        path="/bills/fetchReceipt",
        request_id="r",
        headers={},
        body=body,
        status_code=200,
        outcome="ok",
        partner_ref=partner_ref,
        received_at=received_at,
    )
    session.add(row)
    session.flush()
    return row


def test_a_mobile_number_is_found_however_it_is_written():
    assert reference_variants("+91 98765-43210") == ["+91 98765-43210", "9876543210"]
    assert reference_variants("09876543210") == ["09876543210", "9876543210"]
    assert reference_variants("9876543210") == ["9876543210"]
    assert reference_variants("TXN 1") == ["TXN 1"]


def test_a_customer_id_finds_the_customer_its_bills_and_their_payments(session):
    customer = CustomerFactory(lender_customer_id="AY1234")
    bill = BillFactory(customer=customer)
    payment = PaymentFactory(bill=bill)
    PaymentFactory()  # someone else's

    found = find_reference(session=session, reference="AY1234", since=LONG_AGO)

    assert found.customers == [customer] and found.bills == [bill] and found.payments == [payment]


def test_a_partner_s_own_bill_id_finds_the_bill(session):
    bill = BillFactory()
    session.add(ChannelBillReference(channel=Channel.KALEIDOFIN, partner_bill_ref="14", bill_id=bill.id))
    session.flush()

    assert find_reference(session=session, reference="14", since=NOW).bills == [bill]


def test_a_receipt_number_or_second_reference_finds_the_payment(session):
    payment = PaymentFactory(customer_txn_ref="CUST-REF-9")
    ReceiptFactory(payment=payment, receipt_number="RCPT-77")

    for reference in ("RCPT-77", "CUST-REF-9", payment.partner_txn_ref):
        assert find_reference(session=session, reference=reference, since=NOW).payments == [payment]


def test_a_notification_for_a_payment_we_never_saw_is_found_by_its_ref_id(session):
    note = PaymentNotification(
        channel=Channel.DIGILEDGE,
        ref_id="REF-UNSEEN",
        fingerprint="f" * 64,
        body={},
        reported_status="SUCCESS",
        outcome="unknown_payment",
        ack_code=200,
        ack_status="SUCCESS",
        ack_reason="ok",
        needs_reconciliation=True,
    )
    session.add(note)
    session.flush()

    found = find_reference(session=session, reference="REF-UNSEEN", since=NOW)

    assert found.notifications == [note] and not found.payments


def test_partner_calls_are_found_by_recorded_reference_at_any_date_and_by_body_within_the_window(session):
    recorded_long_ago = message(session, partner_ref="TXN-1", received_at=LONG_AGO)
    in_body_recently = message(session, body=b'{"transactionId": "TXN-1"}')
    message(session, body=b'{"transactionId": "TXN-1"}', received_at=LONG_AGO)  # outside the window, no reference
    message(session, body=b'{"transactionId": "TXN-2"}')

    found = find_inbound_messages(session=session, reference="TXN-1", since=NOW - dt.timedelta(days=7))

    assert found == [in_body_recently, recorded_long_ago]


def test_call_bodies_are_searched_only_when_the_books_do_not_carry_the_reference(session):
    payment = PaymentFactory(partner_txn_ref="TXN-IN-BOOKS")
    recorded = message(session, partner_ref="TXN-IN-BOOKS")
    message(session, body=b'{"transactionId": "TXN-IN-BOOKS"}')  # its body only: not read
    in_body_only = message(session, body=b'{"refId": "NOT-IN-BOOKS"}')

    carried = find_reference(session=session, reference="TXN-IN-BOOKS", since=LONG_AGO)
    not_carried = find_reference(session=session, reference="NOT-IN-BOOKS", since=LONG_AGO)

    assert carried.payments == [payment] and carried.inbound_messages == [recorded] and not carried.bodies_searched
    assert not_carried.inbound_messages == [in_body_only] and not_carried.bodies_searched


def test_a_reference_found_several_ways_is_listed_once(session):
    customer = CustomerFactory(lender_customer_id="9876500001", mobile="9876500001")
    bill = BillFactory(customer=customer, loan_account_number="9876500001")
    payment = PaymentFactory(bill=bill, partner_txn_ref="9876500001", customer_txn_ref="9876500001")

    found = find_reference(session=session, reference="9876500001", since=NOW)

    assert (found.customers, found.bills, found.payments) == ([customer], [bill], [payment])


def test_the_body_search_finds_the_reference_byte_for_byte_among_many_calls(session):
    wanted = message(session, body=b"\x00binary\xff needle_1%\\")
    for body in (b"hay", b"NEEDLE_1%\\", b"needleX1%\\", b"needle_1\\", b"needle_1%"):
        message(session, body=body)

    assert find_inbound_messages(session=session, reference="needle_1%\\", since=LONG_AGO) == [wanted]


def test_the_body_search_keeps_to_the_window_the_channel_and_the_limit(session):
    newest = [message(session, body=b"needle") for _ in range(3)][1:]
    message(session, body=b"needle", channel="setu")
    message(session, body=b"needle", received_at=LONG_AGO - dt.timedelta(days=1))

    found = find_inbound_messages(session=session, reference="needle", since=LONG_AGO, channel="Kaleidofin", limit=2)

    assert found == newest[::-1]


def test_an_empty_reference_finds_nothing(session):
    PaymentFactory()

    assert find_reference(session=session, reference="   ", since=LONG_AGO).found_nothing


def test_a_body_is_shown_as_indented_json_text_or_described():
    assert message_body_text(b'{"a": 1}') == '{\n  "a": 1\n}'
    assert message_body_text(b"plain") == "plain"
    assert message_body_text(b"\xff\xfe") == "(2 bytes, not UTF-8) b'\\xff\\xfe'"
    assert message_body_text(b"") == "(empty)"


def test_a_utr_finds_the_settlement_line_its_payments_and_the_bank_entry(session):
    from_line = PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-1")
    elsewhere = PaymentFactory(channel=Channel.KALEIDOFIN, partner_txn_ref="KF-2")
    record_partner_settlement(
        session=session,
        partner="kaleidofin",
        settlement_ref="N332261234567890",
        settled_on=NOW.date(),
        amount_paise=from_line.amount_paise,
        payment_refs=["KF-1"],
        source="test",
        now=NOW,
    )
    elsewhere.settlement_ref = "N332261234567890"  # kept on a payment by a partner's status answer, say
    session.add(
        BankEntry(
            value_date=NOW.date(),
            amount_paise=from_line.amount_paise,
            credit=True,
            narration="NEFT-N332261234567890-KALEIDOFIN",
            utr="N332261234567890",
            fingerprint="f" * 64,
            source_file="statement.csv",
        )
    )
    session.flush()

    found = find_reference(session=session, reference=" N332261234567890 ", since=LONG_AGO)

    assert [line.settlement_ref for line in found.settlement_lines] == ["N332261234567890"]
    assert {payment.id for payment in found.payments} == {from_line.id, elsewhere.id}
    assert [entry.narration for entry in found.bank_entries] == ["NEFT-N332261234567890-KALEIDOFIN"]
    assert not found.found_nothing


def test_a_bank_entry_alone_is_something_found(session):
    session.add(
        BankEntry(
            value_date=NOW.date(),
            amount_paise=100,
            credit=True,
            narration="IMPS",
            utr="SBIN1234",
            fingerprint="e" * 64,
            source_file="s.csv",
        )
    )
    session.flush()

    found = find_reference(session=session, reference="SBIN1234", since=LONG_AGO)

    assert not found.found_nothing and found.payments == [] and len(found.bank_entries) == 1
